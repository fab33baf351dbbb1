//! A workspace's `plantune.toml`, layered over the embedded defaults and the user file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::toml_error::TomlError;

/// The documented defaults; `init` writes this text, so the file a user edits explains
/// every key.
pub const DEFAULT_TOML: &str = include_str!("default_plantune.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceConfig {
    pub workspace: WorkspaceSection,
    pub ui: UiSection,
    pub teacher: TeacherSection,
    pub distill: DistillSection,
    pub oracle: OracleSection,
    pub synth: SynthSection,
    pub student: StudentSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceSection {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSection {
    pub theme: String,
    pub threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeacherKind {
    Oracle,
    Openai,
    Local,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeacherSection {
    pub kind: TeacherKind,
    pub base_url: String,
    pub model: String,
    pub api_key_env: String,
    pub concurrency: usize,
    pub timeout_s: u64,
    pub max_retries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillSection {
    pub n_plans: u32,
    pub temperature: f32,
    pub top_p: f32,
    /// When set, one token limit for all four stages (the older single key).
    pub max_tokens: Option<u32>,
    /// Token limits per stage: a list of constraints, a plan, a judgement ending in
    /// `Score:`, and a step-by-step execution need very different room.
    pub constraints_max_tokens: u32,
    pub plan_max_tokens: u32,
    pub judge_max_tokens: u32,
    pub execute_max_tokens: u32,
    /// Plan requests per plan index before a duplicate plan is given up on.
    pub plan_attempts: u32,
    pub min_score: i32,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleSection {
    pub error_rate: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthSection {
    pub seed: u64,
    pub train: usize,
    pub test_id: usize,
    pub test_ood: usize,
    pub train_steps: [u32; 2],
    pub ood_steps: [u32; 2],
    pub max_operand: u32,
    pub distractors: [u32; 2],
    pub back_reference_rate: f64,
    pub late_start_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentSection {
    pub model: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Toml(#[from] TomlError),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
}

impl Default for WorkspaceSection {
    fn default() -> Self {
        Self {
            name: "workspace".into(),
        }
    }
}

impl Default for UiSection {
    fn default() -> Self {
        Self {
            theme: "default".into(),
            threads: 0,
        }
    }
}

impl Default for TeacherSection {
    fn default() -> Self {
        Self {
            kind: TeacherKind::Oracle,
            base_url: "http://127.0.0.1:8000/v1".into(),
            model: "gpt-4o-mini".into(),
            api_key_env: "OPENAI_API_KEY".into(),
            concurrency: 16,
            timeout_s: 120,
            max_retries: 5,
        }
    }
}

/// The pipeline stages that call the teacher, each with its own token limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Constraints,
    Plan,
    Judge,
    Execute,
}

impl DistillSection {
    /// The token limit of `stage`: `max_tokens` when set, else the stage's own.
    pub fn max_tokens_for(&self, stage: Stage) -> u32 {
        self.max_tokens.unwrap_or(match stage {
            Stage::Constraints => self.constraints_max_tokens,
            Stage::Plan => self.plan_max_tokens,
            Stage::Judge => self.judge_max_tokens,
            Stage::Execute => self.execute_max_tokens,
        })
    }
}

impl Default for DistillSection {
    fn default() -> Self {
        Self {
            n_plans: 5,
            temperature: 0.7,
            top_p: 1.0,
            max_tokens: None,
            constraints_max_tokens: 512,
            plan_max_tokens: 512,
            judge_max_tokens: 512,
            execute_max_tokens: 2048,
            plan_attempts: 3,
            min_score: 80,
            seed: 0,
        }
    }
}

impl Default for OracleSection {
    fn default() -> Self {
        Self {
            error_rate: 0.3,
            seed: 7,
        }
    }
}

impl Default for SynthSection {
    fn default() -> Self {
        Self {
            seed: 1,
            train: 400,
            test_id: 100,
            test_ood: 100,
            train_steps: [2, 4],
            ood_steps: [5, 6],
            max_operand: 9,
            distractors: [0, 0],
            back_reference_rate: 0.0,
            late_start_rate: 0.0,
        }
    }
}

impl Default for StudentSection {
    fn default() -> Self {
        Self {
            model: "tiny".into(),
        }
    }
}

/// A file to layer, kept with its text so errors can point at lines.
struct Layer {
    path: PathBuf,
    text: String,
    table: toml::Table,
}

fn read_layer(path: &Path) -> Result<Option<Layer>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| TomlError::from_de(path, &text, &e))?;
    Ok(Some(Layer {
        path: path.to_path_buf(),
        text,
        table,
    }))
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

impl WorkspaceConfig {
    /// Defaults, then each existing file in order (later wins). Each file is parsed on
    /// its own first, so an unknown key or a wrong type is reported against the file,
    /// line and key where it was written.
    pub fn load_layers(files: &[&Path]) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        for path in files {
            let Some(layer) = read_layer(path)? else {
                continue;
            };
            let alone: Self = toml::from_str(&layer.text)
                .map_err(|e| TomlError::from_de(&layer.path, &layer.text, &e))?;
            alone.validate(&layer.path)?;
            merge(&mut merged, &layer.table);
        }
        let config = Self::deserialize(toml::Value::Table(merged)).map_err(|e| {
            TomlError::at(Path::new("<layered config>"), "", 0, e.message().to_owned())
        })?;
        let last = files.last().copied().unwrap_or(Path::new("<defaults>"));
        config.validate(last)?;
        Ok(config)
    }

    /// Parses one file's text (tests and `init` use it on the embedded defaults).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| TomlError::from_de(path, text, &e))?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
        };
        if !(0.0..=1.0).contains(&self.oracle.error_rate) {
            return Err(invalid(
                "oracle.error_rate",
                format!("{} is outside 0.0..1.0", self.oracle.error_rate),
            ));
        }
        if !(-100..=100).contains(&self.distill.min_score) {
            return Err(invalid(
                "distill.min_score",
                format!("{} is outside -100..100", self.distill.min_score),
            ));
        }
        if self.distill.n_plans == 0 {
            return Err(invalid("distill.n_plans", "must be at least 1".into()));
        }
        if self.teacher.concurrency == 0 {
            return Err(invalid("teacher.concurrency", "must be at least 1".into()));
        }
        let [lo, hi] = self.synth.train_steps;
        let [ood_lo, ood_hi] = self.synth.ood_steps;
        if lo == 0 || lo > hi {
            return Err(invalid(
                "synth.train_steps",
                format!("[{lo}, {hi}] is not a range of at least one step"),
            ));
        }
        if ood_lo > ood_hi || ood_lo <= hi {
            return Err(invalid(
                "synth.ood_steps",
                format!(
                    "[{ood_lo}, {ood_hi}] must start above the training range's maximum {hi}: \
                     out-of-distribution problems need more steps than training shows"
                ),
            ));
        }
        let [fewest, most] = self.synth.distractors;
        if fewest > most {
            return Err(invalid(
                "synth.distractors",
                format!("[{fewest}, {most}] is not a range"),
            ));
        }
        for (key, rate) in [
            ("synth.back_reference_rate", self.synth.back_reference_rate),
            ("synth.late_start_rate", self.synth.late_start_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(key, format!("{rate} is outside 0.0..1.0")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_documentation_matches_the_defaults() {
        let parsed = WorkspaceConfig::parse(Path::new("default"), DEFAULT_TOML).unwrap();
        assert_eq!(parsed, WorkspaceConfig::default());
    }

    #[test]
    fn every_shipped_workspace_config_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("workspaces");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path().join("plantune.toml");
            if path.is_file() {
                WorkspaceConfig::load_layers(&[&path])
                    .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                loaded += 1;
            }
        }
        assert!(
            loaded >= 2,
            "only {loaded} workspaces under {}",
            root.display()
        );
    }

    #[test]
    fn layers_apply_in_order_and_keep_unset_keys() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config.toml");
        let workspace = dir.path().join("plantune.toml");
        std::fs::write(&user, "[ui]\ntheme = \"dark\"\n[distill]\nn_plans = 3\n").unwrap();
        std::fs::write(&workspace, "[distill]\nn_plans = 8\n").unwrap();
        let config = WorkspaceConfig::load_layers(&[&user, &workspace]).unwrap();
        assert_eq!(config.ui.theme, "dark");
        assert_eq!(config.distill.n_plans, 8);
        assert_eq!(config.distill.min_score, 80);
        let missing = dir.path().join("absent.toml");
        assert_eq!(
            WorkspaceConfig::load_layers(&[&missing]).unwrap(),
            WorkspaceConfig::default()
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantune.toml");
        std::fs::write(&path, "[teacher]\nkind = \"openai\"\nconcurency = 4\n").unwrap();
        let err = WorkspaceConfig::load_layers(&[&path])
            .unwrap_err()
            .to_string();
        assert!(err.contains("plantune.toml:3:"), "{err}");
        assert!(err.contains("concurency"), "{err}");

        std::fs::write(&path, "[distill]\n\nn_plans = \"five\"\n").unwrap();
        let err = WorkspaceConfig::load_layers(&[&path])
            .unwrap_err()
            .to_string();
        assert!(err.contains("plantune.toml:3:"), "{err}");

        std::fs::write(&path, "[oracle]\nerror_rate = 1.5\n").unwrap();
        let err = WorkspaceConfig::load_layers(&[&path])
            .unwrap_err()
            .to_string();
        assert!(err.contains("oracle.error_rate"), "{err}");

        std::fs::write(&path, "[synth]\nood_steps = [3, 6]\n").unwrap();
        let err = WorkspaceConfig::load_layers(&[&path])
            .unwrap_err()
            .to_string();
        assert!(err.contains("synth.ood_steps"), "{err}");

        for (body, key) in [
            ("distractors = [2, 1]", "synth.distractors"),
            ("back_reference_rate = 1.2", "synth.back_reference_rate"),
            ("late_start_rate = -0.5", "synth.late_start_rate"),
        ] {
            std::fs::write(&path, format!("[synth]\n{body}\n")).unwrap();
            let err = WorkspaceConfig::load_layers(&[&path])
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
