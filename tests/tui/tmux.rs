//! The real binary in a real terminal (tmux): open the demo workspace, go to pending
//! candidates, accept two, edit a plan step inline; mark two runs on the Runs screen
//! and see both named in the overlaid chart's legend; quit; then check the store.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use plantune_tui::config::Paths;
use plantune_tui::workspace::Workspace;

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

fn wait_for(session: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let screen = tmux(&["capture-pane", "-t", session, "-p"]);
        if screen.contains(needle) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {needle:?}; screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(session: &str, keys: &[&str]) {
    for key in keys {
        tmux(&["send-keys", "-t", session, key]);
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn accept_two_and_edit_one_in_a_real_terminal() {
    let home = tempfile::tempdir().unwrap();
    let ws_dir = home.path().join("demo");
    let binary = assert_cmd::cargo::cargo_bin("plantune-tui");
    let status = Command::new(&binary)
        .args(["init", "--demo", ws_dir.to_str().unwrap()])
        .env("PLANTUNE_CONFIG_DIR", home.path().join("config"))
        .output()
        .unwrap();
    assert!(status.status.success());
    let paths = Paths {
        config_dir: home.path().join("config"),
        data_dir: home.path().join("data"),
        cache_dir: home.path().join("cache"),
    };
    let ws = Workspace::open(&ws_dir, &paths).unwrap();
    let before = ws.store().unwrap().candidate_status_counts().unwrap();
    // Two runs' event files (a baseline and a plan-tuned SFT), as a worker writes them.
    for (name, scale) in [("base-sft", 1.0), ("plan-sft", 0.7)] {
        let dir = ws.runs_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut events = String::from(
            "{\"t\":0,\"kind\":\"run_started\",\"device\":\"cpu\",\"parameters\":1}\n",
        );
        for step in 1..=30u32 {
            events.push_str(&format!(
                "{{\"t\":{step},\"kind\":\"step\",\"step\":{step},\"loss\":{:.4},\"tokens_per_s\":100.0,\"elapsed_s\":{step}.0}}\n",
                scale * 2.0 / f64::from(step).sqrt()
            ));
        }
        std::fs::write(dir.join("events.jsonl"), events).unwrap();
    }

    let session = format!("plantune-e2e-{}", std::process::id());
    let command = format!(
        "PLANTUNE_CONFIG_DIR={} {} -w {}",
        home.path().join("config").display(),
        binary.display(),
        ws_dir.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
    wait_for(&session, "Curate");
    // Next pending, accept it; next pending, accept it.
    keys(&session, &["n", "a", "n", "a"]);
    // Edit the first plan step of the selected candidate inline and save.
    keys(&session, &["n", "e", "End"]);
    tmux(&["send-keys", "-t", &session, "-l", " (checked by hand)"]);
    keys(&session, &["C-s"]);
    wait_for(&session, "(checked by hand)");
    // Runs: mark both runs; the chart overlays them, the legend names both.
    keys(&session, &["2"]);
    wait_for(&session, "plan-sft");
    keys(&session, &["Space", "j", "Space"]);
    wait_for(&session, "━━ base-sft  ━━ plan-sft");
    keys(&session, &["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let alive = || {
        Command::new("tmux")
            .args(["has-session", "-t", &session])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    while alive() {
        assert!(Instant::now() < deadline, "the TUI did not quit on q");
        std::thread::sleep(Duration::from_millis(100));
    }

    let store = ws.store().unwrap();
    let after = store.candidate_status_counts().unwrap();
    assert_eq!(
        after.accepted,
        before.accepted + 2,
        "{before:?} -> {after:?}"
    );
    let edited = store
        .curation_page(
            &plantune_tui::workspace::store::CurationFilter {
                edited: Some(true),
                ..Default::default()
            },
            plantune_tui::workspace::store::CurationSort::ScoreDesc,
            0,
            10,
        )
        .unwrap();
    assert_eq!(edited.len(), 1);
    let candidate = store.candidate(edited[0].candidate_id).unwrap();
    assert!(
        candidate.fields.plan_steps[0].ends_with("(checked by hand)"),
        "{:?}",
        candidate.fields.plan_steps
    );
}
