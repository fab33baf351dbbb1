//! A run trained by another engine rather than by this crate: the `[engine]` section of
//! a run's `run.toml`. Without it a run trains here.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// `trl`: the run's bundle trained by TRL in a child process of the worker.
    pub name: EngineName,
    /// The Python interpreter (frozen at creation so a resume uses the same one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// Extra arguments for the engine's script.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// When a run that writes no more steps raises the stall alarm.
    #[serde(default)]
    pub stall: StallSection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineName {
    Trl,
}

/// `[engine.stall]`: the alarm fires once no step has come for `multiplier` typical
/// step intervals, and never sooner than `floor_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StallSection {
    pub multiplier: f64,
    pub floor_s: f64,
    /// The limit while no typical interval is known yet (before the second step) and
    /// while the engine is expected to pause (saving its final model, stopping):
    /// downloading a model, compiling kernels or writing a large checkpoint takes
    /// minutes, and an alarm then would only teach people to ignore it.
    pub startup_s: f64,
}

impl Default for StallSection {
    fn default() -> Self {
        Self {
            multiplier: 5.0,
            floor_s: 60.0,
            startup_s: 900.0,
        }
    }
}

impl StallSection {
    /// What is wrong with the settings, named by key.
    pub fn check(&self) -> Result<(), String> {
        let positive = |key: &str, x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "[engine.stall] {key} = {x}: expected a positive number"
                ))
            }
        };
        positive("multiplier", self.multiplier)?;
        positive("floor_s", self.floor_s)?;
        positive("startup_s", self.startup_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_settings_default_when_absent_and_bad_ones_are_named() {
        let section: EngineSection = toml::from_str("name = \"trl\"").unwrap();
        assert_eq!(section.stall, StallSection::default());
        let section: EngineSection =
            toml::from_str("name = \"trl\"\n[stall]\nmultiplier = 3\nfloor_s = 0.5").unwrap();
        assert_eq!(section.stall.multiplier, 3.0);
        assert_eq!(section.stall.floor_s, 0.5);
        assert_eq!(section.stall.startup_s, 900.0);
        assert!(section.stall.check().is_ok());
        let bad = StallSection {
            floor_s: -1.0,
            ..StallSection::default()
        };
        assert!(bad.check().unwrap_err().contains("floor_s = -1"));
        assert!(toml::from_str::<StallSection>("floor = 3").is_err());
    }
}
