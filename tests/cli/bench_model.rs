//! `bench model|train|generate` run end to end on a tiny random model: every case is
//! measured and reported (no figure is asserted; benchmarks never time tests).

#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use plantune_tui::model::tiny::{TinyConfig, create};

fn tiny_model(dir: &std::path::Path) {
    let corpus = [
        "What is two plus two?",
        "It is four.",
        "Name a colour.",
        "Blue.",
    ];
    let cfg = TinyConfig {
        vocab_size: 300,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 128,
        seed: 3,
    };
    create(dir, corpus.into_iter(), &cfg).unwrap();
}

#[test]
fn every_suite_measures_and_reports_each_case_on_a_tiny_model() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("tiny");
    tiny_model(&model);
    for (suite, expected) in [
        (
            "model",
            vec![
                "fwd+bwd full 4x16",
                "fwd+bwd lora r8 4x16",
                "generate b1 2+8",
                "generate b8 2+8",
            ],
        ),
        ("train", vec!["sft step full 4x16", "sft step lora r8 4x16"]),
        (
            "generate",
            vec!["generate b1 2+8", "generate b8 2+8", "generate b32 2+8"],
        ),
    ] {
        let json = tmp.path().join(format!("{suite}.json"));
        let output = Command::cargo_bin("plantune-tui")
            .unwrap()
            .env("RAYON_NUM_THREADS", "1")
            .args(["bench", "--threads", "1", suite, "--quick", "--scale", "16"])
            .arg("--model")
            .arg(&model)
            .arg("--json")
            .arg(&json)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{suite}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for name in &expected {
            assert!(
                stdout.contains(&format!("| {name} |")),
                "{suite}: no row {name}:\n{stdout}"
            );
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert!(report["torch"].is_null());
        let ours = report["ours"].as_array().unwrap();
        let names: Vec<&str> = ours.iter().map(|m| m["name"].as_str().unwrap()).collect();
        assert_eq!(names, expected, "{suite}");
        for m in ours {
            assert!(m["tokens_per_s"].as_f64().unwrap() > 0.0, "{m}");
            assert!(m["peak_rss_mib"].as_f64().unwrap() > 0.0, "{m}");
            if suite == "train" {
                assert!(m["loss"].as_f64().unwrap().is_finite(), "{m}");
                assert!(m["split"]["optimizer_s"].as_f64().unwrap() > 0.0, "{m}");
            }
        }
    }
}
