//! The interactive demo in a real terminal (tmux): `demo` starts the training pipeline
//! detached and opens the TUI on Runs, whose step count moves while we watch; quitting
//! the TUI leaves the pipeline running, and reopening the workspace shows the run alive
//! (or finished).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux must be installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn capture(session: &str) -> String {
    tmux(&["capture-pane", "-t", session, "-p"])
}

/// Waits until `accept` finds what it wants on the screen.
fn wait_until<T>(session: &str, secs: u64, what: &str, accept: impl Fn(&str) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let screen = capture(session);
        if let Some(found) = accept(&screen) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}; screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The first "step N/M" on the screen.
fn step_shown(screen: &str) -> Option<u64> {
    let at = screen.find("step ")?;
    let digits: String = screen[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn session_alive(session: &str) -> bool {
    Command::new("tmux")
        .args(["has-session", "-t", session])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn start(session: &str, home: &Path, args: &str) {
    let binary = env!("CARGO_BIN_EXE_plantune-tui");
    let command = format!(
        "PLANTUNE_CONFIG_DIR={config} PLANTUNE_DATA_DIR={data} {binary} --threads 1 {args}; sleep 30",
        config = home.join("config").display(),
        data = home.join("data").display(),
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
}

/// Kills the detached pipeline (its own process group) however the test ends.
struct Pipeline(std::path::PathBuf);

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("run.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: sending a signal has no memory-safety preconditions.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn the_interactive_demo_streams_training_into_runs_and_outlives_the_tui() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("demo");
    let _cleanup = Pipeline(ws.join("demo-pipeline"));
    let session = format!("plantune-demo-{}", std::process::id());
    start(
        &session,
        home.path(),
        &format!(
            "-w {} demo --steps 400 --grpo-steps 2 --eval-limit 4 --max-new-tokens 48",
            ws.display()
        ),
    );
    // The TUI opens on Runs and the baseline run's step count moves.
    let first = wait_until(&session, 120, "a step count", step_shown);
    let later = wait_until(&session, 240, "the step count move", |screen| {
        step_shown(screen).filter(|s| *s != first)
    });
    assert!(later > first, "{first} -> {later}");

    tmux(&["send-keys", "-t", &session, "q"]);
    let screen = wait_until(&session, 20, "the goodbye line", |screen| {
        screen
            .contains("goes on in the background")
            .then(|| screen.to_owned())
    });
    assert!(screen.contains("demo-pipeline"), "{screen}");

    // Reopened, the workspace shows the run still going (or done), not dead. The new
    // session exists before the old one is killed: killing a server's last session
    // makes it exit, and a session created meanwhile fails with "server exited
    // unexpectedly".
    let first_session = session;
    let session = format!("{first_session}-reopened");
    start(&session, home.path(), &format!("-w {}", ws.display()));
    tmux(&["kill-session", "-t", &first_session]);
    std::thread::sleep(Duration::from_secs(2));
    tmux(&["send-keys", "-t", &session, "2"]);
    let status = wait_until(&session, 60, "the run's liveness", |screen| {
        ["running", "finished"]
            .into_iter()
            .find(|word| screen.contains(word))
            .map(str::to_owned)
    });
    let screen = capture(&session);
    assert!(!screen.contains("died"), "{screen}");
    eprintln!("reopened: the run shows as {status}");
    tmux(&["send-keys", "-t", &session, "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while session_alive(&session) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .output();
}
