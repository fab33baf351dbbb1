//! Rewrites presentation variants into one shape before comparison.

use super::super::eval::variables;
use super::super::parse::{Node, Rel};
use super::is_scalar;

/// Rewrites presentation variants into one shape: assignments lose their left side,
/// inequalities become intervals, `a \pm b` becomes two answers.
pub(super) fn canonical(node: Node) -> Node {
    match node {
        Node::Relation { mut parts, ops } => {
            if ops.len() == 1
                && matches!(ops[0], Rel::Eq | Rel::In)
                && is_assignment_target(&parts[0])
                && !matches!(parts[1], Node::Var(_))
            {
                return canonical(parts.remove(1));
            }
            // "3 + 4 = 7": a computation shown, its value is the answer.
            if ops == [Rel::Eq] && is_computation(&parts) {
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
        Node::Mul(..) | Node::Div(..) | Node::Neg(_) => match super::matrix::scaled_matrix(&node) {
            Some(rows) => Node::Matrix(rows),
            None => node,
        },
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

/// `3 + 4 = 7`: both sides constants, the left one not a bare value.
pub(super) fn is_computation(parts: &[Node]) -> bool {
    matches!(parts, [lhs, rhs]
        if variables(lhs).is_empty()
            && variables(rhs).is_empty()
            && !matches!(lhs, Node::Num { .. })
            && !matches!(rhs, Node::Bracketed { .. } | Node::Set(_) | Node::Matrix(_)))
}
