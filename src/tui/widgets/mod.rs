//! Reusable pieces drawn by several screens.

pub mod diff;
pub mod editor;
pub mod input;
pub mod series;
