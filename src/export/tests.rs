use super::*;
use crate::config::Paths;
use crate::workspace::records::{NewCandidate, NewProblem, Sampling};
use crate::workspace::store::{EditField, FieldChange};

/// A workspace with two problems, each with one accepted plan.
pub(crate) fn curated(dir: &Path) -> Workspace {
    let paths = Paths {
        config_dir: dir.join("config"),
        data_dir: dir.join("data"),
        cache_dir: dir.join("cache"),
    };
    let ws = Workspace::init(&dir.join("ws"), &paths).unwrap();
    let mut store = ws.store().unwrap();
    let problems: Vec<NewProblem> = (0..2)
        .map(|i| NewProblem {
            dataset: "synth".into(),
            split: "train".into(),
            external_id: format!("p{i}"),
            question: format!("Tom has {} apples and buys 3 more. How many now?", i + 2),
            gold_answer: format!("{}", i + 5),
            gold_solution: None,
            metadata: serde_json::json!({}),
        })
        .collect();
    store.insert_problems(&problems).unwrap();
    let ids: Vec<i64> = store
        .problems(None, None)
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    let candidates: Vec<NewCandidate> = ids
        .iter()
        .enumerate()
        .map(|(i, &problem_id)| NewCandidate {
            problem_id,
            teacher: "oracle".into(),
            plan_index: 0,
            constraints: String::new(),
            plan: "1. Read the apples Tom has.\n2. Add the 3 bought.".into(),
            plan_steps: vec![
                "Read the apples Tom has.".into(),
                "Add the 3 bought.".into(),
            ],
            execution: format!("{} + 3 = {}. \\boxed{{{}}}", i + 2, i + 5, i + 5),
            extracted_answer: Some(format!("{}", i + 5)),
            correct: Some(true),
            grade_reason: String::new(),
            judge_score: Some(80),
            judge_reason: String::new(),
            sampling: Sampling::default(),
        })
        .collect();
    store.insert_candidates(&candidates).unwrap();
    let accept: Vec<FieldChange> = ids
        .iter()
        .flat_map(|&p| store.candidates_for_problem(p).unwrap())
        .map(|c| FieldChange::new(c.id, EditField::Status, "accepted"))
        .collect();
    store.apply_changes(&accept).unwrap();
    ws
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_bundle_holds_trl_rows_grpo_columns_fixtures_and_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = curated(tmp.path());
    let spec = BundleSpec {
        dataset: "plan1".into(),
        model: "tiny".into(),
        weights: RewardWeights::default(),
        max_new_tokens: 64,
    };
    let out = default_dir(&ws, "plan1");
    let bundle = write_bundle(&ws, &spec, &out).unwrap();
    assert_eq!(bundle.dir, out);

    let sft = lines(&out.join("sft.jsonl"));
    assert_eq!(sft.len(), 2);
    assert_eq!(sft[0]["prompt"][0]["role"], "user");
    assert_eq!(sft[0]["completion"][0]["role"], "assistant");
    let completion = sft[0]["completion"][0]["content"].as_str().unwrap();
    assert!(completion.starts_with("Plan:\n1. Read"), "{completion}");
    assert!(!completion.contains("<|im_start|>"));
    assert_eq!(
        lines(&out.join("sft.messages.jsonl"))[1]["messages"][1]["role"],
        "assistant"
    );

    let grpo = lines(&out.join("grpo.jsonl"));
    assert_eq!(grpo.len(), 2);
    assert_eq!(grpo[1]["answer"], "6");
    assert_eq!(
        grpo[1]["plan"],
        "1. Read the apples Tom has.\n2. Add the 3 bought."
    );
    assert_eq!(grpo[1]["prompt"].as_array().unwrap().len(), 1);

    let fixtures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fixtures.json")).unwrap()).unwrap();
    let right = &fixtures["cases"][0];
    assert_eq!(right["name"], "boxed right");
    assert_eq!(right["scores"]["answer"], 2.0);
    assert_eq!(right["scores"]["format"], 1.0);
    let wrong_twin = fixtures["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().ends_with(" wrong"))
        .unwrap();
    assert_eq!(wrong_twin["scores"]["answer"], 0.0);

    let manifest = &bundle.manifest;
    assert_eq!(manifest.schema_version, MANIFEST_SCHEMA);
    assert_eq!(manifest.dataset.examples, 2);
    assert_eq!(manifest.files.len(), 3);
    assert_eq!(manifest.tested_with["trl"], "1.16.0");
    for file in [
        "rewards.py",
        "train_trl.py",
        "verl/to_parquet.py",
        "accelerate/zero3.yaml",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }

    // A second export replaces the first whole.
    std::fs::write(out.join("stale.txt"), "x").unwrap();
    write_bundle(&ws, &spec, &out).unwrap();
    assert!(!out.join("stale.txt").exists());
}
