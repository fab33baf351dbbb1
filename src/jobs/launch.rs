//! Starting another copy of this program as a detached job (a run's worker, an
//! evaluation), and waiting for such a child without leaving a zombie behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{JobError, Liveness, liveness};
use crate::config::paths::{CACHE_DIR_ENV, CONFIG_DIR_ENV, DATA_DIR_ENV, Paths};

/// Which executable to start, and the environment it needs.
#[derive(Debug, Clone, Default)]
pub struct Launcher {
    /// `None`: this process's own executable. Tests run inside a test harness, so they
    /// name the real `plantune-tui` binary instead.
    exe: Option<PathBuf>,
    env: Vec<(&'static str, PathBuf)>,
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

    fn exe(&self) -> Result<PathBuf, JobError> {
        match &self.exe {
            Some(exe) => Ok(exe.clone()),
            None => std::env::current_exe().map_err(|source| JobError::Io {
                path: PathBuf::from("the plantune-tui executable"),
                source,
            }),
        }
    }

    /// `plantune-tui --workspace WORKSPACE ARGS...` with this launcher's environment.
    pub fn command(&self, workspace: &Path, args: &[&str]) -> Result<Command, JobError> {
        let mut command = Command::new(self.exe()?);
        command
            .args(["--workspace", &workspace.display().to_string()])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        Ok(command)
    }
}

/// Collects the exit status of our child `pid` when it ends. Unreaped, it would stay a
/// zombie for as long as this process runs.
pub fn reap_when_done(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: waits on our own child; `status` outlives the call.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    });
}

/// Has our child `pid` ended? Reaps it if so, and says whether it exited with 0
/// (`None`: it still runs).
fn child_ended(pid: libc::pid_t) -> Option<bool> {
    let mut status = 0;
    // SAFETY: a non-blocking wait on our own child; `status` outlives the call.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if rc == pid {
        Some(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
    } else if rc == -1 {
        // Already reaped elsewhere: its exit status is gone; the lock tells the rest.
        Some(true)
    } else {
        None
    }
}

/// Waits until our child `pid`, just spawned to own the job in `dir`, holds its lock
/// or has ended, at most `timeout`; a child still running is then reaped by a thread
/// when it ends. Returns what the lock says at that point. A child that failed is an
/// error here, in the process that launched it, not only a line in its log: another
/// process holding the lock (two launches at once) is [`JobError::AlreadyRunning`]
/// with that holder's pid.
pub fn wait_for_start(dir: &Path, pid: u32, timeout: Duration) -> Result<Liveness, JobError> {
    let Ok(child) = libc::pid_t::try_from(pid) else {
        return liveness(dir);
    };
    let deadline = Instant::now() + timeout;
    loop {
        let state = liveness(dir)?;
        // Held by our child, not by a worker another launch started at the same time
        // (whose lock our child is about to fail to take).
        if state
            == (Liveness::Alive {
                pid: Some(i64::from(pid)),
            })
        {
            reap_when_done(pid);
            return Ok(state);
        }
        if let Some(succeeded) = child_ended(child) {
            let state = liveness(dir)?;
            // Our child wrote its pid once it held the lock: it started, and how its
            // run ended is in the run's events.
            let took_lock = super::read_pid(dir) == Some(i64::from(pid));
            return match state {
                _ if succeeded || took_lock => Ok(state),
                Liveness::Alive { pid: Some(holder) } => Err(JobError::AlreadyRunning {
                    dir: dir.to_path_buf(),
                    pid: holder,
                }),
                _ => Err(JobError::WorkerFailed {
                    dir: dir.to_path_buf(),
                    last_error: last_error_line(dir),
                }),
            };
        }
        if Instant::now() >= deadline {
            reap_when_done(pid);
            return Ok(state);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last `error:` line of a job's stderr log, which is what its failure says.
fn last_error_line(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(super::STDERR_LOG)).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map_or_else(|| "see its stderr.log".to_owned(), |l| l.to_owned())
}
