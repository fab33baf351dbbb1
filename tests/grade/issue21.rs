//! Issue 21's grading table: answers as small models write them, by category, each with
//! the reason for its verdict (`tests/fixtures/grade/issue21_cases.txt`).

use plantune_tui::grade::{GradeOptions, answers_equivalent, grade_with};
use std::collections::BTreeMap;

const TABLE: &str = include_str!("../fixtures/grade/issue21_cases.txt");

/// Every category the issue names, with the fewest cases each must have.
const CATEGORIES: &[(&str, usize)] = &[
    ("unboxed", 30),
    ("number_words", 15),
    ("multi_box", 10),
    ("unclosed_box", 8),
    ("tuples", 12),
    ("sets_order", 12),
    ("intervals", 12),
    ("equations", 12),
    ("units", 20),
    ("matrices", 15),
    ("bases", 12),
    ("choices", 12),
    ("complex", 12),
    ("plus_minus", 6),
    ("radicals", 10),
    ("strict", 20),
    ("misc", 10),
];

#[derive(Debug)]
struct Case<'a> {
    line: usize,
    kind: &'a str,
    expected: bool,
    category: &'a str,
    prediction: String,
    gold: &'a str,
    reason: &'a str,
}

fn cases() -> Vec<Case<'static>> {
    TABLE
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(" || ").map(str::trim).collect();
            assert_eq!(f.len(), 6, "line {}: expected 6 fields: {l}", i + 1);
            assert!(
                matches!(f[1], "T" | "F"),
                "line {}: verdict must be T or F",
                i + 1
            );
            assert!(!f[5].is_empty(), "line {}: a case needs its reason", i + 1);
            Case {
                line: i + 1,
                kind: f[0],
                expected: f[1] == "T",
                category: f[2],
                prediction: f[3].replace('⏎', "\n"),
                gold: f[4],
                reason: f[5],
            }
        })
        .collect()
}

#[test]
fn table_covers_every_category() {
    let all = cases();
    assert!(all.len() >= 300, "only {} cases", all.len());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &all {
        *counts.entry(c.category).or_default() += 1;
        assert!(
            CATEGORIES.iter().any(|(name, _)| *name == c.category),
            "line {}: unknown category {}",
            c.line,
            c.category
        );
    }
    for (name, min) in CATEGORIES {
        let n = counts.get(name).copied().unwrap_or(0);
        assert!(n >= *min, "category {name}: {n} cases, want {min}");
    }
    let falses = all.iter().filter(|c| !c.expected).count();
    assert!(falses >= 80, "only {falses} expected-false cases");
}

#[test]
fn every_case_grades_as_labelled() {
    let opts = GradeOptions::default();
    let mut failures = Vec::new();
    let all = cases();
    for c in &all {
        let (got, detail) = match c.kind {
            "eq" => {
                let (equal, reason) = answers_equivalent(&c.prediction, c.gold, &opts);
                (equal, reason)
            }
            "grade" => {
                let v = grade_with(&c.prediction, c.gold, &opts);
                (
                    v.correct,
                    format!("{:?} {:?}: {}", v.rule, v.extracted, v.reason),
                )
            }
            other => panic!("line {}: unknown kind {other}", c.line),
        };
        if got != c.expected {
            failures.push(format!(
                "line {} [{}] {:?} vs {:?}: want {} ({}), got {detail}",
                c.line, c.category, c.prediction, c.gold, c.expected, c.reason
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
