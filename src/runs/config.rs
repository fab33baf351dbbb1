//! A run's frozen config (`run.toml`): the two kinds' config types, reading them with
//! errors that name file, line and field, and the process settings (threads, device)
//! the worker needs before it starts any model maths.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{RunError, RunKind, io};
use crate::device::DeviceSpec;
pub use crate::train::grpo::GrpoRunConfig;
pub use crate::train::sft::SftRunConfig;
pub use crate::train::student::LoraSection;

/// The config of either kind of run, as frozen in its `run.toml`.
#[derive(Debug, Clone, PartialEq)]
pub enum RunConfig {
    Sft(SftRunConfig),
    Grpo(GrpoRunConfig),
}

impl RunConfig {
    pub fn kind(&self) -> RunKind {
        match self {
            Self::Sft(_) => RunKind::Sft,
            Self::Grpo(_) => RunKind::Grpo,
        }
    }

    /// Reads a `run.toml` (or a preset, which is one) of `kind`.
    pub fn read(path: &Path, kind: RunKind) -> Result<Self, RunError> {
        Ok(match kind {
            RunKind::Sft => Self::Sft(read_toml(path)?),
            RunKind::Grpo => Self::Grpo(read_toml(path)?),
        })
    }

    /// The device selected for this process (`--device`, or the environment) wins over
    /// the one in the file.
    pub fn prefer_selected_device(&mut self) {
        let device = match self {
            Self::Sft(c) => &mut c.device,
            Self::Grpo(c) => &mut c.device,
        };
        *device = crate::device::selected().or(device.take());
    }
}

/// A run's frozen `run.toml`, with errors that name the file, line and field.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    toml::from_str(&text).map_err(|e| RunError::Config {
        path: path.to_path_buf(),
        message: crate::config::toml_error::TomlError::from_de(path, &text, &e).to_string(),
    })
}

/// An SFT run's `run.toml` (what `train sft --config` reads).
pub fn read_config(path: &Path) -> Result<SftRunConfig, RunError> {
    read_toml(path)
}

/// The `threads` setting of any kind of run's `run.toml` (0 = the default pool).
pub fn configured_threads(path: &Path) -> Result<usize, RunError> {
    let table: toml::Table = read_toml(path)?;
    Ok(table
        .get("threads")
        .and_then(toml::Value::as_integer)
        .and_then(|t| usize::try_from(t).ok())
        .unwrap_or(0))
}

/// The `device` setting of any kind of run's `run.toml`.
pub fn configured_device(path: &Path) -> Result<Option<DeviceSpec>, RunError> {
    #[derive(Deserialize)]
    struct DeviceOnly {
        device: Option<DeviceSpec>,
    }
    let only: DeviceOnly = read_toml(path)?;
    Ok(only.device)
}

impl Serialize for RunConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Sft(c) => c.serialize(serializer),
            Self::Grpo(c) => c.serialize(serializer),
        }
    }
}
