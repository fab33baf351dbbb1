//! The check's results, rewritten in full after every step as `gpu-check.json` and
//! `gpu-check.md` (each written beside and renamed), so whatever stops the run — the
//! `--limit`, a crash, the device machine's own timeout — leaves the last complete view.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::text::sanitize;

pub const JSON_FILE: &str = "gpu-check.json";
pub const MARKDOWN_FILE: &str = "gpu-check.md";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    /// The `--limit` ran out: the sections not reached are `skipped`, the one under
    /// way `cut_off`.
    OutOfTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionStatus {
    Running,
    /// Every check in it passed.
    Passed,
    /// A check in it failed.
    Failed,
    /// Figures were taken (speed sections have nothing to pass).
    Measured,
    /// It could not run: the message says why.
    Error,
    /// Not started: too little of the `--limit` was left.
    Skipped,
    /// Stopped by the `--limit` while under way.
    CutOff,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub name: String,
    pub status: SectionStatus,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub device: String,
    /// The GPU's name as NVML gives it, where there is one.
    pub gpu: Option<String>,
    pub quick: bool,
    pub torch: bool,
    pub limit_s: Option<f64>,
    pub status: RunStatus,
    pub elapsed_s: f64,
    pub sections: Vec<Section>,
}

impl Report {
    /// Whether everything that ran passed or measured, and everything ran.
    pub fn all_good(&self) -> bool {
        self.status == RunStatus::Completed
            && self
                .sections
                .iter()
                .all(|s| matches!(s.status, SectionStatus::Passed | SectionStatus::Measured))
    }
}

/// Writes both files into `dir`.
pub fn write(dir: &Path, report: &Report) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    write_atomic(&dir.join(JSON_FILE), &json)?;
    write_atomic(&dir.join(MARKDOWN_FILE), &markdown(report))
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn num(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_string(), |x| format!("{x:.decimals$}"))
}

/// The report as Markdown: a summary table, then each section's figures.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# bench gpu-check on {}", report.device);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "GPU: {}; quick: {}; PyTorch beside: {}; limit: {}; status: {:?}; elapsed {:.1} s",
        report
            .gpu
            .as_deref()
            .map(sanitize)
            .unwrap_or_else(|| "none".into()),
        report.quick,
        report.torch,
        report
            .limit_s
            .map_or("none".into(), |l| format!("{l:.0} s")),
        report.status,
        report.elapsed_s
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| section | status | seconds | note |");
    let _ = writeln!(out, "|---|---|---:|---|");
    for s in &report.sections {
        let _ = writeln!(
            out,
            "| {} | {:?} | {:.1} | {} |",
            s.name,
            s.status,
            s.seconds,
            s.note.as_deref().map(sanitize).unwrap_or_default()
        );
    }
    for s in &report.sections {
        let _ = writeln!(out);
        let _ = writeln!(out, "## {}", s.name);
        let _ = writeln!(out);
        match s.name.as_str() {
            "gradients" => gradients_md(&mut out, &s.data),
            "bf16_curve" => curve_md(&mut out, &s.data),
            "sft" | "grpo" | "generate" => speed_md(&mut out, &s.data),
            _ => {
                let text = serde_json::to_string_pretty(&s.data).unwrap_or_default();
                let _ = writeln!(out, "```json\n{}\n```", sanitize(&text));
            }
        }
    }
    out
}

fn gradients_md(out: &mut String, data: &Value) {
    let _ = writeln!(out, "| check | kind | worst | tolerance | passed |");
    let _ = writeln!(out, "|---|---|---:|---:|---|");
    for c in data["checks"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2e} | {:.0e} | {} |",
            sanitize(c["name"].as_str().unwrap_or("")),
            c["kind"].as_str().unwrap_or(""),
            c["worst"].as_f64().unwrap_or(f64::NAN),
            c["tolerance"].as_f64().unwrap_or(f64::NAN),
            c["passed"].as_bool().unwrap_or(false)
        );
    }
    for e in data["errors"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "- error in {}: {}",
            sanitize(e["case"].as_str().unwrap_or("")),
            sanitize(e["error"].as_str().unwrap_or(""))
        );
    }
}

fn curve_md(out: &mut String, data: &Value) {
    let f32 = data["f32"].as_array().cloned().unwrap_or_default();
    let bf16 = data["bf16"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "| step | f32 (CPU) | bf16 (device) | difference |");
    let _ = writeln!(out, "|---:|---:|---:|---:|");
    for (i, (a, b)) in f32.iter().zip(&bf16).enumerate() {
        let diff = match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => format!("{:+.5}", b - a),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {diff} |",
            i + 1,
            num(a, 5),
            num(b, 5)
        );
    }
    for f in data["failures"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "- outside the bounds: {}", f.as_str().unwrap_or(""));
    }
    let _ = writeln!(
        out,
        "\n`device` events of the bf16 run: {} ({} with GPU readings)",
        num(&data["device_events"], 0),
        num(&data["device_events_with_gpu"], 0)
    );
}

fn speed_md(out: &mut String, data: &Value) {
    let _ = writeln!(
        out,
        "model `{}`, {}",
        sanitize(data["model"].as_str().unwrap_or("")),
        sanitize(data["torch_versions"].as_str().unwrap_or("no PyTorch side"))
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| case | ours tokens/s | PyTorch tokens/s | ours/PyTorch | ours MFU | PyTorch MFU | ours loss | PyTorch loss |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("-".into(), |x| format!("{:.1}%", 100.0 * x))
    };
    for r in data["rows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            sanitize(r["case"].as_str().unwrap_or("")),
            num(&r["ours"]["tokens_per_s"], 1),
            num(&r["torch"]["tokens_per_s"], 1),
            num(&r["ratio"], 2),
            pct(&r["mfu_ours"]),
            pct(&r["mfu_torch"]),
            num(&r["ours"]["loss"], 4),
            num(&r["torch"]["loss"], 4)
        );
        for side in ["ours_error", "torch_error"] {
            if let Some(e) = r[side].as_str() {
                let _ = writeln!(out, "\n- {side}: {}", sanitize(e));
            }
        }
    }
}
