//! Answer extraction and mathematical equivalence.
