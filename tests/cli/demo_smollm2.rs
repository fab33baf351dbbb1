//! `plantune-tui demo --student smollm2` end to end on the real SmolLM2-135M-Instruct,
//! cut down to minutes: the GGUF imported into a workspace of its own, both students
//! fully fine-tuned from it, GRPO, evaluation on the synthetic splits and a GSM8K file,
//! and a report recomputable from the stored predictions. The workspace remembers its
//! student, so the tiny demo cannot reuse its runs.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use crate::common;
use plantune_tui::config::Paths;
use plantune_tui::demo::pipeline;
use plantune_tui::demo::report::STUDENTS;
use plantune_tui::demo::student::DemoStudent;
use plantune_tui::workspace::Workspace;

const EVAL_LIMIT: usize = 2;
const GSM8K: &str = "gsm8k/sample";

fn paths(root: &Path) -> Paths {
    Paths {
        config_dir: root.join("config"),
        data_dir: root.join("data"),
        cache_dir: root.join("cache"),
    }
}

fn demo(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plantune-tui"))
        .current_dir(root)
        .args(["--threads", "2"])
        .args(args)
        .env("PLANTUNE_CONFIG_DIR", root.join("config"))
        .env("PLANTUNE_DATA_DIR", root.join("data"))
        .env("PLANTUNE_CACHE_DIR", root.join("cache"))
        .env("PLANTUNE_SMOLLM2_GGUF", common::smollm2::gguf_path())
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_smollm2_demo_plan_tunes_the_pretrained_student_in_a_workspace_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let gsm8k = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/gsm8k_sample.jsonl");
    let limit = EVAL_LIMIT.to_string();
    let out = demo(
        tmp.path(),
        &[
            "demo",
            "--headless",
            "--student",
            "smollm2",
            "--steps",
            "1",
            "--grpo-steps",
            "1",
            "--grpo-prompts",
            "1",
            "--grpo-group",
            "2",
            "--max-new-tokens",
            "8",
            "--eval-limit",
            &limit,
            "--gsm8k",
            gsm8k.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "demo failed\n{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("importing"), "{stdout}");
    assert!(stdout.contains("25 GSM8K problems read"), "{stdout}");

    // No --workspace: the default one's sibling, not the tiny demo's.
    let paths = paths(tmp.path());
    let ws_dir = DemoStudent::Smollm2.default_workspace(&paths.default_workspace());
    assert!(!paths.default_workspace().exists());
    let ws = Workspace::open(&ws_dir, &paths).unwrap();
    let model = ws.root.join("models/smollm2");
    assert!(model.join("model.safetensors").is_file());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 30, "{config}");

    // Every run trained SmolLM2 and left a full model of its shape.
    let store = ws.store().unwrap();
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(pipeline::pipeline_dir(&ws).join("pipeline.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["student"], "smollm2", "{state}");
    for id in state["runs"].as_object().unwrap().values() {
        let id = id.as_str().unwrap();
        assert_eq!(store.run(id).unwrap().status, "completed");
        let run_toml = std::fs::read_to_string(ws.runs_dir().join(id).join("run.toml")).unwrap();
        let trained: serde_json::Value = serde_json::from_slice(
            &std::fs::read(ws.runs_dir().join(id).join("final/config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(trained["num_hidden_layers"], 30, "{id}");
        if id.starts_with("sft") {
            assert!(
                run_toml.contains("model = \"models/smollm2\""),
                "{run_toml}"
            );
        }
    }

    // The report covers the GSM8K file beside the synthetic splits, and is what the
    // stored predictions say.
    let extra = [GSM8K.to_owned()];
    let recomputed = pipeline::report(&ws, 1, DemoStudent::Smollm2, &extra).unwrap();
    let json_text = std::fs::read_to_string(ws.exports_dir().join("demo-report.json")).unwrap();
    assert_eq!(recomputed.json(), json_text);
    let markdown = std::fs::read_to_string(ws.exports_dir().join("demo-report.md")).unwrap();
    assert_eq!(recomputed.markdown, markdown);
    assert!(markdown.contains("Student model: smollm2"), "{markdown}");
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(json["student"], "smollm2");
    for (student, _) in STUDENTS {
        let rows: Vec<_> = json["accuracy"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["model"] == student && r["benchmark"] == GSM8K)
            .collect();
        assert_eq!(rows.len(), 2, "{student}: seed 1 and pooled on {GSM8K}");
        assert_eq!(rows[0]["n"], EVAL_LIMIT as u64);
    }
    drop(store);

    // The same workspace refuses the tiny student's demo instead of mixing the two.
    let ws_arg = ws_dir.to_str().unwrap();
    let out = demo(
        tmp.path(),
        &["--workspace", ws_arg, "demo", "--headless", "--steps", "1"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("trains the smollm2 student") && stderr.contains("--workspace"),
        "{stderr}"
    );
}
