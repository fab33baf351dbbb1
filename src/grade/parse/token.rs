//! Tokenizer for normalised answers: numbers, letters, words, commands and symbols.

use super::ast::{Func, ParseError, Rel, err};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Num(String),
    Letter(char),
    Word(String),
    Cmd(String),
    LParen,
    RParen,
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    LSet,
    RSet,
    Comma,
    Semicolon,
    Plus,
    Minus,
    PlusMinus,
    Star,
    Slash,
    Caret,
    Underscore,
    Bang,
    Amp,
    RowSep,
    Pipe,
    Cup,
    Rel(Rel),
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Tok>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let end = scan_number(&chars, i);
            toks.push(Tok::Num(chars[i..end].iter().collect()));
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            push_word(&mut toks, word);
            continue;
        }
        if c == '\\' {
            let (tok, next) = command_token(&chars, i)?;
            toks.push(tok);
            i = next;
            continue;
        }
        let tok = match c {
            ' ' => {
                i += 1;
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBrack,
            ']' => Tok::RBrack,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            ',' => Tok::Comma,
            ';' => Tok::Semicolon,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '^' => Tok::Caret,
            '_' => Tok::Underscore,
            '!' => Tok::Bang,
            '&' => Tok::Amp,
            '|' => Tok::Pipe,
            '=' => Tok::Rel(Rel::Eq),
            '<' | '>' => {
                let strict = c == '<';
                if chars.get(i + 1) == Some(&'=') {
                    i += 1;
                    Tok::Rel(if strict { Rel::Le } else { Rel::Ge })
                } else {
                    Tok::Rel(if strict { Rel::Lt } else { Rel::Gt })
                }
            }
            '\'' => return err("primes are not supported"),
            other => return err(format!("unexpected character {other:?}")),
        };
        toks.push(tok);
        i += 1;
    }
    Ok(toks)
}

/// Splits a run of letters: function names, list connectives, variables, or plain text.
fn push_word(toks: &mut Vec<Tok>, word: String) {
    match word.as_str() {
        "or" | "and" => toks.push(Tok::Word(word)),
        "pi" => toks.push(Tok::Cmd("pi".into())),
        "inf" | "infty" | "infinity" => toks.push(Tok::Cmd("infty".into())),
        "sqrt" => toks.push(Tok::Cmd("sqrt".into())),
        "U" => toks.push(Tok::Cup),
        w if Func::from_name(w).is_some() => toks.push(Tok::Cmd(word)),
        // Short runs are products of variables (`xy`, `ab`); longer ones are prose.
        w if w.len() <= 2 => toks.extend(w.chars().map(Tok::Letter)),
        _ => toks.push(Tok::Word(word)),
    }
}

/// End of the number starting at `start`: digits, an optional fraction and exponent
/// ("5." is 5 followed by a full stop).
fn scan_number(chars: &[char], start: usize) -> usize {
    let digits = |mut i: usize| {
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if chars.get(j).is_some_and(char::is_ascii_digit) {
            i = digits(j);
        }
    }
    i
}

/// The token for the backslash command at `at`, and the index after it.
fn command_token(chars: &[char], at: usize) -> Result<(Tok, usize), ParseError> {
    let start = at + 1;
    let mut end = start;
    while end < chars.len() && chars[end].is_ascii_alphabetic() {
        end += 1;
    }
    if end == start {
        let tok = match chars.get(start) {
            Some('{') => Tok::LSet,
            Some('}') => Tok::RSet,
            Some('\\') => Tok::RowSep,
            Some('|') => Tok::Pipe,
            other => {
                return err(format!(
                    "unknown control symbol \\{}",
                    other.copied().unwrap_or(' ')
                ));
            }
        };
        return Ok((tok, start + 1));
    }
    let name: String = chars[start..end].iter().collect();
    let tok = match name.as_str() {
        "cdot" | "times" | "ast" => Tok::Star,
        "div" => Tok::Slash,
        "pm" | "mp" => Tok::PlusMinus,
        "leq" => Tok::Rel(Rel::Le),
        "geq" => Tok::Rel(Rel::Ge),
        "lt" => Tok::Rel(Rel::Lt),
        "gt" => Tok::Rel(Rel::Gt),
        "neq" => Tok::Rel(Rel::Ne),
        "approx" | "equiv" => Tok::Rel(Rel::Eq),
        "in" => Tok::Rel(Rel::In),
        "cup" => Tok::Cup,
        "lbrace" => Tok::LSet,
        "rbrace" => Tok::RSet,
        "lbrack" => Tok::LBrack,
        "rbrack" => Tok::RBrack,
        "mid" => Tok::Pipe,
        "text" | "mathrm" | "textbf" | "mathbf" => {
            return err("text markup left after normalisation");
        }
        _ => Tok::Cmd(name),
    };
    Ok((tok, end))
}
