//! The run as a detached process: it survives its launcher, SIGTERM (`runs stop`) makes
//! it checkpoint and end `stopped`, and `runs resume` finishes it from the checkpoint.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use plantune_tui::runlog::{RunEvent, RunStatus, read_all};

fn cli(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("plantune-tui").unwrap();
    cmd.env("PLANTUNE_CONFIG_DIR", home.join("config"))
        .env("PLANTUNE_DATA_DIR", home.join("data"))
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(home);
    cmd
}

fn events(ws: &Path, id: &str) -> Vec<RunEvent> {
    read_all(&ws.join("runs").join(id).join("events.jsonl"))
        .map(|all| all.events.into_iter().map(|e| e.event).collect())
        .unwrap_or_default()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_detached_run_stops_on_sigterm_and_resumes_to_completion() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("demo");
    cli(home.path())
        .args(["init", "--demo", ws.to_str().unwrap()])
        .assert()
        .success();
    let out = cli(home.path())
        .args([
            "-w",
            ws.to_str().unwrap(),
            "train",
            "sft",
            "--model",
            "tiny",
        ])
        .args([
            "--dataset",
            "plan1",
            "--max-steps",
            "30",
            "--batch",
            "2",
            "--lr",
            "1e-3",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("started in the background"), "{stdout}");
    let id = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sft-"))
        .unwrap()
        .to_owned();

    // The launcher has exited; the run goes on by itself.
    let steps = |ws: &Path| {
        events(ws, &id)
            .iter()
            .filter(|e| matches!(e, RunEvent::Step { .. }))
            .count()
    };
    wait_until("two steps", || steps(&ws) >= 2);
    cli(home.path())
        .args(["-w", ws.to_str().unwrap(), "runs", "stop", &id])
        .assert()
        .success();
    wait_until("run_finished", || {
        events(&ws, &id)
            .iter()
            .any(|e| matches!(e, RunEvent::RunFinished { .. }))
    });
    // run_finished is written before the process lets go of the run's lock.
    let run_dir = ws.join("runs").join(&id);
    wait_until("the worker to exit", || {
        !matches!(
            plantune_tui::jobs::liveness(&run_dir).unwrap(),
            plantune_tui::jobs::Liveness::Alive { .. }
        )
    });
    let stopped_at = steps(&ws);
    let log = events(&ws, &id);
    assert!(
        log.iter().any(|e| matches!(
            e,
            RunEvent::RunFinished {
                status: RunStatus::Stopped,
                ..
            }
        )),
        "{log:?}"
    );
    assert!(log.iter().any(|e| matches!(e, RunEvent::Checkpoint { .. })));
    assert!(stopped_at < 30, "the run finished before the stop arrived");

    cli(home.path())
        .args([
            "-w",
            ws.to_str().unwrap(),
            "runs",
            "resume",
            &id,
            "--foreground",
        ])
        .assert()
        .success();
    let log = events(&ws, &id);
    let last_step = log
        .iter()
        .filter_map(|e| match e {
            RunEvent::Step { step, .. } => Some(*step),
            _ => None,
        })
        .max();
    assert_eq!(last_step, Some(30));
    assert!(matches!(
        log.last(),
        Some(RunEvent::RunFinished {
            status: RunStatus::Completed,
            ..
        })
    ));
    cli(home.path())
        .args(["-w", ws.to_str().unwrap(), "runs", "list"])
        .assert()
        .success()
        .stdout(predicates::str::contains("completed"));
    assert!(
        ws.join("runs")
            .join(&id)
            .join("final/model.safetensors")
            .is_file()
    );
}
