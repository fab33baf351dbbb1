//! Tokenizer and recursive-descent parser for normalised answers.
//!
//! The grammar covers what final answers contain: arithmetic with implicit
//! multiplication, `\frac`, `\sqrt`, `\binom`, powers, factorials, elementary functions,
//! mixed numbers, brackets (tuples and intervals), sets, matrices, relation chains,
//! unions and comma / "or" lists. Recursion depth and input length are bounded so
//! adversarial input fails fast with an error instead of overflowing the stack.

mod ast;
mod token;

pub(crate) use ast::{Func, Node, ParseError, Rel};
use ast::{Parsed, err, is_greek};
use token::{Tok, tokenize};

use super::num::{Num, parse_decimal};

const MAX_DEPTH: usize = 48;
/// Longer answers are compared as strings only; real final answers are far shorter.
pub(crate) const MAX_PARSE_LEN: usize = 2_000;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Parses a normalised answer into a tree.
pub(crate) fn parse(text: &str) -> Parsed {
    if text.len() > MAX_PARSE_LEN {
        return err("answer too long to parse");
    }
    if text.trim().is_empty() {
        return err("empty answer");
    }
    let toks = tokenize(text)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let node = p.list(&[])?;
    if p.pos != p.toks.len() {
        return err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    Ok(node)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, offset: usize) -> Option<&Tok> {
        self.toks.get(self.pos + offset)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ParseError> {
        if self.eat(tok) {
            Ok(())
        } else {
            err(format!("expected {tok:?}"))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("nesting too deep");
        }
        Ok(())
    }

    /// Items separated by `,`, `;`, "or", "and" until a terminator (or the end).
    fn list(&mut self, terminators: &[Tok]) -> Parsed {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            items.push(self.relation()?);
            match self.peek() {
                Some(Tok::Comma | Tok::Semicolon) => {
                    self.pos += 1;
                    // "1, and 2" / "1, or 2"
                    if matches!(self.peek(), Some(Tok::Word(w)) if w == "or" || w == "and") {
                        self.pos += 1;
                    }
                }
                Some(Tok::Word(w)) if w == "or" || w == "and" => self.pos += 1,
                Some(t) if terminators.contains(t) => break,
                None => break,
                Some(t) => return err(format!("unexpected {t:?}")),
            }
        }
        self.depth -= 1;
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::List(items)
        })
    }

    /// Items of a bracket, separated by commas only.
    fn bracket_items(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut items = vec![self.relation()?];
        while self.eat(&Tok::Comma) {
            items.push(self.relation()?);
        }
        Ok(items)
    }

    fn relation(&mut self) -> Parsed {
        self.enter()?;
        let first = self.union()?;
        let mut parts = vec![first];
        let mut ops = Vec::new();
        while let Some(Tok::Rel(r)) = self.peek() {
            ops.push(*r);
            self.pos += 1;
            parts.push(self.union()?);
        }
        self.depth -= 1;
        Ok(if ops.is_empty() {
            parts.remove(0)
        } else {
            Node::Relation { parts, ops }
        })
    }

    fn union(&mut self) -> Parsed {
        let first = self.sum()?;
        if self.peek() != Some(&Tok::Cup) {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat(&Tok::Cup) {
            items.push(self.sum()?);
        }
        Ok(Node::Union(items))
    }

    fn sum(&mut self) -> Parsed {
        let mut left = self.term()?;
        loop {
            match self.peek() {
                Some(Tok::Plus) => {
                    self.pos += 1;
                    left = Node::Add(Box::new(left), Box::new(self.term()?));
                }
                Some(Tok::Minus) => {
                    self.pos += 1;
                    left = Node::Sub(Box::new(left), Box::new(self.term()?));
                }
                Some(Tok::PlusMinus) => {
                    self.pos += 1;
                    left = Node::PlusMinus(Box::new(left), Box::new(self.term()?));
                }
                _ => return Ok(left),
            }
        }
    }

    fn term(&mut self) -> Parsed {
        self.enter()?;
        let mut left = self.unary()?;
        loop {
            match self.peek() {
                Some(Tok::Star) => {
                    self.pos += 1;
                    left = Node::Mul(Box::new(left), Box::new(self.unary()?));
                }
                Some(Tok::Slash) => {
                    self.pos += 1;
                    left = Node::Div(Box::new(left), Box::new(self.unary()?));
                }
                Some(Tok::Num(_)) if is_plain_integer(&left) && self.is_spaced_fraction() => {
                    // "3 1/2" is a mixed number.
                    let frac = self.unary()?;
                    let frac = match self.peek() {
                        Some(Tok::Slash) => {
                            self.pos += 1;
                            Node::Div(Box::new(frac), Box::new(self.unary()?))
                        }
                        _ => return err("malformed mixed number"),
                    };
                    left = mixed_number(left, frac);
                }
                Some(Tok::Num(_)) => return err("two numbers in a row"),
                Some(Tok::Cmd(c)) if c == "frac" && is_plain_integer(&left) => {
                    let frac = self.power()?;
                    left = if is_integer_fraction(&frac) {
                        mixed_number(left, frac)
                    } else {
                        Node::Mul(Box::new(left), Box::new(frac))
                    };
                }
                Some(t) if starts_implicit_factor(t) => {
                    left = Node::Mul(Box::new(left), Box::new(self.power()?));
                }
                _ => {
                    self.depth -= 1;
                    return Ok(left);
                }
            }
        }
    }

    fn is_spaced_fraction(&self) -> bool {
        matches!(
            (self.peek(), self.peek_at(1), self.peek_at(2)),
            (Some(Tok::Num(_)), Some(Tok::Slash), Some(Tok::Num(_)))
        )
    }

    fn unary(&mut self) -> Parsed {
        self.enter()?;
        let node = match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                Node::Neg(Box::new(self.unary()?))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.unary()?
            }
            Some(Tok::PlusMinus) => {
                self.pos += 1;
                Node::PlusMinus(
                    Box::new(Node::Num {
                        value: Num::int(0),
                        decimals: None,
                    }),
                    Box::new(self.unary()?),
                )
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Ok(node)
    }

    fn power(&mut self) -> Parsed {
        let base = self.postfix()?;
        if !self.eat(&Tok::Caret) {
            return Ok(base);
        }
        let exponent = self.script()?;
        let node = Node::Pow(Box::new(base), Box::new(exponent));
        // Factorial after a power is rare; `!` binds to the whole power here.
        if self.eat(&Tok::Bang) {
            return Ok(Node::Factorial(Box::new(node)));
        }
        Ok(node)
    }

    /// A superscript or subscript: `{...}`, `-1`, a single digit run, letter or command atom.
    fn script(&mut self) -> Parsed {
        self.enter()?;
        let node = match self.peek() {
            Some(Tok::LBrace) => {
                self.pos += 1;
                let inner = self.list(&[Tok::RBrace])?;
                self.expect(&Tok::RBrace)?;
                inner
            }
            Some(Tok::Minus) => {
                self.pos += 1;
                Node::Neg(Box::new(self.script()?))
            }
            _ => self.postfix()?,
        };
        self.depth -= 1;
        Ok(node)
    }

    fn postfix(&mut self) -> Parsed {
        let mut node = self.atom()?;
        while self.eat(&Tok::Bang) {
            node = Node::Factorial(Box::new(node));
        }
        Ok(node)
    }

    /// A TeX macro argument: a braced group, or a single digit / letter / command.
    fn argument(&mut self) -> Parsed {
        if let Some(Tok::Num(text)) = self.peek()
            && text.len() > 1
            && text.chars().all(|c| c.is_ascii_digit())
        {
            // `\frac12`: TeX reads one digit per argument.
            let (first, rest) = text.split_at(1);
            let node = number_node(first)?;
            let rest = rest.to_string();
            self.toks[self.pos] = Tok::Num(rest);
            return Ok(node);
        }
        if self.eat(&Tok::LBrace) {
            let inner = self.list(&[Tok::RBrace])?;
            self.expect(&Tok::RBrace)?;
            return Ok(inner);
        }
        self.atom()
    }

    fn atom(&mut self) -> Parsed {
        self.enter()?;
        let Some(tok) = self.peek().cloned() else {
            return err("unexpected end of answer");
        };
        self.pos += 1;
        let node = match tok {
            Tok::Num(text) => number_node(&text)?,
            Tok::Letter(c) => {
                let mut name = c.to_string();
                if self.eat(&Tok::Underscore) {
                    let sub = match self.peek().cloned() {
                        Some(Tok::LBrace) => {
                            self.pos += 1;
                            let mut s = String::new();
                            while let Some(t) = self.peek().cloned() {
                                self.pos += 1;
                                match t {
                                    Tok::RBrace => break,
                                    Tok::Num(n) => s.push_str(&n),
                                    Tok::Letter(l) => s.push(l),
                                    _ => return err("unsupported subscript"),
                                }
                            }
                            s
                        }
                        Some(Tok::Num(n)) => {
                            self.pos += 1;
                            n
                        }
                        Some(Tok::Letter(l)) => {
                            self.pos += 1;
                            l.to_string()
                        }
                        _ => return err("unsupported subscript"),
                    };
                    name.push('_');
                    name.push_str(&sub);
                    Node::Var(name)
                } else if c == 'e' {
                    Node::E
                } else {
                    Node::Var(name)
                }
            }
            Tok::Cmd(name) => self.command(&name)?,
            Tok::LParen | Tok::LBrack => {
                let open = if tok == Tok::LParen { '(' } else { '[' };
                let items = self.bracket_items()?;
                let close = match self.peek() {
                    Some(Tok::RParen) => ')',
                    Some(Tok::RBrack) => ']',
                    _ => return err("unclosed bracket"),
                };
                self.pos += 1;
                if items.len() == 1 && matches!((open, close), ('(', ')') | ('[', ']')) {
                    items
                        .into_iter()
                        .next()
                        .ok_or_else(|| ParseError("empty bracket".into()))?
                } else {
                    Node::Bracketed { open, close, items }
                }
            }
            Tok::LBrace => {
                let inner = self.list(&[Tok::RBrace])?;
                self.expect(&Tok::RBrace)?;
                inner
            }
            Tok::LSet => {
                if self.eat(&Tok::RSet) {
                    Node::EmptySet
                } else {
                    let items = self.bracket_items()?;
                    self.expect(&Tok::RSet)?;
                    Node::Set(items)
                }
            }
            Tok::Pipe => {
                let inner = self.sum()?;
                self.expect(&Tok::Pipe)?;
                Node::Abs(Box::new(inner))
            }
            other => return err(format!("unexpected {other:?}")),
        };
        self.depth -= 1;
        Ok(node)
    }

    fn command(&mut self, name: &str) -> Parsed {
        Ok(match name {
            "frac" => {
                let num = self.argument()?;
                let den = self.argument()?;
                Node::Div(Box::new(num), Box::new(den))
            }
            "binom" => {
                let n = self.argument()?;
                let k = self.argument()?;
                Node::Binom(Box::new(n), Box::new(k))
            }
            "sqrt" => {
                let index = if self.eat(&Tok::LBrack) {
                    let idx = self.sum()?;
                    self.expect(&Tok::RBrack)?;
                    Some(Box::new(idx))
                } else {
                    None
                };
                Node::Root(index, Box::new(self.argument()?))
            }
            "pi" => Node::Pi,
            "infty" | "infin" => Node::Infinity,
            "emptyset" | "varnothing" => Node::EmptySet,
            "begin" => self.matrix()?,
            "log" if self.eat(&Tok::Underscore) => {
                let base = self.argument()?;
                Node::LogBase(Box::new(base), Box::new(self.function_argument()?))
            }
            _ => {
                if let Some(f) = Func::from_name(name) {
                    Node::Func(f, Box::new(self.function_argument()?))
                } else if is_greek(name) {
                    Node::Var(format!("\\{name}"))
                } else {
                    return err(format!("unsupported command \\{name}"));
                }
            }
        })
    }

    /// `\sin x`, `\sin(2x)`, `\ln{x}`, `\sin^2 x` is rejected (ambiguous in answers).
    fn function_argument(&mut self) -> Parsed {
        match self.peek() {
            Some(Tok::LBrace) | Some(Tok::LParen) => self.postfix(),
            Some(Tok::Caret) => err("powers of functions are not supported"),
            _ => self.power(),
        }
    }

    fn matrix(&mut self) -> Parsed {
        let env = self.environment_name()?;
        if env == "array" && self.eat(&Tok::LBrace) {
            // Column spec such as {cc} or {c|c}.
            while let Some(t) = self.peek() {
                let done = *t == Tok::RBrace;
                self.pos += 1;
                if done {
                    break;
                }
            }
        }
        let mut rows: Vec<Vec<Node>> = vec![Vec::new()];
        loop {
            if self.peek() == Some(&Tok::Cmd("end".into())) {
                self.pos += 1;
                let end = self.environment_name()?;
                if end != env {
                    return err("mismatched \\end");
                }
                break;
            }
            let cell = self.relation()?;
            if let Some(row) = rows.last_mut() {
                row.push(cell);
            }
            match self.peek() {
                Some(Tok::Amp) => self.pos += 1,
                Some(Tok::RowSep) => {
                    self.pos += 1;
                    if self.peek() != Some(&Tok::Cmd("end".into())) {
                        rows.push(Vec::new());
                    }
                }
                Some(Tok::Cmd(c)) if c == "end" => {}
                _ => return err("malformed matrix"),
            }
        }
        let width = rows.first().map_or(0, Vec::len);
        if width == 0 || rows.iter().any(|r| r.len() != width) {
            return err("ragged matrix");
        }
        Ok(Node::Matrix(rows))
    }

    fn environment_name(&mut self) -> Result<String, ParseError> {
        self.expect(&Tok::LBrace)?;
        let mut name = String::new();
        while let Some(t) = self.peek().cloned() {
            self.pos += 1;
            match t {
                Tok::RBrace => return Ok(name),
                Tok::Word(w) => name.push_str(&w),
                Tok::Letter(c) => name.push(c),
                Tok::Star => name.push('*'),
                _ => return err("bad environment name"),
            }
        }
        err("unclosed environment name")
    }
}

fn number_node(text: &str) -> Parsed {
    let value = parse_decimal(text).ok_or_else(|| ParseError(format!("bad number {text}")))?;
    let decimals = if text.contains(['e', 'E']) {
        None
    } else {
        text.split_once('.').map(|(_, frac)| frac.len() as u32)
    };
    Ok(Node::Num { value, decimals })
}

fn is_plain_integer(node: &Node) -> bool {
    match node {
        Node::Num {
            value,
            decimals: None,
        } => value.as_integer().is_some_and(|n| n >= 0),
        Node::Neg(inner) => matches!(**inner, Node::Num { decimals: None, .. }),
        _ => false,
    }
}

fn is_integer_fraction(node: &Node) -> bool {
    matches!(node, Node::Div(a, b)
        if matches!(**a, Node::Num { decimals: None, .. }) && matches!(**b, Node::Num { decimals: None, .. }))
}

/// `3\frac12` = 3 + 1/2 and `-3\frac12` = -(3 + 1/2).
fn mixed_number(whole: Node, frac: Node) -> Node {
    match whole {
        Node::Neg(w) => Node::Neg(Box::new(Node::Add(w, Box::new(frac)))),
        w => Node::Add(Box::new(w), Box::new(frac)),
    }
}

fn starts_implicit_factor(tok: &Tok) -> bool {
    match tok {
        Tok::Letter(_) | Tok::LParen | Tok::LBrace => true,
        Tok::Cmd(c) => c != "end",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_shapes() {
        assert!(matches!(parse("\\frac{1}{2}"), Ok(Node::Div(..))));
        assert!(matches!(
            parse("(1,2]"),
            Ok(Node::Bracketed {
                open: '(',
                close: ']',
                ..
            })
        ));
        assert!(matches!(parse("1, 2"), Ok(Node::List(_))));
        assert!(matches!(parse("\\{1,2\\}"), Ok(Node::Set(_))));
        assert!(matches!(parse("x > 3"), Ok(Node::Relation { .. })));
        assert!(matches!(
            parse("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
            Ok(Node::Matrix(_))
        ));
        assert!(matches!(parse("3\\frac{1}{2}"), Ok(Node::Add(..))));
        assert!(matches!(
            parse("(-\\infty, 2) \\cup (3, \\infty)"),
            Ok(Node::Union(_))
        ));
    }

    #[test]
    fn rejects_prose_and_garbage() {
        assert!(parse("Monday").is_err());
        assert!(parse("((((").is_err());
        assert!(parse("1 2").is_err());
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep).is_err());
    }
}
