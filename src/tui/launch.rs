//! Work the TUI starts in the background. Runs are created and launched in process
//! through `runs/` on a thread, whose outcome comes back as a background result; their workers and
//! evaluations (`plantune-tui eval`) are detached processes (their own session, output
//! to log files), so quitting the TUI or losing the SSH connection never stops them.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use super::background::{Done, JobId, Outcome};
use crate::jobs::{self, Launcher};
use crate::runs::{self, preset::Preset};
use crate::workspace::Workspace;
use crate::workspace::layout::{MODELS_DIR, RUNS_DIR, run_files};

/// Where the output of evaluations started from the TUI goes, one folder each.
pub const EVAL_LOGS_DIR: &str = "logs";

/// One evaluation to start: the arguments of `plantune-tui eval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalRequest {
    /// Model folder, relative to the workspace (e.g. `runs/<id>/final`) or absolute.
    pub model: String,
    pub benchmark: String,
    /// The CLI's name of the mode (`direct`, `plan1pass`, ...).
    pub mode: String,
}

impl EvalRequest {
    /// The name predictions are stored under: a run's model is named after the run,
    /// since every run's folder is called `final`.
    pub fn name(&self) -> String {
        let path = Path::new(&self.model);
        let last = path.file_name().map(|n| n.to_string_lossy().into_owned());
        match last.as_deref() {
            Some(name) if name == run_files::FINAL => path
                .parent()
                .and_then(Path::file_name)
                .map_or_else(|| name.into(), |n| n.to_string_lossy().into_owned()),
            Some(name) => name.to_owned(),
            None => "model".into(),
        }
    }
}

/// Creates a run from `preset` and launches its worker, on a thread; the outcome
/// arrives on `done` as `Outcome::RunCreated` under `job`. The preset is validated as `train
/// --config` reads it, so its errors are exactly what a shell user would see.
pub fn create_run(
    ws: &Workspace,
    launcher: &Launcher,
    preset: Preset,
    job: JobId,
    done: Sender<Done>,
) {
    let (ws, launcher) = (ws.clone(), launcher.clone());
    let name = preset
        .path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    std::thread::spawn(move || {
        let (id, pid, error) = match runs::create_from_preset(&ws, &preset) {
            Err(e) => (None, None, Some(format!("{:#}", anyhow::Error::from(e)))),
            Ok(id) => match runs::launch(&ws, id.as_str(), &launcher) {
                Ok(pid) => (Some(id.into()), Some(pid), None),
                Err(e) => (
                    Some(id.into()),
                    None,
                    Some(format!("{:#}", anyhow::Error::from(e))),
                ),
            },
        };
        // The receiver goes away only when the TUI quits; the run exists regardless.
        let _ = done.send(Done {
            id: job,
            outcome: Outcome::RunCreated {
                preset: name,
                id,
                pid,
                error,
            },
        });
    });
}

/// Starts `plantune-tui eval`; returns its pid and the folder with its output.
pub fn start_eval(
    ws: &Workspace,
    launcher: &Launcher,
    request: &EvalRequest,
) -> anyhow::Result<(u32, PathBuf)> {
    let name = request.name();
    let mut command = launcher.command(
        &ws.root,
        &[
            "eval",
            "--model",
            &request.model,
            "--name",
            &name,
            "--benchmark",
            &request.benchmark,
            "--mode",
            &request.mode,
        ],
    )?;
    let stamp = crate::workspace::store::now_ms();
    let folder: String = format!("eval-{}-{stamp}", request.name())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = ws.root.join(EVAL_LOGS_DIR).join(folder);
    let pid = jobs::spawn_detached(&mut command, &dir)?;
    jobs::reap_when_done(pid);
    Ok((pid, dir))
}

/// Model folders worth evaluating, relative to the workspace: `models/*` and every
/// run's `final`, each only when it holds a `config.json`.
pub fn model_dirs(ws: &Workspace) -> Vec<String> {
    let mut found = Vec::new();
    let mut scan = |parent: &str, child: Option<&str>| {
        let Ok(entries) = std::fs::read_dir(ws.root.join(parent)) else {
            return;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let relative = match child {
                Some(child) => format!("{parent}/{name}/{child}"),
                None => format!("{parent}/{name}"),
            };
            if ws.root.join(&relative).join("config.json").is_file() {
                found.push(relative);
            }
        }
    };
    scan(MODELS_DIR, None);
    scan(RUNS_DIR, Some(run_files::FINAL));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_models_are_named_after_their_run() {
        let request = |model: &str| EvalRequest {
            model: model.into(),
            benchmark: "synth/test_id".into(),
            mode: "direct".into(),
        };
        assert_eq!(request("runs/sft-12-ab/final").name(), "sft-12-ab");
        assert_eq!(request("models/tiny").name(), "tiny");
        assert_eq!(request("/abs/models/smol/").name(), "smol");
    }
}
