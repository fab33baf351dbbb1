//! Numeric evaluation of parsed answers, exact where possible.

use super::num::Num;
use super::parse::Node;

/// Values bound to variables for one evaluation.
pub(crate) type Env<'a> = &'a [(&'a str, f64)];

/// Evaluates a scalar expression; `None` for containers, unbound variables or undefined
/// operations (division by zero, factorial of a fraction).
pub(crate) fn eval(node: &Node, env: Env<'_>) -> Option<Num> {
    Some(match node {
        Node::Num { value, .. } => *value,
        Node::Var(name) => Num::Float(env.iter().find(|(n, _)| n == name)?.1),
        Node::Pi => Num::Float(std::f64::consts::PI),
        Node::E => Num::Float(std::f64::consts::E),
        Node::Infinity => Num::Float(f64::INFINITY),
        Node::Add(a, b) => eval(a, env)?.add(eval(b, env)?),
        Node::Sub(a, b) => eval(a, env)?.sub(eval(b, env)?),
        Node::Mul(a, b) => eval(a, env)?.mul(eval(b, env)?),
        Node::Div(a, b) => eval(a, env)?.div(eval(b, env)?)?,
        Node::Pow(a, b) => {
            let base = eval(a, env)?;
            let exponent = eval(b, env)?;
            if matches!(**a, Node::E) {
                Num::Float(exponent.to_f64().exp())
            } else {
                base.pow(exponent)?
            }
        }
        Node::Neg(a) => eval(a, env)?.neg(),
        Node::Func(f, a) => Num::Float(f.apply(eval(a, env)?.to_f64())),
        Node::LogBase(base, a) => {
            Num::Float(eval(a, env)?.to_f64().ln() / eval(base, env)?.to_f64().ln())
        }
        Node::Root(index, a) => {
            let radicand = eval(a, env)?;
            match index {
                None => radicand.sqrt(),
                Some(idx) => {
                    let n = eval(idx, env)?;
                    if n.is_exact() {
                        exact_root(radicand, n)?
                    } else {
                        radicand.pow(Num::int(1).div(n)?)?
                    }
                }
            }
        }
        Node::Factorial(a) => eval(a, env)?.factorial()?,
        Node::Binom(n, k) => binomial(eval(n, env)?, eval(k, env)?)?,
        Node::Abs(a) => {
            let v = eval(a, env)?;
            if v.to_f64() < 0.0 { v.neg() } else { v }
        }
        Node::PlusMinus(..)
        | Node::Bracketed { .. }
        | Node::Set(_)
        | Node::EmptySet
        | Node::List(_)
        | Node::Matrix(_)
        | Node::Relation { .. }
        | Node::Union(_) => return None,
    })
}

/// n-th root that stays exact for perfect powers (`\sqrt[3]{27}` = 3).
fn exact_root(radicand: Num, index: Num) -> Option<Num> {
    let approx = radicand.pow(Num::int(1).div(index)?)?;
    if let (Num::Float(f), Some(n)) = (approx, index.as_integer())
        && f.is_finite()
        && n > 0
        && n <= 64
    {
        let rounded = Num::int(f.round() as i128);
        if rounded.pow(Num::int(n)) == Some(radicand) {
            return Some(rounded);
        }
    }
    Some(approx)
}

fn binomial(n: Num, k: Num) -> Option<Num> {
    let k_int = k.as_integer()?;
    let Some(n) = n.as_integer() else {
        // Symbolic n: n(n-1)...(n-k+1)/k!, as in \binom{n}{2} = n(n-1)/2.
        if !(0..=64).contains(&k_int) {
            return None;
        }
        let mut acc = Num::int(1);
        for i in 0..k_int {
            acc = acc.mul(n.sub(Num::int(i))).div(Num::int(i + 1))?;
        }
        return Some(acc);
    };
    let k = k_int;
    if k < 0 || n < 0 || k > n {
        return Some(Num::int(0));
    }
    let k = k.min(n - k);
    if k > 1_000 {
        return Some(Num::Float(f64::INFINITY));
    }
    let mut acc = Num::int(1);
    for i in 0..k {
        acc = acc.mul(Num::int(n - i)).div(Num::int(i + 1))?;
    }
    Some(acc)
}

/// Sorted, deduplicated variable names of an expression.
pub(crate) fn variables(node: &Node) -> Vec<&str> {
    let mut out = Vec::new();
    collect_variables(node, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn collect_variables<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
    match node {
        Node::Var(name) => out.push(name),
        Node::Num { .. } | Node::Pi | Node::E | Node::Infinity | Node::EmptySet => {}
        Node::Add(a, b)
        | Node::Sub(a, b)
        | Node::Mul(a, b)
        | Node::Div(a, b)
        | Node::Pow(a, b)
        | Node::LogBase(a, b)
        | Node::Binom(a, b)
        | Node::PlusMinus(a, b) => {
            collect_variables(a, out);
            collect_variables(b, out);
        }
        Node::Neg(a) | Node::Func(_, a) | Node::Factorial(a) | Node::Abs(a) => {
            collect_variables(a, out)
        }
        Node::Root(idx, a) => {
            if let Some(i) = idx {
                collect_variables(i, out);
            }
            collect_variables(a, out);
        }
        Node::Bracketed { items, .. }
        | Node::Set(items)
        | Node::List(items)
        | Node::Union(items) => {
            items.iter().for_each(|n| collect_variables(n, out));
        }
        Node::Relation { parts, .. } => parts.iter().for_each(|n| collect_variables(n, out)),
        Node::Matrix(rows) => rows
            .iter()
            .flatten()
            .for_each(|n| collect_variables(n, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::parse::parse;

    fn value(text: &str) -> Option<f64> {
        parse(text)
            .ok()
            .and_then(|n| eval(&n, &[]))
            .map(Num::to_f64)
    }

    #[test]
    fn evaluates_latex_arithmetic() {
        assert_eq!(value("\\frac{1}{2}+\\frac13"), Some(5.0 / 6.0));
        assert_eq!(value("\\sqrt[3]{27}"), Some(3.0));
        assert_eq!(value("\\binom{5}{2}"), Some(10.0));
        assert_eq!(value("2^{10}"), Some(1024.0));
        assert_eq!(value("|-3|"), Some(3.0));
        assert_eq!(value("1/0"), None);
    }

    #[test]
    fn collects_variables() {
        let node = parse("x^2 + 2xy + \\theta").ok();
        assert_eq!(
            node.as_ref().map(variables),
            Some(vec!["\\theta", "x", "y"])
        );
    }
}
