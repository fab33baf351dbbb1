//! The distill pipeline over real HTTP against a scripted local teacher: every field
//! stored, resumable, idempotent, cached.

#![allow(clippy::unwrap_used)]

use crate::common;

// Test scaffolding (the server, fixtures) panics to report a failure, like the tests.

use std::collections::HashSet;
use std::time::Duration;

use plantune_tui::teacher::{DistillError, DistillEvent, DistillOptions, DistillProgress, distill};
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::Candidate;
use common::teacher::{
    CONSTRAINTS_PROMPT, EXECUTE_PROMPT, JUDGE_PROMPT, PLAN_PROMPT, ScriptedServer,
    pipeline_teacher, problem, workspace,
};

fn config(server: &ScriptedServer, n_plans: u32, concurrency: usize) -> String {
    format!(
        "[teacher]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"teacher-x\"\n\
         api_key_env = \"\"\nconcurrency = {concurrency}\ntimeout_s = 5\nmax_retries = 2\n\
         [distill]\nn_plans = {n_plans}\nseed = 0\n",
        server.base_url()
    )
}

fn all_candidates(ws: &Workspace) -> Vec<Candidate> {
    let store = ws.store().unwrap();
    let mut all = Vec::new();
    for p in store.problems(None, None).unwrap() {
        all.extend(store.candidates_for_problem(p.id).unwrap());
    }
    all
}

async fn run(ws: &Workspace, opts: &DistillOptions) -> (DistillProgress, Vec<DistillEvent>) {
    let mut events = Vec::new();
    let report = distill(ws, opts, |event, _| events.push(event.clone()))
        .await
        .unwrap();
    (report.totals, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_candidate_is_stored_with_every_field_and_reruns_are_free() {
    let server = ScriptedServer::start(pipeline_teacher).await;
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(
        dir.path(),
        &config(&server, 3, 4),
        &[problem("a", 2, 3), problem("b", 10, 32)],
    );

    let (totals, events) = run(&ws, &DistillOptions::default()).await;
    // Per problem: one constraints call, then plan + judge + execute for each of 3 plans.
    assert_eq!(server.request_count(), 2 * (1 + 3 * 3));
    assert_eq!(totals.candidates_new, 6);
    assert_eq!(totals.errors, 0);
    assert_eq!(totals.calls_answered, 20);
    assert_eq!(totals.calls_in_flight, 0);
    assert_eq!(totals.prompt_tokens, 20 * 100);
    assert_eq!(totals.completion_tokens, 20 * 10);
    assert_eq!(totals.problems_done, 2);
    let done = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                DistillEvent::ProblemDone {
                    failed_plans: 0,
                    ..
                }
            )
        })
        .count();
    assert_eq!(done, 2);
    assert_eq!(events.last(), Some(&DistillEvent::Finished));

    let candidates = all_candidates(&ws);
    assert_eq!(candidates.len(), 6);
    let store = ws.store().unwrap();
    for c in &candidates {
        let f = &c.fields;
        let gold = store.problem(f.problem_id).unwrap().fields.gold_answer;
        assert_eq!(f.teacher, "openai:teacher-x");
        assert!(f.constraints.starts_with("Explicit constraints:"), "{f:?}");
        assert!(
            f.plan.ends_with(&format!("(variant {})", f.plan_index)),
            "{f:?}"
        );
        assert_eq!(
            f.plan_steps,
            vec![
                "Read the two numbers.".to_owned(),
                "Add them.".to_owned(),
                format!("Report the sum. (variant {})", f.plan_index),
            ]
        );
        assert!(f.execution.contains(&format!("\\boxed{{{gold}}}")), "{f:?}");
        assert_eq!(f.extracted_answer.as_deref(), Some(gold.as_str()));
        assert_eq!(f.correct, Some(true));
        assert!(!f.grade_reason.is_empty());
        if f.plan_index == 1 {
            assert_eq!(f.judge_score, Some(-100));
            assert_eq!(
                f.judge_reason,
                "The plan is vague; I will not give a number."
            );
        } else {
            assert_eq!(f.judge_score, Some(85));
            assert!(f.judge_reason.ends_with("Score: 85"), "{f:?}");
        }
        assert_eq!(f.sampling.model, "teacher-x");
        assert_eq!(f.sampling.temperature, 0.7);
        assert_eq!(f.sampling.top_p, Some(1.0));
        assert_eq!(f.sampling.max_tokens, Some(2048));
        assert_eq!(f.sampling.seed, Some(u64::from(f.plan_index)));
    }

    // What went over the wire: greedy analysis, sampled plans and executions.
    for request in server.requests() {
        assert_eq!(request.body["model"], "teacher-x");
        assert_eq!(request.authorization, None);
        let temperature = request.body["temperature"].as_f64().unwrap();
        if request.prompt.contains(CONSTRAINTS_PROMPT) || request.prompt.contains(JUDGE_PROMPT) {
            assert_eq!(temperature, 0.0);
        } else {
            assert!(
                request.prompt.contains(PLAN_PROMPT) || request.prompt.contains(EXECUTE_PROMPT)
            );
            assert!((temperature - 0.7).abs() < 1e-6);
        }
        assert_eq!(request.body["max_tokens"], 2048);
    }

    // A rerun finds every problem complete: no call, no new row.
    let (totals, _) = run(&ws, &DistillOptions::default()).await;
    assert_eq!(server.request_count(), 20);
    assert_eq!(totals.problems_already_complete, 2);
    assert_eq!(totals.candidates_new, 0);

    // Lost candidates come back from the cache alone.
    rusqlite::Connection::open(ws.db_path())
        .unwrap()
        .execute("DELETE FROM candidates", [])
        .unwrap();
    let (totals, _) = run(&ws, &DistillOptions::default()).await;
    assert_eq!(
        server.request_count(),
        20,
        "the cache must answer every call"
    );
    assert_eq!(totals.calls_cached, 20);
    assert_eq!(totals.calls_answered, 0);
    assert_eq!(totals.prompt_tokens, 0);
    assert_eq!(totals.candidates_new, 6);
    let again = all_candidates(&ws);
    assert_eq!(again.len(), 6);
    for (before, after) in candidates.iter().zip(&again) {
        assert_eq!(before.fields, after.fields);
    }

    // One more plan per problem pays for that plan's three calls only.
    let opts = DistillOptions {
        n_plans: Some(4),
        ..Default::default()
    };
    let (totals, _) = run(&ws, &opts).await;
    assert_eq!(server.request_count(), 20 + 2 * 3);
    assert_eq!(totals.candidates_new, 2);
    assert_eq!(all_candidates(&ws).len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_job_resumes_without_duplicates_or_losses() {
    let server = ScriptedServer::start(pipeline_teacher).await;
    server.set_delay(Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    let problems: Vec<_> = (0..6).map(|i| problem(&format!("p{i}"), i, 1)).collect();
    let ws = workspace(dir.path(), &config(&server, 2, 2), &problems);

    // Kill the job (drop it mid-flight) once its third candidate is stored.
    let (stop, mut stopped) = tokio::sync::mpsc::unbounded_channel();
    let mut stored = 0;
    let opts = DistillOptions::default();
    let job = distill(&ws, &opts, |event, _| {
        if matches!(event, DistillEvent::CandidateStored { .. }) {
            stored += 1;
            if stored == 3 {
                let _ = stop.send(());
            }
        }
    });
    tokio::select! {
        finished = job => panic!("the job should have been killed first: {finished:?}"),
        _ = stopped.recv() => {}
    }
    let first = all_candidates(&ws);
    assert!(first.len() >= 3 && first.len() < 12, "{}", first.len());
    let paid_before = server.request_count();

    let (totals, _) = run(&ws, &DistillOptions::default()).await;
    assert_eq!(totals.errors, 0);
    let all = all_candidates(&ws);
    assert_eq!(all.len(), 12);
    let keys: HashSet<_> = all
        .iter()
        .map(|c| (c.fields.problem_id, c.fields.plan_index))
        .collect();
    assert_eq!(keys.len(), 12);
    for kept in &first {
        let now = all.iter().find(|c| c.id == kept.id).unwrap();
        assert_eq!(now, kept, "a finished candidate changed on resume");
    }
    // 6 problems × (1 + 2 × 3) calls in all; the resumed job paid only for the rest.
    assert!(server.request_count() - paid_before < 42);
    // At most `concurrency` answers can be lost with the killed job.
    assert!(
        server.request_count() <= 42 + 2,
        "{}",
        server.request_count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teacher_requests_stay_within_the_concurrency_limit() {
    let server = ScriptedServer::start(pipeline_teacher).await;
    server.set_delay(Duration::from_millis(30));
    let dir = tempfile::tempdir().unwrap();
    let problems: Vec<_> = (0..4).map(|i| problem(&format!("p{i}"), i, 2)).collect();
    let ws = workspace(dir.path(), &config(&server, 3, 2), &problems);
    let (totals, _) = run(&ws, &DistillOptions::default()).await;
    assert_eq!(totals.candidates_new, 12);
    assert_eq!(server.max_in_flight(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_limits_and_refusals() {
    let server = ScriptedServer::start(pipeline_teacher).await;
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(
        dir.path(),
        &config(&server, 1, 2),
        &[problem("a", 1, 1), problem("b", 2, 2), problem("c", 3, 3)],
    );
    let opts = DistillOptions {
        split: Some("train".into()),
        limit: Some(2),
        ..Default::default()
    };
    let (totals, _) = run(&ws, &opts).await;
    assert_eq!(totals.problems_total, 2);
    assert_eq!(all_candidates(&ws).len(), 2);

    let none = DistillOptions {
        split: Some("test".into()),
        ..Default::default()
    };
    let err = distill(&ws, &none, |_, _| {}).await.unwrap_err();
    assert!(matches!(err, DistillError::NoProblems { .. }), "{err}");

    std::fs::write(ws.prompts_dir().join("plan.md"), "Plan for {{ questin }}").unwrap();
    let broken = Workspace::open(&ws.root, &paths(dir.path())).unwrap();
    let err = distill(&broken, &DistillOptions::default(), |_, _| {})
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("prompts/plan.md"), "{message}");
    assert_eq!(
        server.request_count(),
        2 * 4,
        "no call after a template error"
    );

    let oracle = tempfile::tempdir().unwrap();
    let ws = workspace(oracle.path(), "", &[problem("a", 1, 1)]);
    let err = distill(&ws, &DistillOptions::default(), |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DistillError::NotOpenAi { .. }), "{err}");
}

fn paths(dir: &std::path::Path) -> plantune_tui::config::Paths {
    plantune_tui::config::Paths {
        config_dir: dir.join("config"),
        data_dir: dir.join("data"),
        cache_dir: dir.join("cache"),
    }
}
