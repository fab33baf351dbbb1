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

use super::seed_label::{POOLED, SeedLabel};
use crate::eval::report::points_with_interval;
use crate::eval::stats::newcombe_independent_of;
use crate::runlog::{RunEvent, read_all, steps_by_attempt};
use crate::runs::{GrpoRunConfig, RunDir, read_toml};
use crate::workspace::Workspace;

/// One stretch of a GRPO run's steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutHalf {
    pub steps: u64,
    /// Prompts sampled (prompts per step, every step): the unit the interval counts.
    pub prompts: u64,
    /// Sampled completions (prompts × group size).
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
    /// acc(last) − acc(first), as a fraction, with its 95% interval: Newcombe's for
    /// independent proportions (the halves sample different prompts) over the number
    /// of prompts, since one prompt's group of completions rise and fall together.
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

/// What one step samples: `prompts` prompts, `group` completions of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerStep {
    pub prompts: u64,
    pub group: u64,
}

fn half(steps: &[StepRollouts], per_step: PerStep) -> RolloutHalf {
    let samples_per_step = per_step.prompts * per_step.group;
    // A step logs its accuracy as a fraction of its samples; rounding gives the count back.
    let correct: u64 = steps
        .iter()
        .map(|s| (s.accuracy * samples_per_step as f64).round() as u64)
        .sum();
    let samples = samples_per_step * steps.len() as u64;
    RolloutHalf {
        steps: steps.len() as u64,
        prompts: per_step.prompts * steps.len() as u64,
        samples,
        correct,
        acc: correct as f64 / samples as f64,
        reward_mean: steps.iter().map(|s| s.reward_mean).sum::<f64>() / steps.len() as f64,
    }
}

/// The first and last half of `steps` (in step order; the middle step of an odd count
/// belongs to neither), or `None` with fewer than two steps.
pub fn halves(steps: &[StepRollouts], per_step: PerStep) -> Option<(RolloutHalf, RolloutHalf)> {
    let k = steps.len() / 2;
    if k == 0 || per_step.prompts * per_step.group == 0 {
        return None;
    }
    Some((
        half(&steps[..k], per_step),
        half(&steps[steps.len() - k..], per_step),
    ))
}

fn entry(seed: SeedLabel, first: RolloutHalf, last: RolloutHalf) -> GrpoStageEntry {
    let d = newcombe_independent_of(
        (last.acc, last.prompts as f64),
        (first.acc, first.prompts as f64),
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
        let prompts: u64 = per_seed.iter().map(|e| pick(e).prompts).sum();
        let samples: u64 = per_seed.iter().map(|e| pick(e).samples).sum();
        let correct: u64 = per_seed.iter().map(|e| pick(e).correct).sum();
        let reward: f64 = per_seed
            .iter()
            .map(|e| pick(e).reward_mean * pick(e).steps as f64)
            .sum();
        RolloutHalf {
            steps,
            prompts,
            samples,
            correct,
            acc: correct as f64 / samples as f64,
            reward_mean: reward / steps as f64,
        }
    };
    (!per_seed.is_empty()).then(|| entry(POOLED, sum(|e| &e.first), sum(|e| &e.last)))
}

/// One GRPO run's steps (each once, the newest attempt's) and samples per step.
fn run_rollouts(dir: &RunDir) -> Result<(Vec<StepRollouts>, PerStep), anyhow::Error> {
    let config: GrpoRunConfig = read_toml(&dir.config())?;
    let per_step = PerStep {
        prompts: config.grpo.prompts_per_step as u64,
        group: config.grpo.group_size as u64,
    };
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
    Ok((steps, per_step))
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
        let (steps, per_step) = run_rollouts(&RunDir::new(ws, id))?;
        if let Some((first, last)) = halves(&steps, per_step) {
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
        "Sampled accuracy of the rollouts at the run's temperature. The halves sample \
         different prompts, and one prompt's completions succeed or fail together, so the \
         interval is Newcombe's for independent proportions over the number of prompts, not \
         of samples; an odd middle step belongs to neither half.\n\n\
         | seed | steps per half | prompts × samples per half | mean reward first → last | sampled \
         accuracy first → last (%) | last − first [95% CI] |\n\
         |---|---:|---:|---|---|---|\n",
    );
    for e in entries {
        let seed = e.seed;
        let _ = writeln!(
            out,
            "| {seed} | {} | {} × {} | {:.3} → {:.3} | {:.1} → {:.1} | {} |",
            e.first.steps,
            e.first.prompts,
            e.first.samples / e.first.prompts.max(1),
            e.first.reward_mean,
            e.last.reward_mean,
            100.0 * e.first.acc,
            100.0 * e.last.acc,
            points_with_interval(e.diff, e.diff_ci_low, e.diff_ci_high)
        );
    }
    if let Some(pooled) = entries.iter().find(|e| e.seed == POOLED) {
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

    const fn per_step(prompts: u64, group: u64) -> PerStep {
        PerStep { prompts, group }
    }

    #[test]
    fn halves_leave_the_middle_step_out_and_count_samples() {
        let accuracies = steps(&[0.5, 0.25, 1.0, 0.75, 0.875]);
        let (first, last) = halves(&accuracies, per_step(2, 4)).unwrap();
        assert_eq!(
            (first.steps, first.prompts, first.samples, first.correct),
            (2, 4, 16, 6)
        );
        assert_eq!(
            (last.steps, last.prompts, last.samples, last.correct),
            (2, 4, 16, 13)
        );
        assert!((first.reward_mean - 0.75).abs() < 1e-12);
        assert!((last.reward_mean - 1.625).abs() < 1e-12);
        assert!(halves(&steps(&[0.5]), per_step(2, 4)).is_none());
        assert!(halves(&steps(&[0.5, 0.5]), per_step(2, 0)).is_none());
    }

    #[test]
    fn the_interval_counts_prompts_not_their_correlated_samples() {
        // One completion per prompt: 48/80 then 56/80, the published method's interval.
        let e = entry(
            SeedLabel::Seed(1),
            half(&steps(&[0.6]), per_step(80, 1)),
            half(&steps(&[0.7]), per_step(80, 1)),
        );
        let d = crate::eval::stats::newcombe_independent_difference((56, 80), (48, 80));
        assert!((e.diff - 0.1).abs() < 1e-12);
        assert_eq!((e.diff_ci_low, e.diff_ci_high), (d.low, d.high));
        assert_eq!(reading(&e), "no change detected (the interval holds 0)");
        // The same 640 samples as 80 prompts × 8 give the same interval, not 640's.
        let grouped = entry(
            SeedLabel::Seed(1),
            half(&steps(&[0.6]), per_step(80, 8)),
            half(&steps(&[0.7]), per_step(80, 8)),
        );
        assert_eq!(
            (grouped.diff_ci_low, grouped.diff_ci_high),
            (e.diff_ci_low, e.diff_ci_high)
        );
    }

    #[test]
    fn pooled_sums_the_seeds_and_decides_the_reading() {
        let a = entry(
            SeedLabel::Seed(1),
            half(&steps(&[0.5, 0.5]), per_step(32, 2)),
            half(&steps(&[0.75, 0.75]), per_step(32, 2)),
        );
        let b = entry(
            SeedLabel::Seed(2),
            half(&steps(&[0.25]), per_step(32, 2)),
            half(&steps(&[0.5]), per_step(32, 2)),
        );
        let p = pooled(&[a, b]).unwrap();
        assert_eq!(
            (
                p.first.steps,
                p.first.prompts,
                p.first.samples,
                p.first.correct
            ),
            (3, 96, 192, 80)
        );
        assert_eq!(
            (p.last.prompts, p.last.samples, p.last.correct),
            (96, 192, 128)
        );
        assert!((p.first.reward_mean - 2.0 * 1.25 / 3.0).abs() < 1e-12);
        assert_eq!(reading(&p), "rose");
        let markdown = render(&[p]);
        assert!(markdown.contains("| pooled | 3 | 96 × 2 |"), "{markdown}");
        assert!(markdown.contains("**rose**: +25.0 ["), "{markdown}");
        let fell = entry(
            SeedLabel::Seed(1),
            half(&steps(&[0.9; 4]), per_step(16, 4)),
            half(&steps(&[0.5; 4]), per_step(16, 4)),
        );
        assert_eq!(reading(&fell), "fell");
        assert!(render(&[]).contains("fewer than two steps: no halves to compare"));
    }
}
