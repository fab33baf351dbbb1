//! Training: datasets built from the store, SFT, GRPO, checkpoints, the run process.

pub mod dataset;
pub mod optim;
pub mod schedule;
