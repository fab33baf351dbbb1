use super::*;
use crate::config::Paths;
use crate::workspace::records::{NewCandidate, NewProblem, Sampling};
use crate::workspace::store::{EditField, FieldChange};

fn workspace() -> (tempfile::TempDir, Workspace) {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_dir: tmp.path().join("config"),
        data_dir: tmp.path().join("data"),
        cache_dir: tmp.path().join("cache"),
    };
    let ws = Workspace::init(&tmp.path().join("ws"), &paths).unwrap();
    let mut store = ws.store().unwrap();
    store
        .insert_problems(&[
            NewProblem {
                dataset: "gsm8k".into(),
                split: "train".into(),
                external_id: "1".into(),
                question: "Tom has 3 apples and buys 4. How many?".into(),
                gold_answer: "7".into(),
                gold_solution: Some("3 + 4 = <<3+4=7>>7\n#### 7".into()),
                metadata: serde_json::json!({}),
            },
            NewProblem {
                dataset: "gsm8k".into(),
                split: "train".into(),
                external_id: "2".into(),
                question: "No solution here.".into(),
                gold_answer: "1".into(),
                gold_solution: None,
                metadata: serde_json::json!({}),
            },
        ])
        .unwrap();
    let pid = store.problems(None, None).unwrap()[0].id;
    store
        .insert_candidates(&[NewCandidate {
            problem_id: pid,
            teacher: "oracle".into(),
            plan_index: 0,
            constraints: "- whole apples".into(),
            plan: "1. Add the apples bought to the apples Tom has.".into(),
            plan_steps: vec!["Add the apples bought to the apples Tom has.".into()],
            execution: "Step 1: 3 + 4 = 7. The answer is \\boxed{7}.".into(),
            extracted_answer: Some("7".into()),
            correct: Some(true),
            grade_reason: String::new(),
            judge_score: Some(90),
            judge_reason: String::new(),
            sampling: Sampling::default(),
        }])
        .unwrap();
    (tmp, ws)
}

fn accept_all(ws: &Workspace) {
    let mut store = ws.store().unwrap();
    let ids: Vec<i64> = store
        .candidates_with_status(CandidateStatus::Pending)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    let changes: Vec<_> = ids
        .iter()
        .map(|id| FieldChange::new(*id, EditField::Status, "accepted"))
        .collect();
    store.apply_changes(&changes).unwrap();
}

#[test]
fn baseline_turns_the_gsm8k_answer_line_into_a_boxed_sentence() {
    let (_tmp, ws) = workspace();
    let examples = build_examples(&ws, DatasetKind::Baseline, &DatasetSource::default()).unwrap();
    assert_eq!(
        examples.len(),
        1,
        "the problem without a solution is skipped"
    );
    let completion = &examples[0].messages[1].content;
    assert_eq!(
        completion,
        "3 + 4 = <<3+4=7>>7\nThe final answer is \\boxed{7}."
    );
    assert!(examples[0].messages[0].content.contains("Tom has 3 apples"));
}

#[test]
fn plan_datasets_need_accepted_candidates() {
    let (_tmp, ws) = workspace();
    let err = build(&ws, DatasetKind::Plan1, &DatasetSource::default()).unwrap_err();
    assert!(matches!(err, DatasetError::Empty { .. }), "{err}");
    accept_all(&ws);
    let plan1 = build_examples(&ws, DatasetKind::Plan1, &DatasetSource::default()).unwrap();
    assert_eq!(plan1.len(), 1);
    assert!(plan1[0].messages[1].content.starts_with("Plan:\n1. Add"));
    assert!(plan1[0].messages[1].content.contains("Execution:\nStep 1"));
    let plan2 = build_examples(&ws, DatasetKind::Plan2, &DatasetSource::default()).unwrap();
    assert_eq!(plan2.len(), 2);
    assert_eq!(
        plan2[0].messages[1].content,
        "1. Add the apples bought to the apples Tom has."
    );
    assert!(
        plan2[1].messages[0]
            .content
            .contains("Plan:\n1. Add the apples")
    );
    assert!(plan2[1].messages[1].content.ends_with("\\boxed{7}."));
}

#[test]
fn a_build_is_frozen_by_hash_and_exported_for_trl() {
    let (_tmp, ws) = workspace();
    accept_all(&ws);
    let first = build(&ws, DatasetKind::Plan1, &DatasetSource::default()).unwrap();
    let again = build(&ws, DatasetKind::Plan1, &DatasetSource::default()).unwrap();
    assert_eq!(first, again);
    assert_eq!(ws.store().unwrap().datasets().unwrap().len(), 1);
    assert_eq!(load(&ws, &first.path).unwrap().len(), 1);
    let export = std::fs::read_to_string(ws.root.join(&first.export)).unwrap();
    let line: serde_json::Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    assert_eq!(line["messages"][0]["role"], "user");
    assert_eq!(line["messages"][1]["role"], "assistant");
    assert_eq!(
        line.as_object().unwrap().len(),
        1,
        "TRL's messages form only"
    );

    // Editing the prompt template changes the content, hence the hash.
    std::fs::write(ws.prompts_dir().join("student.md"), "Q: {{ question }}").unwrap();
    let edited = build(&ws, DatasetKind::Plan1, &DatasetSource::default()).unwrap();
    assert_ne!(edited.content_hash, first.content_hash);
    assert_eq!(ws.store().unwrap().datasets().unwrap().len(), 2);
}
