//! Table-driven grading cases: `tests/fixtures/grade/cases.txt`.

use plantune_tui::grade::{
    ExtractRule, GradeOptions, answers_equivalent, extract_answer, grade_with,
};

const TABLE: &str = include_str!("../fixtures/grade/cases.txt");

#[derive(Debug)]
struct Case<'a> {
    line: usize,
    kind: &'a str,
    expected: &'a str,
    input: String,
    gold: &'a str,
    question: Option<&'a str>,
}

fn cases() -> Vec<Case<'static>> {
    TABLE
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let fields: Vec<&str> = l.split("||").map(str::trim).collect();
            assert!(
                (4..=5).contains(&fields.len()),
                "line {}: expected 4 or 5 fields: {l}",
                i + 1
            );
            Case {
                line: i + 1,
                kind: fields[0],
                expected: fields[1],
                input: fields[2].replace('⏎', "\n"),
                gold: fields[3],
                question: fields.get(4).copied(),
            }
        })
        .collect()
}

fn rule_name(rule: ExtractRule) -> String {
    rule.to_string()
}

#[test]
fn table_has_at_least_400_cases_of_every_kind() {
    let all = cases();
    assert!(all.len() >= 400, "only {} cases", all.len());
    for kind in ["eq", "grade", "extract"] {
        assert!(
            all.iter().filter(|c| c.kind == kind).count() >= 30,
            "too few {kind} cases"
        );
    }
    let falses = all.iter().filter(|c| c.expected == "F").count();
    assert!(falses >= 100, "only {falses} expected-false cases");
}

#[test]
fn every_table_case_grades_as_expected() {
    let mut failures = Vec::new();
    let all = cases();
    for case in &all {
        let opts = GradeOptions {
            question: case.question,
        };
        let (ok, detail) = match case.kind {
            "eq" => {
                let (equal, reason) = answers_equivalent(&case.input, case.gold, &opts);
                let want = case.expected == "T";
                (equal == want, reason)
            }
            "grade" => {
                let verdict = grade_with(&case.input, case.gold, &opts);
                let want = case.expected == "T";
                (verdict.correct == want, format!("{verdict:?}"))
            }
            "extract" => match extract_answer(&case.input) {
                Some(found) => (
                    rule_name(found.rule) == case.expected && found.text == case.gold,
                    format!("{} {:?}", found.rule, found.text),
                ),
                None => (case.expected == "none", "none".to_string()),
            },
            other => (false, format!("unknown kind {other}")),
        };
        if !ok {
            failures.push(format!(
                "line {}: {} {} {:?} vs {:?}: got {detail}",
                case.line, case.kind, case.expected, case.input, case.gold
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

#[test]
fn reasons_name_the_deciding_rule() {
    let opts = GradeOptions::default();
    let (_, r) = answers_equivalent("0.5", "\\frac{1}{2}", &opts);
    assert!(r.starts_with("numeric"), "{r}");
    let (_, r) = answers_equivalent("(1, 2]", "[1, 2]", &opts);
    assert!(r.contains("interval ends"), "{r}");
    let (_, r) = answers_equivalent("x^2-1", "(x-1)(x+1)", &opts);
    assert!(r.starts_with("symbolic"), "{r}");
    let (_, r) = answers_equivalent("\\{2, 1\\}", "\\{1,2\\}", &opts);
    assert!(r.starts_with("set"), "{r}");
    let (_, r) = answers_equivalent("\\text{Sally}", "Evelyn", &opts);
    assert!(r.starts_with("string"), "{r}");
}
