//! One-line prompts in the status line: search (live), bulk-accept score, score range.

use crossterm::event::KeyEvent;
use ratatui::buffer::Buffer;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::{KeyOutcome, Surface};
use crate::text::sanitize;
use crate::tui::action::Action;
use crate::tui::widgets::input::{InputOutcome, LineInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Search,
    BulkScore,
    ScoreRange,
}

pub fn handle_key(
    kind: PromptKind,
    input: &mut LineInput,
    before: &str,
    key: &KeyEvent,
) -> KeyOutcome {
    match input.handle_key(key) {
        InputOutcome::Changed if kind == PromptKind::Search => {
            KeyOutcome::keep(Some(Action::SetSearch(input.text.clone())))
        }
        InputOutcome::Changed | InputOutcome::Unchanged => KeyOutcome::keep(None),
        // Esc on the search puts back the search there was before it opened.
        InputOutcome::Cancel => KeyOutcome::close(
            (kind == PromptKind::Search).then(|| Action::SetSearch(before.to_owned())),
        ),
        InputOutcome::Submit => KeyOutcome::close(match parse_prompt(kind, &input.text) {
            Ok(action) => action,
            Err(message) => Some(Action::ShowError(message)),
        }),
    }
}

pub fn render(s: &Surface, buf: &mut Buffer, kind: PromptKind, input: &LineInput) {
    let label = match kind {
        PromptKind::Search => "search: ",
        PromptKind::BulkScore => "accept best correct with score >= ",
        PromptKind::ScoreRange => "score range (min..max, empty clears): ",
    };
    let line = Line::from(vec![
        Span::styled(label, s.theme.style("ui.key")),
        Span::raw(sanitize(&input.text).into_owned()),
        Span::styled(" ", s.theme.style("ui.selection")),
    ]);
    Clear.render(s.status, buf);
    Paragraph::new(line).render(s.status, buf);
}

pub fn parse_prompt(kind: PromptKind, text: &str) -> Result<Option<Action>, String> {
    let text = text.trim();
    let score = |s: &str| -> Result<Option<i32>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        match s.parse::<i32>() {
            Ok(v) if (-100..=100).contains(&v) => Ok(Some(v)),
            _ => Err(format!(
                "{s:?} is not a judge score (an integer in -100..100)"
            )),
        }
    };
    match kind {
        PromptKind::Search => Ok(None),
        PromptKind::BulkScore => match score(text)? {
            Some(v) => Ok(Some(Action::BulkAcceptAt(v))),
            None => Err("a minimum score is required".into()),
        },
        PromptKind::ScoreRange => {
            let (lo, hi) = match text.split_once("..") {
                Some((lo, hi)) => (score(lo)?, score(hi)?),
                None => (score(text)?, None),
            };
            Ok(Some(Action::SetScoreRange(lo, hi)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_parse_scores_and_ranges() {
        assert_eq!(
            parse_prompt(PromptKind::BulkScore, " 40 "),
            Ok(Some(Action::BulkAcceptAt(40)))
        );
        assert!(parse_prompt(PromptKind::BulkScore, "400").is_err());
        assert!(parse_prompt(PromptKind::BulkScore, "").is_err());
        assert_eq!(
            parse_prompt(PromptKind::ScoreRange, "10..50"),
            Ok(Some(Action::SetScoreRange(Some(10), Some(50))))
        );
        assert_eq!(
            parse_prompt(PromptKind::ScoreRange, "..-20"),
            Ok(Some(Action::SetScoreRange(None, Some(-20))))
        );
        assert_eq!(
            parse_prompt(PromptKind::ScoreRange, ""),
            Ok(Some(Action::SetScoreRange(None, None)))
        );
    }
}
