//! Training: datasets built from the store, the student, SFT and GRPO (each with its
//! run's config and body), checkpoints. The run as a process (its folder, lock,
//! registry row and worker) is `runs/`, which calls in here.

pub mod adamw_cpu;
pub mod batch;
pub mod bf16_check;
pub mod checkpoint;
pub mod dataset;
pub mod engine;
pub mod grpo;
pub mod job;
pub mod loss;
pub mod optim;
pub mod precision;
pub mod schedule;
pub mod sft;
pub mod student;
pub mod tiny;
pub mod trainable;
