//! `plantune-tui distill`: the teacher pipeline with a progress bar.

use anyhow::{Result, bail};

use crate::progress::Progress;
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

/// Printed once per run, the first time two seeds gave one plan.
const SEED_IGNORED: &str = "the teacher returned the same plan for different seeds at \
    temperature > 0: the server seems to ignore `seed`/`temperature` (duplicates are not \
    stored; check the server's sampling settings, or `plantune-tui doctor`)";

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
    let progress = Progress::new("distill", "problems", None);
    progress.stage("selecting problems");
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(distill(ws, &opts, |event, totals| {
        match event {
            DistillEvent::Started {
                problems,
                already_complete,
            } => {
                progress.set_total(*problems as u64);
                progress.set_resumed(*already_complete as u64);
                progress.stage("teacher calls");
            }
            DistillEvent::SeedIgnored { .. } => progress.warn(SEED_IGNORED),
            DistillEvent::Finished => progress.stage("finished"),
            _ => {}
        }
        progress.set_done(totals.problems_done as u64);
        progress.set_errors(totals.errors as u64);
        progress.set_message(format!(
            "{} candidates, {} calls ({} cached), {} in flight, {} plans asked, {} distinct",
            totals.candidates_new,
            totals.calls_answered + totals.calls_cached,
            totals.calls_cached,
            totals.calls_in_flight,
            totals.plans_asked,
            totals.plans_distinct,
        ));
    }));
    progress.end(report.is_ok());
    let report = report?;
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
    say!(
        "plans: {} asked, {} distinct ({} duplicates not stored, {} stages cut by max_tokens)",
        t.plans_asked,
        t.plans_distinct,
        t.plans_duplicate,
        t.truncated_stages
    );
    for error in report.errors.iter().take(10) {
        warn!("  error: {}", crate::text::sanitize(error));
    }
    if !report.complete() {
        warn!("some calls failed; run the same command again to finish (cached calls are free)");
    }
    Ok(())
}
