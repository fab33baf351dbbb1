//! The embedded default, end to end: the stages of `plantune-tui demo`.

pub mod budget;
pub mod build;
pub mod grpo_stage;
pub mod parallel;
pub mod pipeline;
pub mod report;
pub mod seed_label;
pub mod state;
pub mod student;
pub mod verdict;
