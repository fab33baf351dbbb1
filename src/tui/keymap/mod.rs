//! Keymap as data: `(scope, chord) -> Action`, from an embedded default TOML layered
//! under the user's `keymap.toml`. Resolution happens here and nowhere else.
//!
//! A binding may carry a `when` condition, checked against a small [`KeyContext`], so
//! one chord can mean different things depending on which pane has the focus.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crossterm::event::KeyEvent;
use toml::Spanned;

mod chord;
#[cfg(test)]
mod tests;

pub use chord::Chord;

use super::action::Action;
use crate::config::toml_error::TomlError;

pub const DEFAULT_KEYMAP: &str = include_str!("../default_keymap.toml");

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
