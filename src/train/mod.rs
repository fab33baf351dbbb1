//! Training: datasets built from the store, SFT, GRPO, checkpoints, the run process.

pub mod adamw_cpu;
pub mod batch;
pub mod checkpoint;
pub mod dataset;
pub mod grpo;
pub mod loss;
pub mod optim;
pub mod precision;
pub mod run;
pub mod schedule;
pub mod sft;
pub mod student;
pub mod trainable;
