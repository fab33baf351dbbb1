//! The grade tests as one binary: each test binary is compiled and linked against candle
//! on its own, so one per area rather than one per file.

#[path = "../common/mod.rs"]
mod common;

mod data;
mod file;
mod issue21;
mod props;
mod table;
