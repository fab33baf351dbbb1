//! Hostile input through the command line: no escape sequence, C1 control or bidi
//! override that a file, a name or an argument carries reaches stdout or stderr, and
//! no run-taking command touches anything but an existing run's folder.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// What a terminal would obey: OSC 52 (clipboard), OSC 0 (title), a screen clear, the
/// 8-bit CSI, bidi overrides and isolates, BEL and NUL.
const HOSTILE: &str =
    "\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}\u{2067}\u{7}\u{0}x";

fn cli(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("plantune-tui").unwrap();
    cmd.env("PLANTUNE_CONFIG_DIR", home.join("config"))
        .env("PLANTUNE_DATA_DIR", home.join("data"))
        .env("PLANTUNE_CACHE_DIR", home.join("cache"))
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("PLANTUNE_WORKSPACE")
        .current_dir(home);
    cmd
}

/// The first character a terminal would act on, if any.
fn forbidden(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

fn assert_clean(what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        if let Some(c) = forbidden(&text) {
            panic!("{what}: {stream} holds {c:?}: {text:?}");
        }
    }
}

fn run(home: &Path, args: &[&str]) -> Output {
    cli(home).args(args).output().unwrap()
}

fn init(home: &Path) -> PathBuf {
    let ws = home.join("ws");
    let out = run(home, &["init", ws.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    ws
}

#[test]
fn no_command_echoes_an_escape_sequence() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let ws = init(home);
    let w = ws.to_str().unwrap();

    // grade --verbose prints ids, predictions and answers; a duplicate id is an error
    // that quotes the id.
    let preds = home.join("preds.jsonl");
    let row = |id: &str| {
        serde_json::json!({"id": id, "prediction": HOSTILE, "answer": HOSTILE}).to_string()
    };
    std::fs::write(&preds, format!("{}\n{}\n", row(HOSTILE), row("b"))).unwrap();
    let out = run(home, &["grade", preds.to_str().unwrap(), "--verbose"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.is_empty());
    assert_clean("grade --verbose", &out);
    let json = run(home, &["grade", preds.to_str().unwrap(), "--json"]);
    assert_clean("grade --json", &json);
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&json.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["id"], HOSTILE, "--json stays exact");
    // An import error quotes the duplicate id.
    let dup = home.join("dup.jsonl");
    let item = |answer: &str| {
        serde_json::json!({"id": HOSTILE.replace('\0', ""), "question": "q", "answer": answer})
            .to_string()
    };
    std::fs::write(&dup, format!("{}\n{}\n", item("1"), item("2"))).unwrap();
    let out = run(
        home,
        &[
            "-w",
            w,
            "import",
            dup.to_str().unwrap(),
            "--format",
            "jsonl",
            "--split",
            "t",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate id"));
    assert_clean("import duplicate id", &out);

    // import: a hostile file name and split, then status.
    let name = format!("data{}.jsonl", HOSTILE.replace('\0', ""));
    let file = home.join(&name);
    std::fs::write(
        &file,
        "{\"question\": \"What is 2+2?\", \"answer\": \"#### 4\"}\n",
    )
    .unwrap();
    let split = format!("train{}", HOSTILE.replace('\0', ""));
    let out = run(
        home,
        &[
            "-w",
            w,
            "import",
            file.to_str().unwrap(),
            "--format",
            "gsm8k",
        ],
    );
    assert_clean("import without split", &out);
    let out = run(
        home,
        &[
            "-w",
            w,
            "import",
            file.to_str().unwrap(),
            "--format",
            "gsm8k",
            "--split",
            &split,
        ],
    );
    assert_clean("import", &out);
    let out = run(home, &["-w", w, "status"]);
    assert!(out.status.success(), "{out:?}");
    assert_clean("status", &out);
    let out = run(home, &["-w", w, "status", "--json"]);
    assert_clean("status --json", &out);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();

    // Arguments echoed in errors.
    let h = HOSTILE.replace('\0', "");
    let bench = format!("{h}/test");
    let key = format!("{h}:b:m");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("runs list", vec!["-w", w, "runs", "list"]),
        ("runs tail", vec!["-w", w, "runs", "tail", &h]),
        ("runs stop", vec!["-w", w, "runs", "stop", &h]),
        ("runs resume", vec!["-w", w, "runs", "resume", &h]),
        ("report", vec!["-w", w, "report"]),
        (
            "report --compare",
            vec!["-w", w, "report", "--compare", &key, &key],
        ),
        (
            "distill",
            vec!["-w", w, "distill", "--split", &h, "--limit", "1"],
        ),
        (
            "eval",
            vec![
                "-w",
                w,
                "eval",
                "--model",
                &h,
                "--benchmark",
                &bench,
                "--mode",
                "direct",
            ],
        ),
        ("generate", vec!["-w", w, "generate", "--model", &h, "hi"]),
        ("serve", vec!["-w", w, "serve", &h, "--port", "0"]),
        ("train worker", vec!["-w", w, "train", "worker", &h]),
    ];
    for (what, args) in cases {
        let out = run(home, &args);
        assert_clean(what, &out);
    }
}

/// Every file under `root` with its size and modification time, and every folder.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            // A folder's own time changes when SQLite makes and removes its journal
            // beside the store; what counts is what is in it.
            if meta.is_dir() {
                stack.push(entry.path());
                files.insert(entry.path(), (0, std::time::UNIX_EPOCH));
            } else {
                files.insert(entry.path(), (meta.len(), meta.modified().unwrap()));
            }
        }
    }
    files
}

#[test]
fn run_taking_commands_refuse_anything_but_an_existing_run() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let ws = init(home);
    let w = ws.to_str().unwrap();
    // A run folder that exists but is not a run (no run.toml), and a folder outside.
    std::fs::create_dir_all(ws.join("runs").join("half")).unwrap();
    let outside = home.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let outside_s = outside.to_str().unwrap().to_owned();
    let names = [
        "..",
        "../../x",
        "../outside",
        outside_s.as_str(),
        "",
        "nonexist",
        "half",
        ".",
        "a/b",
    ];
    let before = snapshot(home);
    for name in names {
        let commands: [&[&str]; 6] = [
            &["runs", "resume", name],
            &["runs", "resume", name, "--foreground"],
            &["runs", "stop", name],
            &["runs", "tail", name],
            &["runs", "tail", name, "--follow"],
            &["train", "worker", name],
        ];
        for command in commands {
            let out = cli(home).args(["-w", w]).args(command).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command:?} succeeded: {out:?}");
            let reasons = [
                "not a run id",
                "no run ",
                "has no run.toml",
                "has neither run.toml nor events.jsonl",
                "is not running",
            ];
            assert!(
                reasons.iter().any(|r| stderr.contains(r)),
                "{command:?}: {stderr}"
            );
        }
    }
    let after = snapshot(home);
    assert_eq!(before, after, "a refused command changed the tree");
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn raw_steps(events: &[plantune_tui::runlog::TimedEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e.event {
            plantune_tui::runlog::RunEvent::Step { step, .. } => Some(step),
            _ => None,
        })
        .collect()
}

/// kill -9 between checkpoints, then two resumes at once: one wins, the other fails
/// with the reason on its own stderr; the finished run's events fold to each step once.
#[test]
fn a_run_killed_between_checkpoints_resumes_and_counts_each_step_once() {
    use plantune_tui::runlog::{RunEvent, read_all, steps_by_attempt};
    use plantune_tui::runs::RunSummary;

    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let ws = home.join("demo");
    let w = ws.to_str().unwrap();
    let out = run(home, &["init", "--demo", w]);
    assert!(out.status.success(), "{out:?}");
    let config = home.join("run.toml");
    std::fs::write(
        &config,
        "model = \"tiny\"\ndataset = \"plan1\"\n[sft]\nmax_steps = 30\nepochs = 100\n\
         batch_size = 2\nlr = 1e-3\ncheckpoint_every = 10\n",
    )
    .unwrap();
    let out = run(
        home,
        &[
            "-w",
            w,
            "train",
            "sft",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let id = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sft-"))
        .unwrap()
        .to_owned();
    let dir = ws.join("runs").join(&id);
    let events = || read_all(&dir.join("events.jsonl")).unwrap().events;
    let checkpoints = |events: &[plantune_tui::runlog::TimedEvent]| {
        events
            .iter()
            .filter_map(|e| match e.event {
                RunEvent::Checkpoint { step, .. } => Some(step),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    };
    // Past the first checkpoint (10) and before the second.
    wait_until("step 12", || raw_steps(&events()).iter().any(|&s| s >= 12));
    let pid: i32 = std::fs::read_to_string(dir.join("run.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: a signal to the run's own worker, which this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    wait_until("the worker to die", || {
        !matches!(
            plantune_tui::jobs::liveness(&dir).unwrap(),
            plantune_tui::jobs::Liveness::Alive { .. }
        )
    });
    let before = events();
    let killed_at = *raw_steps(&before).iter().max().unwrap();
    let checkpointed = checkpoints(&before);
    assert!(
        killed_at > checkpointed && checkpointed > 0,
        "killed at step {killed_at}, last checkpoint {checkpointed}: not between checkpoints"
    );

    // Two resumes at once.
    let resume = || {
        cli(home)
            .args(["-w", w, "runs", "resume", &id])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(resume);
        let b = s.spawn(resume);
        (a.join().unwrap(), b.join().unwrap())
    });
    let outcomes = [&a, &b];
    let winners = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "{a:?}\n{b:?}");
    let loser = outcomes.iter().find(|o| !o.status.success()).unwrap();
    let reason = String::from_utf8_lossy(&loser.stderr);
    assert!(
        // Which refusal the loser meets depends on timing: the winner's lock (already
        // running), its live worker seen before locking (still running), or its end.
        reason.contains("already running (pid")
            || reason.contains("still running (pid")
            || reason.contains("already completed"),
        "{reason}"
    );

    wait_until("run_finished", || {
        events().iter().any(|e| {
            matches!(
                e.event,
                RunEvent::RunFinished {
                    status: plantune_tui::runlog::RunStatus::Completed,
                    ..
                }
            )
        })
    });
    // The registry follows run_finished once the worker lets go of the lock.
    wait_until("the worker to exit", || {
        !matches!(
            plantune_tui::jobs::liveness(&dir).unwrap(),
            plantune_tui::jobs::Liveness::Alive { .. }
        )
    });
    let all = events();
    let raw = raw_steps(&all);
    assert!(
        raw.len() > 30,
        "the resume replayed steps {}..={killed_at}",
        checkpointed + 1
    );
    let folded = steps_by_attempt(&all);
    assert_eq!(
        folded.keys().copied().collect::<Vec<_>>(),
        (1..=30).collect::<Vec<u64>>()
    );
    for step in checkpointed + 1..=killed_at {
        assert_eq!(folded[&step].0, 2, "step {step} belongs to the resume");
    }
    let summary = RunSummary::read(&dir.join("events.jsonl")).unwrap();
    assert_eq!(summary.steps(), 30);
    assert_eq!(summary.attempts.current, 2);
    assert_eq!(summary.attempts.resumes, vec![(2, checkpointed + 1)]);

    // A completed run is not resumed.
    let out = run(home, &["-w", w, "runs", "resume", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already completed"));
}
