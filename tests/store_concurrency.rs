//! Two processes write candidates while a third reads the curation list: no row is lost
//! and "database is locked" never reaches the caller.
//!
//! The binary re-runs itself as the writer and reader processes (`harness = false`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use plantune_tui::workspace::records::{CandidateStatus, NewCandidate, NewProblem, Sampling};
use plantune_tui::workspace::store::{CurationFilter, CurationSort, Store};

const PROBLEMS: usize = 40;
const PLANS: u32 = 25;
const BATCH: usize = 5;

fn candidate(problem_id: i64, teacher: &str, plan_index: u32) -> NewCandidate {
    NewCandidate {
        problem_id,
        teacher: teacher.into(),
        plan_index,
        constraints: "c".into(),
        plan: "1. p".into(),
        plan_steps: vec!["p".into()],
        execution: "\\boxed{1}".into(),
        extracted_answer: Some("1".into()),
        correct: Some(true),
        grade_reason: String::new(),
        judge_score: Some(plan_index as i32),
        judge_reason: String::new(),
        sampling: Sampling::default(),
    }
}

fn writer(db: &Path, teacher: &str) {
    let mut store = Store::open(db).expect("writer opens the store");
    let ids: Vec<i64> = store
        .problems(None, None)
        .expect("list")
        .iter()
        .map(|p| p.id)
        .collect();
    let all: Vec<NewCandidate> = ids
        .iter()
        .flat_map(|id| (0..PLANS).map(move |plan| (*id, plan)))
        .map(|(id, plan)| candidate(id, teacher, plan))
        .collect();
    // Many small transactions maximise lock contention with the other writer.
    for chunk in all.chunks(BATCH) {
        store
            .insert_candidates(chunk)
            .expect("insert never fails with a lock error");
    }
}

fn reader(db: &Path, seconds: u64) {
    let store = Store::open(db).expect("reader opens the store");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last = 0;
    while Instant::now() < deadline {
        let filter = CurationFilter {
            status: Some(CandidateStatus::Pending),
            ..Default::default()
        };
        let page = store
            .curation_page(&filter, CurationSort::ScoreDesc, 0, 50)
            .expect("reads never fail while others write");
        let total = store.candidate_status_counts().expect("counts").total();
        assert!(total >= last, "the count went backwards: {last} -> {total}");
        assert!(page.len() <= 50);
        last = total;
    }
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("plantune.db");
    {
        let mut store = Store::open(&db).expect("open");
        let problems: Vec<NewProblem> = (0..PROBLEMS)
            .map(|i| NewProblem {
                dataset: "synth".into(),
                split: "train".into(),
                external_id: format!("p{i}"),
                question: format!("question {i}"),
                gold_answer: "1".into(),
                gold_solution: None,
                metadata: serde_json::json!({}),
            })
            .collect();
        store.insert_problems(&problems).expect("problems");
    }
    let me = std::env::current_exe().expect("own path");
    let spawn = |role: &str, arg: &str| {
        Command::new(&me)
            .args([role, db.to_str().expect("utf-8 path"), arg])
            .spawn()
            .expect("spawn child")
    };
    let mut children = vec![
        spawn("reader", "4"),
        spawn("writer", "teacher-a"),
        spawn("writer", "teacher-b"),
    ];
    for child in &mut children {
        let status = child.wait().expect("wait");
        assert!(status.success(), "a child process failed: {status}");
    }
    let store = Store::open(&db).expect("open");
    let expected = 2 * PROBLEMS as u64 * u64::from(PLANS);
    let total = store.candidate_status_counts().expect("counts").total();
    assert_eq!(total, expected, "rows were lost");
    println!("store_concurrency: 2 writers + 1 reader, {total} candidates, none lost");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("writer") => writer(Path::new(&args[2]), &args[3]),
        Some("reader") => reader(Path::new(&args[2]), args[3].parse().expect("seconds")),
        // cargo passes harness flags (--test-threads...) which mean nothing here.
        _ => {
            parent();
            println!("1 passed, 0 failed");
        }
    }
}
