//! Accuracy tables and paired comparisons from stored predictions, as a terminal table,
//! Markdown or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::stats::{PairedCounts, mcnemar_exact_p, wilson_interval};
use crate::data::synth::SynthMeta;
use crate::workspace::store::{PredictionKey, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyRow {
    pub model: String,
    pub benchmark: String,
    pub mode: String,
    pub n: u64,
    pub correct: u64,
    pub accuracy: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedTable {
    pub a: PredictionKey,
    pub b: PredictionKey,
    pub n: u64,
    pub both_right: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub both_wrong: u64,
    pub mcnemar_p: f64,
    /// acc(A) − acc(B) on the paired problems, as a fraction, with its 95% interval
    /// (Newcombe's method for paired proportions).
    pub diff: f64,
    pub diff_ci_low: f64,
    pub diff_ci_high: f64,
}

impl PairedTable {
    pub fn counts(&self) -> PairedCounts {
        PairedCounts {
            both_right: self.both_right,
            only_a: self.only_a,
            only_b: self.only_b,
            both_wrong: self.both_wrong,
        }
    }

    /// The table of A against B on `counts`, with its McNemar p and difference.
    pub fn from_counts(a: PredictionKey, b: PredictionKey, counts: PairedCounts) -> Self {
        let diff = counts.difference();
        Self {
            a,
            b,
            n: counts.n(),
            both_right: counts.both_right,
            only_a: counts.only_a,
            only_b: counts.only_b,
            both_wrong: counts.both_wrong,
            mcnemar_p: mcnemar_exact_p(counts.only_a, counts.only_b),
            diff: diff.estimate,
            diff_ci_low: diff.low,
            diff_ci_high: diff.high,
        }
    }
}

/// First-sample verdict per problem (maj@k votes are stored under their own mode).
fn verdicts(store: &Store, key: &PredictionKey) -> Result<BTreeMap<i64, bool>, StoreError> {
    Ok(store
        .predictions(key)?
        .into_iter()
        .filter(|p| p.fields.sample_index == 0)
        .map(|p| (p.fields.problem_id, p.fields.correct))
        .collect())
}

pub fn accuracy_row(store: &Store, key: &PredictionKey) -> Result<AccuracyRow, StoreError> {
    let verdicts = verdicts(store, key)?;
    let n = verdicts.len() as u64;
    let correct = verdicts.values().filter(|c| **c).count() as u64;
    let (ci_low, ci_high) = wilson_interval(correct, n);
    Ok(AccuracyRow {
        model: key.model.clone(),
        benchmark: key.benchmark.clone(),
        mode: key.mode.clone(),
        n,
        correct,
        accuracy: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
        ci_low,
        ci_high,
    })
}

/// Every evaluated (model, benchmark, mode) in the store.
pub fn accuracy_table(store: &Store) -> Result<Vec<AccuracyRow>, StoreError> {
    store
        .prediction_counts()?
        .iter()
        .map(|(key, _, _)| accuracy_row(store, key))
        .collect()
}

/// Compares two prediction sets on the problems both answered.
pub fn paired(
    store: &Store,
    a: &PredictionKey,
    b: &PredictionKey,
) -> Result<PairedTable, StoreError> {
    let va = verdicts(store, a)?;
    let vb = verdicts(store, b)?;
    let mut counts = PairedCounts::default();
    for (problem, right_a) in &va {
        let Some(right_b) = vb.get(problem) else {
            continue;
        };
        match (right_a, right_b) {
            (true, true) => counts.both_right += 1,
            (true, false) => counts.only_a += 1,
            (false, true) => counts.only_b += 1,
            (false, false) => counts.both_wrong += 1,
        }
    }
    Ok(PairedTable::from_counts(a.clone(), b.clone(), counts))
}

/// Right and total answers per number of operations of a synthetic problem.
pub type BySteps = BTreeMap<u32, (usize, usize)>;

/// Accuracy of one prediction set by the number of operations of each problem (first
/// sample per problem, as in [`accuracy_row`]). Problems that are not synthetic, and so
/// have no operation count, are left out.
pub fn accuracy_by_steps(store: &Store, key: &PredictionKey) -> Result<BySteps, StoreError> {
    let mut by_steps = BySteps::new();
    for (problem_id, correct) in verdicts(store, key)? {
        let problem = store.problem(problem_id)?;
        let Ok(meta) = SynthMeta::from_metadata(&problem.fields.metadata) else {
            continue;
        };
        let cell = by_steps.entry(meta.steps).or_default();
        cell.0 += usize::from(correct);
        cell.1 += 1;
    }
    Ok(by_steps)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// A difference of accuracies in points, signed: `+4.7 [−0.3, +9.7]`.
pub fn points_with_interval(diff: f64, low: f64, high: f64) -> String {
    format!(
        "{:+.1} [{:+.1}, {:+.1}]",
        100.0 * diff,
        100.0 * low,
        100.0 * high
    )
}

pub fn render_accuracy(rows: &[AccuracyRow], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            out = serde_json::to_string_pretty(rows).unwrap_or_default();
            out.push('\n');
        }
        Format::Markdown => {
            out.push_str("| model | benchmark | mode | n | accuracy % | 95% CI |\n");
            out.push_str("| --- | --- | --- | ---: | ---: | --- |\n");
            for r in rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {}–{} |",
                    r.model,
                    r.benchmark,
                    r.mode,
                    r.n,
                    pct(r.accuracy),
                    pct(r.ci_low),
                    pct(r.ci_high)
                );
            }
        }
        Format::Table => {
            let _ = writeln!(
                out,
                "{:<24} {:<18} {:<14} {:>6} {:>9}  {:<13}",
                "model", "benchmark", "mode", "n", "accuracy", "95% CI"
            );
            for r in rows {
                let _ = writeln!(
                    out,
                    "{:<24} {:<18} {:<14} {:>6} {:>8}%  [{:>5}, {:>5}]",
                    r.model,
                    r.benchmark,
                    r.mode,
                    r.n,
                    pct(r.accuracy),
                    pct(r.ci_low),
                    pct(r.ci_high)
                );
            }
        }
    }
    out
}

pub fn render_paired(t: &PairedTable, format: Format) -> String {
    let name = |k: &PredictionKey| format!("{} ({})", k.model, k.mode);
    match format {
        Format::Json => {
            let mut out = serde_json::to_string_pretty(t).unwrap_or_default();
            out.push('\n');
            out
        }
        Format::Markdown => format!(
            "| {} vs {} on {} | n |\n| --- | ---: |\n| both right | {} |\n| only A | {} |\n\
             | only B | {} |\n| both wrong | {} |\n| exact McNemar p | {:.4} |\n\
             | A − B, points [95% CI] | {} |\n",
            name(&t.a),
            name(&t.b),
            t.a.benchmark,
            t.both_right,
            t.only_a,
            t.only_b,
            t.both_wrong,
            t.mcnemar_p,
            points_with_interval(t.diff, t.diff_ci_low, t.diff_ci_high)
        ),
        Format::Table => format!(
            "A = {}\nB = {}\non {} ({} paired problems)\n\
             {:>14} {:>10} {:>10}\n{:>14} {:>10} {:>10}\n{:>14} {:>10} {:>10}\nexact McNemar p = {:.4}\n\
             A − B = {} points (95% CI, Newcombe)\n",
            name(&t.a),
            name(&t.b),
            t.a.benchmark,
            t.n,
            "",
            "B right",
            "B wrong",
            "A right",
            t.both_right,
            t.only_a,
            "A wrong",
            t.only_b,
            t.both_wrong,
            t.mcnemar_p,
            points_with_interval(t.diff, t.diff_ci_low, t.diff_ci_high)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::records::NewProblem;
    use crate::workspace::store::NewPrediction;

    fn key(model: &str) -> PredictionKey {
        PredictionKey {
            model: model.into(),
            benchmark: "synth/test_id".into(),
            mode: "direct".into(),
        }
    }

    #[test]
    fn paired_counts_and_accuracy_come_from_stored_predictions() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let problems: Vec<NewProblem> = (0..12)
            .map(|i| NewProblem {
                dataset: "synth".into(),
                split: "test_id".into(),
                external_id: i.to_string(),
                question: format!("q{i}"),
                gold_answer: "1".into(),
                gold_solution: None,
                metadata: serde_json::json!({}),
            })
            .collect();
        store.insert_problems(&problems).unwrap();
        let ids: Vec<i64> = store
            .problems(None, None)
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        // A right on 0..10, B right on 8..12: both 8,9; only A 0..8; only B 10,11.
        let mut predictions = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            for (model, right) in [("a", i < 10), ("b", i >= 8)] {
                predictions.push(NewPrediction {
                    key: key(model),
                    problem_id: *id,
                    sample_index: 0,
                    output: String::new(),
                    extracted: None,
                    correct: right,
                    reason: String::new(),
                    tokens: 0,
                    latency_ms: 0,
                });
            }
        }
        store.insert_predictions(&predictions).unwrap();
        let t = paired(&store, &key("a"), &key("b")).unwrap();
        assert_eq!(
            (t.n, t.both_right, t.only_a, t.only_b, t.both_wrong),
            (12, 2, 8, 2, 0)
        );
        assert!((t.mcnemar_p - mcnemar_exact_p(8, 2)).abs() < 1e-12);
        let rows = accuracy_table(&store).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].correct, rows[0].n), (10, 12));
        let md = render_accuracy(&rows, Format::Markdown);
        assert!(
            md.contains("| a | synth/test_id | direct | 12 | 83.3 |"),
            "{md}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_paired(&t, Format::Json)).unwrap();
        assert_eq!(json["only_a"], 8);
        // A 10/12, B 4/12: +50 points; the interval is Newcombe's on the same table.
        let expected = t.counts().difference();
        assert!((json["diff"].as_f64().unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(json["diff_ci_low"].as_f64().unwrap(), expected.low);
        // Eight discordant pairs against two is not decisive at n = 12: the interval spans 0.
        assert!(
            expected.low < 0.0 && expected.high > 0.5 && expected.high < 1.0,
            "{expected:?}"
        );
        let text = render_paired(&t, Format::Table);
        assert!(text.contains("A − B = +50.0 ["), "{text}");
    }

    #[test]
    fn accuracy_by_steps_groups_first_samples_by_operation_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        // Problems 0..6 have 2, 3 or 4 operations; problem 6 is not synthetic.
        let problems: Vec<NewProblem> = (0..7)
            .map(|i| NewProblem {
                dataset: "synth".into(),
                split: "test_id".into(),
                external_id: i.to_string(),
                question: format!("q{i}"),
                gold_answer: "1".into(),
                gold_solution: None,
                metadata: if i < 6 {
                    serde_json::json!({"steps": 2 + i / 2, "start": 1, "ops": [],
                        "holder": "Tom", "object": "apples", "scene": "shop"})
                } else {
                    serde_json::json!({})
                },
            })
            .collect();
        store.insert_problems(&problems).unwrap();
        let ids: Vec<i64> = store
            .problems(None, None)
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        let mut predictions = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            // Right on even problems; a second sample, always right, must not count.
            for (sample_index, right) in [(0, i % 2 == 0), (1, true)] {
                predictions.push(NewPrediction {
                    key: key("a"),
                    problem_id: *id,
                    sample_index,
                    output: String::new(),
                    extracted: None,
                    correct: right,
                    reason: String::new(),
                    tokens: 0,
                    latency_ms: 0,
                });
            }
        }
        store.insert_predictions(&predictions).unwrap();
        let by_steps = accuracy_by_steps(&store, &key("a")).unwrap();
        let expected: BySteps = [(2, (1, 2)), (3, (1, 2)), (4, (1, 2))]
            .into_iter()
            .collect();
        assert_eq!(by_steps, expected);
    }
}
