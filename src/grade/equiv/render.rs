//! Compact text of parsed answers, for the reasons in verdicts.

use super::super::parse::Node;

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
