//! Matrices written as scalar multiples: `\frac{8}{49}\begin{pmatrix}…\end{pmatrix}`,
//! `2\mathbf{I}`, `3I + A`-free forms only (no symbolic matrix algebra).

use super::super::num::Num;
use super::super::parse::Node;

/// Largest identity built for comparison.
const MAX_SIZE: usize = 16;

/// A scalar times a matrix (or a matrix divided by a scalar, or negated) as one matrix.
pub(super) fn scaled_matrix(node: &Node) -> Option<Vec<Vec<Node>>> {
    match node {
        Node::Mul(a, b) => match (&**a, &**b) {
            (Node::Matrix(m), s) | (s, Node::Matrix(m)) if is_plain_scalar(s) => {
                Some(map(m, |e| {
                    Node::Mul(Box::new(s.clone()), Box::new(e.clone()))
                }))
            }
            _ => None,
        },
        Node::Div(a, b) => match &**a {
            Node::Matrix(m) if is_plain_scalar(b) => {
                Some(map(m, |e| Node::Div(Box::new(e.clone()), b.clone())))
            }
            _ => None,
        },
        Node::Neg(a) => match &**a {
            Node::Matrix(m) => Some(map(m, |e| Node::Neg(Box::new(e.clone())))),
            _ => None,
        },
        _ => None,
    }
}

/// Reads a scalar expression over the identity `I` as a `rows`×`cols` matrix: `2I`,
/// `-I`, `\frac{1}{2} I`. `None` when it does not mention `I` or the shape is not square.
pub(super) fn as_matrix(node: &Node, rows: usize, cols: usize) -> Option<Vec<Vec<Node>>> {
    if rows != cols || rows > MAX_SIZE || !mentions_identity(node) {
        return None;
    }
    build(node, rows)
}

fn build(node: &Node, n: usize) -> Option<Vec<Vec<Node>>> {
    let scale = |m: Vec<Vec<Node>>, s: &Node| {
        map(&m, |e| Node::Mul(Box::new(s.clone()), Box::new(e.clone())))
    };
    match node {
        Node::Var(v) if v == "I" => Some(identity(n)),
        Node::Mul(a, b) if mentions_identity(b) && !mentions_identity(a) => {
            Some(scale(build(b, n)?, a))
        }
        Node::Mul(a, b) if mentions_identity(a) && !mentions_identity(b) => {
            Some(scale(build(a, n)?, b))
        }
        Node::Div(a, b) if !mentions_identity(b) => Some(map(&build(a, n)?, |e| {
            Node::Div(Box::new(e.clone()), b.clone())
        })),
        Node::Neg(a) => Some(map(&build(a, n)?, |e| Node::Neg(Box::new(e.clone())))),
        _ => None,
    }
}

fn identity(n: usize) -> Vec<Vec<Node>> {
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| Node::Num {
                    value: Num::int(i128::from(i == j)),
                    decimals: None,
                })
                .collect()
        })
        .collect()
}

fn mentions_identity(node: &Node) -> bool {
    match node {
        Node::Var(v) => v == "I",
        Node::Mul(a, b) | Node::Div(a, b) => mentions_identity(a) || mentions_identity(b),
        Node::Neg(a) => mentions_identity(a),
        _ => false,
    }
}

fn is_plain_scalar(node: &Node) -> bool {
    !matches!(
        node,
        Node::Matrix(_)
            | Node::Bracketed { .. }
            | Node::Set(_)
            | Node::List(_)
            | Node::Relation { .. }
            | Node::Union(_)
            | Node::EmptySet
    )
}

fn map(m: &[Vec<Node>], f: impl Fn(&Node) -> Node) -> Vec<Vec<Node>> {
    m.iter().map(|row| row.iter().map(&f).collect()).collect()
}
