//! The synthetic task domain: determinism, correct gold answers, the difficulty split
//! and the train/test separation.

use std::collections::HashSet;

use plantune_tui::data::synth::{MAX_VALUE, Op, SynthConfig, SynthError, SynthMeta, generate};

fn config(seed: u64) -> SynthConfig {
    SynthConfig {
        seed,
        train: 400,
        test_id: 100,
        test_ood: 100,
        train_steps: 2..=4,
        ood_steps: 5..=6,
        max_operand: 20,
    }
}

#[test]
fn same_seed_gives_identical_output_and_other_seeds_differ() {
    let first = generate(&config(7)).expect("generate");
    let second = generate(&config(7)).expect("generate");
    assert_eq!(first, second);
    let other = generate(&config(8)).expect("generate");
    assert_eq!(other.len(), first.len());
    let differing = first
        .iter()
        .zip(&other)
        .filter(|(a, b)| a.question != b.question)
        .count();
    assert!(differing > first.len() / 2, "only {differing} differ");
}

#[test]
fn split_sizes_names_and_ids() {
    let problems = generate(&config(1)).expect("generate");
    let count = |split: &str| problems.iter().filter(|p| p.split == split).count();
    assert_eq!(count("train"), 400);
    assert_eq!(count("test_id"), 100);
    assert_eq!(count("test_ood"), 100);
    assert!(problems.iter().all(|p| p.dataset == "synth"));
    assert_eq!(problems[0].external_id, "synth-1/train/0");
    let ids: HashSet<&str> = problems.iter().map(|p| p.external_id.as_str()).collect();
    assert_eq!(ids.len(), problems.len());
}

#[test]
fn gold_answers_match_the_recomputed_operations() {
    for problem in generate(&config(3)).expect("generate") {
        let meta = SynthMeta::from_metadata(&problem.metadata).expect("metadata");
        assert_eq!(meta.ops.len() as u32, meta.steps);
        let values = meta.values().expect("every operation is valid");
        assert!(
            values
                .iter()
                .all(|&v| (0..=i64::from(MAX_VALUE)).contains(&v))
        );
        assert_eq!(
            meta.answer().map(|a| a.to_string()),
            Some(problem.gold_answer.clone())
        );
        let solution = problem.gold_solution.as_deref().expect("solution");
        let lines: Vec<&str> = solution.lines().collect();
        assert_eq!(lines.len() as u32, meta.steps + 1, "{solution}");
        assert_eq!(
            lines.last().copied(),
            Some(format!("#### {}", problem.gold_answer).as_str())
        );
        for (line, (step, value)) in lines.iter().zip(meta.ops.iter().zip(&values)) {
            assert!(line.contains(&format!("{} {} = {value} ", step.op.symbol(), step.operand)));
        }
        for step in &meta.ops {
            assert!(
                problem.question.contains(&step.operand.to_string()),
                "operand {} missing from {}",
                step.operand,
                problem.question
            );
        }
    }
}

#[test]
fn ood_problems_need_more_steps_than_any_training_problem() {
    let problems = generate(&config(5)).expect("generate");
    let steps = |split: &str| -> Vec<u32> {
        problems
            .iter()
            .filter(|p| p.split == split)
            .map(|p| {
                SynthMeta::from_metadata(&p.metadata)
                    .expect("metadata")
                    .steps
            })
            .collect()
    };
    let max_train = steps("train").into_iter().max().expect("train");
    let min_ood = steps("test_ood").into_iter().min().expect("ood");
    assert_eq!(max_train, 4);
    assert!(min_ood > max_train);
    assert!(steps("test_id").iter().all(|s| (2..=4).contains(s)));
    let all_ops: HashSet<Op> = problems
        .iter()
        .flat_map(|p| SynthMeta::from_metadata(&p.metadata).expect("metadata").ops)
        .map(|step| step.op)
        .collect();
    assert_eq!(all_ops.len(), 4, "every operation kind appears");
}

#[test]
fn train_and_test_questions_never_coincide() {
    let problems = generate(&config(11)).expect("generate");
    let questions: HashSet<&str> = problems.iter().map(|p| p.question.as_str()).collect();
    assert_eq!(questions.len(), problems.len());
}

#[test]
fn test_split_is_independent_of_test_sizes() {
    let small = generate(&SynthConfig {
        test_id: 10,
        ..config(2)
    })
    .expect("generate");
    let large = generate(&config(2)).expect("generate");
    let train = |all: &[plantune_tui::workspace::records::NewProblem]| {
        all.iter()
            .filter(|p| p.split == "train")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(train(&small), train(&large));
}

#[test]
fn invalid_configurations_are_rejected() {
    let overlap = SynthConfig {
        ood_steps: 4..=6,
        ..config(0)
    };
    assert_eq!(
        generate(&overlap),
        Err(SynthError::OodNotHarder {
            ood_start: 4,
            train_end: 4
        })
    );
    let tiny = SynthConfig {
        max_operand: 1,
        ..config(0)
    };
    assert_eq!(generate(&tiny), Err(SynthError::BadMaxOperand(1)));
    let empty = SynthConfig {
        train_steps: std::ops::RangeInclusive::new(3, 2),
        ..config(0)
    };
    assert!(matches!(
        generate(&empty),
        Err(SynthError::BadStepRange { which: "train", .. })
    ));
    let zero = SynthConfig {
        ood_steps: 0..=6,
        ..config(0)
    };
    assert!(matches!(
        generate(&zero),
        Err(SynthError::BadStepRange { which: "ood", .. })
    ));
    let too_many = SynthConfig {
        train: 100_000,
        train_steps: 1..=1,
        ood_steps: 2..=2,
        max_operand: 2,
        ..config(0)
    };
    assert!(matches!(
        generate(&too_many),
        Err(SynthError::TooFewDistinct { split: "train", .. })
    ));
}
