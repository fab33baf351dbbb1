//! plantune-tui: a terminal workbench for PLAN-TUNING small language models.
//!
//! The modules form layers (see the README's "Modules and layers", enforced by the
//! `layers` test): each imports only modules below it, so the domain never imports
//! `tui`, and the TUI and the headless subcommands are clients of the same functions.

pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod eval;
pub mod export;
pub mod grade;
pub mod infer;
pub mod jobs;
#[cfg(test)]
mod layers;
pub mod model;
pub mod progress;
pub mod runlog;
pub mod runs;
pub mod serve;
pub mod teacher;
pub mod telemetry;
pub mod text;
pub mod train;
pub mod tui;
pub mod workspace;
