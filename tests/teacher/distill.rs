//! The distill pipeline over real HTTP against a scripted local teacher: every field
//! stored, resumable, idempotent, cached.

#![allow(clippy::unwrap_used)]

use crate::common;

// Test scaffolding (the server, fixtures) panics to report a failure, like the tests.

use std::collections::HashSet;
use std::time::Duration;

use common::teacher::{
    CONSTRAINTS_PROMPT, EXECUTE_PROMPT, JUDGE_PROMPT, PLAN_PROMPT, ScriptedServer,
    pipeline_teacher, problem, workspace,
};
use plantune_tui::teacher::{DistillError, DistillEvent, DistillOptions, DistillProgress, distill};
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::Candidate;

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
        // Each stage has its own token limit (plantune.toml's defaults).
        let limit = if request.prompt.contains(EXECUTE_PROMPT) {
            2048
        } else {
            512
        };
        assert_eq!(request.body["max_tokens"], limit, "{}", request.prompt);
    }
    // Every stage ended by itself: nothing marked as cut off.
    let store = ws.store().unwrap();
    for c in &candidates {
        let finish = store.finish_reasons(c.id).unwrap();
        assert_eq!(finish.execution.as_deref(), Some("stop"));
        assert!(finish.truncated().is_empty(), "{finish:?}");
    }
    let counts = store.distinct_plan_counts().unwrap();
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![3, 3]);
    drop(store);

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

/// A teacher that ignores `seed`: every plan request gets the same plan, written in one
/// of two layouts (numbering, case, spacing) that normalise to the same text.
fn seed_ignoring_teacher(prompt: &str, body: &serde_json::Value) -> String {
    if prompt.contains(PLAN_PROMPT) {
        if body["seed"].as_u64().unwrap_or(0).is_multiple_of(2) {
            "1. Read the two numbers.\n2. Add them.".to_owned()
        } else {
            "Step 1: read the two  numbers.\n  - Add them.".to_owned()
        }
    } else {
        pipeline_teacher(prompt, body)
    }
}

fn paths_env(cmd: &mut std::process::Command, dir: &std::path::Path) {
    cmd.env("PLANTUNE_CONFIG_DIR", dir.join("config"))
        .env("PLANTUNE_DATA_DIR", dir.join("data"))
        .env("PLANTUNE_CACHE_DIR", dir.join("cache"))
        .env("RAYON_NUM_THREADS", "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_plans_are_asked_again_never_stored_and_reported() {
    let server = ScriptedServer::start(seed_ignoring_teacher).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{}plan_attempts = 2\n", config(&server, 3, 4));
    let ws = workspace(dir.path(), &config, &[problem("a", 2, 3)]);

    let mut events = Vec::new();
    let report = distill(&ws, &DistillOptions::default(), |e, _| {
        events.push(e.clone())
    })
    .await
    .unwrap();
    let t = &report.totals;
    // Index 0 (or whichever asks first) gets the plan; the two others ask twice each
    // and get only the same plan back.
    assert_eq!(
        (t.plans_asked, t.plans_distinct, t.plans_duplicate),
        (5, 1, 4)
    );
    assert!(t.seed_ignored);
    let warnings = events
        .iter()
        .filter(|e| matches!(e, DistillEvent::SeedIgnored { .. }))
        .count();
    assert_eq!(warnings, 1, "warned once per run");
    let candidates = all_candidates(&ws);
    assert_eq!(candidates.len(), 1, "duplicates are not stored");
    let store = ws.store().unwrap();
    let id = candidates[0].fields.problem_id;
    assert_eq!(store.distinct_plan_counts().unwrap()[&id], 1);
    let diversity = store.plan_diversity(id).unwrap().unwrap();
    assert_eq!((diversity.asked, diversity.distinct), (5, 1));
    // The asks again went out with new seeds, not the cache.
    let plan_seeds: HashSet<u64> = server
        .requests()
        .iter()
        .filter(|r| r.prompt.contains(PLAN_PROMPT))
        .map(|r| r.body["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(plan_seeds.len(), 5);

    // The command line says it: N asked, K distinct, and one warning.
    let out = tokio::task::spawn_blocking({
        let root = ws.root.clone();
        let dir = dir.path().to_owned();
        move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_plantune-tui"));
            cmd.args(["--workspace", root.to_str().unwrap(), "distill", "--n", "4"]);
            paths_env(&mut cmd, &dir);
            cmd.output().unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Indices 1..3 are missing: 3 × 2 asks (two of them cached), all duplicates.
    assert!(
        stdout.contains("plans: 6 asked, 0 distinct (6 duplicates not stored"),
        "{stdout}"
    );
    assert_eq!(
        stderr
            .matches("seems to ignore `seed`/`temperature`")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(all_candidates(&ws).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_cut_by_its_token_limit_is_marked_in_the_candidate() {
    let server = ScriptedServer::start(pipeline_teacher).await;
    server.finish_with(EXECUTE_PROMPT, "length");
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{}execute_max_tokens = 300\n", config(&server, 1, 2));
    let ws = workspace(dir.path(), &config, &[problem("a", 2, 3)]);
    let (totals, _) = run(&ws, &DistillOptions::default()).await;
    assert_eq!(totals.truncated_stages, 1);
    let c = &all_candidates(&ws)[0];
    let finish = ws.store().unwrap().finish_reasons(c.id).unwrap();
    assert_eq!(finish.truncated(), vec!["execution"]);
    assert_eq!(finish.plan.as_deref(), Some("stop"));
    assert_eq!(c.fields.sampling.max_tokens, Some(300));
    let execute = server
        .requests()
        .into_iter()
        .find(|r| r.prompt.contains(EXECUTE_PROMPT))
        .unwrap();
    assert_eq!(execute.body["max_tokens"], 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_lines_reach_a_log_file_while_a_slow_distill_runs() {
    let server = ScriptedServer::start(pipeline_teacher).await;
    server.set_delay(Duration::from_millis(250));
    let dir = tempfile::tempdir().unwrap();
    let problems: Vec<_> = (0..3).map(|i| problem(&format!("p{i}"), i, 1)).collect();
    let ws = workspace(dir.path(), &config(&server, 1, 1), &problems);
    let log = dir.path().join("distill.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_plantune-tui"));
    cmd.args(["--workspace", ws.root.to_str().unwrap(), "distill"])
        .env("PLANTUNE_PROGRESS_INTERVAL_MS", "200")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    paths_env(&mut cmd, dir.path());
    let mut child = cmd.spawn().unwrap();
    // 3 problems × 4 calls × 250 ms, one at a time: about 3 s of work.
    let mut seen_while_running = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let text = std::fs::read_to_string(&log).unwrap();
        if child.try_wait().unwrap().is_none() {
            seen_while_running = text;
        }
    }
    let status = child.wait().unwrap();
    let full = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{full}");
    let lines: Vec<&str> = seen_while_running
        .lines()
        .filter(|l| l.starts_with("progress distill"))
        .collect();
    assert!(
        lines.len() >= 3,
        "progress lines before the end:\n{seen_while_running}"
    );
    assert!(lines[0].contains("started"), "{}", lines[0]);
    assert!(
        lines.iter().any(|l| l.contains("/3 problems")),
        "{seen_while_running}"
    );
    assert!(lines.iter().any(|l| l.contains("ETA")));
    assert!(lines.iter().any(|l| l.contains("0 errors")));
    assert!(full.contains("finished"), "{full}");
    assert!(
        !full.chars().any(|c| c.is_control() && c != '\n'),
        "control characters in the log: {full:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_teacher_check_reports_what_the_server_honours() {
    use plantune_tui::teacher::ClientConfig;
    use plantune_tui::teacher::probe::{Verdict, probe};
    // The scripted server answers one choice, never streams and echoes no model.
    let ignoring = ScriptedServer::start(|_, _| "cat".to_owned()).await;
    let honouring = ScriptedServer::start(|_, body: &serde_json::Value| {
        format!("animal {}", body["seed"].as_u64().unwrap_or(0))
    })
    .await;
    let config = |server: &ScriptedServer| ClientConfig {
        base_url: server.base_url(),
        model: "teacher-x".into(),
        api_key_env: String::new(),
        concurrency: 1,
        timeout: Duration::from_secs(5),
        max_retries: 0,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(10),
        retry_after_max: Duration::from_millis(10),
    };
    let report = probe(&config(&ignoring)).await.unwrap();
    assert!(matches!(report.seed, Verdict::No(_)), "{:?}", report.seed);
    assert!(matches!(report.n, Verdict::No(_)), "{:?}", report.n);
    assert!(matches!(report.streaming, Verdict::No(_)));
    assert_eq!(report.model_echoed, None);
    assert!(report.latency > Duration::ZERO);
    let first = &ignoring.requests()[0].body;
    assert_eq!(
        (first["n"].as_u64(), first["seed"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(ignoring.requests().iter().any(|r| r.body["stream"] == true));

    let report = probe(&config(&honouring)).await.unwrap();
    assert_eq!(report.seed, Verdict::Yes);

    // `doctor` runs it on the workspace's teacher.
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path(), &config_toml(&ignoring), &[]);
    let out = tokio::task::spawn_blocking({
        let root = ws.root.clone();
        let dir = dir.path().to_owned();
        move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_plantune-tui"));
            cmd.args(["--workspace", root.to_str().unwrap(), "doctor"]);
            paths_env(&mut cmd, &dir);
            cmd.output().unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("teacher check"), "{stdout}");
    assert!(stdout.contains("latency"), "{stdout}");
    assert!(stdout.contains("seed honoured      no ("), "{stdout}");
    assert!(stdout.contains("n honoured         no ("), "{stdout}");
}

fn config_toml(server: &ScriptedServer) -> String {
    config(server, 1, 1)
}
