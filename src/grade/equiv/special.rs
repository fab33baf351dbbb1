//! Answers compared by their written form before any parsing: numbers in a base
//! (`4210_5`, `52_{8}`, a bare `1011` for gold `1011_2`) and multiple-choice letters with
//! decorations (`\textbf{(A)}~12` for gold `A`).

use super::Outcome;

/// Longest digit string converted exactly (base 2 with 100 digits stays below u128::MAX).
const MAX_BASE_DIGITS: usize = 100;

pub(super) fn compare_special(p: &str, g: &str) -> Option<Outcome> {
    if let Some(outcome) = compare_bases(p, g) {
        return Some(outcome);
    }
    compare_choices(p, g)
}

/// `digits_base` / `digits_{base}`: the digits and the base.
fn based(text: &str) -> Option<(&str, u32)> {
    let (digits, base) = text.trim().split_once('_')?;
    let base = base
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let base = base.trim_start_matches('(').trim_end_matches(')');
    let base: u32 = base.parse().ok()?;
    let digits = digits.trim();
    let valid = (2..=36).contains(&base)
        && !digits.is_empty()
        && digits.len() <= MAX_BASE_DIGITS
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.to_digit(36).is_some_and(|d| d < base) && !c.is_ascii_lowercase());
    valid.then_some((digits, base))
}

fn value_in_base(digits: &str, base: u32) -> Option<u128> {
    digits.chars().try_fold(0u128, |acc, c| {
        acc.checked_mul(u128::from(base))?
            .checked_add(u128::from(c.to_digit(base)?))
    })
}

fn compare_bases(p: &str, g: &str) -> Option<Outcome> {
    let (pb, gb) = (based(p), based(g));
    let (based_side, other) = match (pb, gb) {
        (Some((pd, pbase)), Some((gd, gbase))) => {
            let equal = value_in_base(pd, pbase)? == value_in_base(gd, gbase)?;
            return Some(Outcome::new(
                equal,
                format!("base: {pd}_{pbase} vs {gd}_{gbase}"),
            ));
        }
        (Some(b), None) => (b, g.trim()),
        (None, Some(b)) => (b, p.trim()),
        (None, None) => return None,
    };
    if other.is_empty() || !other.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (digits, base) = based_side;
    // The base is the question's: a bare `1011` for `1011_2`; a decimal value also reads.
    let same_digits = other.trim_start_matches('0') == digits.trim_start_matches('0');
    let same_value = other
        .parse::<u128>()
        .ok()
        .zip(value_in_base(digits, base))
        .is_some_and(|(a, b)| a == b);
    Some(Outcome::new(
        same_digits || same_value,
        format!("base: {other} vs {digits}_{base}"),
    ))
}

/// The letter of a multiple-choice answer: `A`, `(A)`, `A)`, `(A) 12`, `A. 12`, `A: 12`.
fn choice(text: &str) -> Option<(char, bool)> {
    let t = text.trim();
    let mut chars = t.chars();
    let (letter, rest) = match chars.next()? {
        '(' => {
            let l = chars.next()?;
            if chars.next()? != ')' {
                return None;
            }
            (l, chars.as_str())
        }
        l => {
            let rest = chars.as_str();
            match rest.chars().next() {
                None => (l, rest),
                Some(')' | '.' | ':') => (l, &rest[1..]),
                _ => return None,
            }
        }
    };
    let rest = rest.trim();
    let letter = letter.to_ascii_uppercase();
    ('A'..='E')
        .contains(&letter)
        .then_some((letter, rest.is_empty()))
}

fn compare_choices(p: &str, g: &str) -> Option<Outcome> {
    let ((pl, p_bare), (gl, g_bare)) = (choice(p)?, choice(g)?);
    // At least one side must be just the letter: "(A) 12" vs "(B) 12" is for the parser.
    if !(p_bare || g_bare) {
        return None;
    }
    // A bare lowercase letter is a variable, not a choice.
    let lowercase_bare =
        |t: &str| t.trim().len() == 1 && t.trim().chars().all(|c| c.is_ascii_lowercase());
    if lowercase_bare(p) || lowercase_bare(g) {
        return None;
    }
    Some(Outcome::new(pl == gl, format!("choice: {pl} vs {gl}")))
}
