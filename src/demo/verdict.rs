//! What one paired comparison decides, read off its 95% interval: A better, A worse,
//! the two within the demo's margin of each other, or not decided yet — and then
//! roughly how many paired problems would decide it. The pooled interval treats every
//! seed's answers as independent, so when the seeds' own differences disagree beyond
//! their sampling error (Cochran's Q), the pooled interval decides nothing: only a
//! direction every seed's own interval shows is kept, without a size. The rule is
//! fixed before any run, so the report cannot pick the reading that suits it.

use std::fmt::Write as _;

use serde::Serialize;

use crate::eval::report::points_with_interval;
use crate::eval::stats::PairedCounts;

/// Below this heterogeneity p-value the seeds disagree and the pooled interval decides
/// nothing.
pub const SEEDS_AGREE_P: f64 = 0.05;

/// The margin the demo is sized to resolve: a difference within ±4 points is "no
/// difference that matters", and an interval of half-width 4 points is decisive.
pub const MARGIN: f64 = 0.04;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The interval lies above 0.
    Better,
    /// The interval lies below 0.
    Worse,
    /// The interval contains 0 and lies within ±[`MARGIN`].
    Equivalent,
    /// The seeds disagree on the size, but every seed's own interval lies above 0.
    BetterInEverySeed,
    /// The seeds disagree on the size, but every seed's own interval lies below 0.
    WorseInEverySeed,
    /// The interval contains 0 and reaches past the margin, or the seeds disagree and
    /// some seed's interval contains 0 or they point different ways.
    Undecided,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub a: String,
    pub b: String,
    pub benchmark: String,
    pub outcome: Outcome,
    pub diff: f64,
    pub diff_ci_low: f64,
    pub diff_ci_high: f64,
    /// Half the interval's width, as a fraction.
    pub half_width: f64,
    /// Undecided only: the paired problems that would narrow the interval to ±MARGIN,
    /// assuming the interval shrinks as 1/√n at the discordance seen here.
    pub pairs_needed: Option<u64>,
    /// With two or more seeds: the p-value of Cochran's Q over the seeds' differences
    /// (small when the seeds disagree beyond their sampling error).
    pub seeds_agree_p: Option<f64>,
    /// Each seed's own difference, as a fraction, in seed order.
    pub seed_diffs: Vec<f64>,
}

/// One comparison of `n` paired problems with difference `diff` and interval
/// [`low`, `high`] (fractions), pooled over `seeds`.
pub fn judge(
    (a, b, benchmark): (&str, &str, &str),
    n: u64,
    diff: f64,
    (low, high): (f64, f64),
    seeds: &[PairedCounts],
) -> Verdict {
    let half_width = (high - low) / 2.0;
    let seeds_agree_p = heterogeneity_p(seeds);
    let seeds_disagree = seeds_agree_p.is_some_and(|p| p < SEEDS_AGREE_P);
    let per_seed: Vec<_> = seeds.iter().map(PairedCounts::difference).collect();
    let outcome = if seeds_disagree {
        if per_seed.iter().all(|d| d.low > 0.0) {
            Outcome::BetterInEverySeed
        } else if per_seed.iter().all(|d| d.high < 0.0) {
            Outcome::WorseInEverySeed
        } else {
            Outcome::Undecided
        }
    } else if low > 0.0 {
        Outcome::Better
    } else if high < 0.0 {
        Outcome::Worse
    } else if low >= -MARGIN && high <= MARGIN {
        Outcome::Equivalent
    } else {
        Outcome::Undecided
    };
    // When the seeds disagree, more problems of the same kind are not the answer.
    let pairs_needed = (outcome == Outcome::Undecided && !seeds_disagree && half_width > MARGIN)
        .then(|| (n as f64 * (half_width / MARGIN).powi(2)).ceil() as u64);
    Verdict {
        a: a.to_owned(),
        b: b.to_owned(),
        benchmark: benchmark.to_owned(),
        outcome,
        diff,
        diff_ci_low: low,
        diff_ci_high: high,
        half_width,
        pairs_needed,
        seeds_agree_p,
        seed_diffs: per_seed.iter().map(|d| d.estimate).collect(),
    }
}

/// Cochran's Q test that every seed has the same paired difference, each seed weighted
/// by the inverse variance of its difference; `None` with fewer than two seeds.
fn heterogeneity_p(seeds: &[PairedCounts]) -> Option<f64> {
    if seeds.len() < 2 {
        return None;
    }
    let estimates: Vec<(f64, f64)> = seeds
        .iter()
        .map(|s| {
            let n = s.n().max(1) as f64;
            let (b, c) = (s.only_a as f64, s.only_b as f64);
            let diff = (b - c) / n;
            // A seed with no discordant pair would weigh infinitely; count it as one.
            let variance = ((b + c - (b - c).powi(2) / n) / (n * n)).max(1.0 / (n * n));
            (diff, 1.0 / variance)
        })
        .collect();
    let total: f64 = estimates.iter().map(|(_, w)| w).sum();
    let mean = estimates.iter().map(|(d, w)| d * w).sum::<f64>() / total;
    let q: f64 = estimates.iter().map(|(d, w)| w * (d - mean).powi(2)).sum();
    Some(chi_square_upper_tail(q, estimates.len() - 1))
}

/// P(X ≥ x) for X ~ χ² with `df` degrees of freedom, by the closed forms for integer df.
fn chi_square_upper_tail(x: f64, df: usize) -> f64 {
    let half = x.max(0.0) / 2.0;
    if df.is_multiple_of(2) {
        // e^{-x/2} Σ_{j<df/2} (x/2)^j / j!
        let mut term = 1.0;
        let mut sum = 1.0;
        for j in 1..df / 2 {
            term *= half / j as f64;
            sum += term;
        }
        (-half).exp() * sum
    } else {
        // erfc(√(x/2)) + e^{-x/2} Σ_{j=1}^{(df-1)/2} (x/2)^{j-1/2} / Γ(j+1/2)
        let mut term = 2.0 * half.sqrt() / std::f64::consts::PI.sqrt();
        let mut sum = 0.0;
        for j in 1..=(df - 1) / 2 {
            if j > 1 {
                term *= half / (j as f64 - 0.5);
            }
            sum += term;
        }
        (erfc(half.sqrt()) + (-half).exp() * sum).min(1.0)
    }
}

/// The complementary error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let value = poly * (-x * x).exp();
    if x >= 0.0 { value } else { 2.0 - value }
}

fn seed_points(diffs: &[f64]) -> String {
    diffs
        .iter()
        .map(|d| format!("{:+.1}", 100.0 * d))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdicts as a Markdown section, one sentence each.
pub fn render(verdicts: &[Verdict]) -> String {
    let mut out = format!(
        "## Verdict (every seed's answers pooled; 95% interval; margin ±{:.0} points)\n\n",
        100.0 * MARGIN
    );
    for v in verdicts {
        let figures = points_with_interval(v.diff, v.diff_ci_low, v.diff_ci_high);
        let reading = match v.outcome {
            Outcome::Better => format!("**better**: {figures}"),
            Outcome::Worse => format!("**worse**: {figures}"),
            Outcome::Equivalent => {
                format!(
                    "**no difference beyond ±{:.0} points**: {figures}",
                    100.0 * MARGIN
                )
            }
            Outcome::BetterInEverySeed | Outcome::WorseInEverySeed => {
                let direction = if v.outcome == Outcome::BetterInEverySeed {
                    "better"
                } else {
                    "worse"
                };
                format!(
                    "**{direction} in every seed**, by amounts that differ beyond chance \
                     (Cochran's Q p = {:.2e}; seeds {}): the pooled {figures} understates \
                     that spread",
                    v.seeds_agree_p.unwrap_or(0.0),
                    seed_points(&v.seed_diffs)
                )
            }
            Outcome::Undecided if v.seeds_agree_p.is_some_and(|p| p < SEEDS_AGREE_P) => {
                format!(
                    "**undecided, the seeds disagree** (Cochran's Q p = {:.2e}): {figures} \
                     pools seeds whose own differences are far apart; see each seed's row",
                    v.seeds_agree_p.unwrap_or(0.0)
                )
            }
            Outcome::Undecided => match v.pairs_needed {
                Some(pairs) => format!(
                    "**undecided**: {figures}; about {pairs} paired problems would narrow it \
                     to ±{:.0} points",
                    100.0 * MARGIN
                ),
                None => format!(
                    "**undecided**: {figures} contains 0 and reaches past ±{:.0} points",
                    100.0 * MARGIN
                ),
            },
        };
        let _ = writeln!(
            out,
            "- {} against {} on {}: {reading}.",
            v.a, v.b, v.benchmark
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(low: f64, high: f64) -> Outcome {
        judge(("a", "b", "x"), 300, (low + high) / 2.0, (low, high), &[]).outcome
    }

    #[test]
    fn the_interval_decides_by_its_position_against_zero_and_the_margin() {
        assert_eq!(outcome(0.007, 0.076), Outcome::Better);
        assert_eq!(outcome(-0.141, -0.001), Outcome::Worse);
        assert_eq!(outcome(-0.03, 0.04), Outcome::Equivalent);
        assert_eq!(outcome(-0.041, 0.02), Outcome::Undecided);
        assert_eq!(outcome(-0.115, 0.031), Outcome::Undecided);
        // Touching zero is not excluding it.
        assert_eq!(outcome(0.0, 0.09), Outcome::Undecided);
    }

    #[test]
    fn pairs_needed_scale_with_the_square_of_the_half_width() {
        // Half-width 7.3 points on 100 pairs: 100 × (7.3/4)² = 333.06 → 334.
        let v = judge(("a", "b", "x"), 100, -0.04, (-0.115, 0.031), &[]);
        assert!((v.half_width - 0.073).abs() < 1e-12);
        assert_eq!(v.pairs_needed, Some(334));
        // Narrow enough but off-centre: more pairs of the same kind are not the answer.
        let v = judge(("a", "b", "x"), 900, 0.02, (-0.015, 0.055), &[]);
        assert_eq!((v.outcome, v.pairs_needed), (Outcome::Undecided, None));
        assert_eq!(
            judge(("a", "b", "x"), 100, 0.04, (0.007, 0.076), &[]).pairs_needed,
            None
        );
    }

    #[test]
    fn each_outcome_reads_as_one_sentence_with_its_figures() {
        let text = render(&[
            judge(
                ("plan-tuned", "baseline", "synth/test_id"),
                300,
                0.04,
                (0.007, 0.076),
                &[],
            ),
            judge(
                ("g", "p", "synth/test_ood"),
                100,
                -0.04,
                (-0.115, 0.031),
                &[],
            ),
        ]);
        assert!(text.contains(
            "- plan-tuned against baseline on synth/test_id: **better**: +4.0 [+0.7, +7.6]."
        ));
        assert!(text.contains("**undecided**: -4.0 [-11.5, +3.1]; about 334 paired problems"));
    }

    #[test]
    fn chi_square_tails_match_the_tables() {
        // The 5% critical values for 1, 2, 3 and 4 degrees of freedom.
        for (x, df) in [(3.841, 1), (5.991, 2), (7.815, 3), (9.488, 4)] {
            let p = chi_square_upper_tail(x, df);
            assert!((p - 0.05).abs() < 2e-4, "df {df}: {p}");
        }
        assert!((chi_square_upper_tail(0.0, 1) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn seeds_that_disagree_decide_nothing() {
        // demo-large's plan-tuned vs baseline on ID: seed 1 -44.4 points, seed 2 -1.5.
        let seeds = [
            PairedCounts {
                both_right: 183,
                only_a: 14,
                only_b: 458,
                both_wrong: 345,
            },
            PairedCounts {
                both_right: 448,
                only_a: 113,
                only_b: 128,
                both_wrong: 311,
            },
        ];
        let v = judge(("p", "b", "x"), 2000, -0.23, (-0.253, -0.205), &seeds);
        assert_eq!((v.outcome, v.pairs_needed), (Outcome::Undecided, None));
        assert!(v.seeds_agree_p.unwrap() < 1e-10);
        assert!(render(&[v]).contains("**undecided, the seeds disagree**"));
        // Seeds that agree exactly leave the interval to decide.
        let same = [seeds[1], seeds[1]];
        let v = judge(("p", "b", "x"), 2000, -0.015, (-0.036, 0.006), &same);
        assert!((v.seeds_agree_p.unwrap() - 1.0).abs() < 1e-6);
        assert_eq!(v.outcome, Outcome::Equivalent);
    }

    /// demo-twists' plan-tuned vs baseline on ID: +15.2, +27.6 and +22.9 points.
    fn twists_seeds() -> [PairedCounts; 3] {
        let seed = |only_a, only_b, both_right| PairedCounts {
            both_right,
            only_a,
            only_b,
            both_wrong: 1000 - only_a - only_b - both_right,
        };
        [seed(246, 94, 215), seed(330, 54, 238), seed(287, 58, 337)]
    }

    #[test]
    fn seeds_that_differ_in_size_but_not_in_direction_keep_the_direction() {
        let seeds = twists_seeds();
        let v = judge(("p", "b", "x"), 3000, 0.219, (0.199, 0.239), &seeds);
        assert_eq!(v.outcome, Outcome::BetterInEverySeed);
        assert!(v.seeds_agree_p.unwrap() < SEEDS_AGREE_P);
        assert_eq!(v.pairs_needed, None);
        let text = render(&[v]);
        assert!(
            text.contains("**better in every seed**") && text.contains("seeds +15.2, +27.6, +22.9"),
            "{text}"
        );

        // The mirror image is worse in every seed.
        let mirrored = seeds.map(|s| PairedCounts {
            only_a: s.only_b,
            only_b: s.only_a,
            ..s
        });
        let v = judge(("b", "p", "x"), 3000, -0.219, (-0.239, -0.199), &mirrored);
        assert_eq!(v.outcome, Outcome::WorseInEverySeed);

        // One seed whose own interval reaches 0 leaves it undecided.
        let mut mixed = seeds;
        mixed[0] = PairedCounts {
            both_right: 300,
            only_a: 60,
            only_b: 55,
            both_wrong: 585,
        };
        let v = judge(("p", "b", "x"), 3000, 0.18, (0.16, 0.20), &mixed);
        assert!(v.seeds_agree_p.unwrap() < SEEDS_AGREE_P);
        assert_eq!(v.outcome, Outcome::Undecided);
    }
}
