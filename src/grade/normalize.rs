//! Surface normalisation of an answer string before parsing.
//!
//! One left-to-right scan rewrites LaTeX spelling variants (`\dfrac`, `\left(`, `\!`),
//! drops presentation-only marks (`$`, `^\circ`, unit words) and records a percent sign;
//! a few cheap post passes handle thousands separators and trailing words. The result is
//! still LaTeX-ish text for the parser, never a lossy "strip everything" string: `(1,2)`,
//! `1,2` and `12` must stay distinguishable.

use super::units::{is_unit_phrase, is_unit_word};
use super::words;

/// An answer after surface normalisation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Normalized {
    pub text: String,
    /// The answer carried `%`, `\%` or the word "percent".
    pub percent: bool,
}

/// Commands that only affect typesetting.
const DROPPED_COMMANDS: &[&str] = &[
    "left",
    "right",
    "displaystyle",
    "textstyle",
    "scriptstyle",
    "big",
    "Big",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "bigg",
    "Bigg",
    "biggl",
    "biggr",
    "quad",
    "qquad",
    "limits",
    "nonumber",
    "circ",
    "degree",
    "boldsymbol",
    "mathit",
    "ensuremath",
    "hspace",
    "phantom",
];

/// Commands whose braced argument is plain text.
const TEXT_COMMANDS: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "textsf",
    "texttt",
    "mbox",
    "hbox",
    "mathrm",
    "mathbf",
    "mathsf",
    "operatorname",
    "emph",
];

fn renamed_command(name: &str) -> Option<&'static str> {
    Some(match name {
        "dfrac" | "tfrac" | "cfrac" => "frac",
        "dbinom" | "tbinom" => "binom",
        "le" | "leqslant" | "leqq" => "leq",
        "ge" | "geqslant" | "geqq" => "geq",
        "ne" => "neq",
        "lvert" | "rvert" | "vert" => "|",
        _ => return None,
    })
}

/// `\text` inside `\text` deeper than this is kept verbatim instead of recursing.
const MAX_TEXT_NESTING: usize = 4;

/// Normalises one answer string. Linear in the input length.
pub(crate) fn normalize(raw: &str) -> Normalized {
    normalize_nested(raw, 0)
}

fn normalize_nested(raw: &str, nesting: usize) -> Normalized {
    let mut out = String::with_capacity(raw.len());
    let mut state = ScanState::default();
    let chars: Vec<char> = raw.trim().chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if state.drop_unit_power && !c.is_whitespace() {
            state.drop_unit_power = false;
            if c == '^' {
                i = skip_script(&chars, i + 1);
                continue;
            }
        }
        match c {
            '\\' => {
                i = backslash(&chars, i, &mut out, &mut state, nesting);
                continue;
            }
            '$' => {}
            '%' => state.percent = true,
            '°' => {
                if out.ends_with('^') {
                    out.pop();
                }
                i = skip_temperature_scale(&chars, i + 1);
                continue;
            }
            '∅' => out.push_str("\\emptyset "),
            '~' | '\t' | '\n' | '\r' => push_space(&mut out),
            ' ' => push_space(&mut out),
            '{' if chars.get(i + 1) == Some(&',') && chars.get(i + 2) == Some(&'}') => {
                out.push(',');
                i += 3;
                continue;
            }
            '^' if is_circ_script(&chars, i + 1) => {
                i = skip_temperature_scale(&chars, skip_script(&chars, i + 1));
                continue;
            }
            '−' | '–' => out.push('-'),
            '×' => out.push_str("\\times "),
            '·' => out.push_str("\\cdot "),
            '÷' => out.push_str("\\div "),
            '√' => {
                // "√12" means the root of 12, not TeX's `\sqrt 12` (√1·2).
                let end = (i + 1..chars.len())
                    .find(|&j| !chars[j].is_ascii_digit())
                    .unwrap_or(chars.len());
                if end > i + 1 {
                    out.push_str("\\sqrt{");
                    out.extend(&chars[i + 1..end]);
                    out.push('}');
                    i = end;
                    continue;
                }
                out.push_str("\\sqrt ");
            }
            '±' => out.push_str("\\pm "),
            'π' => out.push_str("\\pi "),
            '∞' => out.push_str("\\infty "),
            '≤' => out.push_str("\\leq "),
            '≥' => out.push_str("\\geq "),
            '≠' => out.push_str("\\neq "),
            '≈' => out.push_str("\\approx "),
            '∪' => out.push_str("\\cup "),
            _ => out.push(c),
        }
        i += 1;
    }
    // A leading "=" or "\approx" ("≈ 3.14") only introduces the value.
    let mut text = out
        .trim()
        .trim_start_matches('=')
        .trim_start()
        .trim_start_matches("\\approx")
        .trim()
        .to_string();
    let mut percent = state.percent;
    if text.contains(' ') || text.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        rewrite_words(&mut text);
    }
    strip_trailing_words(&mut text, &mut percent);
    if text.contains("\\overline") {
        text = expand_repeating_decimals(&text);
    }
    text = remove_thousands_separators(&text);
    Normalized { text, percent }
}

/// What one scan of [`normalize_nested`] carries between characters.
#[derive(Default)]
struct ScanState {
    percent: bool,
    /// After a dropped unit, a following `^2` / `^{3}` belongs to the unit, not the number.
    drop_unit_power: bool,
}

/// Rewrites the backslash command at `at` into `out`; returns the index after it.
fn backslash(
    chars: &[char],
    at: usize,
    out: &mut String,
    state: &mut ScanState,
    nesting: usize,
) -> usize {
    let mut i = at;
    let start = i + 1;
    let mut end = start;
    while end < chars.len() && chars[end].is_ascii_alphabetic() {
        end += 1;
    }
    if end == start {
        // Single-character control symbol.
        match chars.get(start) {
            // Spacing, and the math delimiters \( \) \[ \].
            Some(',' | '!' | ';' | ':' | ' ' | '>' | '(' | ')' | '[' | ']') => {}
            Some('%') => state.percent = true,
            Some('$') => {}
            Some(&other) => {
                out.push('\\');
                out.push(other);
            }
            None => {}
        }
        return start + 1;
    }
    let name: String = chars[start..end].iter().collect();
    i = end;
    if DROPPED_COMMANDS.contains(&name.as_str()) {
        if name == "circ" || name == "degree" {
            if out.ends_with('^') {
                out.pop();
            }
            return skip_temperature_scale(chars, i);
        }
        return i;
    }
    if TEXT_COMMANDS.contains(&name.as_str()) {
        let (content, next) = braced_argument(chars, i);
        i = next;
        let trimmed = content.trim();
        let words_are_units = is_unit_phrase(trimmed);
        if trimmed.eq_ignore_ascii_case("percent") || trimmed == "%" {
            state.percent = true;
        } else if words_are_units && !out.trim().is_empty() {
            state.drop_unit_power = true;
        } else {
            // Nested markup inside \text is rare; normalise it the same way.
            out.push(' ');
            if nesting < MAX_TEXT_NESTING {
                let inner = normalize_nested(&content, nesting + 1);
                state.percent |= inner.percent;
                out.push_str(&inner.text);
            } else {
                out.push_str(&content);
            }
            out.push(' ');
        }
        return i;
    }
    if name == "pm" || name == "mp" {
        out.push_str("\\pm ");
        return i;
    }
    out.push('\\');
    out.push_str(renamed_command(&name).unwrap_or(&name));
    out.push(' ');
    i
}

/// Number words, "below zero", trailing prose and the empty set said in words.
fn rewrite_words(text: &mut String) {
    if let Some(t) = words::below_zero(text) {
        *text = t;
    }
    if let Some(t) = words::replace_number_words(text) {
        *text = t;
    }
    words::strip_trailing_prose(text);
    if let Some(t) = words::strip_article(text) {
        *text = t;
    }
    if words::is_empty_set_phrase(text) {
        *text = "\\emptyset".to_string();
    }
}

fn push_space(out: &mut String) {
    if !out.is_empty() && !out.ends_with(' ') {
        out.push(' ');
    }
}

/// Reads `{...}` (balanced) starting at `i`, or a single character when there is no brace.
fn braced_argument(chars: &[char], mut i: usize) -> (String, usize) {
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    if chars.get(i) != Some(&'{') {
        return match chars.get(i) {
            Some(c) => (c.to_string(), i + 1),
            None => (String::new(), i),
        };
    }
    let mut depth = 0usize;
    let mut content = String::new();
    let mut j = i;
    while j < chars.len() {
        let c = chars[j];
        if c == '\\' && j + 1 < chars.len() {
            if depth > 0 {
                content.push(c);
                content.push(chars[j + 1]);
            }
            j += 2;
            continue;
        }
        if c == '{' {
            depth += 1;
            if depth == 1 {
                j += 1;
                continue;
            }
        } else if c == '}' {
            depth -= 1;
            if depth == 0 {
                return (content, j + 1);
            }
        }
        content.push(c);
        j += 1;
    }
    (content, j)
}

/// After a degree sign, the scale letter of a temperature: `°C`, `^\\circ \\text{F}`.
fn skip_temperature_scale(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && matches!(chars[i], ' ' | '~') {
        i += 1;
    }
    for form in [
        "C",
        "F",
        "\\text{C}",
        "\\text{F}",
        "\\mathrm{C}",
        "\\mathrm{F}",
        "{C}",
        "{F}",
    ] {
        let len = form.chars().count();
        let matches = chars.len() >= i + len && chars[i..i + len].iter().copied().eq(form.chars());
        if matches && !chars.get(i + len).is_some_and(|c| c.is_ascii_alphabetic()) {
            return i + len;
        }
    }
    i
}

fn is_circ_script(chars: &[char], i: usize) -> bool {
    let rest: String = chars[i..chars.len().min(i + 12)]
        .iter()
        .filter(|c| **c != ' ')
        .collect();
    rest.starts_with("\\circ") || rest.starts_with("{\\circ}") || rest.starts_with('°')
}

/// Skips a superscript argument (`2`, `{2}`, `\circ`, `{\circ}`) starting at `i`.
fn skip_script(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    match chars.get(i) {
        Some('{') => braced_argument(chars, i).1,
        Some('\\') => {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            j
        }
        Some(_) => i + 1,
        None => i,
    }
}

/// Drops trailing `.` and words qualifying a number ("42 cookies", "5 cm^2", "20 percent").
fn strip_trailing_words(text: &mut String, percent: &mut bool) {
    loop {
        let trimmed_len = text.trim_end_matches([' ', '.']).len();
        // Keep a lone "." or "5." distinct from an empty answer; "5." means 5.
        text.truncate(trimmed_len);
        let Some(last_space) = text.rfind(' ') else {
            return;
        };
        let word = &text[last_space + 1..];
        let word_core = word.trim_end_matches(['^', '2', '3']);
        let head = text[..last_space].trim_end();
        if is_plain_number(head)
            && (matches!(
                word,
                "g" | "m" | "s" | "h" | "l" | "L" | "K" | "J" | "N" | "W" | "V" | "A"
            ) || (word.contains('/') && is_unit_phrase(word)))
        {
            let keep = head.len();
            text.truncate(keep);
            continue;
        }
        if head.is_empty()
            || !word_core.chars().all(|c| c.is_ascii_alphabetic())
            || word_core.is_empty()
        {
            return;
        }
        if word_core.eq_ignore_ascii_case("percent") {
            *percent = true;
        } else {
            let head_is_quantity = head
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_digit() || c == '}' || c == ')' || c == '%');
            let is_generic_noun = word_core.len() >= 3 && head_is_quantity;
            let unit_after_quantity = is_unit_word(word_core)
                && word_core.len() >= 2
                && (head_is_quantity || head.split(' ').next_back().is_some_and(is_unit_word));
            if !(is_generic_noun || unit_after_quantity) {
                return;
            }
        }
        let keep = head.len();
        text.truncate(keep);
    }
}

/// `12`, `-3.5`: a number literal and nothing else.
fn is_plain_number(text: &str) -> bool {
    let t = text.strip_prefix('-').unwrap_or(text);
    !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().any(|b| b.is_ascii_digit())
}

/// `0.\overline{3}` → `\frac{1}{3}`, `1.2\overline{45}` → its exact fraction.
fn expand_repeating_decimals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\overline") {
        let before = &rest[..at];
        let after = rest[at + "\\overline".len()..].trim_start();
        let digits_end = before.len()
            - before
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len();
        let number = &before[before.len() - digits_end..];
        let repeating: Option<(&str, &str)> = after
            .strip_prefix('{')
            .and_then(|a| a.split_once('}'))
            .filter(|(r, _)| {
                !r.is_empty() && r.len() <= 12 && r.chars().all(|c| c.is_ascii_digit())
            });
        let fraction = match (number.split_once('.'), repeating) {
            (Some((int, frac)), Some((rep, _))) if int.len() + frac.len() <= 12 => {
                repeating_fraction(int, frac, rep)
            }
            _ => None,
        };
        match (fraction, repeating) {
            (Some(f), Some((_, tail))) => {
                out.push_str(&before[..before.len() - digits_end]);
                out.push_str(&f);
                rest = tail;
            }
            _ => {
                out.push_str(&rest[..at + "\\overline".len()]);
                rest = &rest[at + "\\overline".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// I.F(R) = (IFR - IF) / (10^|F| (10^|R| - 1)).
fn repeating_fraction(int: &str, frac: &str, rep: &str) -> Option<String> {
    let parse = |s: &str| {
        if s.is_empty() {
            Some(0i128)
        } else {
            s.parse::<i128>().ok()
        }
    };
    let with_rep = parse(&format!("{int}{frac}{rep}"))?;
    let without = parse(&format!("{int}{frac}"))?;
    let den = 10i128
        .checked_pow(frac.len() as u32)?
        .checked_mul(10i128.checked_pow(rep.len() as u32)? - 1)?;
    Some(format!("\\frac{{{}}}{{{den}}}", with_rep - without))
}

/// `1,000,000` → `1000000` outside brackets; `(1,2)`, `1, 2` and `1,23` are left alone.
fn remove_thousands_separators(text: &str) -> String {
    if !text.contains(',') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut remove = vec![false; bytes.len()];
    let mut depth = 0i32;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        let starts_number = b.is_ascii_digit()
            && (i == 0
                || !(bytes[i - 1].is_ascii_digit()
                    || bytes[i - 1] == b'.'
                    || bytes[i - 1] == b','));
        if depth == 0 && starts_number {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            let lead = j - i;
            let mut groups = Vec::new();
            let mut k = j;
            while k + 3 < bytes.len() + 1
                && bytes.get(k) == Some(&b',')
                && bytes[k + 1..].len() >= 3
                && bytes[k + 1..k + 4].iter().all(u8::is_ascii_digit)
                && !bytes.get(k + 4).is_some_and(u8::is_ascii_digit)
            {
                groups.push(k);
                k += 4;
            }
            if (1..=3).contains(&lead) && !groups.is_empty() {
                for g in groups {
                    remove[g] = true;
                }
            }
            i = k.max(i + 1);
            continue;
        }
        i += 1;
    }
    text.char_indices()
        .filter(|(idx, _)| !remove.get(*idx).copied().unwrap_or(false))
        .map(|(_, c)| c)
        .collect()
}

/// Key for string comparison: no spaces; case folded only for prose answers (where
/// "Monday" = "monday") since in math `\Delta` ≠ `\delta`. Braces stay: `\frac{12}{3}`
/// and `\frac1{23}` must not collide.
pub(crate) fn comparison_key(text: &str, fold_case: bool) -> String {
    let kept = text.chars().filter(|c| !c.is_whitespace());
    if fold_case {
        kept.flat_map(char::to_lowercase).collect()
    } else {
        kept.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).text
    }

    #[test]
    fn latex_variants_collapse() {
        assert_eq!(norm("\\dfrac{1}{2}"), "\\frac {1}{2}");
        assert_eq!(norm("\\left( 1, 2 \\right)"), "( 1, 2 )");
        assert_eq!(norm("$5$"), "5");
        assert_eq!(norm("90^\\circ"), "90");
        assert_eq!(norm("90^{\\circ}"), "90");
        assert_eq!(norm("1\\,000"), "1000");
        assert_eq!(norm("\\displaystyle 3"), "3");
    }

    #[test]
    fn units_and_percent() {
        assert_eq!(norm("5\\text{ cm}^2"), "5");
        assert_eq!(norm("42 dollars"), "42");
        assert_eq!(norm("18 cookies."), "18");
        let p = normalize("10\\%");
        assert!(p.percent);
        assert_eq!(p.text, "10");
        assert!(normalize("25 percent").percent);
        assert_eq!(norm("\\text{Monday}"), "Monday");
    }

    #[test]
    fn thousands_only_at_top_level() {
        assert_eq!(norm("1,000"), "1000");
        assert_eq!(norm("1,234,567.5"), "1234567.5");
        assert_eq!(norm("(1,200)"), "(1,200)");
        assert_eq!(norm("1,2"), "1,2");
        assert_eq!(norm("1, 200"), "1, 200");
        assert_eq!(norm("1,2345"), "1,2345");
    }
}
