//! The real binary on the real SmolLM2-135M-Instruct: evaluation in two modes with a
//! kill -9 in the middle (the resumed table equals an uninterrupted run's), and a short
//! LoRA SFT run in plan1 form whose events `runs tail` renders.

#![allow(clippy::unwrap_used)]

use crate::common;
use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use plantune_tui::config::Paths;
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::{NewCandidate, Sampling};
use plantune_tui::workspace::store::{EditField, FieldChange, PredictionKey};

fn cli(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("plantune-tui").unwrap();
    cmd.env("PLANTUNE_CONFIG_DIR", home.join("config"))
        .env("PLANTUNE_DATA_DIR", home.join("data"))
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(home);
    cmd
}

fn paths(home: &Path) -> Paths {
    Paths {
        config_dir: home.join("config"),
        data_dir: home.join("data"),
        cache_dir: home.join("cache"),
    }
}

/// A workspace with the GSM8K sample (train split) and SmolLM2 imported into it.
fn workspace(home: &Path) -> std::path::PathBuf {
    let ws = home.join("ws");
    cli(home)
        .args(["init", ws.to_str().unwrap()])
        .assert()
        .success();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/gsm8k_sample.jsonl"
    );
    cli(home)
        .args([
            "-w",
            ws.to_str().unwrap(),
            "import",
            sample,
            "--format",
            "gsm8k",
            "--split",
            "train",
        ])
        .assert()
        .success();
    cli(home)
        .args(["-w", ws.to_str().unwrap(), "model", "import"])
        .arg(common::smollm2::gguf_path())
        .args(["--out", ws.join("models/smollm2").to_str().unwrap()])
        .assert()
        .success();
    ws
}

fn eval_args(ws: &Path, name: &str, mode: &str) -> Vec<String> {
    [
        "-w",
        ws.to_str().unwrap(),
        "eval",
        "--model",
        "models/smollm2",
        "--name",
        name,
        "--benchmark",
        "gsm8k/train",
        "--mode",
        mode,
        "--limit",
        "10",
        "--batch",
        "2",
        "--max-new-tokens",
        "40",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[test]
fn eval_survives_kill_9_and_two_modes_are_reported() {
    let home = tempfile::tempdir().unwrap();
    let ws_dir = workspace(home.path());
    let ws = Workspace::open(&ws_dir, &paths(home.path())).unwrap();

    cli(home.path())
        .args(eval_args(&ws_dir, "straight", "zero-shot-cot"))
        .assert()
        .success();

    // The same evaluation, killed with SIGKILL once a batch is stored, then resumed.
    let binary = assert_cmd::cargo::cargo_bin("plantune-tui");
    let mut child = Process::new(&binary)
        .args(eval_args(&ws_dir, "killed", "zero-shot-cot"))
        .env("RAYON_NUM_THREADS", "1")
        .env("PLANTUNE_CONFIG_DIR", home.path().join("config"))
        .spawn()
        .unwrap();
    let key = |name: &str| PredictionKey {
        model: name.into(),
        benchmark: "gsm8k/train".into(),
        mode: "zero_shot_cot".into(),
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let stored = ws
            .store()
            .unwrap()
            .predictions(&key("killed"))
            .unwrap()
            .len();
        if stored >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no batch was stored in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the evaluation ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = ws
        .store()
        .unwrap()
        .predictions(&key("killed"))
        .unwrap()
        .len();
    assert!(
        partial < 10,
        "killed too late to test resuming ({partial} stored)"
    );
    cli(home.path())
        .args(eval_args(&ws_dir, "killed", "zero-shot-cot"))
        .assert()
        .success()
        .stdout(predicates::str::contains("already stored"));

    let store = ws.store().unwrap();
    let straight = store.predictions(&key("straight")).unwrap();
    let resumed = store.predictions(&key("killed")).unwrap();
    assert_eq!(straight.len(), 10);
    assert_eq!(resumed.len(), 10);
    for (a, b) in straight.iter().zip(&resumed) {
        assert_eq!(a.fields.problem_id, b.fields.problem_id);
        assert_eq!(
            a.fields.output, b.fields.output,
            "problem {}",
            a.fields.problem_id
        );
        assert_eq!(a.fields.correct, b.fields.correct);
    }
    drop(store);

    // Method 2 (plan, then execution) on the same problems, then the report.
    cli(home.path())
        .args(eval_args(&ws_dir, "straight", "plan2pass"))
        .assert()
        .success();
    let plan2 = ws
        .store()
        .unwrap()
        .predictions(&PredictionKey {
            mode: "plan_2pass".into(),
            ..key("straight")
        })
        .unwrap();
    assert_eq!(plan2.len(), 10);
    assert!(plan2.iter().all(|p| p.fields.output.starts_with("Plan:\n")));
    assert!(plan2.iter().all(|p| !p.fields.reason.is_empty()));
    cli(home.path())
        .args([
            "-w",
            ws_dir.to_str().unwrap(),
            "report",
            "--format",
            "markdown",
        ])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("| straight | gsm8k/train | zero_shot_cot | 10 |").and(
                predicates::str::contains("| straight | gsm8k/train | plan_2pass | 10 |"),
            ),
        );
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn a_short_lora_sft_run_in_plan1_form_is_tailed() {
    let home = tempfile::tempdir().unwrap();
    let ws_dir = workspace(home.path());
    let ws = Workspace::open(&ws_dir, &paths(home.path())).unwrap();
    {
        // Plan-form trajectories written from the gold solutions: one step per line.
        let mut store = ws.store().unwrap();
        let problems = store.problems(Some("gsm8k"), Some("train")).unwrap();
        let candidates: Vec<NewCandidate> = problems
            .iter()
            .take(6)
            .map(|p| {
                let lines: Vec<String> = p
                    .fields
                    .gold_solution
                    .clone()
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect();
                let plan: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        format!("{}. Work out: {}", i + 1, l.split('=').next().unwrap_or(l))
                    })
                    .collect();
                NewCandidate {
                    problem_id: p.id,
                    teacher: "gold".into(),
                    plan_index: 0,
                    constraints: "- use the numbers given".into(),
                    plan: plan.join("\n"),
                    plan_steps: plan,
                    execution: format!(
                        "{}\nThe answer is \\boxed{{{}}}.",
                        lines.join("\n"),
                        p.fields.gold_answer
                    ),
                    extracted_answer: Some(p.fields.gold_answer.clone()),
                    correct: Some(true),
                    grade_reason: String::new(),
                    judge_score: Some(90),
                    judge_reason: "Score: 90".into(),
                    sampling: Sampling::default(),
                }
            })
            .collect();
        store.insert_candidates(&candidates).unwrap();
        let ids: Vec<i64> = store
            .candidates_with_status(plantune_tui::workspace::records::CandidateStatus::Pending)
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        let accept: Vec<FieldChange> = ids
            .into_iter()
            .map(|id| FieldChange::new(id, EditField::Status, "accepted"))
            .collect();
        store.apply_changes(&accept).unwrap();
    }
    let out = cli(home.path())
        .args([
            "-w",
            ws_dir.to_str().unwrap(),
            "train",
            "sft",
            "--model",
            "models/smollm2",
        ])
        .args([
            "--dataset",
            "plan1",
            "--lora",
            "8",
            "--max-steps",
            "3",
            "--batch",
            "2",
        ])
        .args(["--lr", "1e-4", "--foreground"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let id = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sft-"))
        .unwrap()
        .to_owned();
    let tail = cli(home.path())
        .args(["-w", ws_dir.to_str().unwrap(), "runs", "tail", &id])
        .output()
        .unwrap();
    let text = String::from_utf8(tail.stdout).unwrap();
    assert!(text.contains("run started on cpu"), "{text}");
    assert!(text.contains("step 3/3"), "{text}");
    assert!(text.contains("run finished: completed"), "{text}");
    let adapter = ws_dir.join("runs").join(&id).join("final");
    assert!(adapter.join("adapter_model.safetensors").is_file());
    assert!(adapter.join("adapter_config.json").is_file());
    let card = std::fs::read_to_string(adapter.join("README.md")).unwrap();
    assert!(card.starts_with("---\nbase_model: "), "{card}");
    assert!(card.contains("library_name: peft"), "{card}");
}
