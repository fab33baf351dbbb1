//! `plantune-tui eval` with a progress bar and the accuracy line at the end.

use anyhow::{Context, Result};

use std::path::PathBuf;

use super::{Globals, configure_threads};
use crate::eval::report::{Format, accuracy_row, render_accuracy};
use crate::eval::runner::{EvalOptions, Mode, run_eval};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Model directory (Hugging Face layout), relative to the workspace or absolute.
    #[arg(long)]
    model: PathBuf,
    /// Name to store predictions under (default: the model folder's name).
    #[arg(long)]
    name: Option<String>,
    /// DATASET/SPLIT, e.g. synth/test_id, gsm8k/test.
    #[arg(long)]
    benchmark: String,
    #[arg(long, value_enum)]
    mode: Mode,
    #[arg(long)]
    limit: Option<usize>,
    /// Samples per problem; k > 1 adds a majority-vote (maj@k) row.
    #[arg(long, default_value_t = 1)]
    k: usize,
    #[arg(long, default_value_t = 512)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: EvalArgs, globals: &Globals) -> Result<()> {
    let ws = &globals.open()?;
    configure_threads(globals.threads.unwrap_or(ws.config.ui.threads))?;
    let model_dir = if args.model.is_absolute() {
        args.model.clone()
    } else {
        ws.root.join(&args.model)
    };
    let model_dir = if model_dir.join("config.json").is_file() {
        model_dir
    } else {
        args.model.clone()
    };
    let name = args.name.unwrap_or_else(|| {
        model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    });
    let opts = EvalOptions {
        model_dir,
        model_name: name,
        benchmark: args.benchmark,
        mode: args.mode,
        limit: args.limit,
        k: args.k,
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        batch_size: args.batch,
        seed: args.seed,
    };
    let progress = crate::progress::Progress::new("eval", "problems", None);
    progress.stage("generating");
    let summary = run_eval(ws, &opts, |done, total| {
        progress.set_total(total as u64);
        progress.set_done(done as u64);
    });
    progress.end(summary.is_ok());
    let summary = summary?;
    for warning in &summary.warnings {
        warn!("warning: {warning}");
    }
    say!(
        "{} problems ({} generated now, {} already stored), {:.1} s, {:.1} generated tokens/s",
        summary.problems,
        summary.generated,
        summary.resumed,
        summary.seconds,
        summary.tokens_per_s
    );
    let store = ws.store()?;
    let mut rows = vec![accuracy_row(&store, &summary.key)?];
    if opts.k > 1 {
        let mut vote = summary.key.clone();
        vote.mode = format!("{}@maj{}", vote.mode, opts.k);
        rows.push(accuracy_row(&store, &vote)?);
    }
    say_raw!("{}", render_accuracy(&rows, Format::Table));
    // A run's final/ carries its model card; what was just measured goes into it.
    for row in &rows {
        let metric = format!("accuracy ({}, {})", row.benchmark, row.mode);
        let value = format!(
            "{:.3} ({}/{}, 95% CI {:.3}-{:.3})",
            row.accuracy, row.correct, row.n, row.ci_low, row.ci_high
        );
        let card_dir = &opts.model_dir;
        if crate::runs::card::record_evaluation(card_dir, &metric, &value)
            .with_context(|| format!("updating the model card in {}", card_dir.display()))?
        {
            say!(
                "model card: {} updated",
                card_dir.join("README.md").display()
            );
        }
    }
    Ok(())
}
