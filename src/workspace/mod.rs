//! Workspace layout, configuration, the SQLite store, import and export.

pub mod records;
