//! The command palette: every bindable action, filtered by the words typed.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::{KeyOutcome, Surface, centered};
use crate::text::sanitize;
use crate::tui::action::{Action, BINDABLE};
use crate::tui::widgets::input::{InputOutcome, LineInput};

pub fn handle_key(input: &mut LineInput, selected: &mut usize, key: &KeyEvent) -> KeyOutcome {
    match key.code {
        KeyCode::Up => {
            *selected = selected.saturating_sub(1);
            KeyOutcome::keep(None)
        }
        KeyCode::Down => {
            *selected += 1;
            KeyOutcome::keep(None)
        }
        _ => match input.handle_key(key) {
            InputOutcome::Submit => {
                KeyOutcome::close(palette_matches(&input.text).get(*selected).cloned())
            }
            InputOutcome::Cancel => KeyOutcome::keep(Some(Action::Cancel)),
            InputOutcome::Changed => {
                *selected = 0;
                KeyOutcome::keep(None)
            }
            InputOutcome::Unchanged => KeyOutcome::keep(None),
        },
    }
}

/// Bindable actions whose name or description contains every word typed.
pub fn palette_matches(query: &str) -> Vec<Action> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    BINDABLE
        .iter()
        .filter(|a| {
            let hay =
                format!("{} {}", a.name().unwrap_or_default(), a.description()).to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .cloned()
        .collect()
}

pub fn render(s: &Surface, buf: &mut Buffer, input: &LineInput, selected: usize) {
    let theme = s.theme;
    let popup = centered(s.main, 60, 60);
    Clear.render(popup, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style("ui.border_focused"))
        .title(Span::styled(" Command palette ", theme.style("ui.title")));
    let matches = palette_matches(&input.text);
    let selected = selected.min(matches.len().saturating_sub(1));
    let mut lines = vec![Line::from(vec![
        Span::styled(": ", theme.style("ui.key")),
        Span::raw(sanitize(&input.text).into_owned()),
        Span::styled(" ", theme.style("ui.selection")),
    ])];
    for (i, action) in matches.iter().enumerate() {
        let line = Line::from(vec![
            Span::styled(
                format!("{:<26}", action.name().unwrap_or_default()),
                theme.style("ui.key"),
            ),
            Span::raw(action.description()),
        ]);
        lines.push(if i == selected {
            line.style(theme.style("ui.selection"))
        } else {
            line
        });
    }
    let height = popup.height.saturating_sub(3) as usize;
    let skip = selected.saturating_sub(height.saturating_sub(1));
    let first = lines.remove(0);
    let mut shown = vec![first];
    shown.extend(lines.into_iter().skip(skip));
    Paragraph::new(shown).block(block).render(popup, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_filters_by_every_word() {
        let found = palette_matches("bulk reject");
        assert_eq!(found, vec![Action::BulkRejectIncorrect]);
        assert_eq!(palette_matches("").len(), BINDABLE.len());
    }
}
