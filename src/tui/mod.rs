//! The terminal user interface.

pub mod sanitize;

pub use sanitize::sanitize;
