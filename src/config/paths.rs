//! Where plantune-tui reads and writes outside a workspace. `doctor` prints all of it.

use std::path::{Path, PathBuf};

use directories::ProjectDirs;

/// Per-user locations, each overridable by an environment variable so tests and
/// unusual set-ups never touch the real home directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub cache_dir: PathBuf,
}

pub const CONFIG_DIR_ENV: &str = "PLANTUNE_CONFIG_DIR";
pub const DATA_DIR_ENV: &str = "PLANTUNE_DATA_DIR";
pub const CACHE_DIR_ENV: &str = "PLANTUNE_CACHE_DIR";

impl Paths {
    pub fn discover() -> Self {
        let dirs = ProjectDirs::from("", "", "plantune-tui");
        let fallback = |leaf: &str| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join(".plantune-tui")
                .join(leaf)
        };
        let pick = |env: &str, from_dirs: Option<&Path>, leaf: &str| {
            std::env::var_os(env)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| from_dirs.map(Path::to_path_buf))
                .unwrap_or_else(|| fallback(leaf))
        };
        Self {
            config_dir: pick(
                CONFIG_DIR_ENV,
                dirs.as_ref().map(|d| d.config_dir()),
                "config",
            ),
            data_dir: pick(DATA_DIR_ENV, dirs.as_ref().map(|d| d.data_dir()), "data"),
            cache_dir: pick(CACHE_DIR_ENV, dirs.as_ref().map(|d| d.cache_dir()), "cache"),
        }
    }

    /// The user's config file, layered between the embedded defaults and a workspace's
    /// `plantune.toml`.
    pub fn user_config(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// User themes; a file here wins over a shipped theme of the same name.
    pub fn user_themes(&self) -> PathBuf {
        self.config_dir.join("themes")
    }

    pub fn user_keymap(&self) -> PathBuf {
        self.config_dir.join("keymap.toml")
    }

    /// Where a workspace goes when there is no `./workspaces/demo` to use.
    pub fn default_workspace(&self) -> PathBuf {
        self.data_dir.join("workspaces").join("demo")
    }
}

/// The workspace to open: an explicit one, else `./workspaces/demo` when run from the
/// repository, else the per-user default.
pub fn resolve_workspace(explicit: Option<&Path>, paths: &Paths) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    let in_repo = Path::new("workspaces").join("demo");
    if in_repo.join("plantune.toml").is_file() {
        return in_repo;
    }
    paths.default_workspace()
}
