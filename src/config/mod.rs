//! Layered configuration, paths, themes.
