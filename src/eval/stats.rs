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
    let n = n as f64;
    let p = correct as f64 / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((center - half).max(0.0), (center + half).min(1.0))
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
}
