//! `plantune-tui grade`: re-grade predictions made elsewhere.

use std::path::PathBuf;

use anyhow::Result;

use crate::grade::file::{OutputMode, grade_file};
use crate::text::LineFilter;

#[derive(Debug, clap::Args)]
pub struct GradeArgs {
    file: PathBuf,
    /// One line per item with the verdict and the grader's reason.
    #[arg(long, conflicts_with = "json")]
    verbose: bool,
    /// One JSON object per item (id, correct, extracted, rule, reason).
    #[arg(long)]
    json: bool,
}

pub fn run(args: GradeArgs) -> Result<()> {
    let mode = if args.json {
        OutputMode::Json
    } else if args.verbose {
        OutputMode::Verbose
    } else {
        OutputMode::Summary
    };
    // Predictions, answers and ids are untrusted text: no escape reaches the terminal.
    let stdout = std::io::stdout().lock();
    let mut out = if args.json {
        LineFilter::json(stdout)
    } else {
        LineFilter::sanitizing(stdout)
    };
    let summary = grade_file(&args.file, mode, &mut out)?;
    drop(out);
    if args.json {
        warn!("{summary}");
    }
    Ok(())
}
