//! Numbers that stay exact (i128 rationals) while they can and fall back to f64.
//!
//! Exactness matters: `0.1 + 0.2` must equal `3/10` exactly, and an integer gold must not
//! accept `41.9999`. Every operation is O(1) or bounded (integer powers up to
//! [`MAX_EXACT_EXPONENT`]) so pathological inputs such as `10^{10^{10}}` cost nothing.

use std::fmt;

/// Largest integer exponent evaluated exactly; beyond it the power is computed in f64.
const MAX_EXACT_EXPONENT: i128 = 256;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// Reduced fraction, denominator > 0.
    Rat(i128, i128),
    Float(f64),
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.checked_abs().unwrap_or(i128::MAX);
    b = b.checked_abs().unwrap_or(i128::MAX);
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Num {
    pub(crate) fn int(n: i128) -> Num {
        Num::Rat(n, 1)
    }

    /// Builds a reduced fraction; `None` when the denominator is zero.
    pub(crate) fn ratio(num: i128, den: i128) -> Option<Num> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        let (mut n, mut d) = (num / g, den / g);
        if d < 0 {
            n = n.checked_neg()?;
            d = d.checked_neg()?;
        }
        Some(Num::Rat(n, d))
    }

    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Num::Rat(n, d) => n as f64 / d as f64,
            Num::Float(f) => f,
        }
    }

    pub(crate) fn is_exact(self) -> bool {
        matches!(self, Num::Rat(..))
    }

    pub(crate) fn as_integer(self) -> Option<i128> {
        match self {
            Num::Rat(n, 1) => Some(n),
            Num::Rat(..) => None,
            Num::Float(f) => {
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
                    Some(f as i128)
                } else {
                    None
                }
            }
        }
    }

    pub(crate) fn neg(self) -> Num {
        match self {
            Num::Rat(n, d) => match n.checked_neg() {
                Some(m) => Num::Rat(m, d),
                None => Num::Float(-(n as f64) / d as f64),
            },
            Num::Float(f) => Num::Float(-f),
        }
    }

    pub(crate) fn add(self, other: Num) -> Num {
        if let (Num::Rat(a, b), Num::Rat(c, d)) = (self, other) {
            let exact = (|| {
                let num = a.checked_mul(d)?.checked_add(c.checked_mul(b)?)?;
                Num::ratio(num, b.checked_mul(d)?)
            })();
            if let Some(n) = exact {
                return n;
            }
        }
        Num::Float(self.to_f64() + other.to_f64())
    }

    pub(crate) fn sub(self, other: Num) -> Num {
        self.add(other.neg())
    }

    pub(crate) fn mul(self, other: Num) -> Num {
        if let (Num::Rat(a, b), Num::Rat(c, d)) = (self, other) {
            // Cross-reduce first so products of reduced fractions rarely overflow.
            let g1 = gcd(a, d).max(1);
            let g2 = gcd(c, b).max(1);
            let exact =
                (|| Num::ratio((a / g1).checked_mul(c / g2)?, (b / g2).checked_mul(d / g1)?))();
            if let Some(n) = exact {
                return n;
            }
        }
        Num::Float(self.to_f64() * other.to_f64())
    }

    /// `None` on exact division by zero; float division follows IEEE.
    pub(crate) fn div(self, other: Num) -> Option<Num> {
        match other {
            Num::Rat(0, _) => None,
            Num::Rat(c, d) => Some(self.mul(Num::ratio(d, c)?)),
            Num::Float(f) => Some(Num::Float(self.to_f64() / f)),
        }
    }

    pub(crate) fn pow(self, exponent: Num) -> Option<Num> {
        if let (Num::Rat(..), Some(e)) =
            (self, exponent.as_integer().filter(|_| exponent.is_exact()))
            && e.unsigned_abs() <= MAX_EXACT_EXPONENT.unsigned_abs()
            && let Some(p) = self.exact_pow(e.unsigned_abs())
        {
            return if e < 0 { Num::int(1).div(p) } else { Some(p) };
        }
        let base = self.to_f64();
        let exp = exponent.to_f64();
        // A negative base with a fractional exponent is only real for odd-denominator roots.
        if base < 0.0
            && exp.fract() != 0.0
            && let Num::Rat(_, d) = exponent
            && d % 2 == 1
        {
            return Some(Num::Float(-(-base).powf(exp)));
        }
        Some(Num::Float(base.powf(exp)))
    }

    fn exact_pow(self, mut e: u128) -> Option<Num> {
        let Num::Rat(n, d) = self else { return None };
        let (mut bn, mut bd) = (n, d);
        let (mut rn, mut rd) = (1i128, 1i128);
        while e > 0 {
            if e & 1 == 1 {
                rn = rn.checked_mul(bn)?;
                rd = rd.checked_mul(bd)?;
            }
            e >>= 1;
            if e > 0 {
                bn = bn.checked_mul(bn)?;
                bd = bd.checked_mul(bd)?;
            }
        }
        Num::ratio(rn, rd)
    }

    /// Square root, exact for perfect squares of rationals.
    pub(crate) fn sqrt(self) -> Num {
        if let Num::Rat(n, d) = self
            && n >= 0
            && let (Some(rn), Some(rd)) = (isqrt_exact(n), isqrt_exact(d))
        {
            return Num::Rat(rn, rd);
        }
        Num::Float(self.to_f64().sqrt())
    }

    pub(crate) fn factorial(self) -> Option<Num> {
        let n = self.as_integer()?;
        if n < 0 {
            return None;
        }
        if n > 170 {
            return Some(Num::Float(f64::INFINITY));
        }
        let mut acc = Num::int(1);
        for k in 2..=n {
            acc = acc.mul(Num::int(k));
        }
        Some(acc)
    }
}

fn isqrt_exact(n: i128) -> Option<i128> {
    if n < 0 {
        return None;
    }
    let r = (n as f64).sqrt().round() as i128;
    (r.saturating_sub(1)..=r.saturating_add(1)).find(|&c| c >= 0 && c.checked_mul(c) == Some(n))
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Rat(n, 1) => write!(f, "{n}"),
            Num::Rat(n, d) => write!(f, "{n}/{d}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// Parses a plain decimal literal (`12`, `0.25`, `.5`, `1.5e-3`) exactly when it fits.
pub(crate) fn parse_decimal(text: &str) -> Option<Num> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => match text[i + 1..].parse::<i32>() {
            Ok(e) => (&text[..i], e),
            // An exponent beyond i32 is an overflow or underflow either way.
            Err(_) => return text.parse::<f64>().ok().map(Num::Float),
        },
        None => (text, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits = int_part.len() + frac_part.len();
    if digits <= 36 && exponent.unsigned_abs() <= 30 {
        let mut n: i128 = 0;
        for c in int_part.chars().chain(frac_part.chars()) {
            n = n
                .checked_mul(10)?
                .checked_add(i128::from(c.to_digit(10)?))?;
        }
        let scale = frac_part.len() as i32 - exponent;
        let exact = if scale >= 0 {
            10i128
                .checked_pow(scale as u32)
                .and_then(|d| Num::ratio(n, d))
        } else {
            10i128
                .checked_pow((-scale) as u32)
                .and_then(|m| n.checked_mul(m))
                .map(Num::int)
        };
        if exact.is_some() {
            return exact;
        }
    }
    text.parse::<f64>().ok().map(Num::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal("0.25"), Some(Num::Rat(1, 4)));
        assert_eq!(parse_decimal(".5"), Some(Num::Rat(1, 2)));
        assert_eq!(parse_decimal("1.5e3"), Some(Num::Rat(1500, 1)));
        assert_eq!(parse_decimal("42"), Some(Num::Rat(42, 1)));
        assert_eq!(parse_decimal("."), None);
    }

    #[test]
    fn arithmetic_stays_exact() {
        let a = parse_decimal("0.1").and_then(|x| parse_decimal("0.2").map(|y| x.add(y)));
        assert_eq!(a, Some(Num::Rat(3, 10)));
        assert_eq!(Num::int(8).sqrt(), Num::Float(8f64.sqrt()));
        assert_eq!(Num::Rat(9, 4).sqrt(), Num::Rat(3, 2));
        assert_eq!(Num::int(2).pow(Num::int(-2)), Some(Num::Rat(1, 4)));
        assert_eq!(Num::int(5).factorial(), Some(Num::int(120)));
    }

    #[test]
    fn huge_powers_fall_back_to_float() {
        let p = Num::int(10).pow(Num::int(10_000_000_000));
        assert_eq!(p, Some(Num::Float(f64::INFINITY)));
        let q = Num::int(-8).pow(Num::Rat(1, 3)).map(Num::to_f64);
        assert!(q.is_some_and(|v| (v + 2.0).abs() < 1e-12));
    }
}
