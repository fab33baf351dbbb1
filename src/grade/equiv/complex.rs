//! Complex values for answers in `i`: `i^2` = −1, `\sqrt{-1}` = i, `(1+i)^2` = 2i.

use super::super::eval::eval;
use super::super::parse::Node;

const TOLERANCE: f64 = 1e-9;
/// Integer powers beyond this are not expanded by repeated multiplication.
const MAX_POWER: i64 = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct C(f64, f64);

impl C {
    fn add(self, o: C) -> C {
        C(self.0 + o.0, self.1 + o.1)
    }
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn div(self, o: C) -> Option<C> {
        let d = o.0 * o.0 + o.1 * o.1;
        (d != 0.0).then(|| {
            C(
                (self.0 * o.0 + self.1 * o.1) / d,
                (self.1 * o.0 - self.0 * o.1) / d,
            )
        })
    }
    fn neg(self) -> C {
        C(-self.0, -self.1)
    }
    pub(super) fn close(self, o: C) -> bool {
        let scale = self.0.abs().max(self.1.abs()).max(o.0.abs()).max(o.1.abs());
        let tol = TOLERANCE * scale + 1e-12;
        (self.0 - o.0).abs() <= tol && (self.1 - o.1).abs() <= tol
    }
}

/// Evaluates an expression whose only variable is `i`; `None` for anything else.
pub(super) fn ceval(node: &Node) -> Option<C> {
    Some(match node {
        Node::Var(v) if v == "i" => C(0.0, 1.0),
        Node::Add(a, b) => ceval(a)?.add(ceval(b)?),
        Node::Sub(a, b) => ceval(a)?.add(ceval(b)?.neg()),
        Node::Mul(a, b) => ceval(a)?.mul(ceval(b)?),
        Node::Div(a, b) => ceval(a)?.div(ceval(b)?)?,
        Node::Neg(a) => ceval(a)?.neg(),
        Node::Pow(a, b) => {
            let base = ceval(a)?;
            let exp = eval(b, &[])?.as_integer()?;
            let n = i64::try_from(exp).ok()?;
            if n.abs() > MAX_POWER {
                return None;
            }
            let mut acc = C(1.0, 0.0);
            for _ in 0..n.abs() {
                acc = acc.mul(base);
            }
            if n < 0 { C(1.0, 0.0).div(acc)? } else { acc }
        }
        Node::Root(None, a) => {
            let r = ceval(a)?;
            if r.1 != 0.0 {
                return None;
            }
            if r.0 < 0.0 {
                C(0.0, (-r.0).sqrt())
            } else {
                C(r.0.sqrt(), 0.0)
            }
        }
        other => {
            let v = eval(other, &[])?.to_f64();
            if !v.is_finite() {
                return None;
            }
            C(v, 0.0)
        }
    })
}
