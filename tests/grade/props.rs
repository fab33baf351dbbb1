//! Property tests: grading arbitrary or adversarial text never panics and stays cheap.
//!
//! The time bound is a guard against pathological blow-ups (exponential backtracking,
//! unbounded exponents, `10^{10^{10}}` evaluated exactly), which would take minutes or
//! forever; it sits five orders of magnitude above a grade's typical ~5 µs so a busy CI
//! machine cannot trip it. Throughput is measured by `plantune-tui bench grade`.

use plantune_tui::grade::{GradeOptions, answers_equivalent, extract_answer, grade, grade_with};
use proptest::prelude::*;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(500);

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

const PIECES: &[&str] = &[
    "\\frac",
    "\\dfrac",
    "\\sqrt",
    "\\sqrt[3]",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\\{",
    "\\}",
    "^",
    "_",
    "1",
    "2",
    "0",
    "9",
    ".",
    ",",
    "-",
    "+",
    "*",
    "/",
    "!",
    "x",
    "y",
    "e",
    "\\pi",
    "\\infty",
    "\\pm",
    "\\boxed{",
    "\\fbox",
    "\\text{",
    "cm",
    "\\%",
    "%",
    "$",
    "\\$",
    "=",
    "<",
    "\\leq",
    "\\cup",
    "&",
    "\\\\",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "\\left(",
    "\\right)",
    "10^{",
    "\\binom",
    "\\ln",
    "\\log_",
    "\\sin",
    "or",
    " ",
    "#### ",
    "The answer is ",
    "Answer:",
    "^\\circ",
    "|",
    "1,000",
    "\\!",
    "\\,",
    "\\begin{array}{cc}",
    "\\end{array}",
    "\\mathbb",
    "°",
    "−",
    "e5",
    "E-999999999999",
];

fn latexish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(pred in ".{0,300}", gold in ".{0,60}") {
        let (v, took) = timed(|| grade(&pred, &gold));
        prop_assert!(took < BUDGET, "{took:?} for {pred:?} vs {gold:?}");
        prop_assert_eq!(v.extracted.is_none(), v.rule.is_none());
        if v.extracted.is_none() {
            prop_assert!(!v.correct);
            prop_assert!(v.reason.starts_with("no answer"));
        }
    }

    #[test]
    fn latex_soup_never_panics(pred in latexish(), gold in latexish(), q in prop::option::of("[a-z %]{0,20}")) {
        let opts = GradeOptions { question: q.as_deref() };
        let ((equal, reason), took) = timed(|| answers_equivalent(&pred, &gold, &opts));
        prop_assert!(took < BUDGET, "{took:?} for {pred:?} vs {gold:?}");
        prop_assert!(!reason.is_empty());
        // Equal answers stay equal when swapped only for symmetric cases; here just check
        // that an answer always equals itself unless it is empty.
        let (self_equal, self_reason) = answers_equivalent(&gold, &gold, &opts);
        prop_assert!(self_equal || gold.trim().is_empty() || self_reason.starts_with("no answer"),
            "{gold:?} not equal to itself: {self_reason}");
        let _ = equal;
        let (_, took) = timed(|| grade_with(&pred, &gold, &opts));
        prop_assert!(took < BUDGET);
    }

    #[test]
    fn boxed_integers_round_trip(n in any::<i64>(), m in any::<i64>()) {
        let text = format!("so the result is \\boxed{{{n}}}.");
        prop_assert!(grade(&text, &n.to_string()).correct);
        prop_assert_eq!(grade(&text, &m.to_string()).correct, n == m);
        let found = extract_answer(&text).map(|e| e.text);
        prop_assert_eq!(found, Some(n.to_string()));
    }

    #[test]
    fn fractions_match_their_decimal_value(num in 1i64..2000, den in 1i64..64) {
        let frac = format!("\\frac{{{num}}}{{{den}}}");
        let doubled = format!("\\frac{{{}}}{{{}}}", num * 2, den * 2);
        let opts = GradeOptions::default();
        prop_assert!(answers_equivalent(&doubled, &frac, &opts).0);
        let next = format!("\\frac{{{}}}{{{den}}}", num + 1);
        prop_assert!(!answers_equivalent(&next, &frac, &opts).0);
    }
}

#[test]
fn pathological_inputs_are_cheap_and_safe() {
    let cases = [
        "10^{10^{10}}".to_string(),
        "2^{2^{2^{2^{2^{2^{2}}}}}}".to_string(),
        "9999999999999999999999999999999999999999!".to_string(),
        "170!".to_string(),
        "\\binom{1000000000}{500000000}".to_string(),
        "{".repeat(10_000),
        format!("\\boxed{{{}}}", "{".repeat(5_000) + &"}".repeat(5_000)),
        "(".repeat(5_000) + "1" + &")".repeat(5_000),
        "\\frac{".repeat(3_000) + "1",
        "\\sqrt".repeat(3_000) + "2",
        "-".repeat(10_000) + "1",
        "x^".repeat(3_000) + "x",
        "\\text{".repeat(5_000) + "cm" + &"}".repeat(5_000),
        "1,".repeat(5_000) + "1",
        "\\{".to_string() + &"1,".repeat(800) + "1\\}",
        "1+".repeat(900) + "1",
        "\\boxed".repeat(10_000),
        "\\boxedx".repeat(10_000) + "7",
        "1e99999999999999999999".to_string(),
        "0.".to_string() + &"0".repeat(3_000) + "1",
        "x".repeat(20_000),
        "The answer is ".repeat(2_000),
        "#".repeat(10_000),
    ];
    for case in &cases {
        for gold in [case.as_str(), "1", "x"] {
            let (_, took) = timed(|| grade(case, gold));
            assert!(
                took < BUDGET * 4,
                "{took:?} for {}...",
                &case[..case.len().min(40)]
            );
            let (_, took) = timed(|| answers_equivalent(case, gold, &GradeOptions::default()));
            assert!(
                took < BUDGET * 4,
                "{took:?} for {}...",
                &case[..case.len().min(40)]
            );
        }
    }
    assert!(!answers_equivalent("10^{10^{10}}", "10^{10^{11}}", &GradeOptions::default()).0);
    assert!(answers_equivalent("10^{10^{10}}", "10^{10^{10}}", &GradeOptions::default()).0);
}
