//! Run presets: run config files kept in `<workspace>/presets/*.toml`, offered by the
//! TUI's "new run" picker.
//!
//! A preset is exactly the file `plantune-tui train sft --config FILE` or `train grpo
//! --config FILE` reads, so one file serves the CLI and the TUI. Its kind is the table
//! it has: `[sft]` makes an SFT run, `[grpo]` a GRPO run; a file with both or neither
//! is refused rather than guessed (an empty `[sft]` keeps every SFT default).

use std::path::{Path, PathBuf};

use super::grpo::run::GrpoRunConfig;
use super::run::{self, RunError, SftRunConfig};
use crate::workspace::Workspace;

pub const PRESETS_DIR: &str = "presets";

#[derive(Debug, Clone, PartialEq)]
pub enum Preset {
    Sft(SftRunConfig),
    Grpo(GrpoRunConfig),
}

pub fn presets_dir(ws: &Workspace) -> PathBuf {
    ws.root.join(PRESETS_DIR)
}

/// The workspace's preset files, sorted by name; none when the folder is missing.
pub fn list(ws: &Workspace) -> Result<Vec<PathBuf>, RunError> {
    let dir = presets_dir(ws);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(RunError::Io { path: dir, source }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

impl Preset {
    pub fn read(path: &Path) -> Result<Self, RunError> {
        let table: toml::Table = run::read_toml(path)?;
        let refuse = |message: &str| RunError::Config {
            path: path.to_path_buf(),
            message: message.to_owned(),
        };
        match (table.contains_key("sft"), table.contains_key("grpo")) {
            (true, false) => Ok(Self::Sft(run::read_toml(path)?)),
            (false, true) => Ok(Self::Grpo(run::read_toml(path)?)),
            (true, true) => Err(refuse(
                "a preset has either an [sft] or a [grpo] table, not both",
            )),
            (false, false) => Err(refuse(
                "no [sft] or [grpo] table: add the one for the kind of run \
                 (an empty table keeps its defaults)",
            )),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sft(_) => "sft",
            Self::Grpo(_) => "grpo",
        }
    }

    /// One line for the picker: kind, model, dataset, steps.
    pub fn summary(&self) -> String {
        let (model, dataset, steps) = match self {
            Self::Sft(c) => (&c.model, &c.dataset, c.sft.max_steps),
            Self::Grpo(c) => (&c.model, &c.dataset, c.grpo.max_steps),
        };
        let steps = if steps == 0 {
            "no step limit".to_owned()
        } else {
            format!("{steps} steps")
        };
        format!("{} · {model} · {dataset} · {steps}", self.kind())
    }

    /// Creates the run (folder, frozen `run.toml`, registry row) without starting it.
    pub fn create(&self, ws: &Workspace) -> Result<String, RunError> {
        match self {
            Self::Sft(config) => run::create(ws, config),
            Self::Grpo(config) => run::create_grpo(ws, config),
        }
    }
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
        match Preset::read(&sft).unwrap() {
            Preset::Sft(c) => {
                assert_eq!((c.dataset.as_str(), c.sft.max_steps), ("baseline", 7));
            }
            other => panic!("{other:?}"),
        }
        let grpo = write(dir.path(), "b.toml", "[grpo]\nmax_steps = 3\n");
        let preset = Preset::read(&grpo).unwrap();
        assert_eq!(preset.summary(), "grpo · tiny · plan1 · 3 steps");

        let both = write(dir.path(), "c.toml", "[sft]\n[grpo]\n");
        let err = Preset::read(&both).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
        let neither = write(dir.path(), "d.toml", "model = \"tiny\"\n");
        let err = Preset::read(&neither).unwrap_err().to_string();
        assert!(err.contains("no [sft] or [grpo] table"), "{err}");
        // Typos are the config's own errors, with the file and line.
        let typo = write(dir.path(), "e.toml", "[sft]\nmax_stesp = 3\n");
        let err = Preset::read(&typo).unwrap_err().to_string();
        assert!(err.contains("e.toml:2"), "{err}");
    }

    #[test]
    fn the_demo_workspace_presets_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workspaces/demo/presets");
        let mut datasets = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            match Preset::read(&path).unwrap() {
                Preset::Sft(c) => {
                    assert_eq!(c.model, "tiny", "{}", path.display());
                    assert!(c.sft.max_steps > 0 && c.sft.max_steps <= 200);
                    datasets.push(c.dataset);
                }
                Preset::Grpo(_) => panic!("{} is not an SFT preset", path.display()),
            }
        }
        datasets.sort();
        assert_eq!(datasets, ["baseline", "plan1"]);
    }
}
