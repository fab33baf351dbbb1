//! The terminal user interface.
