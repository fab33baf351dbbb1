//! Run presets: `<workspace>/presets/*.toml`, each exactly the file `plantune-tui train
//! sft|grpo --config FILE` reads.
//!
//! A preset is first read as a plain TOML table: which of `[sft]`/`[grpo]` it has
//! decides the kind of run, and a few raw values make the TUI picker's line. The whole
//! file is validated only when a run is created from it ([`super::create_from_preset`]),
//! by the same reader `train --config` uses, so a preset can never mean one thing to
//! the picker and another to the run.

use std::path::{Path, PathBuf};

use super::RunKind;
use crate::config::toml_error::TomlError;
use crate::workspace::Workspace;

pub const PRESETS_DIR: &str = "presets";

#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub path: PathBuf,
    pub kind: RunKind,
    /// One line for the picker: kind, model, dataset, steps.
    pub summary: String,
}

pub fn presets_dir(ws: &Workspace) -> PathBuf {
    ws.root.join(PRESETS_DIR)
}

/// The workspace's preset files, sorted by name; none when the folder is missing.
pub fn list(ws: &Workspace) -> anyhow::Result<Vec<PathBuf>> {
    let dir = presets_dir(ws);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::Error::new(e).context(dir.display().to_string())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a preset's kind and summary. A file with both tables or neither is refused
/// rather than guessed (an empty `[sft]` keeps every SFT default).
pub fn read(path: &Path) -> Result<Preset, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| TomlError::from_de(path, &text, &e).to_string())?;
    let kind = match (table.contains_key("sft"), table.contains_key("grpo")) {
        (true, false) => RunKind::Sft,
        (false, true) => RunKind::Grpo,
        (true, true) => {
            return Err(format!(
                "{}: a preset has either an [sft] or a [grpo] table, not both",
                path.display()
            ));
        }
        (false, false) => {
            return Err(format!(
                "{}: no [sft] or [grpo] table: add the one for the kind of run \
                 (an empty table keeps its defaults)",
                path.display()
            ));
        }
    };
    // Defaults live in the run config types; the picker only says one applies.
    let raw = |value: Option<&toml::Value>, missing: &str| match value {
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => missing.to_owned(),
    };
    let steps = table
        .get(kind.name())
        .and_then(toml::Value::as_table)
        .and_then(|t| t.get("max_steps"));
    let steps = match steps.and_then(toml::Value::as_integer) {
        Some(0) => "no step limit".to_owned(),
        Some(n) => format!("{n} steps"),
        None => raw(steps, "default steps"),
    };
    let summary = format!(
        "{} · {} · {} · {steps}",
        kind.name(),
        raw(table.get("model"), "default model"),
        raw(table.get("dataset"), "default dataset"),
    );
    Ok(Preset {
        path: path.to_path_buf(),
        kind,
        summary,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_table_present_decides_the_kind() {
        let dir = tempfile::tempdir().unwrap();
        let sft = write(
            dir.path(),
            "a.toml",
            "model = \"tiny\"\ndataset = \"baseline\"\n[sft]\nmax_steps = 7\n",
        );
        let preset = read(&sft).unwrap();
        assert_eq!(preset.kind, RunKind::Sft);
        assert_eq!(preset.summary, "sft · tiny · baseline · 7 steps");
        let grpo = write(dir.path(), "b.toml", "[grpo]\nmax_steps = 0\n");
        let preset = read(&grpo).unwrap();
        assert_eq!(preset.kind, RunKind::Grpo);
        assert_eq!(
            preset.summary,
            "grpo · default model · default dataset · no step limit"
        );

        let both = write(dir.path(), "c.toml", "[sft]\n[grpo]\n");
        let err = read(&both).unwrap_err();
        assert!(err.contains("c.toml") && err.contains("not both"), "{err}");
        let neither = write(dir.path(), "d.toml", "model = \"tiny\"\n");
        let err = read(&neither).unwrap_err();
        assert!(err.contains("no [sft] or [grpo] table"), "{err}");
        let syntax = write(dir.path(), "e.toml", "[sft]\nmax_steps = \n");
        let err = read(&syntax).unwrap_err();
        assert!(err.contains("e.toml:2"), "{err}");
    }
}
