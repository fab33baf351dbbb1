//! The value a final sentence states, for answers written without a box or an answer
//! line: "So n = 4, 3, 2", "x = 1 or x = −2", "the roots are 1 + √19, 1 − √19", "the
//! graph is an ellipse", "… = 7 DVDs on Tuesday, counting all 8 customers".
//!
//! The candidate is accepted only when it normalises and parses as a math answer (or is a
//! short word answer after "is" / "are"); otherwise the last-number rule decides.

use super::strip_filler;
use crate::grade::normalize::normalize;
use crate::grade::parse::parse;
use crate::grade::{ExtractRule, Extraction};

/// Words after which the stated value follows; the last one in the sentence wins.
const CUES: &[&str] = &[
    " is ",
    " are ",
    " was ",
    " were ",
    " equals ",
    " be ",
    ": ",
    " so ",
    " thus ",
    " hence ",
    " therefore ",
    " get ",
    " gives ",
    " obtain ",
];

/// Words that start a clause after the answer ("… = 5 because …").
const CLAUSE_STARTS: &[&str] = &[
    " because ",
    " since ",
    " which ",
    " where ",
    " when ",
    " as ",
    " counting ",
    " including ",
    " assuming ",
    " after ",
    " before ",
    " if ",
];

/// Sentences longer than this are reasoning, not a statement of the answer.
const MAX_SENTENCE: usize = 400;

pub(super) fn final_statement(text: &str, last_number: Option<&str>) -> Option<Extraction> {
    let sentence = last_sentence(text)?;
    let lower = sentence.to_ascii_lowercase();
    let cue_end = CUES
        .iter()
        .filter_map(|cue| lower.rfind(cue).map(|i| i + cue.len()))
        .max();
    let (mut candidate, from_cue) = match cue_end {
        Some(end) => (strip_articles(strip_filler(&sentence[end..])), true),
        None => (strip_prose_words(sentence), false),
    };
    candidate = cut_clause(candidate);
    let candidate = candidate.trim().trim_end_matches(['.', ',', '!']).trim();
    if candidate.is_empty() {
        return None;
    }
    let normalized = normalize(candidate);
    if normalized.text.is_empty() {
        return None;
    }
    if let Some(last) = last_number
        && normalize(last).text == normalized.text
    {
        return Some(Extraction {
            text: last.to_string(),
            rule: ExtractRule::LastNumber,
        });
    }
    let word_answer = from_cue
        && normalized.text.split_whitespace().count() <= 3
        && normalized
            .text
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == ' ' || c == '-');
    let accepted = word_answer || parse(&normalized.text).is_ok();
    accepted.then(|| Extraction {
        text: candidate.to_string(),
        rule: ExtractRule::FinalSentence,
    })
}

/// The last sentence of the last non-empty line, without markdown emphasis.
fn last_sentence(text: &str) -> Option<&str> {
    let line = text
        .lines()
        .map(|l| l.trim().trim_matches(['*', '#', '>', '-', ' ']))
        .rfind(|l| !l.is_empty())?;
    let line = line.trim_end_matches(['.', '!', ' ']);
    let mut start = 0;
    for (i, _) in line.match_indices(". ") {
        start = i + 2;
    }
    let sentence = line[start..].trim();
    (!sentence.is_empty() && sentence.len() <= MAX_SENTENCE).then_some(sentence)
}

fn strip_articles(text: &str) -> &str {
    let mut t = text.trim_start();
    for article in ["the ", "an ", "a "] {
        if t.len() > article.len()
            && t.get(..article.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(article))
        {
            t = t[article.len()..].trim_start();
        }
    }
    t
}

/// Drops leading prose ("So we get", "Mary sold") before the math starts.
fn strip_prose_words(text: &str) -> &str {
    let mut t = text.trim_start();
    loop {
        let end = t.find(' ').unwrap_or(t.len());
        let word = t[..end].trim_end_matches([',', ':']);
        let prose = word.len() >= 2
            && word.chars().all(|c| c.is_ascii_alphabetic())
            && !matches!(
                word,
                "or" | "and" | "sin" | "cos" | "tan" | "ln" | "log" | "exp" | "pi" | "sqrt"
            )
            && !is_number_word(word);
        if !prose || end == t.len() {
            return t;
        }
        t = t[end..].trim_start();
    }
}

fn is_number_word(word: &str) -> bool {
    crate::grade::words::number_word_value(&word.to_ascii_lowercase()).is_some()
}

/// Cuts a trailing clause: ", counting all 8 customers", " because ...".
fn cut_clause(text: &str) -> &str {
    let lower = text.to_ascii_lowercase();
    let mut end = CLAUSE_STARTS
        .iter()
        .filter_map(|c| lower.find(c))
        .min()
        .unwrap_or(text.len());
    // ", word" where the word is prose (not "and"/"or" joining a list).
    for (i, _) in text.match_indices(", ") {
        if i >= end {
            break;
        }
        let next: String = text[i + 2..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        if next.len() >= 3 && next != "and" && !is_number_word(&next) {
            end = i;
            break;
        }
    }
    &text[..end]
}
