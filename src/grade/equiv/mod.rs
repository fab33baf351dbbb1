//! Mathematical equivalence of two answers, with the rule that decided.

use super::normalize::{Normalized, comparison_key, normalize};
use super::parse::{Node, Rel, parse};

mod canonical;
mod complex;
mod matrix;
mod numeric;
mod render;
mod special;

use canonical::canonical;
use numeric::{compare_scalars, proportional};
pub(crate) use render::render;

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
    let as_written = compare_texts(&p, &g);
    if p.percent == g.percent {
        return as_written;
    }
    // "10%" and "10" agree (the sign is a unit), but a decimal is not a percentage:
    // 0.125 ≠ 12.5%, with or without the question.
    let context = if percent_question {
        "percent question, sign ignored"
    } else {
        "percent sign ignored"
    };
    Outcome::new(
        as_written.equal,
        format!("{context}; {}", as_written.reason),
    )
}

fn compare_texts(p: &Normalized, g: &Normalized) -> Outcome {
    if comparison_key(&p.text, false) == comparison_key(&g.text, false) {
        return Outcome::new(true, format!("string: {} = {}", p.text, g.text));
    }
    if let Some(outcome) = special::compare_special(&p.text, &g.text) {
        return outcome;
    }
    let parsed = (parse(&p.text), parse(&g.text));
    let failure = match parsed {
        (Ok(pn), Ok(gn)) => {
            if let Some(outcome) = compare_equations(&pn, &gn) {
                return outcome;
            }
            match compare(&canonical(pn), &canonical(gn)) {
                Some(outcome) => return outcome,
                None => "not comparable as math".to_string(),
            }
        }
        (Err(e), _) => format!("prediction unparsed: {}", e.0),
        (_, Err(e)) => format!("gold unparsed: {}", e.0),
    };
    if comparison_key(&p.text, true) == comparison_key(&g.text, true) {
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
        (Node::Matrix(m), other) | (other, Node::Matrix(m)) if is_scalar(other) => {
            let as_matrix = matrix::as_matrix(other, m.len(), m[0].len())?;
            let (pm, gm) = if matches!(p, Node::Matrix(_)) {
                (m, &as_matrix)
            } else {
                (&as_matrix, m)
            };
            ordered(pm.iter().flatten(), gm.iter().flatten(), "matrix")
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

/// Two equations where at least one is not `variable = value` (`3x − y = 2` vs
/// `y = 3x − 2`): equal when their sides' differences are proportional.
fn compare_equations(p: &Node, g: &Node) -> Option<Outcome> {
    let (Node::Relation { parts: pp, ops: po }, Node::Relation { parts: gp, ops: go }) = (p, g)
    else {
        return None;
    };
    if po.as_slice() != [Rel::Eq] || go.as_slice() != [Rel::Eq] {
        return None;
    }
    let same_target = matches!((&pp[0], &gp[0]), (Node::Var(a), Node::Var(b)) if a == b);
    if same_target || canonical::is_computation(pp) || canonical::is_computation(gp) {
        return None;
    }
    compare_relations(pp, po, gp, go)
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
