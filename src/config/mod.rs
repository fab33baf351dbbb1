//! Layered configuration, per-user paths, themes.

pub mod paths;
pub mod theme;
pub mod toml_error;

pub use paths::Paths;
