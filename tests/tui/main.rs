//! The tui tests as one binary: each test binary is compiled and linked against candle
//! on its own, so one per area rather than one per file.

#[path = "../common/mod.rs"]
mod common;

mod app;
mod glance;
mod render;
mod tmux;
