//! Keymap as data: `(scope, chord) -> Action`, from an embedded default TOML layered
//! under the user's `keymap.toml`. Resolution happens here and nowhere else.
//!
//! A binding may carry a `when` condition, checked against a small [`KeyContext`], so
//! one chord can mean different things depending on which pane has the focus.

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

/// Which pane of a two-pane screen has the focus (screens with one pane: `List`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pane {
    #[default]
    List,
    Detail,
}

/// What a `when` condition can see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyContext {
    pub focus: Pane,
    pub diff_shown: bool,
    pub overlay_open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    ListFocused,
    DetailFocused,
    DiffShown,
    OverlayOpen,
}

const ATOMS: &[(&str, Atom)] = &[
    ("list_focused", Atom::ListFocused),
    ("detail_focused", Atom::DetailFocused),
    ("diff_shown", Atom::DiffShown),
    ("overlay_open", Atom::OverlayOpen),
];

/// A condition name, optionally negated with a leading `!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    atom: Atom,
    negated: bool,
}

impl When {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negated, name) = match text.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, text),
        };
        let atom = ATOMS.iter().find(|(n, _)| *n == name)?.1;
        Some(Self { atom, negated })
    }

    pub fn holds(self, ctx: &KeyContext) -> bool {
        let value = match self.atom {
            Atom::ListFocused => ctx.focus == Pane::List,
            Atom::DetailFocused => ctx.focus == Pane::Detail,
            Atom::DiffShown => ctx.diff_shown,
            Atom::OverlayOpen => ctx.overlay_open,
        };
        value != self.negated
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = ATOMS
            .iter()
            .find(|(_, a)| *a == self.atom)
            .map_or("?", |(n, _)| *n);
        if self.negated {
            f.write_str("!")?;
        }
        f.write_str(name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub action: Action,
    pub when: Option<When>,
}

/// One line of the help overlay.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingRow {
    pub scope: Scope,
    pub chord: Chord,
    pub action: Action,
    pub when: Option<When>,
}

#[derive(Debug, Clone, Default)]
pub struct Keymap {
    /// Tried in order; the first binding whose condition holds wins.
    bindings: BTreeMap<(Scope, Chord), Vec<Binding>>,
}

type FileShape = BTreeMap<String, BTreeMap<String, Spanned<toml::Value>>>;

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

    /// Adds one file's bindings over the current ones: a chord named in the file loses
    /// all its earlier bindings in that section, and `"none"` leaves it unbound.
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
                let fail = |message: String| {
                    TomlError::at(path, text, at, format!("[{scope_name}] {key}: {message}"))
                };
                let chord = Chord::parse(&key).ok_or_else(|| fail("not a key chord".into()))?;
                let list = parse_entry(value.get_ref()).map_err(fail)?;
                if list.is_empty() {
                    self.bindings.remove(&(scope, chord));
                } else {
                    self.bindings.insert((scope, chord), list);
                }
            }
        }
        Ok(())
    }

    /// The action for a key on a screen: the screen's first binding whose condition
    /// holds, else the global one.
    pub fn resolve(&self, screen: Scope, ctx: &KeyContext, key: &KeyEvent) -> Option<Action> {
        let chord = Chord::from_event(key)?;
        let first = |scope: Scope| {
            self.bindings.get(&(scope, chord)).and_then(|list| {
                list.iter()
                    .find(|b| b.when.is_none_or(|w| w.holds(ctx)))
                    .map(|b| b.action.clone())
            })
        };
        first(screen).or_else(|| first(Scope::Global))
    }

    /// Bindings visible on a screen (screen-specific first), for the help overlay. A
    /// global chord is hidden only when the screen binds it unconditionally.
    pub fn bindings_for(&self, screen: Scope) -> Vec<BindingRow> {
        let rows = |scope: Scope| {
            self.bindings
                .iter()
                .filter(move |((s, _), _)| *s == scope)
                .flat_map(|((scope, chord), list)| {
                    list.iter().map(|b| BindingRow {
                        scope: *scope,
                        chord: *chord,
                        action: b.action.clone(),
                        when: b.when,
                    })
                })
        };
        let shadows = |chord: &Chord| {
            self.bindings
                .get(&(screen, *chord))
                .is_some_and(|list| list.iter().any(|b| b.when.is_none()))
        };
        let mut out: Vec<BindingRow> = rows(screen).collect();
        if screen != Scope::Global {
            out.extend(rows(Scope::Global).filter(|r| !shadows(&r.chord)));
        }
        out
    }

    /// The chords bound to an action on a screen, for hints such as "a accept".
    pub fn chords_for(&self, screen: Scope, action: &Action) -> Vec<Chord> {
        self.bindings_for(screen)
            .into_iter()
            .filter(|row| row.action == *action)
            .map(|row| row.chord)
            .collect()
    }
}

/// A binding value: `"action"`, `{ action = "...", when = "..." }`, or a list of those
/// tried in order. `"none"` (alone) unbinds.
fn parse_entry(value: &toml::Value) -> Result<Vec<Binding>, String> {
    match value {
        toml::Value::String(name) if name == "none" => Ok(Vec::new()),
        toml::Value::Array(items) if !items.is_empty() => items.iter().map(parse_binding).collect(),
        other => Ok(vec![parse_binding(other)?]),
    }
}

fn parse_binding(value: &toml::Value) -> Result<Binding, String> {
    let action_named =
        |name: &str| Action::from_name(name).ok_or_else(|| format!("unknown action {name:?}"));
    match value {
        toml::Value::String(name) => Ok(Binding {
            action: action_named(name)?,
            when: None,
        }),
        toml::Value::Table(table) => {
            if let Some(extra) = table.keys().find(|k| *k != "action" && *k != "when") {
                return Err(format!(
                    "unknown field {extra:?} (a binding has `action` and optional `when`)"
                ));
            }
            let action = match table.get("action") {
                Some(toml::Value::String(name)) => action_named(name)?,
                _ => return Err("a binding table needs `action = \"name\"`".into()),
            };
            let when = match table.get("when") {
                None => None,
                Some(toml::Value::String(text)) => Some(When::parse(text).ok_or_else(|| {
                    format!(
                        "unknown condition {text:?} (expected one of: {}, optionally with a leading !)",
                        ATOMS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    )
                })?),
                Some(_) => return Err("`when` must be a string".into()),
            };
            Ok(Binding { action, when })
        }
        _ => {
            Err("expected an action name, { action = ..., when = ... }, or a list of those".into())
        }
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
        assert_eq!(
            keymap.resolve(Scope::Curate, &KeyContext::default(), &a),
            Some(Action::Accept)
        );
        assert_eq!(
            keymap.resolve(Scope::Compare, &KeyContext::default(), &a),
            Some(Action::CycleSetA)
        );
        assert_eq!(
            keymap.resolve(Scope::Runs, &KeyContext::default(), &a),
            None
        );
        let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(
            keymap.resolve(Scope::Eval, &KeyContext::default(), &q),
            Some(Action::Quit)
        );
        let redo = key(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(
            keymap.resolve(Scope::Curate, &KeyContext::default(), &redo),
            Some(Action::Redo)
        );
        // Terminals differ in whether `G` carries SHIFT.
        let g1 = key(KeyCode::Char('G'), KeyModifiers::SHIFT);
        let g2 = key(KeyCode::Char('G'), KeyModifiers::NONE);
        assert_eq!(
            keymap.resolve(Scope::Runs, &KeyContext::default(), &g1),
            Some(Action::Bottom)
        );
        assert_eq!(
            keymap.resolve(Scope::Runs, &KeyContext::default(), &g2),
            Some(Action::Bottom)
        );
        let backtab = key(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            keymap.resolve(Scope::Runs, &KeyContext::default(), &backtab),
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
        assert_eq!(
            keymap.resolve(Scope::Curate, &KeyContext::default(), &ctrl_a),
            Some(Action::Accept)
        );
        let x = key(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(
            keymap.resolve(Scope::Curate, &KeyContext::default(), &x),
            None
        );
        let f5 = key(KeyCode::F(5), KeyModifiers::NONE);
        assert_eq!(
            keymap.resolve(Scope::Curate, &KeyContext::default(), &f5),
            Some(Action::ShowRuns)
        );
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

    #[test]
    fn when_conditions_pick_the_binding_for_the_context() {
        let mut keymap = Keymap::defaults().unwrap();
        keymap
            .layer(
                Path::new("user.toml"),
                "[curate]\n\
                 e = [{ action = \"edit_execution\", when = \"detail_focused\" }, \"edit_step\"]\n\
                 z = { action = \"toggle_diff\", when = \"!diff_shown\" }\n\
                 [global]\n\
                 z = \"cancel\"\n",
            )
            .unwrap();
        let e = key(KeyCode::Char('e'), KeyModifiers::NONE);
        let list = KeyContext::default();
        let detail = KeyContext {
            focus: Pane::Detail,
            ..KeyContext::default()
        };
        assert_eq!(
            keymap.resolve(Scope::Curate, &list, &e),
            Some(Action::EditStep)
        );
        assert_eq!(
            keymap.resolve(Scope::Curate, &detail, &e),
            Some(Action::EditExecution)
        );
        // A screen binding whose condition fails falls through to the global one.
        let z = key(KeyCode::Char('z'), KeyModifiers::NONE);
        assert_eq!(
            keymap.resolve(Scope::Curate, &list, &z),
            Some(Action::ToggleDiff)
        );
        let diff = KeyContext {
            diff_shown: true,
            ..KeyContext::default()
        };
        assert_eq!(
            keymap.resolve(Scope::Curate, &diff, &z),
            Some(Action::Cancel)
        );
        // The help lists the conditional binding and keeps the global one visible.
        let rows = keymap.bindings_for(Scope::Curate);
        let z_rows: Vec<String> = rows
            .iter()
            .filter(|r| r.chord == Chord::parse("z").unwrap())
            .map(|r| {
                format!(
                    "{:?} {:?} {:?}",
                    r.scope,
                    r.action,
                    r.when.map(|w| w.to_string())
                )
            })
            .collect();
        assert_eq!(
            z_rows,
            [
                "Curate ToggleDiff Some(\"!diff_shown\")",
                "Global Cancel None"
            ]
        );
    }

    #[test]
    fn default_arrows_move_focus_between_curate_panes() {
        let keymap = Keymap::defaults().unwrap();
        let right = key(KeyCode::Right, KeyModifiers::NONE);
        let left = key(KeyCode::Left, KeyModifiers::NONE);
        let list = KeyContext::default();
        let detail = KeyContext {
            focus: Pane::Detail,
            ..KeyContext::default()
        };
        assert_eq!(
            keymap.resolve(Scope::Curate, &list, &right),
            Some(Action::FocusNext)
        );
        assert_eq!(keymap.resolve(Scope::Curate, &detail, &right), None);
        assert_eq!(
            keymap.resolve(Scope::Curate, &detail, &left),
            Some(Action::FocusNext)
        );
        assert_eq!(keymap.resolve(Scope::Curate, &list, &left), None);
    }

    #[test]
    fn bad_conditions_and_binding_tables_name_the_key() {
        let mut keymap = Keymap::defaults().unwrap();
        for (text, expected) in [
            (
                "[curate]\ne = { action = \"edit_step\", when = \"sideways\" }\n",
                "e: unknown condition \"sideways\"",
            ),
            (
                "[curate]\ne = { acton = \"edit_step\" }\n",
                "e: unknown field \"acton\"",
            ),
            (
                "[curate]\ne = { when = \"diff_shown\" }\n",
                "e: a binding table needs `action",
            ),
            ("[curate]\ne = 3\n", "e: expected an action name"),
        ] {
            let err = keymap
                .layer(Path::new("km.toml"), text)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("km.toml:2:"), "{err}");
            assert!(err.contains(expected), "{err}");
        }
        assert_eq!(
            When::parse(" ! list_focused ").map(|w| w.to_string()),
            Some("!list_focused".into())
        );
    }
}
