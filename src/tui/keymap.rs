//! Keymap as data: `(scope, chord) -> Action`, from an embedded default TOML layered
//! under the user's `keymap.toml`. Resolution happens here and nowhere else.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use toml::Spanned;

use super::action::Action;
use crate::config::toml_error::TomlError;

pub const DEFAULT_KEYMAP: &str = include_str!("default_keymap.toml");

/// Where a binding applies. Screen scopes win over `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Global,
    Curate,
    Runs,
    Compare,
    Eval,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Global,
        Scope::Curate,
        Scope::Runs,
        Scope::Compare,
        Scope::Eval,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Curate => "curate",
            Self::Runs => "runs",
            Self::Compare => "compare",
            Self::Eval => "eval",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A key with its modifiers, normalised so `G` and `shift-g` are the same chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chord {
    code: ChordKey,
    ctrl: bool,
    alt: bool,
    shift: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum ChordKey {
    Char(char),
    F(u8),
    Named(Named),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Named {
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

const NAMED: &[(&str, Named)] = &[
    ("enter", Named::Enter),
    ("esc", Named::Esc),
    ("tab", Named::Tab),
    ("backtab", Named::BackTab),
    ("backspace", Named::Backspace),
    ("delete", Named::Delete),
    ("up", Named::Up),
    ("down", Named::Down),
    ("left", Named::Left),
    ("right", Named::Right),
    ("home", Named::Home),
    ("end", Named::End),
    ("pageup", Named::PageUp),
    ("pagedown", Named::PageDown),
];

impl Chord {
    /// Parses `a`, `G`, `ctrl-r`, `shift-tab`, `f5`, `space`, `-`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut chord = Chord {
            code: ChordKey::Char(' '),
            ctrl: false,
            alt: false,
            shift: false,
        };
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.len() > 1 && lower.starts_with("ctrl-") {
                chord.ctrl = true;
                rest = &rest[5..];
            } else if lower.len() > 1 && lower.starts_with("alt-") {
                chord.alt = true;
                rest = &rest[4..];
            } else if lower.len() > 1 && lower.starts_with("shift-") {
                chord.shift = true;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        chord.code = match (chars.next(), chars.next()) {
            (Some(c), None) => ChordKey::Char(c),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if lower == "space" {
                    ChordKey::Char(' ')
                } else if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse().ok()) {
                    if !(1..=12).contains(&n) {
                        return None;
                    }
                    ChordKey::F(n)
                } else {
                    ChordKey::Named(NAMED.iter().find(|(name, _)| *name == lower)?.1)
                }
            }
        };
        Some(chord.normalised())
    }

    pub fn from_event(key: &KeyEvent) -> Option<Self> {
        let code = match key.code {
            KeyCode::Char(c) => ChordKey::Char(c),
            KeyCode::F(n) => ChordKey::F(n),
            KeyCode::Enter => ChordKey::Named(Named::Enter),
            KeyCode::Esc => ChordKey::Named(Named::Esc),
            KeyCode::Tab => ChordKey::Named(Named::Tab),
            KeyCode::BackTab => ChordKey::Named(Named::BackTab),
            KeyCode::Backspace => ChordKey::Named(Named::Backspace),
            KeyCode::Delete => ChordKey::Named(Named::Delete),
            KeyCode::Up => ChordKey::Named(Named::Up),
            KeyCode::Down => ChordKey::Named(Named::Down),
            KeyCode::Left => ChordKey::Named(Named::Left),
            KeyCode::Right => ChordKey::Named(Named::Right),
            KeyCode::Home => ChordKey::Named(Named::Home),
            KeyCode::End => ChordKey::Named(Named::End),
            KeyCode::PageUp => ChordKey::Named(Named::PageUp),
            KeyCode::PageDown => ChordKey::Named(Named::PageDown),
            _ => return None,
        };
        Some(
            Chord {
                code,
                ctrl: key.modifiers.contains(KeyModifiers::CONTROL),
                alt: key.modifiers.contains(KeyModifiers::ALT),
                shift: key.modifiers.contains(KeyModifiers::SHIFT),
            }
            .normalised(),
        )
    }

    /// Terminals report `G` as shift+`G` (or just `G`), and shift+tab as BackTab:
    /// fold those so one spelling matches every terminal.
    fn normalised(mut self) -> Self {
        match &mut self.code {
            ChordKey::Char(c) => {
                if self.shift && c.is_ascii_lowercase() {
                    *c = c.to_ascii_uppercase();
                }
                if self.ctrl && c.is_ascii_uppercase() {
                    *c = c.to_ascii_lowercase();
                }
                self.shift = false;
            }
            ChordKey::Named(Named::Tab) if self.shift => {
                self.code = ChordKey::Named(Named::BackTab);
                self.shift = false;
            }
            ChordKey::Named(Named::BackTab) => self.shift = false,
            _ => {}
        }
        self
    }
}

impl fmt::Display for Chord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        if self.shift {
            f.write_str("shift-")?;
        }
        match self.code {
            ChordKey::Char(' ') => f.write_str("space"),
            ChordKey::Char(c) => write!(f, "{c}"),
            ChordKey::F(n) => write!(f, "f{n}"),
            ChordKey::Named(named) => {
                let name = NAMED
                    .iter()
                    .find(|(_, n)| *n == named)
                    .map(|(name, _)| *name)
                    .unwrap_or("?");
                f.write_str(name)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error(transparent)]
    Toml(#[from] TomlError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Keymap {
    bindings: BTreeMap<(Scope, Chord), Action>,
}

type FileShape = BTreeMap<String, BTreeMap<String, Spanned<String>>>;

impl Keymap {
    /// The embedded defaults with the user's file (if it exists) layered on top.
    pub fn load(user_file: &Path) -> Result<Self, KeymapError> {
        let mut keymap = Self::defaults()?;
        match std::fs::read_to_string(user_file) {
            Ok(text) => keymap.layer(user_file, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(KeymapError::Io {
                    path: user_file.to_path_buf(),
                    source,
                });
            }
        }
        Ok(keymap)
    }

    pub fn defaults() -> Result<Self, KeymapError> {
        let mut keymap = Self::default();
        keymap.layer(Path::new("<built-in keymap>"), DEFAULT_KEYMAP)?;
        Ok(keymap)
    }

    /// Adds one file's bindings over the current ones; `"none"` removes a binding.
    pub fn layer(&mut self, path: &Path, text: &str) -> Result<(), KeymapError> {
        let file: FileShape =
            toml::from_str(text).map_err(|e| TomlError::from_de(path, text, &e))?;
        for (scope_name, bindings) in file {
            let scope = Scope::parse(&scope_name).ok_or_else(|| {
                let offset = text.find(&format!("[{scope_name}]")).unwrap_or(0);
                TomlError::at(
                    path,
                    text,
                    offset,
                    format!(
                        "unknown section [{scope_name}] (expected one of: {})",
                        Scope::ALL.map(Scope::name).join(", ")
                    ),
                )
            })?;
            for (key, value) in bindings {
                let at = value.span().start;
                let chord = Chord::parse(&key).ok_or_else(|| {
                    TomlError::at(
                        path,
                        text,
                        at,
                        format!("[{scope_name}] {key}: not a key chord"),
                    )
                })?;
                let name = value.get_ref();
                if name == "none" {
                    self.bindings.remove(&(scope, chord));
                    continue;
                }
                let action = Action::from_name(name).ok_or_else(|| {
                    TomlError::at(
                        path,
                        text,
                        at,
                        format!("[{scope_name}] {key}: unknown action {name:?}"),
                    )
                })?;
                self.bindings.insert((scope, chord), action);
            }
        }
        Ok(())
    }

    /// The action for a key on a screen: the screen's binding, else the global one.
    pub fn resolve(&self, screen: Scope, key: &KeyEvent) -> Option<Action> {
        let chord = Chord::from_event(key)?;
        self.bindings
            .get(&(screen, chord))
            .or_else(|| self.bindings.get(&(Scope::Global, chord)))
            .cloned()
    }

    /// Bindings visible on a screen (screen-specific first), for the help overlay.
    pub fn bindings_for(&self, screen: Scope) -> Vec<(Scope, Chord, Action)> {
        let mut out: Vec<(Scope, Chord, Action)> = self
            .bindings
            .iter()
            .filter(|((scope, _), _)| *scope == screen)
            .map(|((scope, chord), action)| (*scope, *chord, action.clone()))
            .collect();
        out.extend(
            self.bindings
                .iter()
                .filter(|((scope, chord), _)| {
                    *scope == Scope::Global && !self.bindings.contains_key(&(screen, *chord))
                })
                .map(|((scope, chord), action)| (*scope, *chord, action.clone())),
        );
        out
    }

    /// The chords bound to an action on a screen, for hints such as "a accept".
    pub fn chords_for(&self, screen: Scope, action: &Action) -> Vec<Chord> {
        self.bindings_for(screen)
            .into_iter()
            .filter(|(_, _, a)| a == action)
            .map(|(_, chord, _)| chord)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_resolve_screen_bindings_over_global_ones() {
        let keymap = Keymap::defaults().unwrap();
        let a = key(KeyCode::Char('a'), KeyModifiers::NONE);
        assert_eq!(keymap.resolve(Scope::Curate, &a), Some(Action::Accept));
        assert_eq!(keymap.resolve(Scope::Compare, &a), Some(Action::CycleSetA));
        assert_eq!(keymap.resolve(Scope::Runs, &a), None);
        let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(keymap.resolve(Scope::Eval, &q), Some(Action::Quit));
        let redo = key(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(keymap.resolve(Scope::Curate, &redo), Some(Action::Redo));
        // Terminals differ in whether `G` carries SHIFT.
        let g1 = key(KeyCode::Char('G'), KeyModifiers::SHIFT);
        let g2 = key(KeyCode::Char('G'), KeyModifiers::NONE);
        assert_eq!(keymap.resolve(Scope::Runs, &g1), Some(Action::Bottom));
        assert_eq!(keymap.resolve(Scope::Runs, &g2), Some(Action::Bottom));
        let backtab = key(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            keymap.resolve(Scope::Runs, &backtab),
            Some(Action::PrevScreen)
        );
    }

    #[test]
    fn user_layer_rebinds_and_unbinds() {
        let mut keymap = Keymap::defaults().unwrap();
        keymap
            .layer(
                Path::new("user.toml"),
                "[curate]\nctrl-a = \"accept\"\nx = \"none\"\n[global]\nf5 = \"show_runs\"\n",
            )
            .unwrap();
        let ctrl_a = key(KeyCode::Char('a'), KeyModifiers::CONTROL);
        assert_eq!(keymap.resolve(Scope::Curate, &ctrl_a), Some(Action::Accept));
        let x = key(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(keymap.resolve(Scope::Curate, &x), None);
        let f5 = key(KeyCode::F(5), KeyModifiers::NONE);
        assert_eq!(keymap.resolve(Scope::Curate, &f5), Some(Action::ShowRuns));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let mut keymap = Keymap::defaults().unwrap();
        let err = keymap
            .layer(
                Path::new("km.toml"),
                "[curate]\na = \"accept\"\nz = \"explode\"\n",
            )
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("km.toml:3:"), "{err}");
        assert!(err.contains("z: unknown action \"explode\""), "{err}");

        let err = keymap
            .layer(Path::new("km.toml"), "[curate]\nctrl-nokey = \"accept\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("km.toml:2:"), "{err}");
        assert!(err.contains("ctrl-nokey: not a key chord"), "{err}");

        let err = keymap
            .layer(Path::new("km.toml"), "\n[bogus]\na = \"accept\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("km.toml:2:"), "{err}");
        assert!(err.contains("unknown section [bogus]"), "{err}");
    }

    #[test]
    fn chords_print_as_they_are_written() {
        for text in [
            "a", "G", "ctrl-r", "backtab", "space", "f5", "/", "pagedown",
        ] {
            assert_eq!(Chord::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Chord::parse("shift-g"), Chord::parse("G"));
        assert_eq!(Chord::parse("f13"), None);
        assert_eq!(Chord::parse("hyper"), None);
    }
}
