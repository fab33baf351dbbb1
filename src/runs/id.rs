//! A run's name and kind: the folder name under `runs/`, the registry's key, and the
//! `kind` column that decides what the worker trains.

use std::fmt;

use super::RunError;
use crate::workspace::Workspace;
use crate::workspace::store::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    Sft,
    Grpo,
}

impl RunKind {
    pub const ALL: [Self; 2] = [Self::Sft, Self::Grpo];

    /// The `train` subcommand, a preset's table, the registry's `kind` and the id's
    /// prefix: one word for all four.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sft => "sft",
            Self::Grpo => "grpo",
        }
    }

    /// The kind a registry row names. Rows of any other kind run as SFT, as they
    /// always have.
    pub fn of_record(kind: &str) -> Self {
        match kind {
            "grpo" => Self::Grpo,
            _ => Self::Sft,
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `<kind>-<unix ms>-<the creating process's pid, 4 hex digits>`: sorted by kind then
/// time, and two processes creating runs in the same millisecond still differ.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(String);

impl RunId {
    pub fn new(kind: RunKind) -> Self {
        Self(format!(
            "{}-{}-{:04x}",
            kind.name(),
            now_ms(),
            std::process::id() & 0xffff
        ))
    }

    /// The run a user named (an argument, a TUI selection): one path component of
    /// plain characters that is a real folder under the workspace's `runs/`. Anything
    /// else (`..`, a path, an absolute path, an empty name, a run that does not exist)
    /// is refused here, before any command creates or writes a file. Whoever needs the
    /// run's frozen config (resume, launch, the worker) checks `run.toml` next, with
    /// [`super::RunError::NoConfig`].
    pub fn existing(ws: &Workspace, name: &str) -> Result<Self, RunError> {
        let bad = |reason: &str| RunError::BadRunName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name.starts_with('.') {
            return Err(bad("it starts with a dot"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            let what = if matches!(c, '/' | '\\') {
                "it is a path, not a run id".to_owned()
            } else {
                format!("it holds {c:?}; a run id is letters, digits, '-', '_' and '.'")
            };
            return Err(bad(&what));
        }
        let root = ws.runs_dir().join(name);
        // A symlink named like a run could point anywhere: only a real folder counts.
        let is_dir = std::fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir());
        if !is_dir {
            return Err(RunError::NoSuchRun {
                name: name.to_owned(),
                runs: ws.runs_dir(),
            });
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RunId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_with_the_kind_and_kinds_round_trip_through_the_registry() {
        for kind in RunKind::ALL {
            let id = RunId::new(kind);
            assert!(id.as_str().starts_with(&format!("{kind}-")), "{id}");
            assert_eq!(id.as_str().split('-').count(), 3, "{id}");
            assert_eq!(RunKind::of_record(kind.name()), kind);
        }
        assert_eq!(RunKind::of_record("pipeline"), RunKind::Sft);
    }

    #[test]
    fn only_an_existing_run_folder_with_its_config_is_a_run() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = crate::config::Paths {
            config_dir: tmp.path().join("config"),
            data_dir: tmp.path().join("data"),
            cache_dir: tmp.path().join("cache"),
        };
        let ws = Workspace::init(&tmp.path().join("ws"), &paths).unwrap();
        let runs = ws.runs_dir();
        std::fs::create_dir_all(runs.join("sft-1-ab")).unwrap();
        std::fs::write(runs.join("sft-1-ab").join("run.toml"), "").unwrap();
        std::fs::create_dir_all(runs.join("no-config")).unwrap();
        assert_eq!(
            RunId::existing(&ws, "sft-1-ab").unwrap().as_str(),
            "sft-1-ab"
        );
        let refused = |name: &str| RunId::existing(&ws, name).unwrap_err().to_string();
        assert!(refused("").contains("it is empty"));
        assert!(refused("..").contains("starts with a dot"));
        assert!(refused("../../x").contains("starts with a dot"));
        assert!(refused("a/b").contains("is a path"));
        assert!(refused("/tmp").contains("is a path"));
        assert!(refused("x\u{1b}]0;t").contains("holds"));
        assert!(refused("nonexist").contains("no run nonexist in"));
        assert!(
            RunId::existing(&ws, "no-config").is_ok(),
            "a folder is a run"
        );
    }
}
