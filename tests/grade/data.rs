//! Gold answers of the shared sample datasets graded against themselves, against
//! perturbed wrong answers, and against the full reference solutions.

use plantune_tui::grade::{ExtractRule, GradeOptions, grade, grade_with};
use serde_json::Value;

const FILES: &[&str] = &[
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/gsm8k_sample.jsonl"
    ),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/math_sample.jsonl"
    ),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/aime_sample.jsonl"
    ),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/olympiad_sample.jsonl"
    ),
];

struct Item {
    id: String,
    question: String,
    answer: String,
    solution: Option<String>,
}

fn items() -> Vec<Item> {
    let mut out = Vec::new();
    for path in FILES {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            let field = |k: &str| v[k].as_str().map(str::to_string);
            out.push(Item {
                id: field("id").unwrap_or_default(),
                question: field("question").unwrap_or_default(),
                answer: field("answer").unwrap_or_default(),
                solution: field("solution"),
            });
        }
    }
    out
}

/// A wrong answer of the same shape: the first digit changed (9 wraps to 0).
fn perturbed(answer: &str) -> String {
    let mut done = false;
    answer
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if !done => {
                done = true;
                char::from_digit((d + 1) % 10, 10).unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

#[test]
fn sample_data_has_all_sixty_items() {
    assert_eq!(items().len(), 60);
}

#[test]
fn boxed_gold_grades_correct() {
    for item in items() {
        let text = format!(
            "Working through the problem step by step.\nSo the final answer is $\\boxed{{{}}}$.",
            item.answer
        );
        let v = grade_with(
            &text,
            &item.answer,
            &GradeOptions {
                question: Some(&item.question),
            },
        );
        assert!(v.correct, "{}: {v:?}", item.id);
        assert_eq!(v.rule, Some(ExtractRule::Boxed), "{}", item.id);
    }
}

#[test]
fn answer_line_and_hashes_grade_correct() {
    for item in items() {
        let line = format!("Reasoning...\nThe answer is {}", item.answer);
        assert!(
            grade(&line, &item.answer).correct,
            "{}: answer line",
            item.id
        );
        let hashes = format!("Reasoning...\n#### {}", item.answer);
        assert!(grade(&hashes, &item.answer).correct, "{}: hashes", item.id);
    }
}

#[test]
fn perturbed_gold_grades_wrong() {
    for item in items() {
        let wrong = perturbed(&item.answer);
        assert_ne!(wrong, item.answer, "{}", item.id);
        let text = format!("So we get \\boxed{{{wrong}}}.");
        let v = grade_with(
            &text,
            &item.answer,
            &GradeOptions {
                question: Some(&item.question),
            },
        );
        assert!(
            !v.correct,
            "{}: {wrong} accepted for {}: {v:?}",
            item.id, item.answer
        );
    }
}

#[test]
fn truncated_gold_is_no_answer() {
    for item in items() {
        let text = format!("So we get \\boxed{{{}", item.answer);
        let v = grade(&text, &item.answer);
        assert!(!v.correct && v.extracted.is_none(), "{}: {v:?}", item.id);
    }
}

#[test]
fn reference_solutions_grade_correct() {
    let mut graded = 0;
    for item in items() {
        let Some(solution) = &item.solution else {
            continue;
        };
        let text = if item.id.starts_with("gsm8k") {
            format!("{solution}\n#### {}", item.answer)
        } else {
            solution.clone()
        };
        let v = grade_with(
            &text,
            &item.answer,
            &GradeOptions {
                question: Some(&item.question),
            },
        );
        if item.id.starts_with("math") || item.id.starts_with("gsm8k") {
            assert!(v.correct, "{}: {v:?}", item.id);
            graded += 1;
        }
    }
    assert_eq!(graded, 50);
}
