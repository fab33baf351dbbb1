//! Screens are components: each owns its state, turns actions into state changes in
//! `update` (where all IO happens) and draws itself in a pure `render`.

pub mod compare;
pub mod curate;
pub mod eval;
pub mod runs;

use ratatui::style::Style;
use ratatui::text::Line;

use crate::config::theme::Theme;
use crate::workspace::Workspace;
use crate::workspace::store::Store;

/// What `update` may touch.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub workspace: &'a Workspace,
    /// A message for the status line (errors travel as `Err` instead).
    pub info: Option<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(store: &'a mut Store, workspace: &'a Workspace) -> Self {
        Self {
            store,
            workspace,
            info: None,
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
