//! The model tests as one binary: each test binary is compiled and linked against candle
//! on its own, so one per area rather than one per file.

#[path = "../common/mod.rs"]
mod common;

mod fused;
mod fused_model;
mod gemma_import;
mod grads;
mod hub;
mod import;
mod io;
mod parity;
mod smollm2_core;
