//! Export bundles as other engines see them: the Python rewards reproduce the scores our
//! Rust reward code gave the fixtures (`rewards.py --self-test`), and fail loudly when
//! one differs; every script of the bundle compiles (`py_compile`, `bash -n`); verl's
//! parquet conversion runs. Python comes from `tests/python-venv.sh` (`PLANTUNE_PYTHON`;
//! tests/run.sh sets it). No silent skip: without it every test here fails and says how
//! to get it.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod stall;
mod trl;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plantune_tui::export::{BundleSpec, default_dir, write_bundle};
use plantune_tui::train::grpo::rewards::RewardWeights;
use plantune_tui::workspace::store::{EditField, FieldChange};

fn python() -> PathBuf {
    let Some(py) = std::env::var_os("PLANTUNE_PYTHON") else {
        panic!(
            "PLANTUNE_PYTHON is not set: the export tests need trl, datasets and pyarrow. \
             Run `export PLANTUNE_PYTHON=$(bash tests/python-venv.sh)` (tests/run.sh does)."
        );
    };
    PathBuf::from(py)
}

fn run(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The TUI fixture's curated workspace with its correct plans accepted.
fn bundle_workspace() -> (common::tui::Fixture, PathBuf) {
    let fixture = common::tui::curated_workspace();
    let mut store = fixture.store();
    let mut accept = Vec::new();
    for problem in store.problems(None, None).unwrap() {
        for c in store.candidates_for_problem(problem.id).unwrap() {
            if c.fields.correct == Some(true) && c.fields.plan_index == 0 {
                accept.push(FieldChange::new(c.id, EditField::Status, "accepted"));
            }
        }
    }
    store.apply_changes(&accept).unwrap();
    let spec = BundleSpec {
        dataset: "plan1".into(),
        model: "tiny".into(),
        weights: RewardWeights::default(),
        max_new_tokens: 32,
    };
    let out = default_dir(&fixture.workspace, "plan1");
    write_bundle(&fixture.workspace, &spec, &out).unwrap();
    (fixture, out)
}

#[test]
fn python_rewards_agree_with_ours_on_every_fixture() {
    let (_fixture, dir) = bundle_workspace();
    let out = run(Command::new(python())
        .arg(dir.join("rewards.py"))
        .arg("--self-test"));
    let said = String::from_utf8_lossy(&out.stdout);
    let fixtures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fixtures.json")).unwrap()).unwrap();
    let n = fixtures["cases"].as_array().unwrap().len();
    assert!(n >= 24, "{n} fixtures");
    assert!(said.contains(&format!("{n}/{n} fixtures agree")), "{said}");

    // A score that differs from ours makes the self-test fail, naming the fixture.
    let mut tampered = fixtures.clone();
    tampered["cases"][1]["scores"]["plan"] = serde_json::json!(0.75);
    let path = dir.join("tampered.json");
    std::fs::write(&path, tampered.to_string()).unwrap();
    let out = Command::new(python())
        .arg(dir.join("rewards.py"))
        .args(["--self-test".as_ref(), path.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fixture 1 (boxed wrong)"), "{err}");
}

#[test]
fn trl_and_verl_entry_points_score_like_the_fixtures() {
    let (_fixture, dir) = bundle_workspace();
    let probe = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import rewards
case = json.load(open(sys.argv[1] + "/fixtures.json"))["cases"][0]
funcs = rewards.reward_funcs()
names = [f.__name__ for f in funcs]
completions = [[{"role": "assistant", "content": case["completion"]}]]
scores = {f.__name__: f(completions, answer=[case["gold"]], plan=[case["reference_plan"]],
                        question=[case["question"]])[0] for f in funcs}
verl = rewards.compute_score("plantune", case["completion"], case["gold"],
                             {"question": case["question"], "plan": case["reference_plan"]})
print(json.dumps({"names": names, "weights": rewards.trl_reward_weights(), "scores": scores,
                  "verl": verl, "want": case["scores"]}))
"#;
    let out = run(Command::new(python()).args(["-c", probe]).arg(&dir));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["names"],
        serde_json::json!(["answer", "format", "plan"])
    );
    assert_eq!(got["weights"], serde_json::json!([1.0, 0.5, 0.5]));
    for name in ["answer", "format", "plan"] {
        assert_eq!(got["scores"][name], got["want"][name], "{name}");
        assert_eq!(got["verl"][name], got["want"][name], "{name}");
    }
    // The default weights: 1·2 + 0.5·1 + 0.5·1.
    assert_eq!(got["verl"]["score"], 3.0);
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_with(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            found.push(path);
        }
    }
    found
}

#[test]
fn scripts_compile_and_the_verl_parquet_conversion_runs() {
    let (_fixture, dir) = bundle_workspace();
    let py = files_with(&dir, "py");
    assert_eq!(py.len(), 3, "{py:?}");
    for file in &py {
        run(Command::new(python()).args(["-m", "py_compile"]).arg(file));
    }
    let sh = files_with(&dir, "sh");
    assert_eq!(sh.len(), 2, "{sh:?}");
    for file in &sh {
        run(Command::new("bash").arg("-n").arg(file));
    }
    run(Command::new(python())
        .arg(dir.join("train_trl.py"))
        .arg("--help"));
    let out_dir = dir.join("verl-data");
    run(Command::new(python())
        .arg(dir.join("verl/to_parquet.py"))
        .arg(dir.join("grpo.jsonl"))
        .arg(&out_dir));
    let check = r#"
import sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1] + "/train.parquet").to_pylist()
print(len(t), t[0]["reward_model"]["ground_truth"], t[0]["prompt"][0]["role"], bool(t[0]["extra_info"]["plan"]))
"#;
    let out = run(Command::new(python()).args(["-c", check]).arg(&out_dir));
    let said = String::from_utf8_lossy(&out.stdout);
    // Two problems: one held out for validation, the other trained on.
    assert_eq!(said.trim(), "1 7 user True");
}
