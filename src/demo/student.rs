//! Which model the demo post-trains: the tiny from-scratch student (seconds per
//! stage, no download) or SmolLM2-135M-Instruct, a real pretrained student, with the
//! budget each is sized for on a 2-core CPU.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::budget::DemoBudget;
use crate::config::Paths;
use crate::model::smollm2;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DemoStudent {
    /// A small decoder trained from scratch in the workspace.
    #[default]
    Tiny,
    /// SmolLM2-135M-Instruct, fully fine-tuned.
    Smollm2,
}

/// The run setting (see `train::student::model_dir`) of the imported SmolLM2.
const SMOLLM2_MODEL: &str = "models/smollm2";

impl DemoStudent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Smollm2 => "smollm2",
        }
    }

    /// What the runs' `model` setting names.
    pub fn model_setting(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Smollm2 => SMOLLM2_MODEL,
        }
    }

    /// The default budget: the tiny student is sized for the 10-minute demo, SmolLM2
    /// for under an hour on two cores (measured 33 min with one seed: an SFT example
    /// costs about 60× the tiny student's).
    pub fn budget(self) -> DemoBudget {
        match self {
            Self::Tiny => DemoBudget::default(),
            Self::Smollm2 => DemoBudget {
                // One pass over the 400 training problems at batch 8.
                sft_steps: 50,
                batch_size: 8,
                // Full fine-tuning of a pretrained model: the usual SFT rate for its
                // size, where the tiny student (from scratch) needs 3e-3.
                lr: 5e-5,
                grpo_steps: 4,
                grpo_prompts: 4,
                grpo_group: 8,
                grpo_lr: 5e-6,
                max_new_tokens: 200,
                eval_limit: None,
                seeds: 1,
            },
        }
    }

    /// The workspace this student's demo uses when none is named: the SmolLM2 demo
    /// keeps its own beside the default one, so the two never mix their runs.
    pub fn default_workspace(self, default: &Path) -> PathBuf {
        match self {
            Self::Tiny => default.to_path_buf(),
            Self::Smollm2 => {
                let name = default
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "demo".into());
                default.with_file_name(format!("{name}-smollm2"))
            }
        }
    }

    /// Makes the student's model directory exist in the workspace. SmolLM2 comes from
    /// `source` (a GGUF file or a model directory) when given, else the GGUF in the
    /// cache, else the Hugging Face Hub.
    pub fn prepare(
        self,
        ws: &Workspace,
        paths: &Paths,
        source: Option<&Path>,
        mut say: impl FnMut(&str),
    ) -> Result<PathBuf, anyhow::Error> {
        if self == Self::Tiny {
            anyhow::ensure!(
                source.is_none(),
                "--student-model names where SmolLM2 comes from; the tiny student is \
                 created in the workspace"
            );
            return Ok(crate::train::student::ensure_model(ws, "tiny")?);
        }
        let dir = crate::train::student::model_dir(ws, self.model_setting());
        if dir.join("config.json").is_file() {
            return Ok(dir);
        }
        let cached = smollm2::gguf_path(&paths.cache_dir);
        let source = source
            .map(Path::to_path_buf)
            .or_else(|| cached.is_file().then_some(cached));
        match source {
            Some(file) if file.is_file() => {
                say(&format!(
                    "importing {} to {}",
                    file.display(),
                    dir.display()
                ));
                crate::model::gguf::import_gguf(&file, &dir, candle_core::DType::F32)?;
            }
            Some(model) if model.join("config.json").is_file() => {
                say(&format!("copying {} to {}", model.display(), dir.display()));
                copy_model_dir(&model, &dir)?;
            }
            Some(other) => anyhow::bail!(
                "{}: neither a GGUF file nor a model directory (no config.json)",
                other.display()
            ),
            None => {
                say(&format!(
                    "downloading {} from the Hugging Face Hub (no {} in {}; offline, fetch it \
                     with {})",
                    smollm2::HUB_REPO,
                    smollm2::GGUF_FILE,
                    paths.cache_dir.join("models").display(),
                    smollm2::fetch_hint(&paths.cache_dir.join("models"))
                ));
                crate::model::hub::download_model(smollm2::HUB_REPO, &dir)?;
            }
        }
        Ok(dir)
    }
}

/// Copies the files of a model directory (not its subfolders) through a staging
/// folder, so a half-copied model is never taken for a whole one.
fn copy_model_dir(from: &Path, to: &Path) -> Result<(), anyhow::Error> {
    let staging = to.with_file_name(format!(
        ".{}.partial",
        to.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), staging.join(entry.file_name()))?;
        }
    }
    std::fs::rename(&staging, to)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smollm2_demo_keeps_a_workspace_of_its_own() {
        let default = Path::new("/data/plantune/demo");
        assert_eq!(DemoStudent::Tiny.default_workspace(default), default);
        assert_eq!(
            DemoStudent::Smollm2.default_workspace(default),
            Path::new("/data/plantune/demo-smollm2")
        );
    }
}
