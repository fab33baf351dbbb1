//! Answer extraction and mathematical equivalence.
//!
//! Every reward, accuracy figure and "correct" mark goes through [`grade`]: it extracts
//! the final answer from free model text ([`extract_answer`]) and compares it with the
//! gold answer ([`answers_equivalent`]) by value, not by spelling — fractions, radicals,
//! tuples, sets, intervals, inequalities, matrices and simple symbolic expressions. The
//! verdict carries the rule that decided so a wrong mark can be explained.
//!
//! Cost is bounded per call: no regex, linear normalisation, a depth-limited parser and
//! exact arithmetic that falls back to f64 instead of growing without bound.

pub mod bench;
mod equiv;
mod eval;
mod extract;
pub mod file;
mod normalize;
mod num;
mod parse;
mod units;
mod words;

use serde::Serialize;
use std::fmt;

/// Context for equivalence decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GradeOptions<'a> {
    /// The question text; when it asks for a percent, `10\%` matches `10` but not `0.1`.
    pub question: Option<&'a str>,
}

/// Which extraction rule found the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractRule {
    /// The last `\boxed{...}` or `\fbox{...}`.
    Boxed,
    /// A GSM8K-style `#### answer` line.
    Hashes,
    /// "The answer is ..." / "Answer: ...".
    AnswerLine,
    /// The value stated by the final sentence ("So n = 4, 3, 2", "the graph is an ellipse").
    FinalSentence,
    /// The last number in the text (last resort).
    LastNumber,
}

impl fmt::Display for ExtractRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExtractRule::Boxed => "boxed",
            ExtractRule::Hashes => "hashes",
            ExtractRule::AnswerLine => "answer_line",
            ExtractRule::FinalSentence => "final_sentence",
            ExtractRule::LastNumber => "last_number",
        })
    }
}

/// An answer found in model text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extraction {
    pub text: String,
    pub rule: ExtractRule,
}

/// The grade of one prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub correct: bool,
    /// The extracted answer, `None` when the text holds no answer.
    pub extracted: Option<String>,
    pub rule: Option<ExtractRule>,
    /// Why: e.g. `numeric: 0.5 = 1/2` or `no answer: unclosed \boxed{`.
    pub reason: String,
}

/// Finds the final answer in free model text; `None` when there is none (including a
/// `\boxed{` the text ends inside, such as a cut-off `\boxed{\frac{1}{2`).
pub fn extract_answer(text: &str) -> Option<Extraction> {
    extract::extract(text).ok()
}

/// Compares an already extracted answer with the gold answer; returns the verdict and the
/// rule that decided it.
pub fn answers_equivalent(predicted: &str, gold: &str, opts: &GradeOptions) -> (bool, String) {
    let percent_question = opts.question.is_some_and(equiv::asks_for_percent);
    let outcome = equiv::equivalent(predicted, gold, percent_question);
    (outcome.equal, outcome.reason)
}

/// Grades free model text against a gold answer.
pub fn grade(prediction_text: &str, gold: &str) -> Verdict {
    grade_with(prediction_text, gold, &GradeOptions::default())
}

/// [`grade`] with question context.
pub fn grade_with(prediction_text: &str, gold: &str, opts: &GradeOptions) -> Verdict {
    match extract::extract(prediction_text) {
        Ok(found) => {
            let (correct, reason) = answers_equivalent(&found.text, gold, opts);
            Verdict {
                correct,
                extracted: Some(found.text),
                rule: Some(found.rule),
                reason,
            }
        }
        Err(missing) => Verdict {
            correct: false,
            extracted: None,
            rule: None,
            reason: missing.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grade_reports_rule_and_reason() {
        let v = grade("so it is \\boxed{0.5}", "\\frac{1}{2}");
        assert!(v.correct, "{v:?}");
        assert_eq!(v.rule, Some(ExtractRule::Boxed));
        assert_eq!(v.extracted.as_deref(), Some("0.5"));
        assert_eq!(v.reason, "numeric: 0.5 = 1/2");
    }

    #[test]
    fn truncated_box_is_wrong_with_reason() {
        let v = grade("thus \\boxed{\\frac{1}{2", "\\frac12");
        assert!(!v.correct);
        assert_eq!(v.extracted, None);
        assert_eq!(v.reason, "no answer: unclosed \\boxed{");
    }

    #[test]
    fn rule_serializes_snake_case() {
        let json = serde_json::to_string(&ExtractRule::AnswerLine).ok();
        assert_eq!(json.as_deref(), Some("\"answer_line\""));
        assert_eq!(ExtractRule::LastNumber.to_string(), "last_number");
    }

    #[test]
    fn percent_context_decides() {
        let q = GradeOptions {
            question: Some("What percent of the class passed?"),
        };
        assert!(answers_equivalent("10\\%", "10", &q).0);
        assert!(!answers_equivalent("0.1", "10\\%", &q).0);
        // A decimal is not a percentage, with or without the question.
        assert!(!answers_equivalent("0.1", "10\\%", &GradeOptions::default()).0);
        assert!(answers_equivalent("10", "10\\%", &GradeOptions::default()).0);
    }
}
