//! Workspace layout, configuration, the SQLite store and export.

pub mod config;
pub mod curate;
pub mod fsutil;
pub mod layout;
pub mod prompt;
pub mod records;
pub mod status;
pub mod store;

pub use layout::{Workspace, WorkspaceError};
