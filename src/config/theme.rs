//! Themes: semantic style slots (`ui.selection`, `diff.added`, `run.failed`...) loaded
//! from TOML, with a palette and single inheritance. Shipped themes are embedded; a
//! user file of the same name wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

use super::toml_error::TomlError;

/// Every slot the UI draws with. A theme may leave slots out (they fall back to the
/// terminal's default style), but may not name one that does not exist: a typo would
/// otherwise be silently ignored.
pub const SLOTS: &[&str] = &[
    "ui.text",
    "ui.dim",
    "ui.title",
    "ui.border",
    "ui.border_focused",
    "ui.selection",
    "ui.status_bar",
    "ui.error",
    "ui.warning",
    "ui.info",
    "ui.key",
    "ui.accent",
    "status.pending",
    "status.accepted",
    "status.rejected",
    "verdict.correct",
    "verdict.incorrect",
    "plan.step",
    "plan.section",
    "answer.extracted",
    "diff.added",
    "diff.removed",
    "run.running",
    "run.completed",
    "run.failed",
    "run.stopped",
    "chart.loss",
    "chart.eval_loss",
    "chart.reward",
    "chart.kl",
    "chart.lr",
    "chart.accuracy",
];

/// Shipped themes, embedded so the binary works from any directory.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(transparent)]
    Toml(#[from] TomlError),
    #[error("{}: cannot read theme: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("theme {name:?} not found (shipped: {shipped}; user themes in {})", dir.display())]
    NotFound {
        name: String,
        shipped: String,
        dir: PathBuf,
    },
    #[error("theme {0:?} inherits from itself through {1}")]
    Cycle(String, String),
}

type Group = BTreeMap<String, Spanned<StyleSpec>>;

/// The slot groups are spelled out (rather than a flattened map) so an unknown group is
/// rejected by serde with its line, like an unknown slot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    inherits: Option<String>,
    #[serde(default)]
    palette: BTreeMap<String, String>,
    #[serde(default)]
    ui: Group,
    #[serde(default)]
    status: Group,
    #[serde(default)]
    verdict: Group,
    #[serde(default)]
    plan: Group,
    #[serde(default)]
    answer: Group,
    #[serde(default)]
    diff: Group,
    #[serde(default)]
    run: Group,
    #[serde(default)]
    chart: Group,
}

impl ThemeFile {
    fn groups(&self) -> [(&'static str, &Group); 8] {
        [
            ("ui", &self.ui),
            ("status", &self.status),
            ("verdict", &self.verdict),
            ("plan", &self.plan),
            ("answer", &self.answer),
            ("diff", &self.diff),
            ("run", &self.run),
            ("chart", &self.chart),
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum StyleSpec {
    Foreground(String),
    Full {
        fg: Option<String>,
        bg: Option<String>,
        #[serde(default)]
        modifiers: Vec<String>,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<&'static str, Style>,
}

impl Theme {
    /// The style of a slot; unknown or unset slots get the terminal default.
    pub fn style(&self, slot: &str) -> Style {
        self.styles.get(slot).copied().unwrap_or_default()
    }

    /// Loads a theme by name: `<user themes dir>/<name>.toml` if present, else a shipped
    /// one, resolving `inherits` the same way.
    pub fn load(name: &str, user_dir: &Path) -> Result<Self, ThemeError> {
        let mut chain: Vec<(String, PathBuf, (String, ThemeFile))> = Vec::new();
        let mut next = Some(name.to_owned());
        while let Some(current) = next.take() {
            // A user theme may override a shipped one and still inherit from it (a user
            // `default.toml` with `inherits = "dark"`, whose parent is `default`): a name
            // seen once as a user file resolves to the shipped file the second time.
            let seen_user = chain
                .iter()
                .any(|(n, p, _)| n == &current && !p.starts_with("themes/"));
            let seen_shipped = chain
                .iter()
                .any(|(n, p, _)| n == &current && p.starts_with("themes/"));
            if seen_shipped || (seen_user && !BUILTIN.iter().any(|(b, _)| *b == current)) {
                let names: Vec<_> = chain.iter().map(|(n, _, _)| n.as_str()).collect();
                return Err(ThemeError::Cycle(name.to_owned(), names.join(" -> ")));
            }
            let (path, text) = find(&current, user_dir, !seen_user)?;
            let file: ThemeFile =
                toml::from_str(&text).map_err(|e| TomlError::from_de(&path, &text, &e))?;
            next = file.inherits.clone();
            chain.push((current, path, (text, file)));
        }
        let mut theme = Theme {
            name: name.to_owned(),
            styles: BTreeMap::new(),
        };
        // Base first, so the named theme's own slots win.
        for (_, path, (text, file)) in chain.iter().rev() {
            theme.apply(path, text, file)?;
        }
        Ok(theme)
    }

    /// Parses one theme file on its own (no inheritance), for validation and tests.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ThemeError> {
        let file: ThemeFile =
            toml::from_str(text).map_err(|e| TomlError::from_de(path, text, &e))?;
        let mut theme = Theme {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            styles: BTreeMap::new(),
        };
        theme.apply(path, text, &file)?;
        Ok(theme)
    }

    fn apply(&mut self, path: &Path, text: &str, file: &ThemeFile) -> Result<(), TomlError> {
        let color = |at: usize, raw: &str| -> Result<Color, TomlError> {
            let resolved = file.palette.get(raw).map(String::as_str).unwrap_or(raw);
            parse_color(resolved).ok_or_else(|| {
                TomlError::at(
                    path,
                    text,
                    at,
                    format!(
                        "unknown colour {raw:?}: use an ANSI name (red, lightblue, reset...), \
                         #rrggbb, an index 0-255, or a [palette] name"
                    ),
                )
            })
        };
        for (group, slots) in file.groups() {
            for (slot, spec) in slots {
                let key = format!("{group}.{slot}");
                // An untagged enum keeps no spans for its inner strings, so errors inside
                // a style point at the slot's value.
                let at = spec.span().start;
                let Some(known) = SLOTS.iter().copied().find(|s| *s == key) else {
                    return Err(TomlError::at(
                        path,
                        text,
                        at,
                        format!(
                            "unknown theme slot `{key}` (known slots: {})",
                            SLOTS.join(", ")
                        ),
                    ));
                };
                let style = match spec.get_ref() {
                    StyleSpec::Foreground(fg) => Style::default().fg(color(at, fg)?),
                    StyleSpec::Full { fg, bg, modifiers } => {
                        let mut style = Style::default();
                        if let Some(fg) = fg {
                            style = style.fg(color(at, fg)?);
                        }
                        if let Some(bg) = bg {
                            style = style.bg(color(at, bg)?);
                        }
                        for name in modifiers {
                            let modifier = parse_modifier(name).ok_or_else(|| {
                                TomlError::at(
                                    path,
                                    text,
                                    at,
                                    format!(
                                        "unknown modifier {name:?} in `{key}` (bold, dim, italic, \
                                         underlined, reversed, crossed_out)"
                                    ),
                                )
                            })?;
                            style = style.add_modifier(modifier);
                        }
                        style
                    }
                };
                self.styles.insert(known, style);
            }
        }
        Ok(())
    }
}

fn parse_color(name: &str) -> Option<Color> {
    Color::from_str(name).ok()
}

fn parse_modifier(name: &str) -> Option<Modifier> {
    Some(match name.to_ascii_lowercase().as_str() {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" | "underline" => Modifier::UNDERLINED,
        "reversed" | "reverse" => Modifier::REVERSED,
        "crossed_out" | "strikethrough" => Modifier::CROSSED_OUT,
        _ => return None,
    })
}

fn find(name: &str, user_dir: &Path, allow_user: bool) -> Result<(PathBuf, String), ThemeError> {
    let user = user_dir.join(format!("{name}.toml"));
    if allow_user && user.is_file() {
        let text = std::fs::read_to_string(&user).map_err(|source| ThemeError::Read {
            path: user.clone(),
            source,
        })?;
        return Ok((user, text));
    }
    BUILTIN
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(builtin, text)| {
            (
                PathBuf::from(format!("themes/{builtin}.toml")),
                (*text).to_owned(),
            )
        })
        .ok_or_else(|| ThemeError::NotFound {
            name: name.to_owned(),
            shipped: BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            dir: user_dir.to_path_buf(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn every_shipped_theme_loads_and_sets_every_slot() {
        let dir = empty_dir();
        for (name, _) in BUILTIN {
            let theme = Theme::load(name, dir.path()).unwrap();
            for slot in SLOTS {
                assert!(
                    theme.styles.contains_key(slot),
                    "{name} leaves {slot} unset"
                );
            }
        }
    }

    #[test]
    fn default_and_high_contrast_use_only_ansi_colours() {
        let dir = empty_dir();
        for name in ["default", "high-contrast"] {
            let theme = Theme::load(name, dir.path()).unwrap();
            for (slot, style) in &theme.styles {
                for color in [style.fg, style.bg].into_iter().flatten() {
                    assert!(
                        !matches!(color, Color::Rgb(..) | Color::Indexed(_)),
                        "{name}: {slot} uses {color:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_slot_names_file_line_and_key() {
        let text = "[ui]\ntext = \"red\"\nselektion = \"blue\"\n";
        let err = Theme::parse(Path::new("mine.toml"), text).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("mine.toml:3:"), "{message}");
        assert!(message.contains("ui.selektion"), "{message}");
    }

    #[test]
    fn unknown_colour_and_modifier_are_errors_with_lines() {
        let err = Theme::parse(Path::new("t.toml"), "[ui]\n\ntext = \"chartreuse\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.toml:3:") && err.contains("chartreuse"),
            "{err}"
        );
        let err = Theme::parse(
            Path::new("t.toml"),
            "[ui]\ntext = { fg = \"red\", modifiers = [\"blink-fast\"] }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("t.toml:2:") && err.contains("blink-fast"),
            "{err}"
        );
    }

    #[test]
    fn palette_names_resolve() {
        let theme = Theme::parse(
            Path::new("p.toml"),
            "[palette]\nsea = \"#005f87\"\n[ui]\ntext = { fg = \"sea\", modifiers = [\"bold\"] }\n",
        )
        .unwrap();
        let style = theme.style("ui.text");
        assert_eq!(style.fg, Some(Color::Rgb(0, 0x5f, 0x87)));
        assert!(style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn user_theme_overrides_shipped_and_inherits() {
        let dir = empty_dir();
        std::fs::write(
            dir.path().join("default.toml"),
            "inherits = \"dark\"\n[ui]\ntext = \"lightgreen\"\n",
        )
        .unwrap();
        let theme = Theme::load("default", dir.path()).unwrap();
        assert_eq!(theme.style("ui.text").fg, Some(Color::LightGreen));
        // Everything else comes from the shipped dark theme and its own parent.
        let dark = Theme::load("dark", empty_dir().path()).unwrap();
        assert_eq!(theme.style("ui.selection"), dark.style("ui.selection"));
    }

    #[test]
    fn inheritance_cycles_and_missing_themes_are_reported() {
        let dir = empty_dir();
        std::fs::write(dir.path().join("a.toml"), "inherits = \"b\"\n").unwrap();
        std::fs::write(dir.path().join("b.toml"), "inherits = \"a\"\n").unwrap();
        assert!(matches!(
            Theme::load("a", dir.path()),
            Err(ThemeError::Cycle(..))
        ));
        assert!(matches!(
            Theme::load("nope", dir.path()),
            Err(ThemeError::NotFound { .. })
        ));
    }
}
