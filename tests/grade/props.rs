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

/// Answers in exact forms a human reads the same both ways round: integers, fractions,
/// decimals of exact value, radicals, expressions, tuples, lists, sets and intervals.
/// (Rounded decimal golds are deliberately one-sided: gold `0.333` accepts `1/3`, but
/// gold `1/3` does not accept the truncation `0.333`; those are left out here.)
fn exact_answer() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        (-30i64..30).prop_map(|n| n.to_string()),
        (1i64..20, 1i64..9).prop_map(|(a, b)| format!("\\frac{{{a}}}{{{b}}}")),
        (-9i64..9).prop_map(|n| format!("{}.5", n)),
        (2i64..30).prop_map(|n| format!("\\sqrt{{{n}}}")),
        (1i64..9).prop_map(|n| format!("{n}x + 1")),
        (1i64..5).prop_map(|n| format!("x^{n}")),
        Just("\\pi".to_string()),
        Just("i".to_string()),
        Just("three".to_string()),
        Just("\\textbf{(B)}".to_string()),
        Just("1011_2".to_string()),
    ];
    prop_oneof![
        atom.clone(),
        prop::collection::vec(atom.clone(), 2..4).prop_map(|v| format!("({})", v.join(", "))),
        prop::collection::vec(atom.clone(), 2..4).prop_map(|v| v.join(", ")),
        prop::collection::vec(atom.clone(), 1..4).prop_map(|v| format!("\\{{{}\\}}", v.join(", "))),
        (atom.clone(), atom).prop_map(|(a, b)| format!("[{a}, {b})")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn equivalence_is_symmetric(a in exact_answer(), b in exact_answer()) {
        let opts = GradeOptions::default();
        let (ab, why_ab) = answers_equivalent(&a, &b, &opts);
        let (ba, why_ba) = answers_equivalent(&b, &a, &opts);
        prop_assert_eq!(ab, ba, "{:?} vs {:?}: {} / {}", a, b, why_ab, why_ba);
        prop_assert!(answers_equivalent(&a, &a, &opts).0, "{:?} not equal to itself", a);
    }

    #[test]
    fn shuffled_set_elements_stay_equal(
        items in prop::collection::vec(-50i64..50, 1..7),
        seed in any::<u64>(),
        drop in any::<bool>(),
    ) {
        let opts = GradeOptions::default();
        let mut shuffled = items.clone();
        // Fisher-Yates with a splitmix-style generator seeded by the case.
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (state >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
        }
        let join = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let gold_set = format!("\\{{{}\\}}", join(&items));
        let shuffled_set = format!("\\{{{}\\}}", join(&shuffled));
        prop_assert!(answers_equivalent(&shuffled_set, &gold_set, &opts).0);
        // A bare list of solutions is order-free as well, against a set or a list gold
        // (one bare number is not a set: `1` ≠ `\{1\}` stays as the table has it).
        if items.len() > 1 {
            prop_assert!(answers_equivalent(&join(&shuffled), &gold_set, &opts).0);
            prop_assert!(answers_equivalent(&join(&shuffled), &join(&items), &opts).0);
        }
        // Several boxes together form the same answer.
        if items.len() > 1 {
            let boxed = shuffled.iter().map(|n| format!("$\\boxed{{{n}}}$")).collect::<Vec<_>>().join(" and ");
            let text = format!("The solutions are {boxed}.");
            prop_assert!(grade(&text, &gold_set).correct);
        }
        if drop && items.len() > 1 {
            // Losing a distinct element breaks equality.
            let missing = shuffled[0];
            let rest: Vec<i64> = shuffled.iter().copied().filter(|n| *n != missing).collect();
            if !rest.is_empty() {
                let smaller = format!("\\{{{}\\}}", join(&rest));
                prop_assert!(!answers_equivalent(&smaller, &gold_set, &opts).0);
            }
        }
    }

    #[test]
    fn tuples_keep_their_order(items in prop::collection::vec(-50i64..50, 2..6)) {
        let opts = GradeOptions::default();
        let join = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let mut reversed = items.clone();
        reversed.reverse();
        let (pred, gold) = (format!("({})", join(&reversed)), format!("({})", join(&items)));
        let equal = answers_equivalent(&pred, &gold, &opts).0;
        prop_assert_eq!(equal, reversed == items);
    }
}
