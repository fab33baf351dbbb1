//! Evaluation: benchmarks × inference modes, stored predictions, accuracy with
//! uncertainty, paired comparison, majority voting.

pub mod contamination;
pub mod report;
pub mod runner;
pub mod stats;
pub mod vote;
