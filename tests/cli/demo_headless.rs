//! `plantune-tui demo --headless` end to end on a small budget (the README's main
//! command, cut down to fit CI, with two training seeds): every stage leaves its
//! artefacts, the Markdown and JSON reports are recomputable from the stored predictions
//! alone, and a second run reuses the trained students and reproduces the reports.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use plantune_tui::config::Paths;
use plantune_tui::demo::pipeline;
use plantune_tui::demo::report::{SPLITS, STUDENTS, prediction_key};
use plantune_tui::demo::student::DemoStudent;
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::CandidateStatus;

const EVAL_LIMIT: usize = 6;
const SEEDS: u32 = 2;

fn paths(root: &Path) -> Paths {
    Paths {
        config_dir: root.join("config"),
        data_dir: root.join("data"),
        cache_dir: root.join("cache"),
    }
}

fn demo(root: &Path, ws: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_plantune-tui"))
        .arg("--workspace")
        .arg(ws)
        .args(["--threads", "2", "demo", "--headless"])
        .args([
            "--steps",
            "8",
            "--grpo-steps",
            "2",
            "--max-new-tokens",
            "48",
        ])
        .args(["--eval-limit", &EVAL_LIMIT.to_string()])
        .args(["--seeds", &SEEDS.to_string()])
        .env("PLANTUNE_CONFIG_DIR", root.join("config"))
        .env("PLANTUNE_DATA_DIR", root.join("data"))
        .env("PLANTUNE_CACHE_DIR", root.join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// (correct, samples) of the first and last half of a GRPO run's steps, counted from
/// its events: each step's sampled accuracy times the prompts × group it sampled.
fn rollout_halves(events: &Path) -> ((u64, u64), (u64, u64)) {
    let text = std::fs::read_to_string(events).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let config = &lines.iter().find(|e| e["kind"] == "run_started").unwrap()["config"]["grpo"];
    let per_step =
        config["prompts_per_step"].as_u64().unwrap() * config["group_size"].as_u64().unwrap();
    let steps: std::collections::BTreeMap<u64, f64> = lines
        .iter()
        .filter(|e| e["kind"] == "step")
        .map(|e| (e["step"].as_u64().unwrap(), e["accuracy"].as_f64().unwrap()))
        .collect();
    let accuracies: Vec<f64> = steps.into_values().collect();
    let k = accuracies.len() / 2;
    assert!(k > 0, "{}: too few steps", events.display());
    let count = |part: &[f64]| {
        let correct = part
            .iter()
            .map(|a| (a * per_step as f64).round() as u64)
            .sum::<u64>();
        (correct, per_step * part.len() as u64)
    };
    (
        count(&accuracies[..k]),
        count(&accuracies[accuracies.len() - k..]),
    )
}

#[test]
fn the_headless_demo_leaves_every_artefact_and_a_recomputable_report() {
    let tmp = tempfile::tempdir().unwrap();
    let ws_dir = tmp.path().join("demo");
    let stdout = demo(tmp.path(), &ws_dir);
    for stage in [
        "SFT baseline",
        "SFT plan-tuned",
        "GRPO plan-tuned",
        "GRPO plan-tuned, seed 2",
        "evaluation",
        "total",
    ] {
        assert!(stdout.contains(stage), "no timing for {stage}:\n{stdout}");
    }

    let ws = Workspace::open(&ws_dir, &paths(tmp.path())).unwrap();
    let store = ws.store().unwrap();
    assert!(store.candidate_status_counts().unwrap().total() > 0);
    let accepted = store
        .candidates_with_status(CandidateStatus::Accepted)
        .unwrap();
    assert!(!accepted.is_empty(), "auto-curation accepted nothing");

    // Three trained students per seed, each a loadable model directory.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(pipeline::pipeline_dir(&ws).join("pipeline.json")).unwrap(),
    )
    .unwrap();
    let runs = state["runs"].as_object().unwrap();
    assert_eq!(runs.len(), 3 * SEEDS as usize, "{state}");
    for id in runs.values() {
        let id = id.as_str().unwrap();
        assert_eq!(store.run(id).unwrap().status, "completed");
        let final_dir = ws.runs_dir().join(id).join("final");
        assert!(
            final_dir.join("config.json").is_file(),
            "{id}: no final model"
        );
        assert!(
            final_dir.join("model.safetensors").is_file(),
            "{id}: no weights"
        );
    }

    // Predictions for every student × seed × split, and reports made from them alone.
    let mut counted = std::collections::BTreeMap::new();
    for (student, mode) in STUDENTS {
        for split in SPLITS {
            for seed in 1..=SEEDS {
                let key = prediction_key(student, mode, seed, split);
                let predictions = store.predictions(&key).unwrap();
                assert_eq!(predictions.len(), EVAL_LIMIT, "{key:?}");
                let right = predictions.iter().filter(|p| p.fields.correct).count() as u64;
                counted.insert((student, split, seed), right);
            }
        }
    }
    let recomputed = pipeline::report(&ws, SEEDS, DemoStudent::Tiny, &[]).unwrap();
    let written = std::fs::read_to_string(ws.exports_dir().join("demo-report.md")).unwrap();
    assert_eq!(recomputed.markdown, written);
    let json_text = std::fs::read_to_string(ws.exports_dir().join("demo-report.json")).unwrap();
    assert_eq!(recomputed.json(), json_text);
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let accuracy = json["accuracy"].as_array().unwrap();
    // Each seed and the pooled row for 3 students × 2 splits.
    assert_eq!(accuracy.len(), 3 * 2 * (SEEDS as usize + 1));
    for row in accuracy {
        let (student, split) = (
            row["model"].as_str().unwrap(),
            row["benchmark"].as_str().unwrap(),
        );
        let expected: u64 = match row["seed"].as_u64() {
            Some(seed) => counted[&(student, split, seed as u32)],
            None => {
                assert_eq!(row["seed"], "pooled");
                (1..=SEEDS).map(|s| counted[&(student, split, s)]).sum()
            }
        };
        assert_eq!(row["correct"].as_u64().unwrap(), expected, "{row}");
        let n = row["n"].as_u64().unwrap();
        let acc = row["acc"].as_f64().unwrap();
        assert!((acc - expected as f64 / n as f64).abs() < 1e-12, "{row}");
        assert!(row["ci_low"].as_f64().unwrap() <= acc && acc <= row["ci_high"].as_f64().unwrap());
    }
    let paired = json["paired"].as_array().unwrap();
    // Three comparisons per split, per seed and pooled.
    assert_eq!(paired.len(), 3 * 2 * (SEEDS as usize + 1));
    for row in paired {
        let diff = row["diff"].as_f64().unwrap();
        let (low, high) = (
            row["diff_ci_low"].as_f64().unwrap(),
            row["diff_ci_high"].as_f64().unwrap(),
        );
        assert!(low <= diff && diff <= high, "{row}");
        let n = row["n"].as_u64().unwrap() as f64;
        let (only_a, only_b) = (
            row["only_a"].as_u64().unwrap() as f64,
            row["only_b"].as_u64().unwrap() as f64,
        );
        assert!((diff - (only_a - only_b) / n).abs() < 1e-12, "{row}");
        assert!(row["mcnemar_p"].as_f64().unwrap() <= 1.0);
    }
    // One verdict per pooled comparison, agreeing with that comparison's interval unless
    // its seeds disagree; then only a direction every seed's own interval shows counts.
    let verdicts = json["verdicts"].as_array().unwrap();
    let pooled: Vec<_> = paired.iter().filter(|r| r["seed"] == "pooled").collect();
    assert_eq!(verdicts.len(), pooled.len());
    for (verdict, row) in verdicts.iter().zip(pooled) {
        for key in ["a", "b", "benchmark", "diff_ci_low", "diff_ci_high"] {
            assert_eq!(verdict[key], row[key], "{verdict} vs {row}");
        }
        let per_seed: Vec<_> = paired
            .iter()
            .filter(|r| {
                r["seed"].is_u64() && ["a", "b", "benchmark"].iter().all(|k| r[*k] == row[*k])
            })
            .collect();
        assert_eq!(per_seed.len(), SEEDS as usize, "{row}");
        let seed_diffs: Vec<_> = per_seed.iter().map(|r| r["diff"].clone()).collect();
        assert_eq!(verdict["seed_diffs"], serde_json::Value::from(seed_diffs));
        let every_seed = |side: fn(f64, f64) -> bool| {
            per_seed.iter().all(|r| {
                side(
                    r["diff_ci_low"].as_f64().unwrap(),
                    r["diff_ci_high"].as_f64().unwrap(),
                )
            })
        };
        let low = row["diff_ci_low"].as_f64().unwrap();
        let high = row["diff_ci_high"].as_f64().unwrap();
        let seeds_disagree = verdict["seeds_agree_p"].as_f64().is_some_and(|p| p < 0.05);
        let expected = if seeds_disagree {
            if every_seed(|low, _| low > 0.0) {
                "better_in_every_seed"
            } else if every_seed(|_, high| high < 0.0) {
                "worse_in_every_seed"
            } else {
                "undecided"
            }
        } else if low > 0.0 {
            "better"
        } else if high < 0.0 {
            "worse"
        } else if low >= -0.04 && high <= 0.04 {
            "equivalent"
        } else {
            "undecided"
        };
        assert_eq!(verdict["outcome"], expected, "{verdict}");
    }
    assert!(written.contains("## Verdict"), "{written}");

    // The GRPO stage's rollouts, each seed's halves counted again from its run's events.
    let stage = json["grpo_stage"].as_array().unwrap();
    assert_eq!(stage.len(), SEEDS as usize + 1, "{stage:?}");
    let mut pooled_correct = (0, 0);
    for (seed, row) in (1..=SEEDS).zip(stage) {
        assert_eq!(row["seed"], seed, "{row}");
        let name = if seed == 1 {
            "plan-tuned+grpo".to_owned()
        } else {
            format!("plan-tuned+grpo@seed{seed}")
        };
        let id = runs[&name].as_str().unwrap();
        let (first, last) = rollout_halves(&ws.runs_dir().join(id).join("events.jsonl"));
        assert_eq!(row["first"]["correct"], first.0, "{row}");
        assert_eq!(row["first"]["samples"], first.1, "{row}");
        assert_eq!(row["last"]["correct"], last.0, "{row}");
        assert_eq!(row["last"]["samples"], last.1, "{row}");
        pooled_correct.0 += first.0;
        pooled_correct.1 += last.0;
        let diff = row["diff"].as_f64().unwrap();
        let expected = last.0 as f64 / last.1 as f64 - first.0 as f64 / first.1 as f64;
        assert!((diff - expected).abs() < 1e-12, "{row}");
        assert!(row["diff_ci_low"].as_f64().unwrap() <= diff);
        assert!(diff <= row["diff_ci_high"].as_f64().unwrap());
    }
    let pooled_row = &stage[SEEDS as usize];
    assert_eq!(pooled_row["seed"], "pooled");
    assert_eq!(pooled_row["first"]["correct"], pooled_correct.0);
    assert_eq!(pooled_row["last"]["correct"], pooled_correct.1);
    assert!(
        written.contains("## GRPO stage on its training prompts"),
        "{written}"
    );

    // A second run trains nothing again and reports the same numbers.
    let runs_before = store.runs().unwrap().len();
    drop(store);
    let again = demo(tmp.path(), &ws_dir);
    assert_eq!(ws.store().unwrap().runs().unwrap().len(), runs_before);
    let written_again = std::fs::read_to_string(ws.exports_dir().join("demo-report.md")).unwrap();
    assert_eq!(written_again, written, "second run:\n{again}");
    let json_again = std::fs::read_to_string(ws.exports_dir().join("demo-report.json")).unwrap();
    assert_eq!(json_again, json_text);
}
