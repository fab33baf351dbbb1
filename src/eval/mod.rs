//! Evaluation: accuracy with uncertainty, paired comparison, reports.

pub mod report;
pub mod stats;
