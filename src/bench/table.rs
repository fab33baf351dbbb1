//! The side-by-side table `bench model|train|generate` prints.

use std::fmt::Write;

use super::cases::{Case, CaseKind};
use super::flops;
use super::ours::Measured;
use super::torch::TorchReport;
use crate::model::config::Config;

pub struct Row<'a> {
    pub ours: &'a Measured,
    pub torch: Option<&'a Measured>,
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.decimals$}"))
}

/// Rows of `ours` matched by name with the PyTorch report's cases.
pub fn rows<'a>(ours: &'a [Measured], torch: Option<&'a TorchReport>) -> Vec<Row<'a>> {
    ours.iter()
        .map(|m| Row {
            ours: m,
            torch: torch.and_then(|t| t.cases.iter().find(|c| c.name == m.name)),
        })
        .collect()
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b.max(1e-12)),
        _ => "-".to_string(),
    }
}

/// Tokens per CPU-second (user + system) of a case.
fn per_cpu_second(m: &Measured) -> Option<f64> {
    let tokens = m.tokens_per_s * m.seconds;
    m.cpu_seconds.filter(|c| *c > 0.0).map(|c| tokens / c)
}

/// Markdown table: tokens/s of both sides and the ratio ours / PyTorch, the same per
/// CPU-second (steadier on a shared machine), and the peak RSS of both.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| what | ours tokens/s | PyTorch tokens/s | ratio ours/PyTorch | ours tokens/CPU-s | PyTorch tokens/CPU-s | ratio by CPU time | ours peak RSS MiB | PyTorch peak RSS MiB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let theirs = row.torch.map(|t| t.tokens_per_s);
        let ours_cpu = per_cpu_second(row.ours);
        let theirs_cpu = row.torch.and_then(per_cpu_second);
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
            row.ours.name,
            row.ours.tokens_per_s,
            opt(theirs, 1),
            ratio(Some(row.ours.tokens_per_s), theirs),
            opt(ours_cpu, 1),
            opt(theirs_cpu, 1),
            ratio(ours_cpu, theirs_cpu),
            opt(row.ours.peak_rss_mib, 0),
            opt(row.torch.and_then(|t| t.peak_rss_mib), 0),
        );
    }
    out
}

/// Where a training step's time goes, both sides, seconds per step.
pub fn render_split(rows: &[Row]) -> String {
    let mut out = String::new();
    let with_split: Vec<&Row> = rows.iter().filter(|r| r.ours.split.is_some()).collect();
    if with_split.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "| seconds per step | ours forward | ours backward | ours optimizer | PyTorch forward | PyTorch backward | PyTorch optimizer | first loss ours / PyTorch |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in with_split {
        let s = row.ours.split.unwrap_or_default();
        let t = row.torch.and_then(|t| t.split);
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} / {} |",
            row.ours.name,
            s.forward_s,
            s.backward_s,
            s.optimizer_s,
            opt(t.map(|t| t.forward_s), 2),
            opt(t.map(|t| t.backward_s), 2),
            opt(t.map(|t| t.optimizer_s), 2),
            opt(row.ours.loss, 4),
            opt(row.torch.and_then(|t| t.loss), 4),
        );
    }
    out
}

/// Model FLOPs utilisation of the training rows, both sides, at `peak_tflops`.
pub fn render_mfu(rows: &[Row], cases: &[Case], cfg: &Config, peak_tflops: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| MFU at {peak_tflops} TFLOP/s peak | model GFLOP per token | ours | PyTorch |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for row in rows {
        let Some(case) = cases.iter().find(|c| c.name == row.ours.name) else {
            continue;
        };
        if matches!(case.kind, CaseKind::Generate | CaseKind::GrpoStep) {
            continue;
        }
        let per_token = flops::train_flops_per_token(cfg, case.seq, case.lora_rank > 0);
        let pct = |tps: f64| format!("{:.1}%", 100.0 * flops::mfu(tps, per_token, peak_tflops));
        let _ = writeln!(
            out,
            "| {} | {:.2} | {} | {} |",
            row.ours.name,
            per_token / 1e9,
            pct(row.ours.tokens_per_s),
            row.torch
                .map_or_else(|| "-".to_string(), |t| pct(t.tokens_per_s)),
        );
    }
    out
}

/// Lines for inputs that differ between the sides (they must not).
pub fn mismatches(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| {
            let t = r.torch?;
            (t.ids_sum != r.ours.ids_sum).then(|| {
                format!(
                    "{}: input ids differ between the sides (sums {} vs {})",
                    r.ours.name, r.ours.ids_sum, t.ids_sum
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::ours::Split;

    fn measured(name: &str, tps: f64, split: bool) -> Measured {
        Measured {
            name: name.into(),
            tokens_per_s: tps,
            seconds: 1.0,
            cpu_seconds: Some(0.5),
            split: split.then_some(Split {
                forward_s: 0.5,
                backward_s: 1.0,
                optimizer_s: 0.25,
            }),
            peak_rss_mib: Some(100.0),
            loss: Some(3.25),
            ids_sum: 7,
        }
    }

    #[test]
    fn ratio_is_ours_over_pytorch_and_missing_sides_show_a_dash() {
        let ours = vec![measured("a", 50.0, true), measured("b", 10.0, false)];
        let torch = TorchReport {
            torch: "x".into(),
            transformers: "y".into(),
            threads: 1,
            gpu: None,
            cases: vec![measured("a", 100.0, true)],
        };
        let rows = rows(&ours, Some(&torch));
        let table = render(&rows);
        assert!(
            table.contains("| a | 50.0 | 100.0 | 0.50x | 100.0 | 200.0 | 0.50x | 100 | 100 |"),
            "{table}"
        );
        assert!(
            table.contains("| b | 10.0 | - | - | 20.0 | - | - | 100 | - |"),
            "{table}"
        );
        let split = render_split(&rows);
        assert!(
            split.contains("| a | 0.50 | 1.00 | 0.25 | 0.50 | 1.00 | 0.25 | 3.2500 / 3.2500 |"),
            "{split}"
        );
        assert!(mismatches(&rows).is_empty());
    }
}
