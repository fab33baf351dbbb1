//! Finds the final answer in free model text.
//!
//! Rules in priority order: the last `\boxed{...}` / `\fbox{...}` (with the boxes just
//! before it when only "and" / commas separate them: several roots), the last GSM8K
//! `#### ...` line, the last "answer is ..." / "Answer: ..." line, the final sentence's
//! stated value, and the last number. A last box whose closing brace was forgotten but
//! whose writer went on (`\boxed{12$.`, `\boxed{x = 4` then a new line) is read as
//! written, as a human reader does; a box the text ends inside (`\boxed{12` at the very
//! end, `\boxed{\frac{1}{2`) is a cut-off generation and "no answer": falling back to an
//! earlier number would reward it.

mod boxed;
mod sentence;

use super::{ExtractRule, Extraction};
use boxed::last_box;

/// Why no answer could be extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    UnclosedBox(&'static str),
    EmptyBox(&'static str),
    Nothing,
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::UnclosedBox(cmd) => write!(f, "no answer: unclosed \\{cmd}{{"),
            NoAnswer::EmptyBox(cmd) => write!(f, "no answer: empty \\{cmd}{{}}"),
            NoAnswer::Nothing => f.write_str("no answer: no box, answer line or number found"),
        }
    }
}

const ANSWER_CUES: &[&str] = &[
    "the final answer is",
    "final answer:",
    "the answer is",
    "answer:",
];

pub(crate) fn extract(text: &str) -> Result<Extraction, NoAnswer> {
    if let Some(found) = last_box(text) {
        return found;
    }
    if let Some(answer) = after_hashes(text) {
        return Ok(Extraction {
            text: answer,
            rule: ExtractRule::Hashes,
        });
    }
    if let Some(answer) = answer_line(text) {
        return Ok(Extraction {
            text: answer,
            rule: ExtractRule::AnswerLine,
        });
    }
    let last = last_number(text);
    if let Some(found) = sentence::final_statement(text, last.as_deref()) {
        return Ok(found);
    }
    last.map(|n| Extraction {
        text: n,
        rule: ExtractRule::LastNumber,
    })
    .ok_or(NoAnswer::Nothing)
}

fn after_hashes(text: &str) -> Option<String> {
    let i = text.rfind("####")?;
    let line = text[i + 4..]
        .trim_start_matches('#')
        .lines()
        .next()
        .unwrap_or("");
    clean_tail(line)
}

fn answer_line(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let (pos, cue) = ANSWER_CUES
        .iter()
        .filter_map(|cue| lower.rfind(cue).map(|i| (i, cue.len())))
        .max_by_key(|(i, len)| (*i + *len, *len))?;
    let line = text[pos + cue..].lines().next().unwrap_or("");
    // A sentence may go on after the answer ("The answer is 42. We ..."): stop at ". ".
    let line = match line.find(". ") {
        Some(end) => &line[..end],
        None => line,
    };
    let line = strip_filler(line);
    // "The answer is not obvious ..." is prose, not an answer: use a later rule.
    let first_word = line
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if NOT_AN_ANSWER.contains(&first_word.as_str()) {
        return None;
    }
    clean_tail(line)
}

/// First words that show an "answer is" phrase does not state the answer.
const NOT_AN_ANSWER: &[&str] = &[
    "not", "that", "to", "as", "below", "above", "given", "found", "obtained", "in",
];

/// Words between the cue and the answer: "the answer is therefore 5".
pub(super) fn strip_filler(mut line: &str) -> &str {
    const FILLER: &[&str] = &[
        "therefore",
        "thus",
        "then",
        "clearly",
        "simply",
        "just",
        "now",
        "indeed",
        "hence",
    ];
    loop {
        let trimmed = line.trim_start_matches([':', ' ', '*', ',']);
        let word_end = trimmed
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(trimmed.len());
        let word = &trimmed[..word_end];
        if word.is_empty() || !FILLER.iter().any(|f| f.eq_ignore_ascii_case(word)) {
            return trimmed;
        }
        line = trimmed[word_end..].trim_start_matches(',');
    }
}

/// Trims markdown and punctuation around an answer taken from the end of a line.
pub(super) fn clean_tail(line: &str) -> Option<String> {
    let trimmed = line
        .trim()
        .trim_start_matches([':', '*', ' '])
        .trim_end_matches(['*', ' '])
        .trim_end_matches('.')
        .trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn last_number(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let last_digit = bytes.iter().rposition(u8::is_ascii_digit)?;
    let mut start = last_digit;
    while start > 0 {
        let prev = bytes[start - 1];
        let before = if start >= 2 {
            Some(bytes[start - 2])
        } else {
            None
        };
        let extends = prev.is_ascii_digit()
            || (matches!(prev, b'.' | b'/') && before.is_some_and(|b| b.is_ascii_digit()))
            || (prev == b','
                && before.is_some_and(|b| b.is_ascii_digit())
                && is_thousands_group(&bytes[start..]));
        if !extends {
            break;
        }
        start -= 1;
    }
    if start > 0 && bytes[start - 1] == b'-' {
        start -= 1;
    }
    Some(text[start..=last_digit].to_string())
}

fn is_thousands_group(after_comma: &[u8]) -> bool {
    after_comma.len() >= 3
        && after_comma[..3].iter().all(u8::is_ascii_digit)
        && !after_comma.get(3).is_some_and(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str) -> Result<(String, ExtractRule), NoAnswer> {
        extract(text).map(|e| (e.text, e.rule))
    }

    #[test]
    fn boxed_wins_and_nests() {
        assert_eq!(
            get("so \\boxed{1} then \\boxed{\\frac{1}{2}}."),
            Ok(("\\frac{1}{2}".into(), ExtractRule::Boxed))
        );
        assert_eq!(get("\\boxed 5."), Ok(("5".into(), ExtractRule::Boxed)));
        assert_eq!(get("$\\fbox{7}$"), Ok(("7".into(), ExtractRule::Boxed)));
        assert_eq!(
            get("\\boxed{\\{1,2\\}}"),
            Ok(("\\{1,2\\}".into(), ExtractRule::Boxed))
        );
    }

    #[test]
    fn truncated_box_is_no_answer() {
        assert_eq!(
            get("so \\boxed{12$ done"),
            Ok(("12".into(), ExtractRule::Boxed))
        );
        assert_eq!(get("so \\boxed{12"), Err(NoAnswer::UnclosedBox("boxed")));
        assert_eq!(
            get("answer 3 so \\boxed{\\frac{1}{2"),
            Err(NoAnswer::UnclosedBox("boxed"))
        );
        assert_eq!(get("\\boxed{}"), Err(NoAnswer::EmptyBox("boxed")));
    }

    #[test]
    fn fallbacks_in_order() {
        assert_eq!(
            get("blah\n#### 1,234\n"),
            Ok(("1,234".into(), ExtractRule::Hashes))
        );
        assert_eq!(
            get("So the answer is 42. Great, 7 left."),
            Ok(("42".into(), ExtractRule::AnswerLine))
        );
        assert_eq!(
            get("**Answer:** $3/4$"),
            Ok(("$3/4$".into(), ExtractRule::AnswerLine))
        );
        assert_eq!(
            get("we get 3 and then -1,000."),
            Ok(("-1,000".into(), ExtractRule::LastNumber))
        );
        assert_eq!(
            get("ratio 3/4"),
            Ok(("3/4".into(), ExtractRule::LastNumber))
        );
        assert_eq!(get("no digits"), Err(NoAnswer::Nothing));
    }
}
