//! The application state: screens, overlays, status line, and the one `update` every
//! action goes through. A failed action becomes a status-line message, never a crash.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::action::{Action, BINDABLE};
use super::keymap::{Keymap, Scope};
use super::screens::Ctx;
use super::screens::compare::CompareScreen;
use super::screens::curate::CurateScreen;
use super::screens::eval::EvalScreen;
use super::screens::runs::RunsScreen;
use super::widgets::input::{InputOutcome, LineInput};
use crate::config::theme::Theme;
use crate::workspace::Workspace;
use crate::workspace::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenId {
    Curate,
    Runs,
    Compare,
    Eval,
}

impl ScreenId {
    pub const ALL: [ScreenId; 4] = [Self::Curate, Self::Runs, Self::Compare, Self::Eval];

    pub fn scope(self) -> Scope {
        match self {
            Self::Curate => Scope::Curate,
            Self::Runs => Scope::Runs,
            Self::Compare => Scope::Compare,
            Self::Eval => Scope::Eval,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Curate => "Curate",
            Self::Runs => "Runs",
            Self::Compare => "Compare",
            Self::Eval => "Eval",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Search,
    BulkScore,
    ScoreRange,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Palette {
        input: LineInput,
        selected: usize,
    },
    Prompt {
        kind: PromptKind,
        input: LineInput,
        before: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessage {
    pub text: String,
    pub error: bool,
}

pub struct App {
    pub workspace: Workspace,
    pub store: Store,
    pub theme: Theme,
    pub keymap: Keymap,
    pub screen: ScreenId,
    pub curate: CurateScreen,
    pub runs: RunsScreen,
    pub compare: CompareScreen,
    pub eval: EvalScreen,
    pub overlay: Option<Overlay>,
    pub status: Option<StatusMessage>,
    pub should_quit: bool,
    /// Text waiting to be handed to `$EDITOR` by the event loop.
    pub external_edit: Option<String>,
}

impl App {
    pub fn new(workspace: Workspace, keymap: Keymap, theme: Theme) -> anyhow::Result<Self> {
        let mut store = workspace.store()?;
        let mut ctx = Ctx::new(&mut store, &workspace);
        let curate = CurateScreen::new(&mut ctx)?;
        let runs = RunsScreen::new(&mut ctx)?;
        let compare = CompareScreen::new(&mut ctx)?;
        let eval = EvalScreen::new(&mut ctx)?;
        Ok(Self {
            workspace,
            store,
            theme,
            keymap,
            screen: ScreenId::Curate,
            curate,
            runs,
            compare,
            eval,
            overlay: None,
            status: None,
            should_quit: false,
            external_edit: None,
        })
    }

    pub fn set_error(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            text: text.into(),
            error: true,
        });
    }

    /// Turns a key into an action: overlays and text inputs first, then the keymap.
    pub fn handle_key(&mut self, key: &KeyEvent) -> Option<Action> {
        if let Some(overlay) = self.overlay.as_mut() {
            return match overlay {
                Overlay::Help { .. } => match self.keymap.resolve(self.screen.scope(), key) {
                    Some(Action::ToggleHelp | Action::Cancel | Action::Quit) => {
                        Some(Action::Cancel)
                    }
                    Some(a @ (Action::Up | Action::Down | Action::PageUp | Action::PageDown)) => {
                        Some(a)
                    }
                    _ => None,
                },
                Overlay::Palette { input, selected } => match key.code {
                    KeyCode::Up => {
                        *selected = selected.saturating_sub(1);
                        None
                    }
                    KeyCode::Down => {
                        *selected += 1;
                        None
                    }
                    _ => match input.handle_key(key) {
                        InputOutcome::Submit => {
                            let chosen = palette_matches(&input.text).get(*selected).cloned();
                            self.overlay = None;
                            chosen
                        }
                        InputOutcome::Cancel => Some(Action::Cancel),
                        InputOutcome::Changed => {
                            *selected = 0;
                            None
                        }
                        InputOutcome::Unchanged => None,
                    },
                },
                Overlay::Prompt {
                    kind,
                    input,
                    before,
                } => {
                    let kind = *kind;
                    match input.handle_key(key) {
                        InputOutcome::Changed if kind == PromptKind::Search => {
                            Some(Action::SetSearch(input.text.clone()))
                        }
                        InputOutcome::Changed | InputOutcome::Unchanged => None,
                        InputOutcome::Cancel => {
                            let restore = before.clone();
                            self.overlay = None;
                            (kind == PromptKind::Search).then_some(Action::SetSearch(restore))
                        }
                        InputOutcome::Submit => {
                            let text = input.text.clone();
                            self.overlay = None;
                            match parse_prompt(kind, &text) {
                                Ok(action) => action,
                                Err(message) => Some(Action::ShowError(message)),
                            }
                        }
                    }
                }
            };
        }
        if self.screen == ScreenId::Curate && self.curate.captures_keys() {
            return self.curate.handle_key(key);
        }
        self.keymap.resolve(self.screen.scope(), key)
    }

    pub fn handle_paste(&mut self, text: &str) {
        match self.overlay.as_mut() {
            Some(Overlay::Prompt { input, .. } | Overlay::Palette { input, .. }) => {
                input
                    .text
                    .push_str(&super::sanitize(text).replace('\n', " "));
            }
            Some(Overlay::Help { .. }) => {}
            None if self.screen == ScreenId::Curate => self.curate.paste(text),
            None => {}
        }
    }

    /// Applies an action (and any follow-up it produces). Errors go to the status line.
    pub fn update(&mut self, action: Action) {
        let mut next = Some(action);
        while let Some(action) = next.take() {
            if !matches!(action, Action::Tick) {
                self.status = None;
            }
            match self.update_one(&action) {
                Ok(follow) => next = follow,
                Err(e) => self.set_error(format!("{e:#}")),
            }
        }
    }

    fn switch(&mut self, screen: ScreenId) -> anyhow::Result<Option<Action>> {
        self.screen = screen;
        let refresh = match screen {
            ScreenId::Compare => Some(Action::ShowCompare),
            ScreenId::Eval => Some(Action::ShowEval),
            ScreenId::Runs => Some(Action::ShowRuns),
            ScreenId::Curate => None,
        };
        match refresh {
            Some(action) => self.forward(&action),
            None => Ok(None),
        }
    }

    fn forward(&mut self, action: &Action) -> anyhow::Result<Option<Action>> {
        let mut ctx = Ctx::new(&mut self.store, &self.workspace);
        let result = match self.screen {
            ScreenId::Curate => self.curate.update(action, &mut ctx),
            ScreenId::Runs => self.runs.update(action, &mut ctx),
            ScreenId::Compare => self.compare.update(action, &mut ctx),
            ScreenId::Eval => self.eval.update(action, &mut ctx),
        };
        if let Some(info) = ctx.info {
            self.status = Some(StatusMessage {
                text: info,
                error: false,
            });
        }
        result
    }

    fn update_one(&mut self, action: &Action) -> anyhow::Result<Option<Action>> {
        if let Some(Overlay::Help { scroll }) = self.overlay.as_mut() {
            match action {
                Action::Down => *scroll = scroll.saturating_add(1),
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::PageDown => *scroll = scroll.saturating_add(10),
                Action::PageUp => *scroll = scroll.saturating_sub(10),
                _ => {}
            }
        }
        let index = ScreenId::ALL
            .iter()
            .position(|s| *s == self.screen)
            .unwrap_or(0);
        match action {
            Action::Quit => self.should_quit = true,
            Action::ToggleHelp => {
                self.overlay = match self.overlay {
                    Some(Overlay::Help { .. }) => None,
                    _ => Some(Overlay::Help { scroll: 0 }),
                }
            }
            Action::OpenPalette => {
                self.overlay = Some(Overlay::Palette {
                    input: LineInput::default(),
                    selected: 0,
                })
            }
            Action::Cancel if self.overlay.is_some() => self.overlay = None,
            Action::Up | Action::Down | Action::PageUp | Action::PageDown
                if self.overlay.is_some() => {}
            Action::NextScreen => return self.switch(ScreenId::ALL[(index + 1) % 4]),
            Action::PrevScreen => return self.switch(ScreenId::ALL[(index + 3) % 4]),
            Action::ShowCurate => return self.switch(ScreenId::Curate),
            Action::ShowRuns => return self.switch(ScreenId::Runs),
            Action::ShowCompare => return self.switch(ScreenId::Compare),
            Action::ShowEval => return self.switch(ScreenId::Eval),
            Action::ShowError(message) => self.set_error(message.clone()),
            Action::Tick => {
                // Runs are polled whatever the screen, so switching to it is instant.
                let mut ctx = Ctx::new(&mut self.store, &self.workspace);
                self.runs.update(action, &mut ctx)?;
            }
            Action::Search => {
                let before = self.curate.filter.search.clone().unwrap_or_default();
                self.screen = ScreenId::Curate;
                self.overlay = Some(Overlay::Prompt {
                    kind: PromptKind::Search,
                    input: LineInput::new(&before),
                    before,
                });
            }
            Action::BulkAcceptBest => {
                let default = self.workspace.config.distill.min_score.to_string();
                self.screen = ScreenId::Curate;
                self.overlay = Some(Overlay::Prompt {
                    kind: PromptKind::BulkScore,
                    input: LineInput::new(&default),
                    before: default,
                });
            }
            Action::ScoreRange => {
                let f = &self.curate.filter;
                let current = match (f.min_score, f.max_score) {
                    (None, None) => String::new(),
                    (lo, hi) => format!(
                        "{}..{}",
                        lo.map_or(String::new(), |v| v.to_string()),
                        hi.map_or(String::new(), |v| v.to_string())
                    ),
                };
                self.screen = ScreenId::Curate;
                self.overlay = Some(Overlay::Prompt {
                    kind: PromptKind::ScoreRange,
                    input: LineInput::new(&current),
                    before: current,
                });
            }
            Action::EditExecutionExternal => {
                self.screen = ScreenId::Curate;
                match self.curate.begin_external_edit() {
                    Some(text) => self.external_edit = Some(text),
                    None => self.set_error("no candidate selected"),
                }
            }
            Action::SetSearch(_)
            | Action::BulkAcceptAt(_)
            | Action::SetScoreRange(..)
            | Action::CommitEdit(_) => {
                self.screen = ScreenId::Curate;
                return self.forward(action);
            }
            _ => return self.forward(action),
        }
        Ok(None)
    }

    /// Hands the pending `$EDITOR` text to the event loop.
    pub fn take_external_edit(&mut self) -> Option<String> {
        self.external_edit.take()
    }

    /// Draws everything. Pure: reads state only.
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        let [tabs, main, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_tabs(tabs, buf);
        match self.screen {
            ScreenId::Curate => self.curate.render(main, buf, &self.theme),
            ScreenId::Runs => self.runs.render(main, buf, &self.theme),
            ScreenId::Compare => self.compare.render(main, buf, &self.theme),
            ScreenId::Eval => self.eval.render(main, buf, &self.theme),
        }
        self.render_status(status, buf);
        match &self.overlay {
            Some(Overlay::Help { scroll }) => self.render_help(main, buf, *scroll),
            Some(Overlay::Palette { input, selected }) => {
                self.render_palette(main, buf, input, *selected)
            }
            Some(Overlay::Prompt { kind, input, .. }) => {
                let label = match kind {
                    PromptKind::Search => "search: ",
                    PromptKind::BulkScore => "accept best correct with score >= ",
                    PromptKind::ScoreRange => "score range (min..max, empty clears): ",
                };
                let line = Line::from(vec![
                    Span::styled(label, self.theme.style("ui.key")),
                    Span::raw(super::sanitize(&input.text).into_owned()),
                    Span::styled(" ", self.theme.style("ui.selection")),
                ]);
                Clear.render(status, buf);
                Paragraph::new(line).render(status, buf);
            }
            None => {}
        }
    }

    fn render_tabs(&self, area: Rect, buf: &mut Buffer) {
        let mut spans = vec![Span::styled(
            format!(" plantune · {} ", super::sanitize(self.workspace.name())),
            self.theme.style("ui.title"),
        )];
        for (i, screen) in ScreenId::ALL.iter().enumerate() {
            let style = if *screen == self.screen {
                self.theme.style("ui.selection")
            } else {
                self.theme.style("ui.dim")
            };
            spans.push(Span::styled(
                format!(" {} {} ", i + 1, screen.title()),
                style,
            ));
        }
        spans.push(Span::styled(
            "  ? help  : palette",
            self.theme.style("ui.dim"),
        ));
        Paragraph::new(Line::from(spans)).render(area, buf);
    }

    fn render_status(&self, area: Rect, buf: &mut Buffer) {
        let line = match &self.status {
            Some(StatusMessage { text, error: true }) => Line::styled(
                format!(" error: {}", super::sanitize(text)),
                self.theme.style("ui.error"),
            ),
            Some(StatusMessage { text, error: false }) => Line::styled(
                format!(" {}", super::sanitize(text)),
                self.theme.style("ui.info"),
            ),
            None => {
                let hints: &[Action] = match self.screen {
                    ScreenId::Curate => &[
                        Action::Accept,
                        Action::Reject,
                        Action::NextPending,
                        Action::Undo,
                        Action::Search,
                        Action::EditStep,
                        Action::ToggleDiff,
                    ],
                    ScreenId::Compare => &[
                        Action::CycleSetA,
                        Action::CycleSetB,
                        Action::CycleCompareFilter,
                    ],
                    ScreenId::Runs | ScreenId::Eval => &[Action::Down, Action::PageDown],
                };
                let mut spans = Vec::new();
                for action in hints {
                    if let Some(chord) = self.keymap.chords_for(self.screen.scope(), action).first()
                    {
                        spans.push(Span::styled(
                            format!(" {chord}"),
                            self.theme.style("ui.key"),
                        ));
                        let name = action.name().unwrap_or_default().replace('_', " ");
                        spans.push(Span::raw(format!(" {name} ")));
                    }
                }
                Line::from(spans)
            }
        };
        Paragraph::new(line)
            .style(self.theme.style("ui.status_bar"))
            .render(area, buf);
    }

    fn render_help(&self, area: Rect, buf: &mut Buffer, scroll: u16) {
        let popup = centered(area, 70, 90);
        Clear.render(popup, buf);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style("ui.border_focused"))
            .title(Span::styled(
                format!(" Keys · {} (esc closes) ", self.screen.title()),
                self.theme.style("ui.title"),
            ));
        let mut lines = Vec::new();
        let mut last_scope = None;
        for (scope, chord, action) in self.keymap.bindings_for(self.screen.scope()) {
            if last_scope != Some(scope) {
                lines.push(Line::styled(
                    scope.name().to_owned(),
                    self.theme.style("plan.section"),
                ));
                last_scope = Some(scope);
            }
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {:<10}", chord.to_string()),
                    self.theme.style("ui.key"),
                ),
                Span::raw(action.description()),
            ]));
        }
        lines.push(Line::styled(
            "text editor: ctrl-s save, esc cancel, arrows/home/end move",
            self.theme.style("ui.dim"),
        ));
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll, 0))
            .render(popup, buf);
    }

    fn render_palette(&self, area: Rect, buf: &mut Buffer, input: &LineInput, selected: usize) {
        let popup = centered(area, 60, 60);
        Clear.render(popup, buf);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(self.theme.style("ui.border_focused"))
            .title(Span::styled(
                " Command palette ",
                self.theme.style("ui.title"),
            ));
        let matches = palette_matches(&input.text);
        let selected = selected.min(matches.len().saturating_sub(1));
        let mut lines = vec![Line::from(vec![
            Span::styled(": ", self.theme.style("ui.key")),
            Span::raw(super::sanitize(&input.text).into_owned()),
            Span::styled(" ", self.theme.style("ui.selection")),
        ])];
        for (i, action) in matches.iter().enumerate() {
            let line = Line::from(vec![
                Span::styled(
                    format!("{:<26}", action.name().unwrap_or_default()),
                    self.theme.style("ui.key"),
                ),
                Span::raw(action.description()),
            ]);
            lines.push(if i == selected {
                line.style(self.theme.style("ui.selection"))
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

fn parse_prompt(kind: PromptKind, text: &str) -> Result<Option<Action>, String> {
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

fn centered(area: Rect, width_pct: u16, height_pct: u16) -> Rect {
    let width = (area.width * width_pct / 100).max(area.width.min(40));
    let height = (area.height * height_pct / 100).max(area.height.min(10));
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
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

    #[test]
    fn palette_filters_by_every_word() {
        let found = palette_matches("bulk reject");
        assert_eq!(found, vec![Action::BulkRejectIncorrect]);
        assert_eq!(palette_matches("").len(), BINDABLE.len());
    }
}
