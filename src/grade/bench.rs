//! Grading throughput (`plantune-tui bench grade`).

use super::{GradeOptions, grade_with};
use serde::Serialize;
use std::time::Instant;

/// Grades measured by the CLI benchmark by default.
pub const DEFAULT_BENCH_GRADES: usize = 200_000;

/// Result of one throughput run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GradeBench {
    pub grades: usize,
    pub correct: usize,
    pub seconds: f64,
    pub grades_per_second: f64,
}

/// (model text body, gold) pairs covering every extraction rule and answer kind.
const CASES: &[(&str, &str)] = &[
    ("\\boxed{42}", "42"),
    ("\\boxed{\\frac{1}{2}}", "0.5"),
    ("\\boxed{\\dfrac{3}{4}}", "\\frac34"),
    ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}"),
    ("\\boxed{(2, -2)}", "(2,-2)"),
    ("\\boxed{(1, 3]}", "(1,3]"),
    ("\\boxed{x > 3}", "(3, \\infty)"),
    ("\\boxed{\\{1, 2, 3\\}}", "\\{3,2,1\\}"),
    ("\\boxed{3x + 8}", "8 + 3x"),
    ("\\boxed{x^2 - 1}", "(x-1)(x+1)"),
    (
        "\\boxed{\\begin{pmatrix} 6 \\\\ -33 \\end{pmatrix}}",
        "\\begin{pmatrix} 6 \\\\ -33 \\end{pmatrix}",
    ),
    ("\\boxed{10\\%}", "10"),
    ("\\boxed{90^\\circ}", "90"),
    ("\\boxed{\\text{(B)}}", "B"),
    ("\\boxed{1,000}", "1000"),
    ("\\boxed{3\\frac{1}{2}}", "\\frac72"),
    ("\\boxed{2\\pi}", "6.2832"),
    ("\\boxed{1.5 \\times 10^{3}}", "1500"),
    ("\\boxed{\\frac{1}{2", "0.5"),
    ("#### 1,234", "1234"),
    ("#### 17", "18"),
    ("The answer is $\\frac{9}{11}$.", "\\frac{9}{11}"),
    ("Answer: x = 5", "5"),
    ("so she has 18 apples left", "18"),
    ("so the total is 0.411", "0.411"),
    ("\\boxed{1 \\pm \\sqrt{2}}", "1+\\sqrt2, 1-\\sqrt2"),
    ("\\boxed{12}", "\\frac12"),
    ("\\boxed{\\text{Monday}}", "\\text{monday}"),
];

const PREAMBLE: &str = "Let me work through this step by step. First we set up the equation \
    from the problem statement, then simplify: 3 + 4 = 7 and 7 * 6 = 42. Checking the \
    constraints again, every case is consistent, so we can state the final result.\n";

/// Builds the benchmark corpus: each case preceded by a short worked solution.
pub fn mixed_corpus() -> Vec<(String, String)> {
    CASES
        .iter()
        .map(|(body, gold)| (format!("{PREAMBLE}{body}"), (*gold).to_string()))
        .collect()
}

/// Grades `total` items cycling over [`mixed_corpus`] on the calling thread and reports
/// throughput.
pub fn bench_grade(total: usize) -> GradeBench {
    let corpus = mixed_corpus();
    let opts = GradeOptions::default();
    let mut correct = 0;
    let start = Instant::now();
    for (prediction, gold) in corpus.iter().cycle().take(total) {
        let verdict = grade_with(
            std::hint::black_box(prediction),
            std::hint::black_box(gold),
            &opts,
        );
        correct += usize::from(verdict.correct);
    }
    let seconds = start.elapsed().as_secs_f64();
    GradeBench {
        grades: total,
        correct,
        seconds,
        grades_per_second: if seconds > 0.0 {
            total as f64 / seconds
        } else {
            f64::INFINITY
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_verdicts_are_as_designed() {
        // All but the truncated box, "17 vs 18" and "12 vs 1/2" are correct.
        let corpus = mixed_corpus();
        let run = bench_grade(corpus.len());
        assert_eq!(run.grades, corpus.len());
        assert_eq!(run.correct, corpus.len() - 3);
    }
}
