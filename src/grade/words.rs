//! Answers written in words: number words ("three", "a dozen", "twenty-five"),
//! temperatures "below zero", the empty set in prose, and trailing prose after a value
//! ("7 DVDs on Tuesday", "10 liters (assuming no spill)").

/// Value of one number word; `None` for any other word.
pub(crate) fn number_word_value(word: &str) -> Option<u64> {
    const SMALL: &[&str] = &[
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: &[&str] = &[
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = SMALL.iter().position(|w| *w == word) {
        return Some(i as u64);
    }
    if let Some(i) = TENS.iter().position(|w| *w == word) {
        return Some(20 + 10 * i as u64);
    }
    Some(match word {
        "dozen" => 12,
        "hundred" => 100,
        "thousand" => 1_000,
        "million" => 1_000_000,
        "billion" => 1_000_000_000,
        _ => return None,
    })
}

/// Reads a leading number phrase ("negative twenty-five", "a dozen", "one hundred and
/// five"); returns its digits and the byte length it covered.
fn leading_number(text: &str) -> Option<(String, usize)> {
    let mut total: u64 = 0;
    let mut group: u64 = 0;
    let mut seen = false;
    let mut negative = false;
    let mut covered = 0;
    let mut pos = 0;
    for word in text.split_inclusive([' ', '-']) {
        let core = word.trim_end_matches([' ', '-']).to_ascii_lowercase();
        pos += word.len();
        match core.as_str() {
            "" => continue,
            "negative" | "minus" if !seen && !negative => negative = true,
            "a" | "an" if !seen => {}
            "and" if seen => {}
            "and" => return None,
            _ => {
                let v = number_word_value(&core)?;
                seen = true;
                match v {
                    12 if core == "dozen" => group = group.max(1) * 12,
                    100 => group = group.max(1) * 100,
                    1_000.. => {
                        total += group.max(1) * v;
                        group = 0;
                    }
                    _ => group += v,
                }
                covered = pos;
                continue;
            }
        }
        if seen && core == "and" {
            continue;
        }
    }
    if !seen {
        return None;
    }
    let value = total + group;
    let sign = if negative { "-" } else { "" };
    Some((format!("{sign}{value}"), covered))
}

/// Replaces a leading number phrase with digits: "three apples" → "3 apples".
pub(crate) fn replace_number_words(text: &str) -> Option<String> {
    let first = text.split([' ', '-']).next()?.to_ascii_lowercase();
    let starts = matches!(first.as_str(), "a" | "an" | "negative" | "minus")
        || number_word_value(&first).is_some();
    if !starts {
        return None;
    }
    let mut end_ok = None;
    // The phrase ends at the longest prefix of words that reads as a number.
    let mut cut = text.len();
    loop {
        if let Some((digits, covered)) = leading_number(&text[..cut])
            && covered == cut
        {
            end_ok = Some((digits, covered));
            break;
        }
        match text[..cut].rfind([' ', '-']) {
            Some(i) if i > 0 => cut = i,
            _ => break,
        }
    }
    let (digits, covered) = end_ok?;
    Some(format!("{digits}{}", &text[covered..]))
}

/// "an ellipse" → "ellipse": an article before a word answer.
pub(crate) fn strip_article(text: &str) -> Option<String> {
    let (first, rest) = text.split_once(' ')?;
    let article = matches!(first.to_ascii_lowercase().as_str(), "a" | "an" | "the");
    let wordy = rest.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && rest
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == ' ' || c == '-');
    (article && wordy).then(|| rest.to_string())
}

/// "10 degrees below zero" → "-10 degrees".
pub(crate) fn below_zero(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let head = lower.strip_suffix("below zero")?;
    let head = text[..head.len()].trim();
    (!head.is_empty() && !head.starts_with('-')).then(|| format!("-{head}"))
}

/// "empty", "the empty set", "no solution": the empty set said in words.
pub(crate) fn is_empty_set_phrase(text: &str) -> bool {
    let lower = text.trim().to_ascii_lowercase();
    matches!(
        lower.trim_start_matches("the ").trim(),
        "empty"
            | "empty set"
            | "no solution"
            | "no solutions"
            | "no real solution"
            | "no real solutions"
            | "there are no solutions"
            | "there is no solution"
    )
}

/// Longest run of trailing prose words dropped after a value.
const MAX_PROSE_WORDS: usize = 6;

/// Words that are part of the math, never trailing prose.
fn is_math_word(word: &str) -> bool {
    matches!(
        word,
        "or" | "and"
            | "percent"
            | "sin"
            | "cos"
            | "tan"
            | "ln"
            | "log"
            | "exp"
            | "pi"
            | "sqrt"
            | "inf"
            | "infty"
            | "infinity"
    )
}

/// Drops a run of prose words after a value ("7 DVDs on Tuesday" → "7") and a trailing
/// parenthetical remark ("10 liters (assuming no spill)" → "10 liters").
pub(crate) fn strip_trailing_prose(text: &mut String) {
    if text.ends_with(')')
        && let Some(open) = matching_open(text)
    {
        let inner = &text[open + 1..text.len() - 1];
        let prose = inner
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|w| w.len() >= 4 && !is_math_word(w) && !inner.contains(&format!("\\{w}")));
        if prose && !text[..open].trim().is_empty() {
            let keep = text[..open].trim_end().len();
            text.truncate(keep);
        }
    }
    // The earliest space after which every word is prose; one backward pass, at most
    // MAX_PROSE_WORDS words (a longer tail is a prose answer, not a remark after a value).
    let mut cut = None;
    let mut end = text.len();
    let mut words = 0;
    while let Some(i) = text[..end].rfind(' ') {
        let w = text[i + 1..end].trim_end_matches([',', '.']);
        end = i;
        if w.is_empty() {
            continue;
        }
        let prose = w.len() >= 2 && w.chars().all(|c| c.is_ascii_alphabetic()) && !is_math_word(w);
        if !prose {
            break;
        }
        words += 1;
        if words > MAX_PROSE_WORDS {
            return;
        }
        cut = Some(i);
    }
    if let Some(i) = cut {
        let head = text[..i].trim_end();
        let ends_with_value = head
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '}' | ')' | '%'));
        if ends_with_value {
            let keep = head.len();
            text.truncate(keep);
        }
    }
}

/// Byte index of the `(` matching the final `)`.
fn matching_open(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in text.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_words_become_digits() {
        assert_eq!(replace_number_words("three").as_deref(), Some("3"));
        assert_eq!(replace_number_words("a dozen").as_deref(), Some("12"));
        assert_eq!(
            replace_number_words("twenty-five cats").as_deref(),
            Some("25 cats")
        );
        assert_eq!(
            replace_number_words("one hundred and five").as_deref(),
            Some("105")
        );
        assert_eq!(replace_number_words("negative four").as_deref(), Some("-4"));
        assert_eq!(
            replace_number_words("two thousand").as_deref(),
            Some("2000")
        );
        assert_eq!(replace_number_words("apple"), None);
        assert_eq!(replace_number_words("a + b"), None);
    }

    #[test]
    fn trailing_prose_goes() {
        let mut t = "7 DVDs on Tuesday".to_string();
        strip_trailing_prose(&mut t);
        assert_eq!(t, "7");
        let mut t = "10 liters (assuming no spill)".to_string();
        strip_trailing_prose(&mut t);
        assert_eq!(t, "10");
        let mut t = "x or y".to_string();
        strip_trailing_prose(&mut t);
        assert_eq!(t, "x or y");
        assert_eq!(
            below_zero("10 degrees below zero").as_deref(),
            Some("-10 degrees")
        );
    }
}
