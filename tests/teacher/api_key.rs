//! The API key travels only as `Authorization: Bearer`, read from the environment
//! variable the config names; no stored row and no error message contains it.
//! (Its own test binary: it sets an environment variable before any thread reads one.)

#![allow(clippy::unwrap_used)]

use crate::common;

// Test scaffolding (the server, fixtures) panics to report a failure, like the tests.

use common::teacher::{Fault, PLAN_PROMPT, ScriptedServer, pipeline_teacher, problem, workspace};
use plantune_tui::teacher::{ClientConfig, DistillOptions, OpenAiClient, distill};

const KEY_ENV: &str = "PLANTUNE_TEST_TEACHER_KEY";
const KEY: &str = "sk-test-6f1d0c9a1b2e4d7f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_sent_as_a_bearer_token_and_never_stored_or_shown() {
    // SAFETY: this binary's only test sets the variable before any code reads the
    // environment from another thread.
    unsafe { std::env::set_var(KEY_ENV, KEY) };
    let server = ScriptedServer::start(pipeline_teacher).await;
    // A server that echoes the request's key back in its error.
    server.inject(
        PLAN_PROMPT,
        Fault::Status {
            status: 401,
            retry_after: None,
            body: format!(r#"{{"error":"invalid key Bearer {KEY}"}}"#),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[teacher]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"t\"\n\
         api_key_env = \"{KEY_ENV}\"\n[distill]\nn_plans = 2\n",
        server.base_url()
    );
    let ws = workspace(dir.path(), &config, &[problem("a", 2, 3)]);
    let report = distill(&ws, &DistillOptions::default(), |_, _| {})
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    for request in &requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some(&*format!("Bearer {KEY}"))
        );
    }
    assert_eq!(report.errors.len(), 1);
    let error = &report.errors[0];
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(error.contains("<redacted>"), "{error}");
    assert!(
        error.contains(KEY_ENV),
        "the hint names the variable: {error}"
    );
    assert!(!error.contains(KEY), "{error}");

    // Nothing on disk holds the key: the database, its WAL, the config.
    for entry in walk(&ws.root) {
        let bytes = std::fs::read(&entry).unwrap();
        let found = bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes());
        assert!(!found, "{} contains the key", entry.display());
    }

    let client = OpenAiClient::new(ClientConfig::from_section(&ws.config.teacher)).unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
