//! Processes started from the TUI, all of them the `plantune-tui` CLI: run workers and
//! evaluations run detached (their own session, output to log files), so quitting the
//! TUI or losing the SSH connection never stops them; creating a run from a preset is
//! a short CLI call whose answer comes back as an action.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;

use anyhow::Context as _;

use super::action::Action;
use super::presets::Preset;
use crate::config::paths::{CACHE_DIR_ENV, CONFIG_DIR_ENV, DATA_DIR_ENV, Paths};
use crate::workspace::Workspace;

/// Where the output of evaluations started from the TUI goes, one folder each.
pub const EVAL_LOGS_DIR: &str = "logs";

/// Which executable to start, and the environment it needs.
#[derive(Debug, Clone, Default)]
pub struct Launcher {
    /// `None`: this process's own executable. Tests run inside a test harness, so they
    /// name the real `plantune-tui` binary instead.
    exe: Option<PathBuf>,
    env: Vec<(&'static str, PathBuf)>,
}

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
            Some("final") => path
                .parent()
                .and_then(Path::file_name)
                .map_or_else(|| "final".into(), |n| n.to_string_lossy().into_owned()),
            Some(name) => name.to_owned(),
            None => "model".into(),
        }
    }
}

impl Launcher {
    pub fn with_exe(exe: impl Into<PathBuf>) -> Self {
        Self {
            exe: Some(exe.into()),
            env: Vec::new(),
        }
    }

    /// Children use the same config, data and cache folders as this process, even when
    /// they were chosen by flags rather than the environment.
    pub fn with_paths(mut self, paths: &Paths) -> Self {
        self.env = vec![
            (CONFIG_DIR_ENV, paths.config_dir.clone()),
            (DATA_DIR_ENV, paths.data_dir.clone()),
            (CACHE_DIR_ENV, paths.cache_dir.clone()),
        ];
        self
    }

    fn exe(&self) -> anyhow::Result<PathBuf> {
        match &self.exe {
            Some(exe) => Ok(exe.clone()),
            None => std::env::current_exe().context("finding the plantune-tui executable"),
        }
    }

    /// `plantune-tui --workspace WS ARGS...` with this launcher's environment.
    fn cli(&self, ws: &Workspace, args: &[&str]) -> anyhow::Result<Command> {
        let mut command = Command::new(self.exe()?);
        command
            .args(["--workspace", &ws.root.display().to_string()])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        Ok(command)
    }

    /// Starts (or resumes: the worker picks up the newest checkpoint) a created run,
    /// through the CLI's hidden `train worker` subcommand that `train sft` detaches too.
    pub fn start_run(&self, ws: &Workspace, id: &str) -> anyhow::Result<u32> {
        let mut command = self.cli(ws, &["train", "worker", id])?;
        let pid = crate::jobs::spawn_detached(&mut command, &ws.runs_dir().join(id))?;
        reap_when_done(pid);
        Ok(pid)
    }

    /// Runs `train sft|grpo --config PRESET`, which creates the run and detaches its
    /// worker, on a thread; its outcome arrives on `done` as `Action::RunCreated`. The
    /// CLI validates the preset, so its errors are exactly what a shell user would see.
    pub fn create_run(
        &self,
        ws: &Workspace,
        preset: &Preset,
        done: Sender<Action>,
    ) -> anyhow::Result<()> {
        let path = preset.path.display().to_string();
        let mut command = self.cli(ws, &["train", preset.kind.name(), "--config", &path])?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting plantune-tui train")?;
        let name = preset
            .path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        std::thread::spawn(move || {
            let (id, pid, error) = match child.wait_with_output() {
                Ok(output) => {
                    let (id, pid) = parse_created(&String::from_utf8_lossy(&output.stdout));
                    let error = (!output.status.success()).then(|| {
                        let stderr = String::from_utf8_lossy(&output.stderr);
                        let text = stderr.trim();
                        let text = text.strip_prefix("error: ").unwrap_or(text);
                        if text.is_empty() {
                            format!("plantune-tui train {}", output.status)
                        } else {
                            text.to_owned()
                        }
                    });
                    (id, pid, error)
                }
                Err(e) => (
                    None,
                    None,
                    Some(format!("waiting for plantune-tui train: {e}")),
                ),
            };
            // The receiver goes away only when the TUI quits; the run exists regardless.
            let _ = done.send(Action::RunCreated {
                preset: name,
                id,
                pid,
                error,
            });
        });
        Ok(())
    }

    /// Starts `plantune-tui eval`; returns its pid and the folder with its output.
    pub fn start_eval(
        &self,
        ws: &Workspace,
        request: &EvalRequest,
    ) -> anyhow::Result<(u32, PathBuf)> {
        let name = request.name();
        let mut command = self.cli(
            ws,
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
        let pid = crate::jobs::spawn_detached(&mut command, &dir)?;
        reap_when_done(pid);
        Ok((pid, dir))
    }
}

/// The run id and worker pid from what `train sft|grpo` prints: `run ID created in
/// DIR`, then `run ID started in the background (pid PID); ...` once the worker is off.
fn parse_created(stdout: &str) -> (Option<String>, Option<u32>) {
    let mut id = None;
    let mut pid = None;
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        let (Some("run"), Some(run)) = (words.next(), words.next()) else {
            continue;
        };
        if line.contains(" created in ") {
            id = Some(run.to_owned());
        } else if line.contains(" started in the background ")
            && let Some((_, rest)) = line.split_once("(pid ")
        {
            pid = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|digits| digits.parse().ok());
        }
    }
    (id, pid)
}

/// Collects the child's exit status when it ends. Unreaped, it would stay a zombie for
/// as long as the TUI runs, and a zombie's pid still answers "alive".
fn reap_when_done(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: waits on our own child; `status` outlives the call.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    });
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
    scan("models", None);
    scan("runs", Some("final"));
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

    #[test]
    fn the_train_cli_output_names_the_run_and_its_worker() {
        let both = "run sft-12-ab created in /w/runs/sft-12-ab\n\
                    run sft-12-ab started in the background (pid 4321); follow it with \
                    `plantune-tui runs tail sft-12-ab --follow`\n";
        assert_eq!(parse_created(both), (Some("sft-12-ab".into()), Some(4321)));
        let created_only = "run grpo-1-ff created in /w/runs/grpo-1-ff\n";
        assert_eq!(
            parse_created(created_only),
            (Some("grpo-1-ff".into()), None)
        );
        assert_eq!(parse_created(""), (None, None));
    }
}
