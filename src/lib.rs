//! plantune-tui: a terminal workbench for PLAN-TUNING small language models.
//!
//! The domain modules never import `tui`: the TUI and the headless subcommands are
//! both clients of the same plain functions.

pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod eval;
pub mod grade;
pub mod infer;
pub mod jobs;
pub mod model;
pub mod runlog;
pub mod runs;
pub mod serve;
pub mod teacher;
pub mod telemetry;
pub mod text;
pub mod train;
pub mod tui;
pub mod workspace;
