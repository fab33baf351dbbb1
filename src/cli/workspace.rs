//! `plantune-tui init`, `import` and `status`: creating, filling and summarising a
//! workspace.

use std::path::PathBuf;

use anyhow::Result;

use super::Globals;
use super::demo::print_build;
use crate::config::Paths;
use crate::workspace::{Workspace, status as ws_status};

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Folder to create (existing files in it are kept).
    dir: PathBuf,
    /// Also fill it with the demo's synthetic problems and the oracle teacher's
    /// graded, auto-curated trajectories.
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    file: PathBuf,
    #[arg(long, value_enum)]
    format: crate::data::DatasetFormat,
    #[arg(long)]
    split: String,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// One JSON object, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn init(args: InitArgs, paths: &Paths) -> Result<()> {
    let ws = Workspace::init(&args.dir, paths)?;
    say!(
        "initialised workspace {} at {}",
        ws.name(),
        args.dir.display()
    );
    if args.demo {
        print_build(&crate::demo::build::build_workspace(&ws)?);
    }
    Ok(())
}

pub fn import(args: ImportArgs, globals: &Globals) -> Result<()> {
    let ws = globals.open()?;
    let progress = crate::progress::Progress::new("import", "problems", None);
    progress.stage(&format!("reading {}", args.file.display()));
    let report = crate::data::import::import_file(&ws, &args.file, args.format, &args.split);
    if let Ok(report) = &report {
        progress.set_done(report.read as u64);
    }
    progress.end(report.is_ok());
    let report = report?;
    say!(
        "{}: read {} problems ({} {}), {} new, {} already present",
        report.file.display(),
        report.read,
        report.format,
        report.split,
        report.inserted,
        report.unchanged
    );
    if let Some((stored, hash)) = &report.same_content_example {
        warn!(
            "{}: {} problems are already stored under another name with the same content \
             (e.g. {stored}, content hash {hash}): not imported again",
            report.file.display(),
            report.same_content
        );
    }
    Ok(())
}

pub fn status(args: StatusArgs, globals: &Globals) -> Result<()> {
    let ws = globals.open()?;
    let report = ws_status::collect(ws.name(), &ws.store()?)?;
    if args.json {
        println!(
            "{}",
            crate::text::json_safe(&serde_json::to_string_pretty(&report)?)
        );
    } else {
        say_raw!("{}", report.to_text());
    }
    Ok(())
}
