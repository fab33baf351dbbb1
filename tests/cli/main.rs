//! The cli tests as one binary: each test binary is compiled and linked against candle
//! on its own, so one per area rather than one per file.

#[path = "../common/mod.rs"]
mod common;

mod bench_model;
mod demo_build;
mod demo_headless;
mod demo_smollm2;
mod demo_tmux;
mod gpu_check;
mod hostile;
mod run_process;
mod smollm2_pipeline;
mod workspace;
