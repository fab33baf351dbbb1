use super::*;
use crate::workspace::records::{CandidateStatus, NewCandidate, NewProblem, Sampling};

fn problem(id: &str, question: &str) -> NewProblem {
    NewProblem {
        dataset: "gsm8k".into(),
        split: "train".into(),
        external_id: id.into(),
        question: question.into(),
        gold_answer: "42".into(),
        gold_solution: Some("6 * 7 = 42\n#### 42".into()),
        metadata: serde_json::json!({"year": 2024}),
    }
}

fn candidate(problem_id: i64, plan_index: u32, score: i32, correct: bool) -> NewCandidate {
    NewCandidate {
        problem_id,
        teacher: "oracle".into(),
        plan_index,
        constraints: "- use all numbers".into(),
        plan: "1. multiply".into(),
        plan_steps: vec!["multiply".into()],
        execution: "6 * 7 = 42. The answer is \\boxed{42}.".into(),
        extracted_answer: Some("42".into()),
        correct: Some(correct),
        grade_reason: "numeric: 42 = 42".into(),
        judge_score: Some(score),
        judge_reason: "fine\nScore: 90".into(),
        sampling: Sampling {
            model: "oracle".into(),
            temperature: 0.7,
            top_p: Some(0.95),
            max_tokens: Some(512),
            seed: Some(7),
        },
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("plantune.db")).unwrap();
    (dir, store)
}

#[test]
fn problems_round_trip_and_reimport_is_idempotent() {
    let (_dir, mut store) = store();
    let items = vec![problem("a", "What is 6*7?"), problem("b", "What is 40+2?")];
    let first = store.insert_problems(&items).unwrap();
    assert_eq!(first.inserted, 2);
    let again = store.insert_problems(&items).unwrap();
    assert_eq!((again.inserted, again.unchanged), (0, 2));
    let stored = store.problems(Some("gsm8k"), Some("train")).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].fields, items[0]);
    assert_eq!(store.problem(stored[1].id).unwrap().fields, items[1]);
    assert_eq!(
        store.problem_counts().unwrap(),
        vec![("gsm8k".into(), "train".into(), 2)]
    );
}

#[test]
fn conflicting_reimport_writes_nothing() {
    let (_dir, mut store) = store();
    store.insert_problems(&[problem("a", "Q1")]).unwrap();
    let err = store
        .insert_problems(&[problem("new", "Q2"), problem("a", "changed")])
        .unwrap_err();
    assert!(err.to_string().contains("gsm8k/a"), "{err}");
    assert_eq!(store.problems(None, None).unwrap().len(), 1);
}

#[test]
fn candidates_round_trip_and_are_not_duplicated() {
    let (_dir, mut store) = store();
    store.insert_problems(&[problem("a", "Q")]).unwrap();
    let pid = store.problems(None, None).unwrap()[0].id;
    let new = vec![candidate(pid, 0, 90, true), candidate(pid, 1, 40, false)];
    assert_eq!(store.insert_candidates(&new).unwrap(), 2);
    assert_eq!(store.insert_candidates(&new).unwrap(), 0);
    let stored = store.candidates_for_problem(pid).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].fields, new[0]);
    assert_eq!(stored[1].fields, new[1]);
    assert_eq!(stored[0].status, CandidateStatus::Pending);
    assert!(!stored[0].edited);
    assert_eq!(store.candidate(stored[1].id).unwrap(), stored[1]);
}

#[test]
fn edits_undo_and_redo_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plantune.db");
    let id = {
        let mut store = Store::open(&path).unwrap();
        store.insert_problems(&[problem("a", "Q")]).unwrap();
        let pid = store.problems(None, None).unwrap()[0].id;
        store
            .insert_candidates(&[candidate(pid, 0, 90, true)])
            .unwrap();
        let id = store.candidates_for_problem(pid).unwrap()[0].id;
        store
            .apply_changes(&[FieldChange::new(id, EditField::Status, "accepted")])
            .unwrap();
        store
            .apply_changes(&[
                FieldChange::new(id, EditField::Plan, "1. multiply six by seven"),
                FieldChange::new(id, EditField::PlanSteps, r#"["multiply six by seven"]"#),
            ])
            .unwrap();
        id
    };
    let mut store = Store::open(&path).unwrap();
    let edited = store.candidate(id).unwrap();
    assert!(edited.edited);
    assert_eq!(edited.status, CandidateStatus::Accepted);
    assert_eq!(edited.fields.plan_steps, vec!["multiply six by seven"]);
    let (_, original_plan, original_steps, _) = store.candidate_original(id).unwrap();
    assert_eq!(original_plan, "1. multiply");
    assert_eq!(original_steps, vec!["multiply"]);

    // Undo the plan edit (both fields at once), then the status change.
    let step = store.undo().unwrap().unwrap();
    assert_eq!(step.candidate_ids, vec![id]);
    let reverted = store.candidate(id).unwrap();
    assert_eq!(reverted.fields.plan, "1. multiply");
    assert!(!reverted.edited);
    assert_eq!(reverted.status, CandidateStatus::Accepted);
    store.undo().unwrap().unwrap();
    assert_eq!(
        store.candidate(id).unwrap().status,
        CandidateStatus::Pending
    );
    assert!(store.undo().unwrap().is_none());

    drop(store);
    let mut store = Store::open(&path).unwrap();
    store.redo().unwrap().unwrap();
    assert_eq!(
        store.candidate(id).unwrap().status,
        CandidateStatus::Accepted
    );
    // A new edit discards the remaining redo.
    store
        .apply_changes(&[FieldChange::new(id, EditField::Status, "rejected")])
        .unwrap();
    assert!(store.redo().unwrap().is_none());
    assert_eq!(
        store.candidate(id).unwrap().status,
        CandidateStatus::Rejected
    );
}

#[test]
fn invalid_status_is_refused_and_nothing_changes() {
    let (_dir, mut store) = store();
    store.insert_problems(&[problem("a", "Q")]).unwrap();
    let pid = store.problems(None, None).unwrap()[0].id;
    store
        .insert_candidates(&[candidate(pid, 0, 90, true)])
        .unwrap();
    let id = store.candidates_for_problem(pid).unwrap()[0].id;
    assert!(
        store
            .apply_changes(&[
                FieldChange::new(id, EditField::Plan, "changed"),
                FieldChange::new(id, EditField::Status, "maybe"),
            ])
            .is_err()
    );
    assert_eq!(store.candidate(id).unwrap().fields.plan, "1. multiply");
    assert!(store.undo().unwrap().is_none());
}

#[test]
fn curation_page_filters_and_sorts() {
    let (_dir, mut store) = store();
    store
        .insert_problems(&[problem("a", "Apples and pears"), problem("b", "Trains")])
        .unwrap();
    let ids: Vec<i64> = store
        .problems(None, None)
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    store
        .insert_candidates(&[
            candidate(ids[0], 0, 95, true),
            candidate(ids[0], 1, 20, false),
            candidate(ids[1], 0, 70, true),
        ])
        .unwrap();
    let all = store
        .curation_page(&CurationFilter::default(), CurationSort::ScoreDesc, 0, 10)
        .unwrap();
    let scores: Vec<_> = all.iter().map(|r| r.judge_score).collect();
    assert_eq!(scores, vec![Some(95), Some(70), Some(20)]);

    let correct_high = CurationFilter {
        correct: Some(true),
        min_score: Some(80),
        ..Default::default()
    };
    let rows = store
        .curation_page(&correct_high, CurationSort::ScoreDesc, 0, 10)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].question, "Apples and pears");

    let search = CurationFilter {
        search: Some("TRAIN".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .curation_page(&search, CurationSort::ScoreDesc, 0, 10)
            .unwrap()[0]
            .problem_id,
        ids[1]
    );
    let paged = store
        .curation_page(&CurationFilter::default(), CurationSort::ScoreDesc, 1, 1)
        .unwrap();
    assert_eq!(paged[0].judge_score, Some(70));
    let counts = store.candidate_status_counts().unwrap();
    assert_eq!((counts.pending, counts.total()), (3, 3));
}

#[test]
fn predictions_runs_and_datasets_round_trip() {
    let (_dir, mut store) = store();
    store.insert_problems(&[problem("a", "Q")]).unwrap();
    let pid = store.problems(None, None).unwrap()[0].id;
    let key = PredictionKey {
        model: "tiny-plan".into(),
        benchmark: "synth/test_id".into(),
        mode: "plan_1pass".into(),
    };
    let prediction = NewPrediction {
        key: key.clone(),
        problem_id: pid,
        sample_index: 0,
        output: "\\boxed{42}".into(),
        extracted: Some("42".into()),
        correct: true,
        reason: "numeric".into(),
        tokens: 12,
        latency_ms: 30,
    };
    store
        .insert_predictions(std::slice::from_ref(&prediction))
        .unwrap();
    // A resumed evaluation rewrites the same row instead of adding one.
    store
        .insert_predictions(std::slice::from_ref(&prediction))
        .unwrap();
    let stored = store.predictions(&key).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].fields, prediction);
    assert_eq!(store.prediction_counts().unwrap(), vec![(key, 1, 1)]);

    let run = RunRecord {
        id: "sft-1".into(),
        kind: "sft".into(),
        status: "running".into(),
        pid: Some(1234),
        dir: "runs/sft-1".into(),
        dataset_hash: Some("abc".into()),
        config: serde_json::json!({"lr": 5e-6}),
        created_ms: 1,
        updated_ms: 1,
    };
    store.upsert_run(&run).unwrap();
    store.set_run_status("sft-1", "completed").unwrap();
    let stored = store.run("sft-1").unwrap();
    assert_eq!(stored.status, "completed");
    assert_eq!(stored.config, run.config);
    assert!(store.set_run_status("nope", "failed").is_err());

    let params = serde_json::json!({"template": "chatml"});
    let id = store
        .register_dataset(
            "plan1",
            "plan1",
            "deadbeef",
            8,
            "datasets/plan1.jsonl",
            &params,
        )
        .unwrap();
    let again = store
        .register_dataset(
            "plan1",
            "plan1",
            "deadbeef",
            8,
            "datasets/plan1.jsonl",
            &params,
        )
        .unwrap();
    assert_eq!(id, again);
    assert_eq!(store.dataset_by_hash("dead").unwrap().params, params);
    assert_eq!(
        store.latest_dataset("plan1").unwrap().unwrap().n_examples,
        8
    );
}

#[test]
fn previous_schema_version_migrates_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plantune.db");
    {
        let mut old = Store::open_at_version(&path, schema::CURRENT_VERSION - 1).unwrap();
        assert_eq!(old.schema_version().unwrap(), schema::CURRENT_VERSION - 1);
        old.insert_problems(&[problem("a", "Q")]).unwrap();
        old.conn()
            .execute(
                "INSERT INTO predictions (model, benchmark, mode, problem_id, output, correct,
                    created_ms) VALUES ('m', 'b', 'direct', 1, 'out', 1, 0)",
                [],
            )
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    assert_eq!(store.problems(None, None).unwrap().len(), 1);
    let key = PredictionKey {
        model: "m".into(),
        benchmark: "b".into(),
        mode: "direct".into(),
    };
    let migrated = store.predictions(&key).unwrap();
    assert_eq!(migrated[0].fields.reason, "");
    assert_eq!(migrated[0].fields.tokens, 0);
}

#[test]
fn a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plantune.db");
    {
        let store = Store::open(&path).unwrap();
        store
            .conn()
            .pragma_update(None, "user_version", schema::CURRENT_VERSION + 1)
            .unwrap();
    }
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
}

#[test]
fn candidates_from_before_v4_read_no_finish_reasons_and_new_ones_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plantune.db");
    {
        let mut old = Store::open_at_version(&path, 3).unwrap();
        old.insert_problems(&[problem("a", "Q")]).unwrap();
        old.insert_candidates(&[candidate(1, 0, 90, true)]).unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.finish_reasons(1).unwrap(), StageFinish::default());
    let finish = StageFinish {
        plan: Some("length".into()),
        execution: Some("stop".into()),
        ..StageFinish::default()
    };
    assert_eq!(
        store
            .insert_candidate_with_finish(&candidate(1, 1, 50, false), &finish)
            .unwrap(),
        1
    );
    let id = store.candidates_for_problem(1).unwrap()[1].id;
    assert_eq!(store.finish_reasons(id).unwrap(), finish);
    assert_eq!(finish.truncated(), vec!["plan"]);
    // A second insert of the same plan index changes nothing.
    let other = StageFinish::default();
    assert_eq!(
        store
            .insert_candidate_with_finish(&candidate(1, 1, 50, false), &other)
            .unwrap(),
        0
    );
    assert_eq!(store.finish_reasons(id).unwrap(), finish);

    assert_eq!(store.plan_diversity(1).unwrap(), None);
    let seen = |asked, distinct| PlanDiversity { asked, distinct };
    store.record_plan_diversity(1, "t", seen(5, 1)).unwrap();
    store.record_plan_diversity(1, "t", seen(2, 2)).unwrap();
    // Asks add up over jobs; distinct is what the problem has now.
    assert_eq!(store.plan_diversity(1).unwrap(), Some(seen(7, 2)));
    assert_eq!(store.distinct_plan_counts().unwrap()[&1], 2);
}
