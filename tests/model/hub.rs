//! The Hub download path without network: it must fail fast with a message that
//! says the Hub could not be reached, and leave no output behind.

use std::time::{Duration, Instant};

use plantune_tui::model::hub::{HubError, download_model};

#[test]
fn download_without_network_fails_clearly() {
    let scratch = tempfile::tempdir().expect("tempdir");
    // SAFETY: the only test in this binary; no other thread reads the environment yet.
    unsafe {
        std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:1");
        std::env::set_var("HF_HOME", scratch.path().join("hf-home"));
    }
    let out = scratch.path().join("models").join("smollm2");
    let started = Instant::now();
    let err = download_model("HuggingFaceTB/SmolLM2-135M-Instruct", &out)
        .expect_err("no network must be an error");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, HubError::Network { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("offline or no network"), "{msg}");
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    assert!(msg.contains("HuggingFaceTB/SmolLM2-135M-Instruct"), "{msg}");
    assert!(!out.exists());
}
