//! `bench gpu-check` on the CPU with tiny shapes: the command a lent GPU machine runs,
//! checked here end to end so that only the GPU itself is untried there.

#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use serde_json::Value;

fn gpu_check(
    cache: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    Command::cargo_bin("plantune-tui")
        .unwrap()
        .env("RAYON_NUM_THREADS", "1")
        .env("PLANTUNE_CACHE_DIR", cache)
        .args([
            "--device",
            "cpu",
            "--threads",
            "1",
            "bench",
            "gpu-check",
            "--quick",
        ])
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn report(out: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("gpu-check.json")).unwrap()).unwrap()
}

fn section<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no section {name}: {report}"))
}

#[test]
fn gpu_check_runs_every_section_on_the_cpu_and_writes_json_and_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let output = gpu_check(&tmp.path().join("cache"), &out, &["--limit", "600"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report = report(&out);
    assert_eq!(report["device"], "cpu");
    assert_eq!(report["status"], "completed");
    let names: Vec<&str> = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["nvml", "gradients", "bf16_curve", "sft", "grpo", "generate"]
    );

    let grads = section(&report, "gradients");
    assert_eq!(grads["status"], "passed", "{grads}");
    let checks = grads["data"]["checks"].as_array().unwrap();
    assert!(checks.len() >= 20, "{} checks", checks.len());
    assert!(checks.iter().all(|c| c["passed"] == true));
    for kind in ["finite_differences", "reference"] {
        assert!(checks.iter().any(|c| c["kind"] == kind), "no {kind} check");
    }
    for op in [
        "rms_norm",
        "softmax",
        "rope",
        "glu",
        "attention",
        "lm_head_loss",
        "frozen_linear",
        "lora_linear",
        "linear",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"].as_str().unwrap().starts_with(op)),
            "no check of {op}"
        );
    }

    let curve = section(&report, "bf16_curve");
    assert_eq!(curve["status"], "passed", "{curve}");
    for precision in ["f32", "bf16"] {
        let losses = curve["data"][precision].as_array().unwrap();
        assert_eq!(losses.len(), 20, "{precision}");
        assert!(losses.iter().all(|l| l.as_f64().unwrap().is_finite()));
    }
    assert_eq!(curve["data"]["bounds"]["each_step"], 0.15);
    // The bf16 run sampled its device as a training run does.
    assert!(
        curve["data"]["device_events"].as_u64().unwrap() >= 1,
        "{curve}"
    );
    let events = std::fs::read_to_string(out.join("bf16-events.jsonl")).unwrap();
    assert!(events.contains(r#""kind":"device""#), "{events}");
    assert!(events.contains(r#""kind":"step""#));

    for (name, rows) in [("sft", 1), ("grpo", 1), ("generate", 1)] {
        let s = section(&report, name);
        assert_eq!(s["status"], "measured", "{s}");
        let measured = s["data"]["rows"].as_array().unwrap();
        assert_eq!(measured.len(), rows, "{name}");
        for row in measured {
            assert!(row["ours"]["tokens_per_s"].as_f64().unwrap() > 0.0, "{row}");
            assert!(row["torch"].is_null(), "no PyTorch side was asked for");
        }
    }
    assert!(
        section(&report, "sft")["data"]["rows"][0]["ours"]["loss"]
            .as_f64()
            .unwrap()
            .is_finite()
    );

    let md = std::fs::read_to_string(out.join("gpu-check.md")).unwrap();
    for needle in [
        "# bench gpu-check on cpu",
        "## gradients",
        "| step | f32 (CPU) | bf16 (device)",
        "## sft",
        "| sft step full 4x32 |",
    ] {
        assert!(md.contains(needle), "no `{needle}` in:\n{md}");
    }
    assert!(String::from_utf8_lossy(&output.stdout).contains("## bf16_curve"));
}

#[test]
fn the_limit_ends_the_run_with_the_report_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let output = gpu_check(&tmp.path().join("cache"), &out, &["--limit", "0.3"]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = report(&out);
    assert_eq!(report["status"], "out_of_time");
    assert_eq!(section(&report, "nvml")["status"], "measured");
    assert_eq!(section(&report, "gradients")["status"], "cut_off");
    assert!(
        std::fs::read_to_string(out.join("gpu-check.md"))
            .unwrap()
            .contains("CutOff")
    );

    let bad = gpu_check(&tmp.path().join("cache"), &out, &["--limit=0"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--limit"));
}
