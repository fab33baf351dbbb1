//! The statistics behind every accuracy figure the tool prints.

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `correct` successes out of `n`, at 95%. Unlike the normal
/// approximation it stays inside [0, 1] and behaves at 0/n and n/n, which is where
/// small benchmarks like AIME (30 problems) live.
pub fn wilson_interval(correct: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    wilson_of(correct as f64 / n as f64, n as f64)
}

/// Wilson's interval for an observed proportion `p` over an effective sample size `n`
/// (which need not be whole: a count of clusters, not of correlated samples).
fn wilson_of(p: f64, n: f64) -> (f64, f64) {
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    // Wilson's interval always contains p; at p = 0 or 1 rounding can put a bound a hair
    // on the wrong side of it, which a reader of the JSON would rightly call a bug.
    ((center - half).clamp(0.0, p), (center + half).clamp(p, 1.0))
}

/// Exact (binomial) two-sided McNemar test on the discordant pairs: `only_a` problems
/// that only A got right, `only_b` that only B got right. Exact rather than chi-squared
/// because the discordant counts on these benchmarks are often tiny.
pub fn mcnemar_exact_p(only_a: u64, only_b: u64) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    let k = only_a.min(only_b);
    // Sum of C(n, i) / 2^n for i <= k, in log space so large n cannot overflow.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut tail = 0.0;
    let mut ln_choose = 0.0; // ln C(n, 0)
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// A paired comparison of two prediction sets on the same problems: the 2×2 table of
/// who got each problem right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairedCounts {
    pub both_right: u64,
    pub only_a: u64,
    pub only_b: u64,
    pub both_wrong: u64,
}

impl PairedCounts {
    pub fn n(&self) -> u64 {
        self.both_right + self.only_a + self.only_b + self.both_wrong
    }

    /// A's accuracy minus B's, with its 95% interval (`newcombe_paired_difference`).
    pub fn difference(&self) -> Difference {
        newcombe_paired_difference(self)
    }
}

/// A difference of two accuracies and its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// The 95% interval for the difference of two paired proportions, p_A − p_B, by
/// Newcombe's method 10 (Newcombe 1998, "Improved confidence intervals for the
/// difference between binomial proportions based on paired data"): the Wilson
/// intervals of the two accuracies combined with the correlation φ of the 2×2 table.
/// Like Wilson's it stays inside [−1, 1] and behaves at 0 and n, where the Wald
/// interval collapses to a point.
pub fn newcombe_paired_difference(t: &PairedCounts) -> Difference {
    let n = t.n();
    if n == 0 {
        return Difference {
            estimate: 0.0,
            low: -1.0,
            high: 1.0,
        };
    }
    let (a, b, c, d) = (
        t.both_right as f64,
        t.only_a as f64,
        t.only_b as f64,
        t.both_wrong as f64,
    );
    let nf = n as f64;
    let (p1, p2) = ((a + b) / nf, (a + c) / nf);
    let (l1, u1) = wilson_interval(t.both_right + t.only_a, n);
    let (l2, u2) = wilson_interval(t.both_right + t.only_b, n);
    // φ of the table; a zero margin makes it 0/0, taken as 0 (Newcombe's convention).
    let margins = (a + b) * (c + d) * (a + c) * (b + d);
    let phi = if margins > 0.0 {
        (a * d - b * c) / margins.sqrt()
    } else {
        0.0
    };
    let below = ((p1 - l1).powi(2) - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2).powi(2))
        .max(0.0)
        .sqrt();
    let above = ((u1 - p1).powi(2) - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2).powi(2))
        .max(0.0)
        .sqrt();
    let estimate = p1 - p2;
    Difference {
        estimate,
        low: (estimate - below).max(-1.0),
        high: (estimate + above).min(1.0),
    }
}

/// The 95% interval for p_A − p_B when A and B are independent samples (different
/// problems), by Newcombe's hybrid score method 10 (Newcombe 1998, "Interval estimation
/// for the difference between independent proportions"): the paired method with no
/// correlation between the two.
pub fn newcombe_independent_difference(
    (correct_a, n_a): (u64, u64),
    (correct_b, n_b): (u64, u64),
) -> Difference {
    if n_a == 0 || n_b == 0 {
        return Difference {
            estimate: 0.0,
            low: -1.0,
            high: 1.0,
        };
    }
    newcombe_independent_of(
        (correct_a as f64 / n_a as f64, n_a as f64),
        (correct_b as f64 / n_b as f64, n_b as f64),
    )
}

/// The same interval from proportions and effective sample sizes: where samples come
/// in correlated clusters (a GRPO group's completions of one prompt), counting clusters
/// instead of samples keeps the interval from claiming more than the data hold.
pub fn newcombe_independent_of((p1, n1): (f64, f64), (p2, n2): (f64, f64)) -> Difference {
    if n1 <= 0.0 || n2 <= 0.0 {
        return Difference {
            estimate: 0.0,
            low: -1.0,
            high: 1.0,
        };
    }
    let (l1, u1) = wilson_of(p1, n1);
    let (l2, u2) = wilson_of(p2, n2);
    let estimate = p1 - p2;
    Difference {
        estimate,
        low: (estimate - (p1 - l1).hypot(u2 - p2)).max(-1.0),
        high: (estimate + (u1 - p1).hypot(p2 - l2)).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn wilson_matches_published_values() {
        // 8/10: (0.4902, 0.9433), the textbook example; statsmodels agrees.
        let (lo, hi) = wilson_interval(8, 10);
        assert!(close(lo, 0.4902) && close(hi, 0.9433), "{lo} {hi}");
        let (lo, hi) = wilson_interval(0, 10);
        assert!(close(lo, 0.0) && close(hi, 0.2775), "{lo} {hi}");
        let (lo, hi) = wilson_interval(10, 10);
        assert!(close(lo, 0.7225) && close(hi, 1.0), "{lo} {hi}");
        let (lo, hi) = wilson_interval(50, 100);
        assert!(close(lo, 0.4038) && close(hi, 0.5962), "{lo} {hi}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
        // The bounds hold the point estimate exactly at the edges, for every n.
        for n in 1..=2000 {
            assert_eq!(wilson_interval(0, n).0, 0.0, "n = {n}");
            assert_eq!(wilson_interval(n, n).1, 1.0, "n = {n}");
        }
    }

    #[test]
    fn mcnemar_exact_matches_binomial_tails() {
        // b=10, c=2: 2 * P(X <= 2 | n=12, 1/2) = 2 * 79 / 4096.
        assert!(close(mcnemar_exact_p(10, 2), 158.0 / 4096.0));
        assert!(close(mcnemar_exact_p(2, 10), 158.0 / 4096.0));
        assert!(close(mcnemar_exact_p(0, 6), 2.0 / 64.0));
        assert!(close(mcnemar_exact_p(25, 10), 0.016_673_8));
        assert_eq!(mcnemar_exact_p(5, 5), 1.0);
        assert_eq!(mcnemar_exact_p(1, 0), 1.0);
        assert_eq!(mcnemar_exact_p(0, 0), 1.0);
        // Large counts stay finite and tiny.
        let p = mcnemar_exact_p(900, 100);
        assert!(p > 0.0 && p < 1e-100, "{p}");
    }

    fn table(both_right: u64, only_a: u64, only_b: u64, both_wrong: u64) -> PairedCounts {
        PairedCounts {
            both_right,
            only_a,
            only_b,
            both_wrong,
        }
    }

    #[test]
    fn newcombe_paired_difference_matches_hand_worked_values() {
        // a=2, b=c=0, d=18 (n=20): p_A = p_B = 0.1, both Wilson (0.02787, 0.30103);
        // φ = (2·18 − 0)/√(2·18·2·18) = 1, so δ = |(p1−l1) − (u2−p2)|
        // = |0.07213 − 0.20103| = 0.12890 and ε the same: (−0.1289, 0.1289).
        let d = newcombe_paired_difference(&table(2, 0, 0, 18));
        assert!(close(d.estimate, 0.0) && close(d.low, -0.128_900) && close(d.high, 0.128_900));
        // All right, n=5: Wilson (0.56552, 1); a margin is 0 so φ = 0 and
        // δ = √((1 − 0.56552)² + 0) = 0.43448: (−0.4345, 0.4345).
        let d = newcombe_paired_difference(&table(5, 0, 0, 0));
        assert!(
            close(d.low, -0.434_482) && close(d.high, 0.434_482),
            "{d:?}"
        );
        // Newcombe's worked example, a=12, b=9, c=2, d=21 (n=44): θ = 7/44 = 0.15909;
        // Wilson p_A=21/44 (0.33755, 0.62065), p_B=14/44 (0.19999, 0.46557);
        // φ = (252 − 18)/√(21·23·14·30) = 0.51954;
        // δ = √(0.13972² − 2φ·0.13972·0.14739 + 0.14739²) = 0.14088,
        // ε = √(0.14337² − 2φ·0.14337·0.11819 + 0.11819²) = 0.13007:
        // (0.01821, 0.28916).
        let d = newcombe_paired_difference(&table(12, 9, 2, 21));
        assert!(close(d.estimate, 7.0 / 44.0), "{d:?}");
        assert!(close(d.low, 0.018_210) && close(d.high, 0.289_157), "{d:?}");
        // B better: the sign follows, the interval excludes 0.
        let d = newcombe_paired_difference(&table(1, 1, 7, 12));
        assert!(
            close(d.low, -0.501_663) && close(d.high, -0.036_053),
            "{d:?}"
        );
        // Nothing compared: the widest interval.
        let d = newcombe_paired_difference(&table(0, 0, 0, 0));
        assert_eq!((d.low, d.high), (-1.0, 1.0));
    }

    #[test]
    fn newcombe_independent_difference_matches_published_values() {
        // Newcombe (1998), table II: 56/70 − 48/80 → (0.0524, 0.3339);
        // 9/10 − 3/10 → (0.1705, 0.8090); 5/56 − 0/29 → (−0.0381, 0.1926).
        let d = newcombe_independent_difference((56, 70), (48, 80));
        assert!(close(d.estimate, 0.2) && close(d.low, 0.052_431) && close(d.high, 0.333_873));
        let d = newcombe_independent_difference((9, 10), (3, 10));
        assert!(close(d.low, 0.170_523) && close(d.high, 0.809_018), "{d:?}");
        let d = newcombe_independent_difference((5, 56), (0, 29));
        assert!(
            close(d.low, -0.038_137) && close(d.high, 0.192_560),
            "{d:?}"
        );
        // Swapping the samples mirrors the interval.
        let m = newcombe_independent_difference((3, 10), (9, 10));
        assert!(
            close(m.low, -0.809_018) && close(m.high, -0.170_523),
            "{m:?}"
        );
        let d = newcombe_independent_difference((0, 0), (3, 10));
        assert_eq!((d.low, d.high), (-1.0, 1.0));
        // From proportions, the same; fewer effective samples, a wider interval.
        assert_eq!(
            newcombe_independent_of((0.7, 80.0), (0.6, 80.0)),
            newcombe_independent_difference((56, 80), (48, 80))
        );
        let clustered = newcombe_independent_of((0.7, 10.0), (0.6, 10.0));
        assert!(
            clustered.low < -0.2 && clustered.high > 0.4,
            "{clustered:?}"
        );
    }
}
