//! Background processes started from the TUI: run workers and evaluations. Both run
//! detached (their own session, output to log files), so quitting the TUI or losing
//! the SSH connection never stops them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

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

    /// Starts (or resumes: the worker picks up the newest checkpoint) a created run.
    pub fn start_run(&self, ws: &Workspace, id: &str) -> anyhow::Result<u32> {
        let mut command = crate::train::run::worker_command(&self.exe()?, ws, id);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let pid = crate::jobs::spawn_detached(&mut command, &ws.runs_dir().join(id))?;
        reap_when_done(pid);
        Ok(pid)
    }

    /// Starts `plantune-tui eval`; returns its pid and the folder with its output.
    pub fn start_eval(
        &self,
        ws: &Workspace,
        request: &EvalRequest,
    ) -> anyhow::Result<(u32, PathBuf)> {
        let mut command = Command::new(self.exe()?);
        command
            .args(["--workspace", &ws.root.display().to_string(), "eval"])
            .args(["--model", &request.model, "--name", &request.name()])
            .args(["--benchmark", &request.benchmark, "--mode", &request.mode])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
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
}
