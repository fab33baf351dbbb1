//! A run's name and kind: the folder name under `runs/`, the registry's key, and the
//! `kind` column that decides what the worker trains.

use std::fmt;

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
}
