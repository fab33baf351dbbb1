//! `plantune-tui dataset build|list`: training datasets frozen by content hash.

use anyhow::Result;
use clap::Subcommand;

use super::Globals;
use crate::train::dataset::{DatasetKind, DatasetSource, build};

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// baseline: question → gold solution; plan1: question → plan + execution (accepted
    /// candidates); plan2: question → plan and question + plan → execution.
    Build {
        #[arg(long, value_enum)]
        kind: DatasetKind,
        /// Split to draw problems from.
        #[arg(long, default_value = "train")]
        split: String,
        /// Only this dataset (e.g. gsm8k, synth); default: every dataset in the split.
        #[arg(long)]
        dataset: Option<String>,
    },
    /// List built datasets.
    List,
}

pub fn run(what: DatasetCommand, globals: &Globals) -> Result<()> {
    let ws = globals.open()?;
    match what {
        DatasetCommand::Build {
            kind,
            split,
            dataset,
        } => {
            let progress = crate::progress::Progress::new("dataset build", "datasets", Some(1));
            progress.stage("building");
            let built = build(&ws, kind, &DatasetSource { dataset, split });
            progress.set_done(u64::from(built.is_ok()));
            progress.end(built.is_ok());
            let built = built?;
            say!(
                "built {} dataset: {} examples, hash {}\n  examples: {}\n  TRL export: {}",
                built.kind,
                built.examples,
                built.content_hash,
                ws.root.join(&built.path).display(),
                ws.root.join(&built.export).display()
            );
        }
        DatasetCommand::List => {
            for d in ws.store()?.datasets()? {
                say!(
                    "{:<10} {:<24} {:>7} examples  {}",
                    d.kind,
                    d.name,
                    d.n_examples,
                    d.content_hash
                );
            }
        }
    }
    Ok(())
}
