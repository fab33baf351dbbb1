//! Elementwise maths written so that loops over slices vectorise: libm's `expf` is a
//! call per element, and a running sum (or maximum) is one dependent operation per
//! element. In a SmolLM2 training step `exp` alone runs about 250 million times
//! (attention probabilities, the loss over the vocabulary, SiLU).

/// `exp(x)` for f32 within 2 ulp, inlined and branch-free so the compiler turns a loop
/// of it into vector instructions. Inputs are clamped to `[-87.3, 88]`: below, the
/// result is the smallest normal float (about 1.2e-38) instead of a subnormal or 0,
/// above, `exp(88)` instead of infinity; NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // exp(x) = 2^n · exp(r) with n = round(x / ln 2) and |r| <= ln(2) / 2; ln 2 is
    // split in two so that n · ln 2 is subtracted without rounding error.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and removing 1.5 · 2^23 rounds to the nearest integer in two vector
    // instructions, where `round` is a libm call on the baseline x86-64 target.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.336_55, 88.0);
    let rounded = x * std::f32::consts::LOG2_E + ROUNDER;
    let n = rounded - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Minimax polynomial for (exp(r) - 1 - r) / r² on that interval.
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from its exponent bits; n is in [-126, 127] after the clamp. `rounded` holds
    // n in its low mantissa bits (its bits are those of 1.5 · 2^23 plus n), read from
    // there because `n as i32` saturates, which does not vectorise.
    let n_bits = rounded.to_bits().wrapping_sub(ROUNDER.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    e * two_n
}

/// The sum of `xs` over eight running partial sums, which vectorises where one
/// running sum is a chain of dependent adds. The order of the additions differs from
/// a left-to-right sum, so results differ from it by rounding.
#[inline]
pub fn sum<T: num_traits::Float>(xs: &[T]) -> T {
    let mut lanes = [T::zero(); 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = *lane + x;
        }
    }
    let tail = chunks.remainder().iter().fold(T::zero(), |a, &x| a + x);
    let halves = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (halves[0] + halves[2]) + (halves[1] + halves[3]) + tail
}

/// `Σ a·b` over eight running partial sums, as [`sum`].
#[inline]
pub fn dot<T: num_traits::Float>(a: &[T], b: &[T]) -> T {
    let mut lanes = [T::zero(); 8];
    let mut chunks = a.chunks_exact(8).zip(b.chunks_exact(8));
    for (a, b) in &mut chunks {
        for ((lane, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
            *lane = *lane + a * b;
        }
    }
    let done = a.len().min(b.len()) / 8 * 8;
    let tail = a[done..]
        .iter()
        .zip(&b[done..])
        .fold(T::zero(), |acc, (&a, &b)| acc + a * b);
    sum(&lanes) + tail
}

/// The largest of `xs` (negative infinity when empty) over eight running maxima,
/// for the same reason as [`sum`]; a NaN among them may or may not come out.
#[inline]
pub fn max<T: num_traits::Float>(xs: &[T]) -> T {
    let pick = |a: T, b: T| if b > a { b } else { a };
    let mut lanes = [T::neg_infinity(); 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = pick(*lane, x);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(T::neg_infinity(), |a, &x| pick(a, x));
    lanes.iter().fold(tail, |a, &x| pick(a, x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm_over_its_range() {
        let mut worst = (0, 0.0f32);
        let steps = 2_000_000;
        for i in 0..=steps {
            let x = -87.3 + (88.0 + 87.3) * i as f32 / steps as f32;
            let exact = (x as f64).exp() as f32;
            let u = ulps(exp_f32(x), exact);
            if u > worst.0 {
                worst = (u, x);
            }
        }
        assert!(worst.0 <= 2, "{} ulp at x = {}", worst.0, worst.1);
        for x in [0.0f32, 1.0, -1.0, 1e-8, -1e-8, 0.5, -0.34657] {
            assert!(ulps(exp_f32(x), (x as f64).exp() as f32) <= 1, "x = {x}");
        }
    }

    #[test]
    fn exp_clamps_outside_its_range_and_keeps_nan() {
        for x in [-1e9, -90.0, f32::NEG_INFINITY] {
            let low = exp_f32(x);
            assert!(low > 0.0 && low <= f32::MIN_POSITIVE * 1.001, "{x}: {low}");
        }
        assert_eq!(exp_f32(1e9), exp_f32(88.0));
        assert!(exp_f32(88.0).is_finite());
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn max_finds_the_largest_wherever_it_is() {
        assert_eq!(max::<f32>(&[]), f32::NEG_INFINITY);
        for n in [1, 7, 8, 9, 17, 100] {
            for at in 0..n {
                let mut xs = vec![-3.0f32; n];
                xs[at] = 2.5;
                assert_eq!(max(&xs), 2.5, "n = {n}, at {at}");
            }
        }
    }

    #[test]
    fn dot_multiplies_pairs_including_the_tail() {
        for n in [0, 1, 7, 8, 9, 17, 100] {
            let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let b = vec![2.0; n];
            assert_eq!(dot(&a, &b), (n * n.saturating_sub(1)) as f64, "n = {n}");
        }
    }

    #[test]
    fn sum_adds_every_element_including_the_tail() {
        for n in [0, 1, 7, 8, 9, 16, 31, 1000] {
            let xs: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
            let expected = (n * n) as f64 / 2.0;
            assert_eq!(sum(&xs), expected, "n = {n}");
        }
    }
}
