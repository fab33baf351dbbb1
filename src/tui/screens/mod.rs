//! Screens are components: each owns its state, turns actions into state changes in
//! `update` (where all IO happens) and draws itself in a pure `render`.

pub mod compare;
pub mod compare_steps;
pub mod curate;
pub mod eval;
mod eval_launch;
pub mod runs;

use std::sync::mpsc::Sender;

use crossterm::event::KeyEvent;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::Line;

pub use super::screen_id::ScreenId;

use super::action::Action;
use super::background::{Done, JobId, Jobs};
use super::keymap::{Pane, Scope};
use super::overlay::Overlay;
use crate::config::theme::Theme;
use crate::jobs::Launcher;
use crate::workspace::Workspace;
use crate::workspace::store::Store;

/// One screen of the app. The app knows screens only through this trait: it forwards
/// actions, ticks, clicks and background results, and draws the one shown.
pub trait Screen {
    fn title(&self) -> &'static str;
    /// The keymap section whose bindings apply on this screen.
    fn scope(&self) -> Scope;
    /// Actions whose keys the status line shows when nothing else is said.
    fn hints(&self) -> &'static [Action];
    /// Called when the screen is switched to: refresh what may have changed.
    fn shown(&mut self, ctx: &mut Ctx) -> anyhow::Result<()>;
    fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>>;
    /// Called on every tick; `shown` says whether this screen is on display.
    fn tick(&mut self, _ctx: &mut Ctx, _shown: bool) -> anyhow::Result<()> {
        Ok(())
    }
    /// A background job this screen started has finished.
    fn finished(&mut self, _done: &Done, _ctx: &mut Ctx) -> anyhow::Result<()> {
        Ok(())
    }
    fn click(&mut self, ctx: &mut Ctx, area: Rect, at: Position) -> anyhow::Result<()>;
    fn scroll_at(
        &mut self,
        ctx: &mut Ctx,
        area: Rect,
        at: Position,
        down: bool,
    ) -> anyhow::Result<()>;
    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme);
    /// True while the screen reads raw keys (an inline editor).
    fn captures_keys(&self) -> bool {
        false
    }
    fn handle_key(&mut self, _key: &KeyEvent) -> Option<Action> {
        None
    }
    fn paste(&mut self, _text: &str) {}
    /// The pane with focus and whether a diff is shown, for keymap conditions.
    fn focus(&self) -> (Pane, bool) {
        (Pane::List, false)
    }
}

/// What `update` may touch, and what it may ask of the app.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub workspace: &'a Workspace,
    /// A message for the status line (errors travel as `Err` instead).
    pub info: Option<String>,
    /// Starts run workers and evaluations.
    pub launcher: &'a Launcher,
    /// The screen this context was made for: background jobs report back to it.
    pub screen: ScreenId,
    jobs: Option<&'a mut Jobs>,
    /// An overlay to open on top of the stack once the update returns.
    pub open: Option<Overlay>,
    /// Text to hand to `$EDITOR`.
    pub external_edit: Option<String>,
}

impl<'a> Ctx<'a> {
    /// A context for reading (tests, benches, constructing screens): starting a
    /// background job through it fails.
    pub fn new(store: &'a mut Store, workspace: &'a Workspace) -> Self {
        static LAUNCHER: std::sync::OnceLock<Launcher> = std::sync::OnceLock::new();
        Self {
            store,
            workspace,
            info: None,
            launcher: LAUNCHER.get_or_init(Launcher::default),
            screen: ScreenId::Curate,
            jobs: None,
            open: None,
            external_edit: None,
        }
    }

    /// The app's context for `screen`.
    pub fn for_screen(
        store: &'a mut Store,
        workspace: &'a Workspace,
        launcher: &'a Launcher,
        jobs: &'a mut Jobs,
        screen: ScreenId,
    ) -> Self {
        Self {
            launcher,
            screen,
            jobs: Some(jobs),
            ..Self::new(store, workspace)
        }
    }

    /// Starts a background job reporting to this context's screen.
    pub fn start_job(&mut self) -> anyhow::Result<(JobId, Sender<Done>)> {
        let screen = self.screen;
        match self.jobs.as_deref_mut() {
            Some(jobs) => Ok(jobs.start(screen)),
            None => anyhow::bail!("background work cannot start here"),
        }
    }
}

/// Untrusted text as lines: sanitised, split on newlines, one style.
pub fn text_lines(text: &str, style: Style) -> Vec<Line<'static>> {
    let clean = crate::text::sanitize(text);
    clean
        .split('\n')
        .map(|l| Line::styled(l.to_owned(), style))
        .collect()
}

/// Clamps a selection after the list changed length.
pub fn clamp(selected: usize, len: usize) -> usize {
    selected.min(len.saturating_sub(1))
}

/// Moves a selection by a signed step within `len` items.
pub fn step(selected: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    selected.saturating_add_signed(delta).min(len - 1)
}

pub fn border_style(theme: &Theme, focused: bool) -> Style {
    theme.style(if focused {
        "ui.border_focused"
    } else {
        "ui.border"
    })
}
