//! The Eval screen's launcher: pick a model, a benchmark and a mode in three pickers,
//! then start `plantune-tui eval` in the background.

use super::Ctx;
use super::eval::EvalScreen;
use crate::tui::action::Action;
use crate::tui::launch::{self, EvalRequest, model_dirs};
use crate::tui::overlay::{Overlay, PickItem};

impl EvalScreen {
    /// The launcher's steps; true when `action` was one of them.
    pub(super) fn launch_step(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<bool> {
        match action {
            Action::LaunchEval => pick_model(ctx)?,
            Action::PickEvalBenchmark { model } => pick_benchmark(ctx, model)?,
            Action::PickEvalMode { model, benchmark } => pick_mode(ctx, model, benchmark),
            Action::StartEval {
                model,
                benchmark,
                mode,
            } => start(
                ctx,
                EvalRequest {
                    model: model.clone(),
                    benchmark: benchmark.clone(),
                    mode: mode.clone(),
                },
            )?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn pick_model(ctx: &mut Ctx) -> anyhow::Result<()> {
    let models = model_dirs(ctx.workspace);
    if models.is_empty() {
        anyhow::bail!(
            "no models to evaluate: finish a run (its final/ folder) or put a model \
             folder in models/"
        );
    }
    let items = models
        .into_iter()
        .map(|model| PickItem {
            label: model.clone(),
            action: Action::PickEvalBenchmark { model },
        })
        .collect();
    ctx.open = Some(Overlay::picker("Evaluate: model (1/3)", items));
    Ok(())
}

fn pick_benchmark(ctx: &mut Ctx, model: &str) -> anyhow::Result<()> {
    let counts = ctx.store.problem_counts()?;
    if counts.is_empty() {
        anyhow::bail!("no benchmark problems in this workspace: import or synth some first");
    }
    let items = counts
        .into_iter()
        .map(|(dataset, split, n)| {
            let benchmark = format!("{dataset}/{split}");
            PickItem {
                label: format!("{benchmark:<28} {n} problems"),
                action: Action::PickEvalMode {
                    model: model.to_owned(),
                    benchmark,
                },
            }
        })
        .collect();
    ctx.open = Some(Overlay::picker(
        format!("Evaluate {model}: benchmark (2/3)"),
        items,
    ));
    Ok(())
}

fn pick_mode(ctx: &mut Ctx, model: &str, benchmark: &str) {
    use clap::ValueEnum as _;
    let items = crate::eval::runner::Mode::value_variants()
        .iter()
        .filter_map(|mode| {
            let name = mode.to_possible_value()?.get_name().to_owned();
            Some(PickItem {
                label: name.clone(),
                action: Action::StartEval {
                    model: model.to_owned(),
                    benchmark: benchmark.to_owned(),
                    mode: name,
                },
            })
        })
        .collect();
    ctx.open = Some(Overlay::picker(
        format!("Evaluate {model} on {benchmark}: mode (3/3)"),
        items,
    ));
}

fn start(ctx: &mut Ctx, request: EvalRequest) -> anyhow::Result<()> {
    let (pid, dir) = launch::start_eval(ctx.workspace, ctx.launcher, &request)?;
    let shown = dir.strip_prefix(&ctx.workspace.root).unwrap_or(&dir);
    ctx.info = Some(format!(
        "evaluating {} on {} ({}) in the background (pid {pid}); results appear here \
         as they are stored; output in {}",
        request.name(),
        request.benchmark,
        request.mode,
        shown.display()
    ));
    Ok(())
}
