//! What one paired comparison decides, read off its 95% interval: A better, A worse,
//! the two within the demo's margin of each other, or not decided yet — and then
//! roughly how many paired problems would decide it. The rule is fixed before any run,
//! so the report cannot pick the reading that suits it.

use std::fmt::Write as _;

use serde::Serialize;

use crate::eval::report::points_with_interval;

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
    /// The interval contains 0 and reaches past the margin.
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
}

/// One comparison of `n` paired problems with difference `diff` and interval
/// [`low`, `high`] (fractions).
pub fn judge(
    (a, b, benchmark): (&str, &str, &str),
    n: u64,
    diff: f64,
    (low, high): (f64, f64),
) -> Verdict {
    let half_width = (high - low) / 2.0;
    let outcome = if low > 0.0 {
        Outcome::Better
    } else if high < 0.0 {
        Outcome::Worse
    } else if low >= -MARGIN && high <= MARGIN {
        Outcome::Equivalent
    } else {
        Outcome::Undecided
    };
    let pairs_needed = (outcome == Outcome::Undecided && half_width > MARGIN)
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
    }
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
        judge(("a", "b", "x"), 300, (low + high) / 2.0, (low, high)).outcome
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
        let v = judge(("a", "b", "x"), 100, -0.04, (-0.115, 0.031));
        assert!((v.half_width - 0.073).abs() < 1e-12);
        assert_eq!(v.pairs_needed, Some(334));
        // Narrow enough but off-centre: more pairs of the same kind are not the answer.
        let v = judge(("a", "b", "x"), 900, 0.02, (-0.015, 0.055));
        assert_eq!((v.outcome, v.pairs_needed), (Outcome::Undecided, None));
        assert_eq!(
            judge(("a", "b", "x"), 100, 0.04, (0.007, 0.076)).pairs_needed,
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
            ),
            judge(("g", "p", "synth/test_ood"), 100, -0.04, (-0.115, 0.031)),
        ]);
        assert!(text.contains(
            "- plan-tuned against baseline on synth/test_id: **better**: +4.0 [+0.7, +7.6]."
        ));
        assert!(text.contains("**undecided**: -4.0 [-11.5, +3.1]; about 334 paired problems"));
    }
}
