//! Detached run processes: spawning them in their own session (and starting copies of
//! this program), the lock that says a run is alive, heartbeats, and stopping them
//! with SIGTERM.
//!
//! Liveness comes from an `flock` held by the run for its whole life, not from the pid
//! alone: a pid can be reused by an unrelated process after a crash, a lock cannot
//! outlive its holder.

mod launch;
mod signals;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use launch::{Launcher, reap_when_done, wait_for_start};
pub use signals::{StopFlag, install_stop_handler};

/// The files a job keeps in its folder.
pub const LOCK_FILE: &str = "run.lock";
pub const PID_FILE: &str = "run.pid";
pub const HEARTBEAT_FILE: &str = "heartbeat";
pub const STDOUT_LOG: &str = "stdout.log";
pub const STDERR_LOG: &str = "stderr.log";
pub const NOTES_LOG: &str = "notes.log";
/// Attempts, 25 ms apart, to take a busy run lock before it counts as held.
const LOCK_TRIES: u32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("run in {} is already running (pid {pid})", dir.display())]
    AlreadyRunning { dir: PathBuf, pid: i64 },
    #[error("the worker for {} exited before taking the run's lock: {last_error}", dir.display())]
    WorkerFailed { dir: PathBuf, last_error: String },
    #[error("run in {} is not running", dir.display())]
    NotRunning { dir: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JobError + '_ {
    move |source| JobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Starts `command` detached: its own session (so closing the terminal or dropping the
/// SSH connection sends it no SIGHUP), stdin from /dev/null, output to log files in the
/// run directory. Returns the child's pid.
pub fn spawn_detached(command: &mut Command, run_dir: &Path) -> Result<u32, JobError> {
    std::fs::create_dir_all(run_dir).map_err(io_err(run_dir))?;
    let stdout_path = run_dir.join(STDOUT_LOG);
    let stderr_path = run_dir.join(STDERR_LOG);
    let open_log = |path: &Path| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))
    };
    let stdout = open_log(&stdout_path)?;
    let stderr = open_log(&stderr_path)?;
    command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(io_err(run_dir))?;
    Ok(child.id())
}

/// Held by a running run for its whole life; dropping it (or dying) releases it.
pub struct RunLock {
    _file: File,
    dir: PathBuf,
}

fn try_flock(file: &File) -> std::io::Result<bool> {
    // SAFETY: plain syscall on a valid, owned descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

fn read_pid(dir: &Path) -> Option<i64> {
    std::fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl RunLock {
    /// Takes the run's lock and records this process's pid.
    pub fn acquire(dir: &Path) -> Result<Self, JobError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        // [`liveness`] probes by taking the lock for an instant: a busy lock is retried
        // for a moment so that a probe is not mistaken for a live holder.
        let mut tries = 0;
        while !try_flock(&file).map_err(io_err(&path))? {
            tries += 1;
            if tries < LOCK_TRIES {
                std::thread::sleep(Duration::from_millis(25));
                continue;
            }
            return Err(JobError::AlreadyRunning {
                dir: dir.to_path_buf(),
                pid: read_pid(dir).unwrap_or(-1),
            });
        }
        let pid_path = dir.join(PID_FILE);
        crate::workspace::fsutil::atomic_write(
            &pid_path,
            std::process::id().to_string().as_bytes(),
        )
        .map_err(io_err(&pid_path))?;
        Ok(Self {
            _file: file,
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Some process holds the run's lock.
    Alive { pid: Option<i64> },
    /// Nobody holds the lock: the run ended (cleanly or not).
    Dead { last_pid: Option<i64> },
    /// The run never started (no lock file).
    NeverStarted,
}

pub fn liveness(dir: &Path) -> Result<Liveness, JobError> {
    let path = dir.join(LOCK_FILE);
    let file = match OpenOptions::new().write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Liveness::NeverStarted),
        Err(source) => return Err(JobError::Io { path, source }),
    };
    let pid = read_pid(dir);
    // Taking the lock means nobody else has it; the probe's lock is released when
    // `file` is dropped at the end of this function.
    if try_flock(&file).map_err(io_err(&path))? {
        Ok(Liveness::Dead { last_pid: pid })
    } else {
        Ok(Liveness::Alive { pid })
    }
}

/// Asks a running run to stop: SIGTERM, which makes it finish its step, checkpoint and
/// end with status `stopped`.
pub fn request_stop(dir: &Path) -> Result<i64, JobError> {
    match liveness(dir)? {
        Liveness::Alive { pid: Some(pid) } if pid > 0 => {
            // SAFETY: sending a signal has no memory-safety preconditions.
            let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            if rc != 0 {
                return Err(io_err(dir)(std::io::Error::last_os_error()));
            }
            Ok(pid)
        }
        _ => Err(JobError::NotRunning {
            dir: dir.to_path_buf(),
        }),
    }
}

/// Writes the current time to the run's heartbeat file every `interval` until dropped,
/// so viewers can tell a stalled run from a busy one.
pub struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(dir: &Path, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let path = dir.join(HEARTBEAT_FILE);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let now = crate::workspace::store::now_ms().to_string();
                // A missed beat is harmless; the next one retries.
                let _ = crate::workspace::fsutil::atomic_write(&path, now.as_bytes());
                let mut slept = Duration::ZERO;
                while slept < interval && !flag.load(Ordering::Relaxed) {
                    let step = Duration::from_millis(50);
                    std::thread::sleep(step);
                    slept += step;
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Milliseconds since the last heartbeat, if the run ever wrote one.
pub fn heartbeat_age_ms(dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join(HEARTBEAT_FILE)).ok()?;
    let beat: i64 = text.trim().parse().ok()?;
    Some(crate::workspace::store::now_ms() - beat)
}

/// Appends one line to a plain log in the run directory (used before the events file
/// exists, e.g. when a spawn fails).
pub fn append_note(dir: &Path, line: &str) -> Result<(), JobError> {
    let path = dir.join(NOTES_LOG);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    writeln!(file, "{line}").map_err(io_err(&path))
}

#[cfg(test)]
mod tests;
