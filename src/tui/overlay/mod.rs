//! Overlays: windows drawn over the screen (help, pickers, read-only text, the command
//! palette, one-line prompts). The app keeps them as a stack; the top one sees keys
//! first, and closing it shows the one below. Each kind lives in its own file.

mod help;
mod palette;
mod picker;
mod prompt;
mod text;

use crossterm::event::KeyEvent;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

pub use palette::palette_matches;
pub use prompt::{PromptKind, parse_prompt};

use super::action::Action;
use super::keymap::{Keymap, Scope};
use super::widgets::input::LineInput;
use crate::config::theme::Theme;

/// One choice of a picker: what it shows and what choosing it does.
#[derive(Debug, Clone, PartialEq)]
pub struct PickItem {
    pub label: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    /// A list to choose from with the arrows and enter (presets, eval settings).
    Picker {
        title: String,
        items: Vec<PickItem>,
        selected: usize,
    },
    /// Read-only text, e.g. a run's frozen config.
    Text {
        title: String,
        text: String,
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

/// What a key did to an overlay: the action it produced, and whether the overlay is
/// done (the app pops it).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyOutcome {
    pub action: Option<Action>,
    pub close: bool,
}

impl KeyOutcome {
    fn keep(action: Option<Action>) -> Self {
        Self {
            action,
            close: false,
        }
    }

    fn close(action: Option<Action>) -> Self {
        Self {
            action,
            close: true,
        }
    }
}

/// What overlays are drawn with: where, and the keymap the help lists.
pub struct Surface<'a> {
    /// The screen's area (windows are centred on it).
    pub main: Rect,
    /// The status line (prompts are drawn there).
    pub status: Rect,
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub scope: Scope,
    pub screen_title: &'a str,
}

impl Overlay {
    pub fn picker(title: impl Into<String>, items: Vec<PickItem>) -> Self {
        Self::Picker {
            title: title.into(),
            items,
            selected: 0,
        }
    }

    pub fn prompt(kind: PromptKind, current: String) -> Self {
        Self::Prompt {
            kind,
            input: LineInput::new(&current),
            before: current,
        }
    }

    /// A key; `resolved` is what the keymap makes of it on the screen below.
    pub fn handle_key(&mut self, key: &KeyEvent, resolved: Option<Action>) -> KeyOutcome {
        match self {
            Self::Help { .. } | Self::Text { .. } => KeyOutcome::keep(match resolved {
                Some(Action::ToggleHelp | Action::Cancel | Action::Quit) => Some(Action::Cancel),
                Some(a) if a.is_motion() => Some(a),
                _ => None,
            }),
            Self::Picker {
                items, selected, ..
            } => picker::handle_key(items, *selected, key, resolved),
            Self::Palette { input, selected } => palette::handle_key(input, selected, key),
            Self::Prompt {
                kind,
                input,
                before,
            } => prompt::handle_key(*kind, input, before, key),
        }
    }

    /// Scrolling and moving the selection.
    pub fn motion(&mut self, action: &Action) {
        match self {
            Self::Help { scroll } | Self::Text { scroll, .. } => text::scroll(scroll, action),
            Self::Picker {
                items, selected, ..
            } => picker::motion(items.len(), selected, action),
            Self::Palette { .. } | Self::Prompt { .. } => {}
        }
    }

    /// Pasted text goes into the overlay's input, if it has one.
    pub fn paste(&mut self, text: &str) {
        if let Self::Prompt { input, .. } | Self::Palette { input, .. } = self {
            input
                .text
                .push_str(&crate::text::sanitize(text).replace('\n', " "));
        }
    }

    pub fn render(&self, surface: &Surface, buf: &mut Buffer) {
        match self {
            Self::Help { scroll } => help::render(surface, buf, *scroll),
            Self::Palette { input, selected } => palette::render(surface, buf, input, *selected),
            Self::Picker {
                title,
                items,
                selected,
            } => picker::render(surface, buf, title, items, *selected),
            Self::Text {
                title,
                text,
                scroll,
            } => text::render(surface, buf, title, text, *scroll),
            Self::Prompt { kind, input, .. } => prompt::render(surface, buf, *kind, input),
        }
    }
}

/// A window `width_pct` × `height_pct` of `area`, centred, at least 40×10.
pub fn centered(area: Rect, width_pct: u16, height_pct: u16) -> Rect {
    let width = (area.width * width_pct / 100).max(area.width.min(40));
    let height = (area.height * height_pct / 100).max(area.height.min(10));
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
