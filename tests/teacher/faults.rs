//! Fault handling of the OpenAI-compatible client inside a distill job: transient
//! failures are retried (honouring Retry-After), broken answers fail only their call,
//! the job always completes, and a rerun fills the gaps without duplicates.

#![allow(clippy::unwrap_used)]

use crate::common;

// Test scaffolding (the server, fixtures) panics to report a failure, like the tests.

use std::sync::Arc;
use std::time::Duration;

use common::teacher::{
    CONSTRAINTS_PROMPT, EXECUTE_PROMPT, Fault, JUDGE_PROMPT, PLAN_PROMPT, ScriptedServer,
    pipeline_teacher, problem, workspace,
};
use plantune_tui::teacher::{
    ClientConfig, DistillOptions, DistillReport, OpenAiClient, distill_with,
};
use plantune_tui::workspace::Workspace;

/// One problem, two plans: 1 constraints call + 2 × (plan, judge, execute) = 7 calls.
const CALLS: usize = 7;

struct Fixture {
    server: ScriptedServer,
    ws: Workspace,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let server = ScriptedServer::start(pipeline_teacher).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[teacher]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"t\"\napi_key_env = \"\"\n\
         [distill]\nn_plans = 2\n",
        server.base_url()
    );
    let ws = workspace(dir.path(), &config, &[problem("a", 2, 3)]);
    Fixture {
        server,
        ws,
        _dir: dir,
    }
}

fn client(server: &ScriptedServer, max_retries: u32) -> Arc<OpenAiClient> {
    Arc::new(
        OpenAiClient::new(ClientConfig {
            base_url: server.base_url(),
            model: "t".into(),
            api_key_env: String::new(),
            concurrency: 4,
            timeout: Duration::from_millis(500),
            max_retries,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            retry_after_max: Duration::from_secs(5),
        })
        .unwrap(),
    )
}

async fn run(f: &Fixture, max_retries: u32) -> DistillReport {
    distill_with(
        &f.ws,
        client(&f.server, max_retries),
        &DistillOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap()
}

fn stored(f: &Fixture) -> Vec<u32> {
    let store = f.ws.store().unwrap();
    let problem = &store.problems(None, None).unwrap()[0];
    store
        .candidates_for_problem(problem.id)
        .unwrap()
        .iter()
        .map(|c| c.fields.plan_index)
        .collect()
}

/// A transient fault on the first request of a stage costs one extra request and
/// nothing else.
async fn recovers_from(fault: Fault, stage: &str) -> Fixture {
    let f = fixture().await;
    f.server.inject(stage, fault);
    let report = run(&f, 3).await;
    assert_eq!(report.totals.errors, 0, "{:?}", report.errors);
    assert_eq!(report.totals.candidates_new, 2);
    assert_eq!(f.server.request_count(), CALLS + 1);
    assert_eq!(stored(&f), vec![0, 1]);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_wait_as_long_as_retry_after_says() {
    let f = recovers_from(
        Fault::Status {
            status: 429,
            retry_after: Some(1),
            body: r#"{"error":"slow down"}"#.into(),
        },
        EXECUTE_PROMPT,
    )
    .await;
    let requests = f.server.requests();
    let limited = requests.iter().position(|r| r.faulted).unwrap();
    assert!(requests[limited].prompt.contains(EXECUTE_PROMPT));
    let retry = requests
        .iter()
        .skip(limited + 1)
        .find(|r| r.body == requests[limited].body)
        .unwrap();
    let waited = retry.at - requests[limited].at;
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    recovers_from(
        Fault::Status {
            status: 503,
            retry_after: None,
            body: "overloaded".into(),
        },
        PLAN_PROMPT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_request_times_out_and_is_retried() {
    recovers_from(Fault::Hang, JUDGE_PROMPT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_off_mid_transfer_is_retried() {
    recovers_from(Fault::TruncatedBody, CONSTRAINTS_PROMPT).await;
}

/// An answer that arrives whole but cannot be used fails its call only; the rerun
/// pays for that one call and stores the missing candidate.
async fn fails_one_call_then_rerun_fills(fault: Fault, expected: &str) {
    let f = fixture().await;
    f.server.inject(EXECUTE_PROMPT, fault);
    let report = run(&f, 3).await;
    assert_eq!(
        f.server.request_count(),
        CALLS,
        "no retry of a broken answer"
    );
    assert_eq!(report.totals.errors, 1);
    assert_eq!(report.totals.candidates_new, 1);
    assert!(!report.complete());
    assert!(report.errors[0].contains(expected), "{:?}", report.errors);
    assert_eq!(stored(&f).len(), 1);

    let rerun = run(&f, 3).await;
    assert_eq!(f.server.request_count(), CALLS + 1);
    assert_eq!(rerun.totals.candidates_new, 1);
    assert_eq!(rerun.totals.calls_cached, 3, "constraints, plan and judge");
    assert!(rerun.complete());
    assert_eq!(stored(&f), vec![0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_fails_only_its_call() {
    fails_one_call_then_rerun_fills(Fault::InvalidJson, "not chat-completions JSON").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_choices_fail_only_their_call() {
    fails_one_call_then_rerun_fills(Fault::EmptyChoices, "empty `choices`").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried() {
    let f = fixture().await;
    f.server.inject(
        PLAN_PROMPT,
        Fault::Status {
            status: 400,
            retry_after: None,
            body: r#"{"error":"max_tokens too large"}"#.into(),
        },
    );
    let report = run(&f, 3).await;
    // The failed plan is neither judged nor executed.
    assert_eq!(f.server.request_count(), CALLS - 2);
    assert_eq!(report.totals.errors, 1);
    assert!(report.errors[0].contains("HTTP 400"), "{:?}", report.errors);
    assert!(report.errors[0].contains("max_tokens too large"));
    assert_eq!(stored(&f).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_max_retries_and_the_job_still_completes() {
    let f = fixture().await;
    for _ in 0..3 {
        f.server.inject(
            CONSTRAINTS_PROMPT,
            Fault::Status {
                status: 500,
                retry_after: None,
                body: "boom".into(),
            },
        );
    }
    let report = run(&f, 2).await;
    assert_eq!(f.server.request_count(), 3, "first try + 2 retries");
    assert_eq!(report.totals.errors, 1);
    assert_eq!(report.totals.problems_done, 1);
    assert!(
        report.errors[0].contains("gave up after 3 attempts"),
        "{:?}",
        report.errors
    );
    assert!(stored(&f).is_empty());

    let rerun = run(&f, 2).await;
    assert!(rerun.complete());
    assert_eq!(stored(&f), vec![0, 1]);
}
