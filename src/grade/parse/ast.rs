//! Answer syntax tree: nodes, relations and elementary functions.

use super::super::num::Num;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Sin,
    Cos,
    Tan,
    Sec,
    Csc,
    Cot,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
    Log,
    Exp,
}

impl Func {
    pub(crate) fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "sec" => Func::Sec,
            "csc" => Func::Csc,
            "cot" => Func::Cot,
            "arcsin" => Func::Asin,
            "arccos" => Func::Acos,
            "arctan" => Func::Atan,
            "sinh" => Func::Sinh,
            "cosh" => Func::Cosh,
            "tanh" => Func::Tanh,
            "ln" => Func::Ln,
            "log" => Func::Log,
            "exp" => Func::Exp,
            _ => return None,
        })
    }

    pub(crate) fn apply(self, x: f64) -> f64 {
        match self {
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Sec => 1.0 / x.cos(),
            Func::Csc => 1.0 / x.sin(),
            Func::Cot => 1.0 / x.tan(),
            Func::Asin => x.asin(),
            Func::Acos => x.acos(),
            Func::Atan => x.atan(),
            Func::Sinh => x.sinh(),
            Func::Cosh => x.cosh(),
            Func::Tanh => x.tanh(),
            Func::Ln => x.ln(),
            // Contest answers write \log for base 10 far more often than for base e.
            Func::Log => x.log10(),
            Func::Exp => x.exp(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// A literal; `decimals` is the number of digits after a written decimal point.
    Num {
        value: Num,
        decimals: Option<u32>,
    },
    Var(String),
    Pi,
    E,
    Infinity,
    Add(Box<Node>, Box<Node>),
    Sub(Box<Node>, Box<Node>),
    Mul(Box<Node>, Box<Node>),
    Div(Box<Node>, Box<Node>),
    Pow(Box<Node>, Box<Node>),
    Neg(Box<Node>),
    Func(Func, Box<Node>),
    LogBase(Box<Node>, Box<Node>),
    Root(Option<Box<Node>>, Box<Node>),
    Factorial(Box<Node>),
    Binom(Box<Node>, Box<Node>),
    Abs(Box<Node>),
    /// `a \pm b`: two values.
    PlusMinus(Box<Node>, Box<Node>),
    /// `(a, b)`, `[a, b)`, `(a, b, c)`: tuples, points and intervals.
    Bracketed {
        open: char,
        close: char,
        items: Vec<Node>,
    },
    Set(Vec<Node>),
    EmptySet,
    /// Bare comma / "or" / "and" separated answers.
    List(Vec<Node>),
    Matrix(Vec<Vec<Node>>),
    Relation {
        parts: Vec<Node>,
        ops: Vec<Rel>,
    },
    Union(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError(pub String);

pub(crate) type Parsed = Result<Node, ParseError>;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

pub(crate) fn is_greek(name: &str) -> bool {
    const GREEK: &[&str] = &[
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "varepsilon",
        "zeta",
        "eta",
        "theta",
        "vartheta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "rho",
        "sigma",
        "tau",
        "upsilon",
        "phi",
        "varphi",
        "chi",
        "psi",
        "omega",
        "Gamma",
        "Delta",
        "Theta",
        "Lambda",
        "Xi",
        "Sigma",
        "Phi",
        "Psi",
        "Omega",
    ];
    GREEK.contains(&name)
}
