//! The CLI on real workspaces: init, status, doctor, config errors.

use assert_cmd::Command;
use predicates::prelude::*;

fn cli(home: &std::path::Path) -> Command {
    let mut cmd =
        Command::cargo_bin("plantune-tui").expect("the binary is built for integration tests");
    cmd.env("PLANTUNE_CONFIG_DIR", home.join("config"))
        .env("PLANTUNE_DATA_DIR", home.join("data"))
        .env("PLANTUNE_CACHE_DIR", home.join("cache"))
        .env_remove("PLANTUNE_WORKSPACE")
        .current_dir(home);
    cmd
}

#[test]
fn init_then_status_json_reports_an_empty_workspace() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    cli(home.path())
        .args(["init", ws.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("initialised workspace ws"));
    let out = cli(home.path())
        .args(["--workspace", ws.to_str().unwrap(), "status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["workspace"], "ws");
    assert_eq!(report["candidates"]["pending"], 0);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn a_config_typo_is_reported_with_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    cli(home.path())
        .args(["init", ws.to_str().unwrap()])
        .assert()
        .success();
    std::fs::write(ws.join("plantune.toml"), "[distill]\nn_plan = 3\n").unwrap();
    cli(home.path())
        .args(["--workspace", ws.to_str().unwrap(), "status"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("plantune.toml:2:").and(predicate::str::contains("n_plan")),
        );
}

#[test]
fn doctor_prints_every_path() {
    let home = tempfile::tempdir().unwrap();
    cli(home.path()).arg("doctor").assert().success().stdout(
        predicate::str::contains("config dir")
            .and(predicate::str::contains(
                home.path().join("config").to_str().unwrap(),
            ))
            .and(predicate::str::contains("user themes"))
            .and(predicate::str::contains("data dir")),
    );
}

#[test]
fn status_outside_a_workspace_says_how_to_create_one() {
    let home = tempfile::tempdir().unwrap();
    cli(home.path())
        .args(["--workspace", "nowhere", "status"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("plantune-tui init"));
}

#[test]
fn runs_tail_renders_events_and_flags_a_torn_line() {
    use plantune_tui::runlog::{EventWriter, RunEvent, RunStatus};
    use std::io::Write;
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    cli(home.path())
        .args(["init", ws.to_str().unwrap()])
        .assert()
        .success();
    let run_dir = ws.join("runs/sft-1");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mut events = EventWriter::open(&run_dir.join("events.jsonl")).unwrap();
    events
        .write(RunEvent::Log {
            level: "info".into(),
            message: "hello \u{1b}]52;c;AAAA\u{7}world".into(),
        })
        .unwrap();
    events
        .write(RunEvent::RunFinished {
            status: RunStatus::Stopped,
            error: None,
        })
        .unwrap();
    let mut raw = std::fs::OpenOptions::new()
        .append(true)
        .open(run_dir.join("events.jsonl"))
        .unwrap();
    raw.write_all(b"{\"t\":1,\"kind\":\"st").unwrap();
    let out = cli(home.path())
        .args(["--workspace", ws.to_str().unwrap(), "runs", "tail", "sft-1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[info] hello world"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape sequences reached the terminal"
    );
    assert!(text.contains("run finished: stopped"), "{text}");
    assert!(text.contains("the last line is incomplete"), "{text}");
}

#[test]
fn import_is_idempotent_and_a_bad_row_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    cli(home.path())
        .args(["init", ws.to_str().unwrap()])
        .assert()
        .success();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/gsm8k_sample.jsonl"
    );
    let import = |file: &str| {
        cli(home.path())
            .args(["--workspace", ws.to_str().unwrap(), "import", file])
            .args(["--format", "gsm8k", "--split", "train"])
            .assert()
    };
    import(sample)
        .success()
        .stdout(predicate::str::contains("25 new, 0 already present"));
    import(sample)
        .success()
        .stdout(predicate::str::contains("0 new, 25 already present"));

    let bad = home.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"question\": \"q1\", \"answer\": \"1 #### 1\"}\n{\"question\": \"q2\"}\n",
    )
    .unwrap();
    import(bad.to_str().unwrap())
        .failure()
        .stderr(predicate::str::contains("bad.jsonl:2:").and(predicate::str::contains("answer")));
    let out = cli(home.path())
        .args(["--workspace", ws.to_str().unwrap(), "status", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["problems"][0]["count"], 25,
        "the failed import wrote nothing"
    );
}

#[test]
fn the_same_content_under_another_file_name_is_reported_not_stored_twice() {
    let home = tempfile::tempdir().unwrap();
    let ws = home.path().join("ws");
    cli(home.path())
        .args(["init", ws.to_str().unwrap()])
        .assert()
        .success();
    // No id and no dataset field: the dataset is named after the file.
    let rows: String = (0..25)
        .map(|i| {
            format!(
                "{{\"question\": \"What is {i} + 1?\", \"answer\": \"{}\"}}\n",
                i + 1
            )
        })
        .collect();
    let (a, b) = (home.path().join("a.jsonl"), home.path().join("b.jsonl"));
    std::fs::write(&a, &rows).unwrap();
    std::fs::write(&b, &rows).unwrap();
    let import = |file: &std::path::Path| {
        cli(home.path())
            .args(["--workspace", ws.to_str().unwrap(), "import"])
            .arg(file)
            .args(["--format", "jsonl", "--split", "train"])
            .assert()
    };
    import(&a)
        .success()
        .stdout(predicate::str::contains("25 new"));
    import(&b)
        .success()
        .stdout(predicate::str::contains("0 new"))
        .stderr(
            predicate::str::contains("25 problems are already stored under another name")
                .and(predicate::str::contains("(e.g. a/sha256:"))
                .and(predicate::str::contains("content hash")),
        );
}
