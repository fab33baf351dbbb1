//! Mathematical equivalence of two answers, with the rule that decided.

use super::eval::{Env, eval, variables};
use super::normalize::{Normalized, comparison_key, normalize};
use super::num::Num;
use super::parse::{Node, Rel, parse};

/// Points per variable for symbolic comparison; a fixed seed keeps verdicts reproducible.
const SYMBOLIC_POINTS: usize = 6;
const SYMBOLIC_SEED: u64 = 0x5EED_6A7A_DE00_0001;
const RELATIVE_TOLERANCE: f64 = 1e-9;
const SYMBOLIC_TOLERANCE: f64 = 1e-7;
/// Unordered matching is quadratic; longer lists fall back to string comparison.
const MAX_UNORDERED_ITEMS: usize = 64;

/// The decision on one pair of answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub equal: bool,
    pub reason: String,
}

impl Outcome {
    fn new(equal: bool, reason: impl Into<String>) -> Outcome {
        Outcome {
            equal,
            reason: reason.into(),
        }
    }
}

/// Does the question ask for a percentage ("what percent", "%")?
pub(crate) fn asks_for_percent(question: &str) -> bool {
    question.contains('%') || question.to_ascii_lowercase().contains("percent")
}

pub(crate) fn equivalent(predicted: &str, gold: &str, percent_question: bool) -> Outcome {
    let p = normalize(predicted);
    let g = normalize(gold);
    if p.text.is_empty() {
        return Outcome::new(false, "no answer: empty prediction");
    }
    if p.percent == g.percent {
        return compare_texts(&p, &g, Scale::None);
    }
    let as_written = compare_texts(&p, &g, Scale::None);
    if percent_question {
        // The question fixes the unit: "10%" and "10" agree, "0.1" is a different number.
        return Outcome::new(
            as_written.equal,
            format!("percent question, sign ignored; {}", as_written.reason),
        );
    }
    if as_written.equal {
        return Outcome::new(true, format!("percent sign ignored; {}", as_written.reason));
    }
    let scale = if p.percent { Scale::Pred } else { Scale::Gold };
    let scaled = compare_texts(&p, &g, scale);
    Outcome::new(scaled.equal, format!("percent as /100; {}", scaled.reason))
}

/// Which side's value a percent sign divides by 100.
#[derive(Clone, Copy)]
enum Scale {
    None,
    Pred,
    Gold,
}

fn compare_texts(p: &Normalized, g: &Normalized, scale: Scale) -> Outcome {
    if matches!(scale, Scale::None)
        && comparison_key(&p.text, false) == comparison_key(&g.text, false)
    {
        return Outcome::new(true, format!("string: {} = {}", p.text, g.text));
    }
    let parsed = (parse(&p.text), parse(&g.text));
    let failure = match parsed {
        (Ok(pn), Ok(gn)) => {
            let hundred = || {
                Box::new(Node::Num {
                    value: Num::int(100),
                    decimals: None,
                })
            };
            let (pn, gn) = match scale {
                Scale::None => (pn, gn),
                Scale::Pred => (Node::Div(Box::new(pn), hundred()), gn),
                Scale::Gold => (pn, Node::Div(Box::new(gn), hundred())),
            };
            match compare(&canonical(pn), &canonical(gn)) {
                Some(outcome) => return outcome,
                None => "not comparable as math".to_string(),
            }
        }
        (Err(e), _) => format!("prediction unparsed: {}", e.0),
        (_, Err(e)) => format!("gold unparsed: {}", e.0),
    };
    if matches!(scale, Scale::None)
        && comparison_key(&p.text, true) == comparison_key(&g.text, true)
    {
        return Outcome::new(
            true,
            format!(
                "string (case-insensitive): {} = {} ({failure})",
                p.text, g.text
            ),
        );
    }
    Outcome::new(
        false,
        format!("string: {} ≠ {} ({failure})", p.text, g.text),
    )
}

/// Rewrites presentation variants into one shape: assignments lose their left side,
/// inequalities become intervals, `a \pm b` becomes two answers.
fn canonical(node: Node) -> Node {
    match node {
        Node::Relation { mut parts, ops } => {
            if ops.len() == 1
                && matches!(ops[0], Rel::Eq | Rel::In)
                && is_assignment_target(&parts[0])
                && !matches!(parts[1], Node::Var(_))
            {
                return canonical(parts.remove(1));
            }
            if let Some(interval) = inequality_to_interval(&parts, &ops) {
                return interval;
            }
            Node::Relation {
                parts: parts.into_iter().map(canonical).collect(),
                ops,
            }
        }
        scalar if contains_plus_minus(&scalar) && is_scalar(&scalar) => {
            // One ± stands for two answers; repeated ± signs move together.
            Node::List(vec![
                resolve_plus_minus(&scalar, true),
                resolve_plus_minus(&scalar, false),
            ])
        }
        Node::List(items) => {
            let all_inequalities = items.iter().all(is_inequality);
            let mut flat = Vec::with_capacity(items.len());
            for item in items.into_iter().map(canonical) {
                match item {
                    Node::List(inner) => flat.extend(inner),
                    other => flat.push(other),
                }
            }
            if all_inequalities {
                Node::Union(flat)
            } else {
                Node::List(flat)
            }
        }
        Node::Bracketed { open, close, items } => Node::Bracketed {
            open,
            close,
            items: items.into_iter().map(canonical).collect(),
        },
        Node::Set(items) => Node::Set(items.into_iter().map(canonical).collect()),
        Node::Union(items) => Node::Union(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn is_assignment_target(node: &Node) -> bool {
    match node {
        Node::Var(_) => true,
        // f(x) = ..., p(x) = ... (parsed as an implicit product).
        Node::Mul(f, _) => {
            matches!(&**f, Node::Var(name) if matches!(name.as_str(), "f" | "g" | "h" | "p" | "q"))
        }
        Node::Bracketed { items, .. } => items.iter().all(|i| matches!(i, Node::Var(_))),
        _ => false,
    }
}

fn contains_plus_minus(node: &Node) -> bool {
    match node {
        Node::PlusMinus(..) => true,
        Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) | Node::Pow(a, b) => {
            contains_plus_minus(a) || contains_plus_minus(b)
        }
        Node::Neg(a) | Node::Root(None, a) => contains_plus_minus(a),
        _ => false,
    }
}

fn resolve_plus_minus(node: &Node, plus: bool) -> Node {
    let r = |n: &Node| Box::new(resolve_plus_minus(n, plus));
    match node {
        Node::PlusMinus(a, b) if plus => Node::Add(r(a), r(b)),
        Node::PlusMinus(a, b) => Node::Sub(r(a), r(b)),
        Node::Add(a, b) => Node::Add(r(a), r(b)),
        Node::Sub(a, b) => Node::Sub(r(a), r(b)),
        Node::Mul(a, b) => Node::Mul(r(a), r(b)),
        Node::Div(a, b) => Node::Div(r(a), r(b)),
        Node::Pow(a, b) => Node::Pow(r(a), r(b)),
        Node::Neg(a) => Node::Neg(r(a)),
        Node::Root(None, a) => Node::Root(None, r(a)),
        other => other.clone(),
    }
}

fn is_inequality(node: &Node) -> bool {
    matches!(node, Node::Relation { ops, .. } if ops.iter().all(|r| matches!(r, Rel::Lt | Rel::Le | Rel::Gt | Rel::Ge)))
}

/// `x > 3` → (3, ∞); `1 < x \leq 5` → (1, 5]; `3 \geq x` → (-∞, 3].
fn inequality_to_interval(parts: &[Node], ops: &[Rel]) -> Option<Node> {
    let bound = |n: &Node| {
        if variables(n).is_empty() {
            Some(n.clone())
        } else {
            None
        }
    };
    let interval = |lo: Node, lo_closed: bool, hi: Node, hi_closed: bool| Node::Bracketed {
        open: if lo_closed { '[' } else { '(' },
        close: if hi_closed { ']' } else { ')' },
        items: vec![lo, hi],
    };
    let neg_inf = || Node::Neg(Box::new(Node::Infinity));
    match (parts, ops) {
        ([Node::Var(_), c], [op]) => {
            let c = bound(c)?;
            Some(match op {
                Rel::Lt => interval(neg_inf(), false, c, false),
                Rel::Le => interval(neg_inf(), false, c, true),
                Rel::Gt => interval(c, false, Node::Infinity, false),
                Rel::Ge => interval(c, true, Node::Infinity, false),
                _ => return None,
            })
        }
        ([c, Node::Var(_)], [op]) => {
            let c = bound(c)?;
            Some(match op {
                Rel::Gt => interval(neg_inf(), false, c, false),
                Rel::Ge => interval(neg_inf(), false, c, true),
                Rel::Lt => interval(c, false, Node::Infinity, false),
                Rel::Le => interval(c, true, Node::Infinity, false),
                _ => return None,
            })
        }
        ([a, Node::Var(_), b], [op1, op2]) => {
            let (a, b) = (bound(a)?, bound(b)?);
            match (op1, op2) {
                (Rel::Lt | Rel::Le, Rel::Lt | Rel::Le) => {
                    Some(interval(a, *op1 == Rel::Le, b, *op2 == Rel::Le))
                }
                (Rel::Gt | Rel::Ge, Rel::Gt | Rel::Ge) => {
                    Some(interval(b, *op2 == Rel::Ge, a, *op1 == Rel::Ge))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn kind(node: &Node) -> &'static str {
    match node {
        Node::Bracketed { items, .. } if items.len() == 2 => "tuple/interval",
        Node::Bracketed { .. } => "tuple",
        Node::Set(_) | Node::EmptySet => "set",
        Node::List(_) => "list",
        Node::Matrix(_) => "matrix",
        Node::Relation { .. } => "relation",
        Node::Union(_) => "union",
        _ => "expression",
    }
}

fn is_scalar(node: &Node) -> bool {
    kind(node) == "expression"
}

/// `None` when the two answers cannot be compared mathematically (e.g. unevaluable).
fn compare(p: &Node, g: &Node) -> Option<Outcome> {
    match (p, g) {
        (Node::Matrix(pm), Node::Matrix(gm)) => {
            if pm.len() != gm.len() || pm[0].len() != gm[0].len() {
                return Some(Outcome::new(
                    false,
                    format!(
                        "matrix shape {}x{} vs {}x{}",
                        pm.len(),
                        pm[0].len(),
                        gm.len(),
                        gm[0].len()
                    ),
                ));
            }
            ordered(pm.iter().flatten(), gm.iter().flatten(), "matrix")
        }
        (
            Node::Matrix(m),
            Node::Bracketed {
                open: '(',
                close: ')',
                items,
            },
        )
        | (
            Node::Bracketed {
                open: '(',
                close: ')',
                items,
            },
            Node::Matrix(m),
        ) if m.len() == 1 || m[0].len() == 1 => {
            if m.len() * m[0].len() != items.len() {
                return Some(Outcome::new(false, "vector length differs"));
            }
            let (pi, gi): (Vec<&Node>, Vec<&Node>) = if matches!(p, Node::Matrix(_)) {
                (m.iter().flatten().collect(), items.iter().collect())
            } else {
                (items.iter().collect(), m.iter().flatten().collect())
            };
            ordered(pi.into_iter(), gi.into_iter(), "vector")
        }
        (
            Node::Bracketed {
                open: po,
                close: pc,
                items: pi,
            },
            Node::Bracketed {
                open: go,
                close: gc,
                items: gi,
            },
        ) => {
            if pi.len() != gi.len() {
                return Some(Outcome::new(
                    false,
                    format!("tuple length {} vs {}", pi.len(), gi.len()),
                ));
            }
            if pi.len() == 2 && (po != go || pc != gc) {
                return Some(Outcome::new(
                    false,
                    format!("interval ends differ: {po}…{pc} vs {go}…{gc}"),
                ));
            }
            ordered(pi.iter(), gi.iter(), "tuple")
        }
        // A bare list given for a point: its order is the only reading.
        (
            Node::List(pi),
            Node::Bracketed {
                open: '(',
                close: ')',
                items: gi,
            },
        ) => {
            if pi.len() != gi.len() {
                return Some(Outcome::new(
                    false,
                    format!("length {} vs {}", pi.len(), gi.len()),
                ));
            }
            ordered(pi.iter(), gi.iter(), "list read as tuple")
        }
        (
            Node::Bracketed {
                open: '(',
                close: ')',
                items: pi,
            },
            Node::List(gi),
        )
        | (Node::List(pi), Node::List(gi))
        | (Node::Union(pi), Node::Union(gi)) => unordered(pi, gi, false),
        (Node::Set(pi), Node::Set(gi))
        | (Node::List(pi), Node::Set(gi))
        | (Node::Set(pi), Node::List(gi)) => unordered(pi, gi, true),
        (Node::EmptySet, Node::EmptySet) => Some(Outcome::new(true, "both empty sets")),
        (Node::Relation { parts: pp, ops: po }, Node::Relation { parts: gp, ops: go }) => {
            compare_relations(pp, po, gp, go)
        }
        _ if is_scalar(p) && is_scalar(g) => compare_scalars(p, g),
        _ => Some(Outcome::new(
            false,
            format!("different kinds: {} vs {}", kind(p), kind(g)),
        )),
    }
}

fn ordered<'a>(
    p: impl Iterator<Item = &'a Node>,
    g: impl Iterator<Item = &'a Node>,
    what: &str,
) -> Option<Outcome> {
    let mut n = 0;
    for (i, (a, b)) in p.zip(g).enumerate() {
        let outcome = compare(a, b)?;
        if !outcome.equal {
            return Some(Outcome::new(
                false,
                format!("{what} entry {}: {}", i + 1, outcome.reason),
            ));
        }
        n += 1;
    }
    Some(Outcome::new(
        true,
        format!("{what}: {n} entries equal in order"),
    ))
}

/// Matches items regardless of order; `as_sets` ignores repeated elements.
fn unordered(p: &[Node], g: &[Node], as_sets: bool) -> Option<Outcome> {
    if p.len() > MAX_UNORDERED_ITEMS || g.len() > MAX_UNORDERED_ITEMS {
        return None;
    }
    let dedup = |items: &[Node]| -> Option<Vec<usize>> {
        let mut keep: Vec<usize> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let mut seen = false;
            for &k in &keep {
                if compare(item, &items[k])?.equal {
                    seen = true;
                    break;
                }
            }
            if !seen {
                keep.push(i);
            }
        }
        Some(keep)
    };
    let (pi, gi): (Vec<usize>, Vec<usize>) = if as_sets {
        (dedup(p)?, dedup(g)?)
    } else {
        ((0..p.len()).collect(), (0..g.len()).collect())
    };
    let what = if as_sets { "set" } else { "unordered list" };
    if pi.len() != gi.len() {
        return Some(Outcome::new(
            false,
            format!("{what}: {} vs {} elements", pi.len(), gi.len()),
        ));
    }
    let mut used = vec![false; pi.len()];
    for &gidx in &gi {
        let mut found = false;
        for (slot, &pidx) in pi.iter().enumerate() {
            if !used[slot] && compare(&p[pidx], &g[gidx])?.equal {
                used[slot] = true;
                found = true;
                break;
            }
        }
        if !found {
            return Some(Outcome::new(
                false,
                format!("{what}: gold element {} has no match", render(&g[gidx])),
            ));
        }
    }
    Some(Outcome::new(
        true,
        format!("{what}: same {} elements", pi.len()),
    ))
}

fn compare_relations(pp: &[Node], po: &[Rel], gp: &[Node], go: &[Rel]) -> Option<Outcome> {
    if let ([pl, pr], [Rel::Eq], [gl, gr], [Rel::Eq]) = (pp, po, gp, go) {
        // Equations are equal when lhs - rhs agree up to a non-zero factor.
        let pf = Node::Sub(Box::new(pl.clone()), Box::new(pr.clone()));
        let gf = Node::Sub(Box::new(gl.clone()), Box::new(gr.clone()));
        return proportional(&pf, &gf);
    }
    if po != go || pp.len() != gp.len() {
        return Some(Outcome::new(false, "different relations"));
    }
    ordered(pp.iter(), gp.iter(), "relation")
}

fn compare_scalars(p: &Node, g: &Node) -> Option<Outcome> {
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
/// `0.333`, not `0.52` for `0.5`), and a long decimal expansion (6+ places) of an exact
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
    if let Some(d) = pred_decimals.filter(|d| *d >= 6 && gold_decimals.is_none()) {
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

fn sample_points(vars: &[&str]) -> impl Iterator<Item = Vec<f64>> {
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

fn proportional(p: &Node, g: &Node) -> Option<Outcome> {
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

/// Compact text of a parsed answer, for reasons.
pub(crate) fn render(node: &Node) -> String {
    let join = |items: &[Node]| items.iter().map(render).collect::<Vec<_>>().join(", ");
    match node {
        Node::Num {
            value,
            decimals: Some(d),
        } => format!("{:.*}", *d as usize, value.to_f64()),
        Node::Num { value, .. } => value.to_string(),
        Node::Var(v) => v.clone(),
        Node::Pi => "π".into(),
        Node::E => "e".into(),
        Node::Infinity => "∞".into(),
        Node::Add(a, b) => format!("{}+{}", render(a), render(b)),
        Node::Sub(a, b) => format!("{}-{}", render(a), operand(b)),
        Node::Mul(a, b) => format!("{}*{}", operand(a), operand(b)),
        Node::Div(a, b) => format!("{}/{}", operand(a), operand(b)),
        Node::Pow(a, b) => format!("{}^{}", operand(a), operand(b)),
        Node::Neg(a) => format!("-{}", operand(a)),
        Node::Func(f, a) => format!("{}({})", format!("{f:?}").to_lowercase(), render(a)),
        Node::LogBase(b, a) => format!("log_{}({})", operand(b), render(a)),
        Node::Root(None, a) => format!("√{}", operand(a)),
        Node::Root(Some(i), a) => format!("root{}({})", operand(i), render(a)),
        Node::Factorial(a) => format!("{}!", operand(a)),
        Node::Binom(n, k) => format!("C({},{})", render(n), render(k)),
        Node::Abs(a) => format!("|{}|", render(a)),
        Node::PlusMinus(a, b) => format!("{}±{}", render(a), operand(b)),
        Node::Bracketed { open, close, items } => format!("{open}{}{close}", join(items)),
        Node::Set(items) => format!("{{{}}}", join(items)),
        Node::EmptySet => "∅".into(),
        Node::List(items) => join(items),
        Node::Matrix(rows) => format!(
            "[{}]",
            rows.iter().map(|r| join(r)).collect::<Vec<_>>().join("; ")
        ),
        Node::Relation { parts, .. } => format!("relation({})", join(parts)),
        Node::Union(items) => items.iter().map(render).collect::<Vec<_>>().join(" ∪ "),
    }
}

/// Renders an operand, in parentheses unless it is atomic.
fn operand(node: &Node) -> String {
    let atomic = match node {
        Node::Num { value, .. } => {
            value.to_f64() >= 0.0 && value.is_exact() && value.as_integer().is_some()
                || matches!(
                    node,
                    Node::Num {
                        decimals: Some(_),
                        ..
                    }
                ) && value.to_f64() >= 0.0
        }
        Node::Var(_)
        | Node::Pi
        | Node::E
        | Node::Infinity
        | Node::Func(..)
        | Node::Abs(_)
        | Node::Binom(..) => true,
        Node::Root(..)
        | Node::Factorial(_)
        | Node::Bracketed { .. }
        | Node::Set(_)
        | Node::EmptySet => true,
        _ => false,
    };
    if atomic {
        render(node)
    } else {
        format!("({})", render(node))
    }
}
