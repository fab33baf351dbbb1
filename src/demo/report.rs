//! The demo's results, computed from what the workspace stores, its predictions and its
//! GRPO runs' events (anyone can recompute them): accuracy per training seed and pooled over the seeds, the
//! paired differences between students with their 95% intervals and what each decides,
//! the OOD accuracy by number of operations, and what the GRPO stage did on its own
//! training prompts (`grpo_stage`); as Markdown (`exports/demo-report.md`)
//! and as JSON (`exports/demo-report.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::grpo_stage::{self, GrpoStageEntry};
use super::seed_label::{POOLED, SeedLabel};
use super::state::recorded_run;
use super::student::DemoStudent;
use super::verdict::{self, Verdict};
use crate::eval::report::{
    AccuracyRow, PairedTable, accuracy_by_steps, accuracy_row, paired, points_with_interval,
};
use crate::eval::runner::Mode;
use crate::eval::stats::{PairedCounts, wilson_interval};
use crate::workspace::Workspace;
use crate::workspace::store::{PredictionKey, Store};

pub const SPLITS: [&str; 2] = ["synth/test_id", "synth/test_ood"];

/// The students, each evaluated in the mode it was trained for.
pub const STUDENTS: [(&str, Mode); 3] = [
    ("baseline", Mode::Direct),
    ("plan-tuned", Mode::Plan1pass),
    ("plan-tuned+grpo", Mode::Plan1pass),
];

/// The comparisons the report makes, A against B.
const PAIRS: [(&str, &str); 3] = [
    ("plan-tuned", "baseline"),
    ("plan-tuned+grpo", "baseline"),
    ("plan-tuned+grpo", "plan-tuned"),
];

/// The name a student trained with `seed` has in the store and among the runs. Seed 1
/// keeps the plain name, so a one-seed demo reads naturally and a workspace made before
/// seeds existed is reused as it is.
pub fn model_name(student: &str, seed: u32) -> String {
    if seed == 1 {
        student.to_owned()
    } else {
        format!("{student}@seed{seed}")
    }
}

/// The stored predictions of `student` (trained with `seed`) on `benchmark`.
pub fn prediction_key(student: &str, mode: Mode, seed: u32, benchmark: &str) -> PredictionKey {
    PredictionKey {
        model: model_name(student, seed),
        benchmark: benchmark.to_owned(),
        mode: mode.as_str().to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyEntry {
    pub model: String,
    pub benchmark: String,
    pub mode: String,
    pub seed: SeedLabel,
    pub n: u64,
    pub correct: u64,
    pub acc: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedEntry {
    pub a: String,
    pub b: String,
    pub benchmark: String,
    pub seed: SeedLabel,
    pub n: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub diff: f64,
    pub diff_ci_low: f64,
    pub diff_ci_high: f64,
    pub mcnemar_p: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepsEntry {
    pub model: String,
    pub benchmark: String,
    pub steps: u32,
    pub n: u64,
    pub correct: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoReport {
    pub student: DemoStudent,
    pub seeds: u32,
    pub accuracy: Vec<AccuracyEntry>,
    pub paired: Vec<PairedEntry>,
    /// What each pooled comparison decides (see `verdict`).
    pub verdicts: Vec<Verdict>,
    /// OOD accuracy by number of operations, every seed's answers together.
    pub ood_by_steps: Vec<StepsEntry>,
    /// The GRPO runs' rollouts, first half of the steps against the last.
    pub grpo_stage: Vec<GrpoStageEntry>,
    #[serde(skip)]
    pub markdown: String,
}

impl DemoReport {
    pub fn json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).unwrap_or_default();
        out.push('\n');
        out
    }
}

fn accuracy_entry(row: AccuracyRow, model: &str, seed: SeedLabel) -> AccuracyEntry {
    AccuracyEntry {
        model: model.to_owned(),
        benchmark: row.benchmark,
        mode: row.mode,
        seed,
        n: row.n,
        correct: row.correct,
        acc: row.accuracy,
        ci_low: row.ci_low,
        ci_high: row.ci_high,
    }
}

fn pooled_accuracy(per_seed: &[AccuracyEntry]) -> Option<AccuracyEntry> {
    let first = per_seed.first()?;
    let n: u64 = per_seed.iter().map(|e| e.n).sum();
    let correct: u64 = per_seed.iter().map(|e| e.correct).sum();
    let (ci_low, ci_high) = wilson_interval(correct, n);
    Some(AccuracyEntry {
        seed: POOLED,
        n,
        correct,
        acc: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
        ci_low,
        ci_high,
        ..first.clone()
    })
}

fn paired_entry(t: &PairedTable, a: &str, b: &str, seed: SeedLabel) -> PairedEntry {
    PairedEntry {
        a: a.to_owned(),
        b: b.to_owned(),
        benchmark: t.a.benchmark.clone(),
        seed,
        n: t.n,
        only_a: t.only_a,
        only_b: t.only_b,
        diff: t.diff,
        diff_ci_low: t.diff_ci_low,
        diff_ci_high: t.diff_ci_high,
        mcnemar_p: t.mcnemar_p,
    }
}

/// The synthetic splits, then `extra` (e.g. `gsm8k/sample`): what the demo evaluates.
pub fn benchmarks(extra: &[String]) -> Vec<&str> {
    SPLITS
        .into_iter()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

/// Every figure of a demo of `student` trained with `seeds` seeds per student, on the
/// synthetic splits and `extra_benchmarks`. A student or benchmark without predictions
/// is an error: a report that silently left one out would mislead.
pub fn report(
    ws: &Workspace,
    seeds: u32,
    student_model: DemoStudent,
    extra_benchmarks: &[String],
) -> Result<DemoReport, anyhow::Error> {
    let benchmarks = benchmarks(extra_benchmarks);
    let store = ws.store()?;
    let mode_of = |student: &str| {
        STUDENTS
            .iter()
            .find(|(s, _)| *s == student)
            .map(|(_, m)| *m)
            .unwrap_or(Mode::Direct)
    };
    let mut accuracy = Vec::new();
    for (student, mode) in STUDENTS {
        for &benchmark in &benchmarks {
            let mut per_seed = Vec::new();
            for seed in 1..=seeds {
                let key = prediction_key(student, mode, seed, benchmark);
                let row = accuracy_row(&store, &key)?;
                anyhow::ensure!(row.n > 0, "no stored predictions for {key:?}");
                per_seed.push(accuracy_entry(row, student, SeedLabel::Seed(seed)));
            }
            let pooled = pooled_accuracy(&per_seed);
            accuracy.extend(per_seed);
            accuracy.extend(pooled);
        }
    }
    let mut paired_entries = Vec::new();
    let mut verdicts = Vec::new();
    for &benchmark in &benchmarks {
        for (a, b) in PAIRS {
            let mut pooled = PairedCounts::default();
            let mut per_seed = Vec::new();
            for seed in 1..=seeds {
                let ka = prediction_key(a, mode_of(a), seed, benchmark);
                let kb = prediction_key(b, mode_of(b), seed, benchmark);
                let table = paired(&store, &ka, &kb)?;
                let c = table.counts();
                pooled.both_right += c.both_right;
                pooled.only_a += c.only_a;
                pooled.only_b += c.only_b;
                pooled.both_wrong += c.both_wrong;
                per_seed.push(c);
                paired_entries.push(paired_entry(&table, a, b, SeedLabel::Seed(seed)));
            }
            let ka = prediction_key(a, mode_of(a), 1, benchmark);
            let kb = prediction_key(b, mode_of(b), 1, benchmark);
            let table = PairedTable::from_counts(ka, kb, pooled);
            let entry = paired_entry(&table, a, b, POOLED);
            verdicts.push(verdict::judge(
                (a, b, benchmark),
                entry.n,
                entry.diff,
                (entry.diff_ci_low, entry.diff_ci_high),
                &per_seed,
            ));
            paired_entries.push(entry);
        }
    }
    let ood_by_steps = ood_by_steps(&store, seeds)?;
    let grpo_runs = (1..=seeds)
        .map(|seed| Ok((seed, recorded_run(ws, &model_name(STUDENTS[2].0, seed))?)))
        .collect::<Result<Vec<_>, anyhow::Error>>()?;
    let grpo_stage = grpo_stage::grpo_stage(ws, &grpo_runs)?;
    let mut report = DemoReport {
        student: student_model,
        seeds,
        accuracy,
        paired: paired_entries,
        verdicts,
        ood_by_steps,
        grpo_stage,
        markdown: String::new(),
    };
    report.markdown = render_markdown(&report);
    Ok(report)
}

/// OOD accuracy by number of operations per student, every seed's answers together.
fn ood_by_steps(store: &Store, seeds: u32) -> Result<Vec<StepsEntry>, anyhow::Error> {
    let benchmark = "synth/test_ood";
    let mut entries = Vec::new();
    for (student, mode) in STUDENTS {
        let mut cells: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for seed in 1..=seeds {
            let key = prediction_key(student, mode, seed, benchmark);
            for (steps, (right, n)) in accuracy_by_steps(store, &key)? {
                let cell = cells.entry(steps).or_default();
                cell.0 += right as u64;
                cell.1 += n as u64;
            }
        }
        entries.extend(cells.into_iter().map(|(steps, (correct, n))| StepsEntry {
            model: student.to_owned(),
            benchmark: benchmark.to_owned(),
            steps,
            n,
            correct,
        }));
    }
    Ok(entries)
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// Mean and sample standard deviation, in points.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (100.0 * mean, 100.0 * var.sqrt())
}

fn render_markdown(r: &DemoReport) -> String {
    let mut out = String::from("# Demo results\n\n");
    let _ = writeln!(
        out,
        "Student model: {}. {} training seed(s) per student (the seed orders the training data and the GRPO \
         samples). \"pooled\" counts every seed's answers together; its interval treats \
         them as independent, so it is narrower than the seed-to-seed spread when the \
         seeds agree.\n",
        r.student.as_str(),
        r.seeds
    );
    out.push_str("## Accuracy (%)\n\n| student | benchmark | mode |");
    for seed in 1..=r.seeds {
        let _ = write!(out, " seed {seed} |");
    }
    out.push_str(" mean ± sd | pooled n | pooled [95% CI] |\n|---|---|---|");
    out.push_str(&"---:|".repeat(r.seeds as usize + 3));
    out.push('\n');
    for pooled in r.accuracy.iter().filter(|e| e.seed == POOLED) {
        let seeds: Vec<&AccuracyEntry> = r
            .accuracy
            .iter()
            .filter(|e| {
                e.seed != POOLED && e.model == pooled.model && e.benchmark == pooled.benchmark
            })
            .collect();
        let _ = write!(
            out,
            "| {} | {} | {} |",
            pooled.model, pooled.benchmark, pooled.mode
        );
        for e in &seeds {
            let _ = write!(out, " {} |", pct(e.acc));
        }
        let (mean, sd) = mean_sd(&seeds.iter().map(|e| e.acc).collect::<Vec<_>>());
        let _ = writeln!(
            out,
            " {mean:.1} ± {sd:.1} | {} | {} [{}, {}] |",
            pooled.n,
            pct(pooled.acc),
            pct(pooled.ci_low),
            pct(pooled.ci_high)
        );
    }
    out.push_str(
        "\n## Paired differences (A − B in points, 95% CI by Newcombe's method, exact \
         McNemar p)\n\n| A | B | benchmark | seed | n | only A | only B | A − B [95% CI] | \
         McNemar p |\n|---|---|---|---|---:|---:|---:|---|---:|\n",
    );
    for e in &r.paired {
        let seed = e.seed;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {seed} | {} | {} | {} | {} | {:.4} |",
            e.a,
            e.b,
            e.benchmark,
            e.n,
            e.only_a,
            e.only_b,
            points_with_interval(e.diff, e.diff_ci_low, e.diff_ci_high),
            e.mcnemar_p
        );
    }
    out.push('\n');
    out.push_str(&verdict::render(&r.verdicts));
    out.push('\n');
    out.push_str(&render_ood_by_steps(&r.ood_by_steps));
    out.push('\n');
    out.push_str(&grpo_stage::render(&r.grpo_stage));
    out
}

/// The OOD accuracy by number of operations, as a Markdown table (it reads as plain
/// text in a terminal too).
pub fn render_ood_by_steps(entries: &[StepsEntry]) -> String {
    let steps: std::collections::BTreeSet<u32> = entries.iter().map(|e| e.steps).collect();
    let mut out =
        String::from("## Out-of-distribution accuracy by number of operations (pooled)\n\n");
    out.push_str("| student |");
    for s in &steps {
        let _ = write!(out, " {s} ops |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(steps.len()));
    out.push('\n');
    for (student, _) in STUDENTS {
        if !entries.iter().any(|e| e.model == student) {
            continue;
        }
        let _ = write!(out, "| {student} |");
        for s in &steps {
            match entries.iter().find(|e| e.model == student && e.steps == *s) {
                Some(e) if e.n > 0 => {
                    let _ = write!(
                        out,
                        " {}/{} ({:.1}%) |",
                        e.correct,
                        e.n,
                        100.0 * e.correct as f64 / e.n as f64
                    );
                }
                _ => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_one_keeps_the_plain_name() {
        assert_eq!(model_name("baseline", 1), "baseline");
        assert_eq!(model_name("plan-tuned+grpo", 3), "plan-tuned+grpo@seed3");
    }

    #[test]
    fn pooled_accuracy_sums_the_seeds() {
        let entry = |seed, n, correct| AccuracyEntry {
            model: "baseline".into(),
            benchmark: "synth/test_id".into(),
            mode: "direct".into(),
            seed: SeedLabel::Seed(seed),
            n,
            correct,
            acc: correct as f64 / n as f64,
            ci_low: 0.0,
            ci_high: 1.0,
        };
        let pooled = pooled_accuracy(&[entry(1, 10, 8), entry(2, 10, 2)]).unwrap();
        assert_eq!((pooled.n, pooled.correct, pooled.acc), (20, 10, 0.5));
        assert_eq!((pooled.ci_low, pooled.ci_high), wilson_interval(10, 20));
        assert_eq!(serde_json::to_value(pooled.seed).unwrap(), "pooled");
        assert_eq!(serde_json::to_value(SeedLabel::Seed(2)).unwrap(), 2);
        assert_eq!(
            (SeedLabel::Seed(2).to_string(), POOLED.to_string()),
            ("2".into(), "pooled".into())
        );
        let (mean, sd) = mean_sd(&[0.8, 0.2]);
        assert!((mean - 50.0).abs() < 1e-9 && (sd - 42.426_406_871).abs() < 1e-6);
    }
}
