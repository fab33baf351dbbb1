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
    /// Write a self-contained bundle for TRL (accelerate, DeepSpeed) and verl under
    /// `exports/bundle-NAME/`: SFT and GRPO data, the rewards in Python (checked against
    /// fixtures our own reward code scored), training and launch scripts, a manifest.
    Bundle {
        /// baseline | plan1 | plan2 | a dataset hash.
        name: String,
        /// The base model the manifest names (and whose chat template it hashes).
        #[arg(long, default_value = "tiny")]
        model: String,
        /// Output folder (default: the workspace's exports/bundle-NAME).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// GRPO's completion budget (the length penalty's limit).
        #[arg(long, default_value_t = 256)]
        max_new_tokens: usize,
    },
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
        DatasetCommand::Bundle {
            name,
            model,
            out,
            max_new_tokens,
        } => {
            let out = out.unwrap_or_else(|| crate::export::default_dir(&ws, &name));
            let spec = crate::export::BundleSpec {
                dataset: name,
                model,
                weights: crate::train::grpo::rewards::RewardWeights::default(),
                max_new_tokens,
            };
            let bundle = crate::export::write_bundle(&ws, &spec, &out)?;
            let m = &bundle.manifest;
            say!(
                "bundle for {} ({} examples, hash {}) in {}\n  check the rewards: \
                 python3 {}/rewards.py --self-test\n  train: see {}/launch_trl.sh and \
                 verl/run_verl_grpo.sh",
                m.dataset.name,
                m.dataset.examples,
                m.dataset.content_hash,
                bundle.dir.display(),
                bundle.dir.display(),
                bundle.dir.display()
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
