//! The application shell: which screen is shown, the overlay stack, the status line,
//! and the one `update` every action goes through. Screens are reached only through
//! the `Screen` trait; a failed action becomes a status-line message, never a crash.

use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

pub use super::overlay::{Overlay, PickItem, PromptKind, palette_matches};
pub use super::screens::ScreenId;

use super::action::Action;
use super::background::Jobs;
use super::keymap::{KeyContext, Keymap};
use super::overlay::Surface;
use super::screens::compare::CompareScreen;
use super::screens::curate::CurateScreen;
use super::screens::eval::EvalScreen;
use super::screens::runs::RunsScreen;
use super::screens::{Ctx, Screen};
use super::widgets::input::LineInput;
use crate::config::theme::Theme;
use crate::jobs::Launcher;
use crate::workspace::Workspace;
use crate::workspace::store::Store;

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
    /// Open overlays, the top one last: it sees keys first and is drawn last.
    overlays: Vec<Overlay>,
    pub status: Option<StatusMessage>,
    pub should_quit: bool,
    /// Text waiting to be handed to `$EDITOR` by the event loop.
    pub external_edit: Option<String>,
    /// Starts run workers and evaluations.
    pub launcher: Launcher,
    /// The terminal's size at the last draw, for hit-testing mouse clicks against the
    /// same layout `render` computes.
    pub frame: Rect,
    /// Background work (run creation, teacher calls): ids handed out, results waiting.
    jobs: Jobs,
}

/// The one place a screen id becomes a screen.
fn pick_mut<'a>(
    id: ScreenId,
    curate: &'a mut CurateScreen,
    runs: &'a mut RunsScreen,
    compare: &'a mut CompareScreen,
    eval: &'a mut EvalScreen,
) -> &'a mut dyn Screen {
    match id {
        ScreenId::Curate => curate,
        ScreenId::Runs => runs,
        ScreenId::Compare => compare,
        ScreenId::Eval => eval,
    }
}

/// The screen an action acts on wherever it is started (the palette reaches every
/// action from every screen): running it shows that screen first.
fn home(action: &Action) -> Option<ScreenId> {
    match action {
        Action::StopRun
        | Action::ResumeRun
        | Action::OpenRunConfig
        | Action::NewRunFromPreset
        | Action::StartPreset(_) => Some(ScreenId::Runs),
        Action::LaunchEval | Action::StartEval { .. } => Some(ScreenId::Eval),
        Action::Search
        | Action::BulkAcceptBest
        | Action::ScoreRange
        | Action::EditExecutionExternal
        | Action::SetSearch(_)
        | Action::BulkAcceptAt(_)
        | Action::SetScoreRange(..)
        | Action::CommitEdit(_)
        | Action::ReexecutePlan => Some(ScreenId::Curate),
        _ => None,
    }
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
            overlays: Vec::new(),
            status: None,
            should_quit: false,
            external_edit: None,
            launcher: Launcher::default(),
            frame: Rect::new(0, 0, 80, 24),
            jobs: Jobs::default(),
        })
    }

    /// The screen shown (or any other).
    pub fn screen_of(&self, id: ScreenId) -> &dyn Screen {
        match id {
            ScreenId::Curate => &self.curate,
            ScreenId::Runs => &self.runs,
            ScreenId::Compare => &self.compare,
            ScreenId::Eval => &self.eval,
        }
    }

    fn screen_mut(&mut self, id: ScreenId) -> &mut dyn Screen {
        pick_mut(
            id,
            &mut self.curate,
            &mut self.runs,
            &mut self.compare,
            &mut self.eval,
        )
    }

    /// Runs `f` on screen `id` with a context, then applies what the context asks of
    /// the app: a status message, an overlay to open, text for `$EDITOR`.
    fn with_screen<T>(
        &mut self,
        id: ScreenId,
        f: impl FnOnce(&mut dyn Screen, &mut Ctx) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let Self {
            store,
            workspace,
            launcher,
            jobs,
            curate,
            runs,
            compare,
            eval,
            ..
        } = self;
        let screen = pick_mut(id, curate, runs, compare, eval);
        let mut ctx = Ctx::for_screen(store, workspace, launcher, jobs, id);
        let result = f(screen, &mut ctx);
        let (info, open, edit) = (ctx.info.take(), ctx.open.take(), ctx.external_edit.take());
        if let Some(text) = info {
            self.set_info(text);
        }
        if let Some(overlay) = open {
            self.overlays.push(overlay);
        }
        if edit.is_some() {
            self.external_edit = edit;
        }
        result
    }

    /// The top overlay, if one is open.
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlays.last()
    }

    /// Applies every result background work has reported since the last call, each on
    /// the screen that started it; true when there was one (the screen needs a redraw).
    pub fn poll_background(&mut self) -> bool {
        let arrived = self.jobs.arrived();
        let any = !arrived.is_empty();
        for (owner, done) in arrived {
            let Some(owner) = owner else { continue };
            self.status = None;
            if let Err(e) = self.with_screen(owner, |screen, ctx| screen.finished(&done, ctx)) {
                self.set_error(format!("{e:#}"));
            }
        }
        any
    }

    pub fn set_error(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            text: text.into(),
            error: true,
        });
    }

    fn set_info(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            text: text.into(),
            error: false,
        });
    }

    /// Turns a key into an action: the top overlay first, then a screen's text input,
    /// then the keymap.
    pub fn handle_key(&mut self, key: &KeyEvent) -> Option<Action> {
        let context = self.key_context();
        let scope = self.screen_of(self.screen).scope();
        let resolved = self.keymap.resolve(scope, &context, key);
        if let Some(top) = self.overlays.last_mut() {
            let outcome = top.handle_key(key, resolved);
            if outcome.close {
                self.overlays.pop();
            }
            return outcome.action;
        }
        let screen = self.screen_mut(self.screen);
        if screen.captures_keys() {
            return screen.handle_key(key);
        }
        resolved
    }

    /// What the keymap's `when` conditions see.
    pub fn key_context(&self) -> KeyContext {
        let (focus, diff_shown) = self.screen_of(self.screen).focus();
        KeyContext {
            focus,
            diff_shown,
            overlay_open: !self.overlays.is_empty(),
        }
    }

    /// Turns a mouse event into an action; where it lands is decided in `update`.
    pub fn handle_mouse(&self, mouse: &MouseEvent) -> Option<Action> {
        let (column, row) = (mouse.column, mouse.row);
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Action::ClickAt { column, row }),
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => Some(Action::ScrollAt {
                column,
                row,
                down: mouse.kind == MouseEventKind::ScrollDown,
            }),
            _ => None,
        }
    }

    pub fn handle_paste(&mut self, text: &str) {
        match self.overlays.last_mut() {
            Some(top) => top.paste(text),
            None => self.screen_mut(self.screen).paste(text),
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

    /// Shows `screen`, letting it refresh.
    fn switch(&mut self, screen: ScreenId) -> anyhow::Result<()> {
        self.screen = screen;
        self.with_screen(screen, |s, ctx| s.shown(ctx))
    }

    fn update_one(&mut self, action: &Action) -> anyhow::Result<Option<Action>> {
        let action = &match action {
            // The wheel over an overlay scrolls it, wherever the pointer is.
            Action::ScrollAt { down: true, .. } if !self.overlays.is_empty() => Action::Down,
            Action::ScrollAt { down: false, .. } if !self.overlays.is_empty() => Action::Up,
            other => other.clone(),
        };
        let overlay_open = !self.overlays.is_empty();
        if let Some(top) = self.overlays.last_mut() {
            top.motion(action);
        }
        let index = ScreenId::ALL
            .iter()
            .position(|s| *s == self.screen)
            .unwrap_or(0);
        match action {
            Action::Quit => self.should_quit = true,
            Action::ToggleHelp => match self.overlays.last() {
                Some(Overlay::Help { .. }) => drop(self.overlays.pop()),
                _ => self.overlays.push(Overlay::Help { scroll: 0 }),
            },
            Action::OpenPalette => self.overlays.push(Overlay::Palette {
                input: LineInput::default(),
                selected: 0,
            }),
            Action::Cancel if overlay_open => drop(self.overlays.pop()),
            a if overlay_open && (a.is_motion() || matches!(a, Action::ClickAt { .. })) => {}
            Action::NextScreen => self.switch(ScreenId::ALL[(index + 1) % 4])?,
            Action::PrevScreen => self.switch(ScreenId::ALL[(index + 3) % 4])?,
            Action::ShowCurate => self.switch(ScreenId::Curate)?,
            Action::ShowRuns => self.switch(ScreenId::Runs)?,
            Action::ShowCompare => self.switch(ScreenId::Compare)?,
            Action::ShowEval => self.switch(ScreenId::Eval)?,
            Action::ShowError(message) => self.set_error(message.clone()),
            Action::Tick => {
                for id in ScreenId::ALL {
                    let shown = id == self.screen;
                    self.with_screen(id, |s, ctx| s.tick(ctx, shown))?;
                }
            }
            Action::ClickAt { column, row } => self.click(Position::new(*column, *row))?,
            Action::ScrollAt { column, row, down } => {
                self.scroll_at(Position::new(*column, *row), *down)?
            }
            other => {
                if let Some(screen) = home(other).filter(|s| *s != self.screen) {
                    self.switch(screen)?;
                }
                return self.with_screen(self.screen, |s, ctx| s.update(other, ctx));
            }
        }
        Ok(None)
    }

    /// While the inline editor is open the pointer changes nothing, as keys do not.
    fn editing(&self) -> bool {
        self.screen_of(self.screen).captures_keys()
    }

    fn click(&mut self, at: Position) -> anyhow::Result<()> {
        if self.editing() {
            return Ok(());
        }
        let [tabs, main, _] = frame_layout(self.frame);
        if tabs.contains(at) {
            let hit = self
                .tab_ranges(tabs)
                .into_iter()
                .find(|(start, end, _)| (*start..*end).contains(&at.x));
            if let Some((_, _, screen)) = hit {
                self.switch(screen)?;
            }
            return Ok(());
        }
        self.with_screen(self.screen, |s, ctx| s.click(ctx, main, at))
    }

    fn scroll_at(&mut self, at: Position, down: bool) -> anyhow::Result<()> {
        if self.editing() {
            return Ok(());
        }
        let [_, main, _] = frame_layout(self.frame);
        self.with_screen(self.screen, |s, ctx| s.scroll_at(ctx, main, at, down))
    }

    /// Hands the pending `$EDITOR` text to the event loop.
    pub fn take_external_edit(&mut self) -> Option<String> {
        self.external_edit.take()
    }

    /// Draws everything. Pure: reads state only.
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        let [tabs, main, status] = frame_layout(area);
        Paragraph::new(Line::from(self.tab_spans())).render(tabs, buf);
        let screen = self.screen_of(self.screen);
        screen.render(main, buf, &self.theme);
        self.render_status(status, buf);
        let surface = Surface {
            main,
            status,
            theme: &self.theme,
            keymap: &self.keymap,
            scope: screen.scope(),
            screen_title: screen.title(),
        };
        for overlay in &self.overlays {
            overlay.render(&surface, buf);
        }
    }

    /// Columns `[start, end)` of each screen's tab, for clicks.
    fn tab_ranges(&self, area: Rect) -> Vec<(u16, u16, ScreenId)> {
        let spans = self.tab_spans();
        let mut x = area.x;
        let mut out = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            let width = span.width() as u16;
            if let Some(screen) = i.checked_sub(1).and_then(|i| ScreenId::ALL.get(i)) {
                out.push((x, x.saturating_add(width), *screen));
            }
            x = x.saturating_add(width);
        }
        out
    }

    /// The title, then one span per screen, then the hint.
    fn tab_spans(&self) -> Vec<Span<'static>> {
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
            let title = self.screen_of(*screen).title();
            spans.push(Span::styled(format!(" {} {title} ", i + 1), style));
        }
        spans.push(Span::styled(
            "  ? help  : palette",
            self.theme.style("ui.dim"),
        ));
        spans
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
                let screen = self.screen_of(self.screen);
                let mut spans = Vec::new();
                for action in screen.hints() {
                    if let Some(chord) = self.keymap.chords_for(screen.scope(), action).first() {
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
}

/// Tab bar, screen, status line: shared by `render` and mouse hit-testing.
fn frame_layout(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area)
}
