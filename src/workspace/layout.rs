//! The workspace folder: where each artefact lives, `init`, and opening one.

use std::path::{Path, PathBuf};

use super::config::{ConfigError, DEFAULT_TOML, WorkspaceConfig};
use super::fsutil::atomic_write;
use super::store::{Store, StoreError};
use crate::config::Paths;

pub const CONFIG_FILE: &str = "plantune.toml";
pub const DB_FILE: &str = "plantune.db";
pub const MODELS_DIR: &str = "models";
pub const RUNS_DIR: &str = "runs";

/// The entries of a run's folder (`runs/<id>/`). `runs::RunDir` is how callers reach
/// them; the names live here, with the rest of the workspace's layout, because code
/// below `runs/` reads run folders too (the model engine serves a run's final model).
pub mod run_files {
    /// The run's frozen config.
    pub const CONFIG: &str = "run.toml";
    /// The append-only event stream every viewer reads.
    pub const EVENTS: &str = "events.jsonl";
    pub const CHECKPOINTS: &str = "checkpoints";
    /// The loadable model a completed run leaves.
    pub const FINAL: &str = "final";
}

/// Prompt templates shipped with the binary; `init` copies them into `prompts/` where
/// users edit them. The wording follows the paper's pipeline.
pub const PROMPTS: &[(&str, &str)] = &[
    ("constraints", include_str!("prompts/constraints.md")),
    ("plan", include_str!("prompts/plan.md")),
    ("judge", include_str!("prompts/judge.md")),
    ("execute", include_str!("prompts/execute.md")),
    ("student", include_str!("prompts/student.md")),
    ("student_direct", include_str!("prompts/student_direct.md")),
    ("student_plan", include_str!("prompts/student_plan.md")),
    (
        "student_execute",
        include_str!("prompts/student_execute.md"),
    ),
    (
        "plan_similarity",
        include_str!("prompts/plan_similarity.md"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(
        "{} is not a workspace (no {CONFIG_FILE}); create one with `plantune-tui init {}`",
        .0.display(), .0.display()
    )]
    NotAWorkspace(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("prompt template {name:?} does not exist (known: {known})")]
    UnknownPrompt { name: String, known: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub config: WorkspaceConfig,
}

impl Workspace {
    /// Opens an existing workspace with its configuration layered over the user's.
    pub fn open(root: &Path, paths: &Paths) -> Result<Self, WorkspaceError> {
        let config_path = root.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(WorkspaceError::NotAWorkspace(root.to_path_buf()));
        }
        let user = paths.user_config();
        let config = WorkspaceConfig::load_layers(&[&user, &config_path])?;
        Ok(Self {
            root: root.to_path_buf(),
            config,
        })
    }

    /// Creates the layout. Files that already exist (an edited config, edited prompts)
    /// are left alone, so `init` on an existing workspace only fills in what is missing.
    pub fn init(root: &Path, paths: &Paths) -> Result<Self, WorkspaceError> {
        for dir in ["prompts", "models", "runs", "exports", "datasets"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(io_err(&path))?;
        }
        let config_path = root.join(CONFIG_FILE);
        if !config_path.exists() {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "workspace".into());
            let text = commented_defaults(&name);
            atomic_write(&config_path, text.as_bytes()).map_err(io_err(&config_path))?;
        }
        for (name, text) in PROMPTS {
            let path = root.join("prompts").join(format!("{name}.md"));
            if !path.exists() {
                atomic_write(&path, text.as_bytes()).map_err(io_err(&path))?;
            }
        }
        let workspace = Self::open(root, paths)?;
        workspace.store()?;
        Ok(workspace)
    }

    pub fn name(&self) -> &str {
        &self.config.workspace.name
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    pub fn prompts_dir(&self) -> PathBuf {
        self.root.join("prompts")
    }

    pub fn models_dir(&self) -> PathBuf {
        self.root.join(MODELS_DIR)
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join(RUNS_DIR)
    }

    pub fn exports_dir(&self) -> PathBuf {
        self.root.join("exports")
    }

    pub fn datasets_dir(&self) -> PathBuf {
        self.root.join("datasets")
    }

    /// Opens the store, creating or migrating the database as needed.
    pub fn store(&self) -> Result<Store, WorkspaceError> {
        Ok(Store::open(&self.db_path())?)
    }

    /// A prompt template: the workspace's edited copy if present, else the shipped one.
    pub fn prompt(&self, name: &str) -> Result<String, WorkspaceError> {
        let shipped = PROMPTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .ok_or_else(|| WorkspaceError::UnknownPrompt {
                name: name.into(),
                known: PROMPTS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let path = self.prompts_dir().join(format!("{name}.md"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(shipped.to_owned()),
            Err(source) => Err(WorkspaceError::Io { path, source }),
        }
    }
}

/// The documented defaults with every setting commented out but the name: the file
/// explains every key, while unset keys still follow the user's own config.toml.
fn commented_defaults(name: &str) -> String {
    let mut out = String::with_capacity(DEFAULT_TOML.len() + 256);
    for line in DEFAULT_TOML.lines() {
        let is_setting = line.split_once(" = ").is_some_and(|(key, _)| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
        if line.starts_with("name = ") {
            out.push_str(&format!("name = {}", toml::Value::String(name.to_owned())));
        } else if is_setting {
            out.push_str("# ");
            out.push_str(line);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> Paths {
        Paths {
            config_dir: dir.join("config"),
            data_dir: dir.join("data"),
            cache_dir: dir.join("cache"),
        }
    }

    #[test]
    fn init_creates_the_layout_and_keeps_edits() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        let ws = Workspace::init(&root, &paths(tmp.path())).unwrap();
        for dir in ["prompts", "models", "runs", "exports", "datasets"] {
            assert!(root.join(dir).is_dir(), "{dir}");
        }
        assert!(ws.db_path().is_file());
        assert_eq!(ws.name(), "ws");
        assert_eq!(ws.prompt("judge").unwrap(), PROMPTS[2].1);

        std::fs::write(root.join("prompts/plan.md"), "my plan prompt").unwrap();
        std::fs::write(root.join(CONFIG_FILE), "[distill]\nn_plans = 2\n").unwrap();
        let again = Workspace::init(&root, &paths(tmp.path())).unwrap();
        assert_eq!(again.prompt("plan").unwrap(), "my plan prompt");
        assert_eq!(again.config.distill.n_plans, 2);
        assert!(again.prompt("nonsense").is_err());
    }

    #[test]
    fn opening_a_non_workspace_says_how_to_make_one() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Workspace::open(tmp.path(), &paths(tmp.path())).unwrap_err();
        assert!(err.to_string().contains("plantune-tui init"), "{err}");
    }

    #[test]
    fn user_config_layers_under_the_workspace() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = paths(tmp.path());
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        std::fs::write(paths.user_config(), "[ui]\ntheme = \"light\"\n").unwrap();
        let ws = Workspace::init(&tmp.path().join("ws"), &paths).unwrap();
        assert_eq!(ws.config.ui.theme, "light");
    }
}
