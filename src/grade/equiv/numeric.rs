//! Numeric and sampled symbolic comparison of scalar answers.

use super::super::eval::{Env, eval, variables};
use super::super::num::Num;
use super::super::parse::Node;
use super::Outcome;
use super::complex::ceval;
use super::render::render;

/// Points per variable for symbolic comparison; a fixed seed keeps verdicts reproducible.
const SYMBOLIC_POINTS: usize = 6;
const SYMBOLIC_SEED: u64 = 0x5EED_6A7A_DE00_0001;
const RELATIVE_TOLERANCE: f64 = 1e-9;
pub(super) const SYMBOLIC_TOLERANCE: f64 = 1e-7;
/// A decimal with this many places is a printed value of an exact answer (`0.8181818181`
/// for 9/11); shorter ones are truncations a human marks wrong (0.142857 ≠ 1/7).
const MIN_EXPANSION_PLACES: u32 = 10;

pub(super) fn compare_scalars(p: &Node, g: &Node) -> Option<Outcome> {
    if let Some(outcome) = compare_complex(p, g) {
        return Some(outcome);
    }
    let pv = variables(p);
    let gv = variables(g);
    if pv.is_empty() && gv.is_empty() {
        let a = eval(p, &[])?;
        let b = eval(g, &[])?;
        // An overflowed value (10^{10^{10}}) is not the number infinity.
        let overflowed = |v: Num, n: &Node| v.to_f64().is_infinite() && !mentions_infinity(n);
        if overflowed(a, p) || overflowed(b, g) {
            return None;
        }
        return numeric(a, b, literal_decimals(p), literal_decimals(g)).map(|(equal, how)| {
            let sign = if equal { "=" } else { "≠" };
            Outcome::new(equal, format!("{how}: {} {sign} {}", render(p), render(g)))
        });
    }
    // Compare over all variables: an answer may not depend on one it mentions
    // (`\cos^2 x + \sin^2 x` = 1), and `2x` vs `2` then differs at the sample points.
    let mut vars = pv;
    vars.extend(gv);
    vars.sort_unstable();
    vars.dedup();
    symbolic(p, g, &vars)
}

/// Answers in the imaginary unit `i`, or with a square root of a negative number.
fn compare_complex(p: &Node, g: &Node) -> Option<Outcome> {
    let imaginary = |n: &Node| {
        let vars = variables(n);
        vars == ["i"] || (vars.is_empty() && has_negative_root(n))
    };
    if !(imaginary(p) || imaginary(g)) {
        return None;
    }
    let (a, b) = (ceval(p)?, ceval(g)?);
    let equal = a.close(b);
    let sign = if equal { "=" } else { "≠" };
    Some(Outcome::new(
        equal,
        format!("complex: {} {sign} {}", render(p), render(g)),
    ))
}

fn has_negative_root(node: &Node) -> bool {
    match node {
        Node::Root(None, a) => matches!(&**a, Node::Neg(_)) || has_negative_root(a),
        Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) | Node::Pow(a, b) => {
            has_negative_root(a) || has_negative_root(b)
        }
        Node::Neg(a) => has_negative_root(a),
        _ => false,
    }
}

/// Digits after the point when the answer is a written decimal literal (`0.25`, `-1.5`).
fn literal_decimals(node: &Node) -> Option<u32> {
    match node {
        Node::Num { decimals, .. } => *decimals,
        Node::Neg(inner) => literal_decimals(inner),
        _ => None,
    }
}

fn mentions_infinity(node: &Node) -> bool {
    match node {
        Node::Infinity => true,
        Node::Neg(inner) => mentions_infinity(inner),
        _ => false,
    }
}

/// `Some((equal, rule))`, `None` when a value is NaN.
///
/// Exact values compare exactly, with two allowances for rounding: a decimal gold accepts
/// values that round to it within a 0.2% relative error (`2\pi` for `6.28`, `1/3` for
/// `0.333`, not `0.52` for `0.5`), and a long decimal expansion (10+ places) of an exact
/// gold is accepted when it is correct to its last place (`0.8181818` for `9/11`).
fn numeric(
    p: Num,
    g: Num,
    pred_decimals: Option<u32>,
    gold_decimals: Option<u32>,
) -> Option<(bool, &'static str)> {
    let (a, b) = (p.to_f64(), g.to_f64());
    if p.is_exact() && g.is_exact() && p == g {
        return Some((true, "numeric"));
    }
    if let Some(d) = gold_decimals {
        let half_unit = 0.5 * 10f64.powi(-(d as i32));
        let tol = half_unit.min(2e-3 * b.abs()) * (1.0 + 1e-9);
        if (a - b).abs() <= tol {
            return Some((true, "numeric within gold precision"));
        }
    }
    if let Some(d) = pred_decimals.filter(|d| *d >= MIN_EXPANSION_PLACES && gold_decimals.is_none())
    {
        let unit = 10f64.powi(-(d as i32)) * (1.0 + 1e-9);
        if (a - b).abs() <= unit {
            return Some((true, "numeric decimal expansion"));
        }
    }
    if p.is_exact() && g.is_exact() {
        return Some((false, "numeric"));
    }
    if a.is_nan() || b.is_nan() {
        return None;
    }
    if a.is_infinite() || b.is_infinite() {
        return Some((a == b, "numeric"));
    }
    let tol = RELATIVE_TOLERANCE * a.abs().max(b.abs()) + 1e-12;
    Some(((a - b).abs() <= tol, "numeric (approx)"))
}

pub(super) fn sample_points(vars: &[&str]) -> impl Iterator<Item = Vec<f64>> {
    let mut state = SYMBOLIC_SEED;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = vars.len();
    (0..SYMBOLIC_POINTS).map(move |k| {
        (0..n)
            .map(|_| {
                let u = next();
                // Mostly positive (keeps \sqrt and \ln defined); one point probes negatives.
                if k == SYMBOLIC_POINTS - 1 {
                    -0.4 - 2.0 * u
                } else {
                    0.3 + 2.7 * u
                }
            })
            .collect()
    })
}

fn symbolic(p: &Node, g: &Node, vars: &[&str]) -> Option<Outcome> {
    let mut checked = 0;
    for values in sample_points(vars) {
        let env: Vec<(&str, f64)> = vars.iter().copied().zip(values).collect();
        let env: Env<'_> = &env;
        let (a, b) = match (eval(p, env), eval(g, env)) {
            (Some(a), Some(b)) => (a.to_f64(), b.to_f64()),
            (None, None) => continue,
            _ => {
                return Some(Outcome::new(
                    false,
                    "symbolic: defined on different domains",
                ));
            }
        };
        // Outside one side's domain (ln of a negative sample): no evidence either way.
        if a.is_nan() || b.is_nan() {
            continue;
        }
        let tol = SYMBOLIC_TOLERANCE * a.abs().max(b.abs()) + 1e-12;
        if !((a - b).abs() <= tol || (a.is_infinite() && a == b)) {
            let at = env
                .iter()
                .map(|(n, v)| format!("{n}={v:.3}"))
                .collect::<Vec<_>>()
                .join(",");
            return Some(Outcome::new(
                false,
                format!("symbolic: {} ≠ {} at {at}", render(p), render(g)),
            ));
        }
        checked += 1;
    }
    (checked >= 2).then(|| {
        Outcome::new(
            true,
            format!(
                "symbolic: {} = {} at {checked} points",
                render(p),
                render(g)
            ),
        )
    })
}

pub(super) fn proportional(p: &Node, g: &Node) -> Option<Outcome> {
    let mut vars = variables(p);
    vars.extend(variables(g));
    vars.sort_unstable();
    vars.dedup();
    let mut ratio: Option<f64> = None;
    let mut checked = 0;
    for values in sample_points(&vars) {
        let env: Vec<(&str, f64)> = vars.iter().copied().zip(values).collect();
        let (Some(a), Some(b)) = (eval(p, &env), eval(g, &env)) else {
            continue;
        };
        let (a, b) = (a.to_f64(), b.to_f64());
        if !a.is_finite() || !b.is_finite() {
            continue;
        }
        if a.abs() < 1e-12 && b.abs() < 1e-12 {
            checked += 1;
            continue;
        }
        if b.abs() < 1e-12 {
            return Some(Outcome::new(false, "equation: different solution sets"));
        }
        let r = a / b;
        match ratio {
            None if r.abs() > 1e-12 => ratio = Some(r),
            None => return Some(Outcome::new(false, "equation: different solution sets")),
            Some(r0) if (r - r0).abs() > SYMBOLIC_TOLERANCE * r0.abs().max(1.0) => {
                return Some(Outcome::new(
                    false,
                    "equation: not a multiple of the gold equation",
                ));
            }
            Some(_) => {}
        }
        checked += 1;
    }
    (checked >= 2).then(|| {
        Outcome::new(
            true,
            format!("equation: same up to a factor at {checked} points"),
        )
    })
}
