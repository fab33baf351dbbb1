//! `plantune-tui distill`: the teacher pipeline with a progress bar.

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::teacher::{DistillEvent, DistillOptions, distill};
use crate::workspace::Workspace;
use crate::workspace::config::TeacherKind;

#[derive(Debug, clap::Args)]
pub struct DistillArgs {
    #[arg(long)]
    split: Option<String>,
    #[arg(long)]
    dataset: Option<String>,
    /// At most this many problems.
    #[arg(long)]
    limit: Option<usize>,
    /// Plans per problem (the paper's N).
    #[arg(long)]
    n: Option<u32>,
    #[arg(long)]
    concurrency: Option<usize>,
    #[arg(long)]
    base_url: Option<String>,
    #[arg(long)]
    model: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    #[arg(long)]
    api_key_env: Option<String>,
}

pub fn run(ws: &Workspace, args: DistillArgs) -> Result<()> {
    if ws.config.teacher.kind == TeacherKind::Oracle && args.base_url.is_none() {
        bail!(
            "the workspace's teacher is the oracle (teacher.kind = \"oracle\"), which only knows \
             synthetic problems and is run by `plantune-tui init --demo` / `demo`; set \
             teacher.kind = \"openai\" (a server) or \"local\" (teacher.model = a model \
             directory) in plantune.toml, or pass --base-url to distill from a server"
        );
    }
    let opts = DistillOptions {
        dataset: args.dataset,
        split: args.split,
        limit: args.limit,
        n_plans: args.n,
        concurrency: args.concurrency,
        base_url: args.base_url,
        model: args.model,
        api_key_env: args.api_key_env,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} problems  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(distill(ws, &opts, |event, totals| {
        if let DistillEvent::Started { problems, .. } = event {
            bar.set_length(*problems as u64);
        }
        bar.set_position(totals.problems_done as u64);
        bar.set_message(format!(
            "{} candidates, {} calls ({} cached), {} in flight, {} errors",
            totals.candidates_new,
            totals.calls_answered + totals.calls_cached,
            totals.calls_cached,
            totals.calls_in_flight,
            totals.errors
        ));
    }))?;
    bar.finish();
    let t = &report.totals;
    say!(
        "distilled with {}: {} problems, {} new candidates, {} calls answered, {} from cache, \
         {} prompt + {} completion tokens, {} errors, {:.1} s",
        report.teacher,
        t.problems_done,
        t.candidates_new,
        t.calls_answered,
        t.calls_cached,
        t.prompt_tokens,
        t.completion_tokens,
        t.errors,
        report.elapsed.as_secs_f64()
    );
    for error in report.errors.iter().take(10) {
        warn!("  error: {}", crate::text::sanitize(error));
    }
    if !report.complete() {
        warn!("some calls failed; run the same command again to finish (cached calls are free)");
    }
    Ok(())
}
