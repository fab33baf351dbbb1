//! `plantune-tui eval` with a progress bar and the accuracy line at the end.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::EvalArgs;
use crate::eval::report::{Format, accuracy_row, render_accuracy};
use crate::eval::runner::{EvalOptions, run_eval};
use crate::workspace::Workspace;

pub fn run(ws: &Workspace, args: EvalArgs) -> Result<()> {
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
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} problems {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = run_eval(ws, &opts, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    for warning in &summary.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{} problems ({} generated now, {} already stored), {:.1} s, {:.1} generated tokens/s",
        summary.problems, summary.generated, summary.resumed, summary.seconds, summary.tokens_per_s
    );
    let store = ws.store()?;
    let mut rows = vec![accuracy_row(&store, &summary.key)?];
    if opts.k > 1 {
        let mut vote = summary.key.clone();
        vote.mode = format!("{}@maj{}", vote.mode, opts.k);
        rows.push(accuracy_row(&store, &vote)?);
    }
    print!("{}", render_accuracy(&rows, Format::Table));
    Ok(())
}
