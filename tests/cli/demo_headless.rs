//! `plantune-tui demo --headless` end to end on a small budget (the README's main
//! command, cut down to fit CI): every stage leaves its artefacts, the report is
//! recomputable from the stored predictions alone, and a second run reuses the trained
//! students and reproduces the report.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use plantune_tui::config::Paths;
use plantune_tui::demo::pipeline::{self, SPLITS, STUDENTS};
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::CandidateStatus;
use plantune_tui::workspace::store::PredictionKey;

const EVAL_LIMIT: usize = 6;

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

#[test]
fn the_headless_demo_leaves_every_artefact_and_a_recomputable_report() {
    let tmp = tempfile::tempdir().unwrap();
    let ws_dir = tmp.path().join("demo");
    let stdout = demo(tmp.path(), &ws_dir);
    for stage in [
        "SFT baseline",
        "SFT plan-tuned",
        "GRPO plan-tuned",
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

    // Three trained students, each a loadable model directory.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(pipeline::pipeline_dir(&ws).join("pipeline.json")).unwrap(),
    )
    .unwrap();
    let runs = state["runs"].as_object().unwrap();
    assert_eq!(runs.len(), 3, "{state}");
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

    // Predictions for every student × split, and a report made from them alone.
    let mut keys = Vec::new();
    for (student, mode) in STUDENTS {
        for split in SPLITS {
            let key = PredictionKey {
                model: student.into(),
                benchmark: split.into(),
                mode: mode.as_str().into(),
            };
            let predictions = store.predictions(&key).unwrap();
            assert_eq!(predictions.len(), EVAL_LIMIT, "{key:?}");
            keys.push((key, predictions));
        }
    }
    let only_keys: Vec<PredictionKey> = keys.iter().map(|(k, _)| k.clone()).collect();
    let recomputed = pipeline::report(&ws, &only_keys).unwrap();
    let written = std::fs::read_to_string(ws.exports_dir().join("demo-report.md")).unwrap();
    assert_eq!(recomputed.markdown, written);
    for ((key, predictions), row) in keys.iter().zip(&recomputed.accuracy) {
        assert_eq!((&row.model, &row.benchmark), (&key.model, &key.benchmark));
        let right = predictions.iter().filter(|p| p.fields.correct).count() as u64;
        assert_eq!((row.correct, row.n), (right, EVAL_LIMIT as u64));
    }

    // A second run trains nothing again and reports the same numbers.
    let runs_before = store.runs().unwrap().len();
    drop(store);
    let again = demo(tmp.path(), &ws_dir);
    assert_eq!(ws.store().unwrap().runs().unwrap().len(), runs_before);
    let written_again = std::fs::read_to_string(ws.exports_dir().join("demo-report.md")).unwrap();
    assert_eq!(written_again, written, "second run:\n{again}");
}
