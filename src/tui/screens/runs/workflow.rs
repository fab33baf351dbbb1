//! What the Runs screen does to runs: stop, resume, show the frozen config, and create
//! one from a preset (picked in an overlay, created on a background thread).

use std::path::Path;

use anyhow::Context as _;

use super::RunsScreen;
use crate::jobs::JobError;
use crate::runs::{self, RunDir, RunError, preset as presets};
use crate::tui::action::Action;
use crate::tui::background::Outcome;
use crate::tui::launch;
use crate::tui::overlay::{Overlay, PickItem};
use crate::tui::screens::Ctx;

impl RunsScreen {
    /// The selected run's id and folder.
    fn selected_dir(&self) -> anyhow::Result<(String, RunDir)> {
        let run = self.selected_run().context("no run selected")?;
        Ok((run.id.clone(), run.dir.clone()))
    }

    pub(super) fn stop_run(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let (id, _) = self.selected_dir()?;
        match runs::stop(ctx.workspace, &id) {
            Ok(pid) => {
                ctx.info = Some(format!(
                    "asked run {id} (pid {pid}) to stop: it checkpoints, then ends stopped"
                ));
                Ok(())
            }
            Err(RunError::Job(JobError::NotRunning { .. })) => {
                anyhow::bail!("run {id} is not running")
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the selected run's worker again, by the rules of `runs::resume`; it
    /// continues from its newest checkpoint (or from the start when it has none).
    pub(super) fn resume_run(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let (id, _) = self.selected_dir()?;
        let pid = runs::resume(ctx.workspace, &id, ctx.launcher)?;
        self.mark_started(&id, pid);
        ctx.info = Some(format!(
            "run {id} resumed (pid {pid}) from its newest checkpoint"
        ));
        Ok(())
    }

    pub(super) fn open_run_config(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let (id, dir) = self.selected_dir()?;
        let path = dir.config();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("run {id} has no run.toml (not started by plantune-tui?)")
            }
            Err(e) => return Err(e).with_context(|| path.display().to_string()),
        };
        ctx.open = Some(Overlay::Text {
            title: format!("run.toml · {id}"),
            text,
            scroll: 0,
        });
        Ok(())
    }

    pub(super) fn pick_preset(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let files = presets::list(ctx.workspace)?;
        if files.is_empty() {
            anyhow::bail!(
                "no presets: put run configs in {} (see workspaces/demo/presets)",
                presets::presets_dir(ctx.workspace).display()
            );
        }
        let items = files
            .into_iter()
            .map(|path| {
                let name = file_stem(&path);
                let about = match presets::read(&path) {
                    Ok(p) => p.summary,
                    Err(e) => format!("invalid: {e}"),
                };
                PickItem {
                    label: format!("{name:<24} {about}"),
                    action: Action::StartPreset(path),
                }
            })
            .collect();
        ctx.open = Some(Overlay::picker(
            "New run from preset (enter starts it)",
            items,
        ));
        Ok(())
    }

    /// Creates a run from the preset (validating it) and starts it, in the background;
    /// `run_created` shows the outcome when it arrives.
    pub(super) fn start_preset(&mut self, ctx: &mut Ctx, path: &Path) -> anyhow::Result<()> {
        let preset = presets::read(path).map_err(anyhow::Error::msg)?;
        let about = format!(
            "creating a {} run from preset {}...",
            preset.kind.name(),
            file_stem(path)
        );
        let (job, done) = ctx.start_job()?;
        launch::create_run(ctx.workspace, ctx.launcher, preset, job, done);
        ctx.info = Some(about);
        Ok(())
    }

    /// The outcome of `start_preset`.
    pub(super) fn run_created(&mut self, outcome: &Outcome, ctx: &mut Ctx) -> anyhow::Result<()> {
        let Outcome::RunCreated {
            preset,
            id,
            pid,
            error,
        } = outcome
        else {
            return Ok(());
        };
        let Some(id) = id else {
            anyhow::bail!(
                "preset {preset}: {}",
                error.as_deref().unwrap_or("no run was created")
            );
        };
        self.select_id(ctx, id)?;
        match (pid, error) {
            (Some(pid), None) => {
                self.mark_launched(id, *pid);
                ctx.info = Some(format!("run {id} started from preset {preset} (pid {pid})"));
                Ok(())
            }
            (_, error) => anyhow::bail!(
                "run {id} was created from preset {preset} but did not start (R retries): {}",
                error.as_deref().unwrap_or("no reason given")
            ),
        }
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}
