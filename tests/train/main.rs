//! The train tests as one binary: each test binary is compiled and linked against candle
//! on its own, so one per area rather than one per file.

#[path = "../common/mod.rs"]
mod common;

mod bf16;
mod disk_full;
mod grpo;
mod tiny_overfit;
