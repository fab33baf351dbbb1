//! What the GRPO stage did on its own training prompts: the sampled accuracy and mean
//! reward of the rollouts in the first half of its steps against the last half, per
//! seed and every seed together. The held-out comparison (GRPO against its start on
//! the test splits) is in the paired table; this is the other half of "did GRPO help":
//! whether it raised what it was rewarded for. Read from each GRPO run's `run.toml` and
//! `events.jsonl`, so, like the rest of the report, anyone can recompute it from the
//! workspace.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::report::SeedLabel;
use crate::eval::report::points_with_interval;
use crate::eval::stats::newcombe_independent_difference;
use crate::runlog::{RunEvent, read_all, steps_by_attempt};
use crate::runs::{GrpoRunConfig, RunDir, read_toml};
use crate::workspace::Workspace;

/// One stretch of a GRPO run's steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutHalf {
    pub steps: u64,
    /// Sampled completions (prompts per step × group size, every step).
    pub samples: u64,
    pub correct: u64,
    pub acc: f64,
    /// The mean total reward, every step weighing the same.
    pub reward_mean: f64,
}

/// The last half of a GRPO run's rollouts against its first half.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrpoStageEntry {
    pub seed: SeedLabel,
    pub first: RolloutHalf,
    pub last: RolloutHalf,
    /// acc(last) − acc(first), as a fraction, with its 95% interval (Newcombe's for
    /// independent proportions: the halves sample different prompts).
    pub diff: f64,
    pub diff_ci_low: f64,
    pub diff_ci_high: f64,
}

/// What one step's rollouts scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRollouts {
    pub accuracy: f64,
    pub reward_mean: f64,
}

fn half(steps: &[StepRollouts], samples_per_step: u64) -> RolloutHalf {
    // A step logs its accuracy as a fraction of its samples; rounding gives the count back.
    let correct: u64 = steps
        .iter()
        .map(|s| (s.accuracy * samples_per_step as f64).round() as u64)
        .sum();
    let samples = samples_per_step * steps.len() as u64;
    RolloutHalf {
        steps: steps.len() as u64,
        samples,
        correct,
        acc: correct as f64 / samples as f64,
        reward_mean: steps.iter().map(|s| s.reward_mean).sum::<f64>() / steps.len() as f64,
    }
}

/// The first and last half of `steps` (in step order; the middle step of an odd count
/// belongs to neither), or `None` with fewer than two steps.
pub fn halves(steps: &[StepRollouts], samples_per_step: u64) -> Option<(RolloutHalf, RolloutHalf)> {
    let k = steps.len() / 2;
    if k == 0 || samples_per_step == 0 {
        return None;
    }
    Some((
        half(&steps[..k], samples_per_step),
        half(&steps[steps.len() - k..], samples_per_step),
    ))
}

fn entry(seed: SeedLabel, first: RolloutHalf, last: RolloutHalf) -> GrpoStageEntry {
    let d = newcombe_independent_difference(
        (last.correct, last.samples),
        (first.correct, first.samples),
    );
    GrpoStageEntry {
        seed,
        first,
        last,
        diff: d.estimate,
        diff_ci_low: d.low,
        diff_ci_high: d.high,
    }
}

/// Every seed's halves summed: the steps of all runs weigh the same in the reward.
fn pooled(per_seed: &[GrpoStageEntry]) -> Option<GrpoStageEntry> {
    let sum = |pick: fn(&GrpoStageEntry) -> &RolloutHalf| {
        let steps: u64 = per_seed.iter().map(|e| pick(e).steps).sum();
        let samples: u64 = per_seed.iter().map(|e| pick(e).samples).sum();
        let correct: u64 = per_seed.iter().map(|e| pick(e).correct).sum();
        let reward: f64 = per_seed
            .iter()
            .map(|e| pick(e).reward_mean * pick(e).steps as f64)
            .sum();
        RolloutHalf {
            steps,
            samples,
            correct,
            acc: correct as f64 / samples as f64,
            reward_mean: reward / steps as f64,
        }
    };
    (!per_seed.is_empty()).then(|| {
        entry(
            SeedLabel::Pooled("pooled"),
            sum(|e| &e.first),
            sum(|e| &e.last),
        )
    })
}

/// One GRPO run's steps (each once, the newest attempt's) and samples per step.
fn run_rollouts(dir: &RunDir) -> Result<(Vec<StepRollouts>, u64), anyhow::Error> {
    let config: GrpoRunConfig = read_toml(&dir.config())?;
    let samples_per_step = (config.grpo.prompts_per_step * config.grpo.group_size) as u64;
    let events_path = dir.events();
    let events = read_all(&events_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", events_path.display()))?
        .events;
    let steps = steps_by_attempt(&events)
        .into_values()
        .map(|(_, timed)| match timed.event {
            RunEvent::Step {
                step,
                accuracy,
                reward_mean,
                ..
            } => accuracy
                .zip(reward_mean)
                .map(|(accuracy, reward_mean)| StepRollouts {
                    accuracy,
                    reward_mean,
                })
                .ok_or_else(|| missing(&events_path, step)),
            _ => unreachable!("steps_by_attempt keeps step events only"),
        })
        .collect::<Result<_, _>>()?;
    Ok((steps, samples_per_step))
}

fn missing(path: &Path, step: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: step {step}: no `accuracy` or `reward_mean` (not a GRPO run's events?)",
        path.display()
    )
}

/// The stage's figures for the GRPO runs `runs` (seed, run id), then pooled. A run
/// with fewer than two steps (`--grpo-steps 1`) has no halves to compare and no row.
pub fn grpo_stage(
    ws: &Workspace,
    runs: &[(u32, String)],
) -> Result<Vec<GrpoStageEntry>, anyhow::Error> {
    let mut per_seed = Vec::new();
    for (seed, id) in runs {
        let (steps, samples_per_step) = run_rollouts(&RunDir::new(ws, id))?;
        if let Some((first, last)) = halves(&steps, samples_per_step) {
            per_seed.push(entry(SeedLabel::Seed(*seed), first, last));
        }
    }
    let pooled = pooled(&per_seed);
    per_seed.extend(pooled);
    Ok(per_seed)
}

/// What the pooled interval says about the rollouts' accuracy.
fn reading(e: &GrpoStageEntry) -> &'static str {
    if e.diff_ci_low > 0.0 {
        "rose"
    } else if e.diff_ci_high < 0.0 {
        "fell"
    } else {
        "no change detected (the interval holds 0)"
    }
}

/// The stage as Markdown: a table per seed and pooled, then one line of reading.
pub fn render(entries: &[GrpoStageEntry]) -> String {
    let mut out = String::from(
        "## GRPO stage on its training prompts (first half of the steps against the last)\n\n",
    );
    if entries.is_empty() {
        out.push_str("GRPO ran fewer than two steps: no halves to compare.\n");
        return out;
    }
    out.push_str(
        "Sampled accuracy of the rollouts (the run's temperature; different prompts in each \
         half, so the interval is Newcombe's for independent proportions; an odd middle step \
         belongs to neither half).\n\n\
         | seed | steps per half | samples per half | mean reward first → last | sampled \
         accuracy first → last (%) | last − first [95% CI] |\n\
         |---|---:|---:|---|---|---|\n",
    );
    for e in entries {
        let seed = match e.seed {
            SeedLabel::Seed(s) => s.to_string(),
            SeedLabel::Pooled(p) => p.to_owned(),
        };
        let _ = writeln!(
            out,
            "| {seed} | {} | {} | {:.3} → {:.3} | {:.1} → {:.1} | {} |",
            e.first.steps,
            e.first.samples,
            e.first.reward_mean,
            e.last.reward_mean,
            100.0 * e.first.acc,
            100.0 * e.last.acc,
            points_with_interval(e.diff, e.diff_ci_low, e.diff_ci_high)
        );
    }
    if let Some(pooled) = entries
        .iter()
        .find(|e| e.seed == SeedLabel::Pooled("pooled"))
    {
        let _ = writeln!(
            out,
            "\n- GRPO's sampled accuracy on its training prompts, every seed together: **{}**: {}.",
            reading(pooled),
            points_with_interval(pooled.diff, pooled.diff_ci_low, pooled.diff_ci_high)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(accuracies: &[f64]) -> Vec<StepRollouts> {
        accuracies
            .iter()
            .map(|&accuracy| StepRollouts {
                accuracy,
                reward_mean: 2.0 * accuracy,
            })
            .collect()
    }

    #[test]
    fn halves_leave_the_middle_step_out_and_count_samples() {
        let (first, last) = halves(&steps(&[0.5, 0.25, 1.0, 0.75, 0.875]), 8).unwrap();
        assert_eq!((first.steps, first.samples, first.correct), (2, 16, 6));
        assert_eq!((last.steps, last.samples, last.correct), (2, 16, 13));
        assert!((first.reward_mean - 0.75).abs() < 1e-12);
        assert!((last.reward_mean - 1.625).abs() < 1e-12);
        assert!(halves(&steps(&[0.5]), 8).is_none());
        assert!(halves(&steps(&[0.5, 0.5]), 0).is_none());
    }

    #[test]
    fn the_difference_is_last_minus_first_with_newcombes_interval() {
        // 48/80 in the first half, 56/80 in the last: +10 points, and the interval is
        // the published method's for those counts.
        let first = half(&steps(&[0.6]), 80);
        let last = half(&steps(&[0.7]), 80);
        let e = entry(SeedLabel::Seed(1), first, last);
        let d = newcombe_independent_difference((56, 80), (48, 80));
        assert!((e.diff - 0.1).abs() < 1e-12);
        assert_eq!((e.diff_ci_low, e.diff_ci_high), (d.low, d.high));
        assert_eq!(reading(&e), "no change detected (the interval holds 0)");
    }

    #[test]
    fn pooled_sums_the_seeds_and_decides_the_reading() {
        let a = entry(
            SeedLabel::Seed(1),
            half(&steps(&[0.5, 0.5]), 32),
            half(&steps(&[0.75, 0.75]), 32),
        );
        let b = entry(
            SeedLabel::Seed(2),
            half(&steps(&[0.25]), 32),
            half(&steps(&[0.5]), 32),
        );
        let p = pooled(&[a, b]).unwrap();
        assert_eq!(
            (p.first.steps, p.first.samples, p.first.correct),
            (3, 96, 40)
        );
        assert_eq!((p.last.steps, p.last.samples, p.last.correct), (3, 96, 64));
        assert!((p.first.reward_mean - 2.0 * 1.25 / 3.0).abs() < 1e-12);
        assert_eq!(reading(&p), "rose");
        let markdown = render(&[p]);
        assert!(markdown.contains("| pooled | 3 | 96 |"), "{markdown}");
        assert!(markdown.contains("**rose**: +25.0 ["), "{markdown}");
        let fell = entry(
            SeedLabel::Seed(1),
            half(&steps(&[0.9; 4]), 64),
            half(&steps(&[0.5; 4]), 64),
        );
        assert_eq!(reading(&fell), "fell");
        assert!(render(&[]).contains("fewer than two steps: no halves to compare"));
    }
}
