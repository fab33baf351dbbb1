//! A training problem that also appears in a benchmark inflates its score: warn when a
//! benchmark question's normalised text equals any training question's.

use std::collections::HashSet;

use crate::workspace::records::Problem;

/// Lowercase letters and digits only, so spacing, punctuation, LaTeX dollar signs and
/// case differences do not hide a copy.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// External ids of the benchmark problems whose question is also a training question.
pub fn contaminated<'a>(train: &[Problem], benchmark: &'a [Problem]) -> Vec<&'a str> {
    let seen: HashSet<String> = train
        .iter()
        .map(|p| normalise(&p.fields.question))
        .filter(|q| !q.is_empty())
        .collect();
    benchmark
        .iter()
        .filter(|p| seen.contains(&normalise(&p.fields.question)))
        .map(|p| p.fields.external_id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::records::NewProblem;

    fn problem(id: &str, question: &str) -> Problem {
        Problem {
            id: 0,
            fields: NewProblem {
                dataset: "d".into(),
                split: "s".into(),
                external_id: id.into(),
                question: question.into(),
                gold_answer: "1".into(),
                gold_solution: None,
                metadata: serde_json::json!({}),
            },
        }
    }

    #[test]
    fn copies_are_found_through_formatting_differences() {
        let train = vec![
            problem("t1", "What is $2+2$?"),
            problem("t2", "Name a prime."),
        ];
        let bench = vec![
            problem("b1", "what is 2 + 2 ?"),
            problem("b2", "What is 3+3?"),
        ];
        assert_eq!(contaminated(&train, &bench), vec!["b1"]);
    }
}
