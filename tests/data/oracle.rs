//! The oracle teacher: determinism, the configured error rate, informative judge
//! scores and the shape of every candidate.

use std::collections::HashMap;

use plantune_tui::data::last_boxed;
use plantune_tui::data::synth::{Reference, SynthConfig, SynthMeta, Twists, generate};
use plantune_tui::teacher::oracle::{
    Fault, OracleConfig, OracleError, oracle_candidates, oracle_drafts,
};
use plantune_tui::workspace::records::{NewProblem, Problem};
use serde_json::json;

fn problems(count: usize, seed: u64) -> Vec<Problem> {
    problems_with(count, seed, Twists::default())
}

fn problems_with(count: usize, seed: u64, twists: Twists) -> Vec<Problem> {
    let cfg = SynthConfig {
        seed,
        train: count,
        test_id: 0,
        test_ood: 0,
        train_steps: 2..=6,
        ood_steps: 7..=7,
        max_operand: 20,
        twists,
    };
    generate(&cfg)
        .expect("generate")
        .into_iter()
        .enumerate()
        .map(|(index, fields)| Problem {
            id: index as i64 + 1,
            fields,
        })
        .collect()
}

fn boxed_integer(execution: &str) -> i64 {
    last_boxed(execution)
        .and_then(|inner| inner.parse().ok())
        .unwrap_or_else(|| panic!("no integer \\boxed{{}} in {execution}"))
}

#[test]
fn candidates_are_deterministic_per_seed() {
    let problems = problems(20, 4);
    let cfg = OracleConfig::default();
    for problem in &problems {
        let first = oracle_candidates(problem, &cfg).expect("oracle");
        assert_eq!(first, oracle_candidates(problem, &cfg).expect("oracle"));
        assert_eq!(first.len(), 5);
    }
    let other = OracleConfig {
        seed: 1,
        ..OracleConfig::default()
    };
    let differing = problems
        .iter()
        .filter(|p| {
            oracle_candidates(p, &cfg).expect("oracle")
                != oracle_candidates(p, &other).expect("oracle")
        })
        .count();
    assert!(differing > 15, "only {differing} of 20 differ across seeds");
}

#[test]
fn a_candidate_depends_only_on_its_own_plan_index() {
    let problem = &problems(1, 9)[0];
    let three = OracleConfig {
        plans_per_problem: 3,
        ..OracleConfig::default()
    };
    let eight = OracleConfig {
        plans_per_problem: 8,
        ..OracleConfig::default()
    };
    let few = oracle_candidates(problem, &three).expect("oracle");
    let many = oracle_candidates(problem, &eight).expect("oracle");
    assert_eq!(few[..], many[..3]);
    assert!(
        many.iter()
            .enumerate()
            .all(|(i, c)| c.plan_index == i as u32)
    );
}

#[test]
fn measured_error_rate_matches_the_configured_rate() {
    let problems = problems(5000, 21);
    for error_rate in [0.3, 0.1] {
        let cfg = OracleConfig {
            seed: 5,
            error_rate,
            plans_per_problem: 5,
        };
        let mut total = 0usize;
        let mut wrong = 0usize;
        let mut faults: HashMap<Option<Fault>, usize> = HashMap::new();
        for problem in &problems {
            let gold: i64 = problem.fields.gold_answer.parse().expect("integer gold");
            for draft in oracle_drafts(problem, &cfg).expect("oracle") {
                total += 1;
                let is_wrong = boxed_integer(&draft.candidate.execution) != gold;
                assert_eq!(is_wrong, draft.fault.is_some(), "{:?}", draft.fault);
                wrong += usize::from(is_wrong);
                *faults.entry(draft.fault).or_default() += 1;
            }
        }
        let measured = wrong as f64 / total as f64;
        assert!(
            (measured - error_rate).abs() <= 0.02,
            "measured {measured:.4} for configured {error_rate}"
        );
        for kind in [Fault::WrongStep, Fault::WrongArithmetic, Fault::SkippedStep] {
            let share = faults.get(&Some(kind)).copied().unwrap_or(0) as f64 / wrong as f64;
            assert!(
                (share - 1.0 / 3.0).abs() < 0.05,
                "{kind:?} is {share:.3} of errors"
            );
        }
    }
}

#[test]
fn judge_scores_are_informative_and_most_problems_have_a_good_correct_plan() {
    let problems = problems(1000, 33);
    let cfg = OracleConfig::default();
    let mut with_good_correct = 0;
    let mut scores: HashMap<Option<Fault>, Vec<i32>> = HashMap::new();
    for problem in &problems {
        let drafts = oracle_drafts(problem, &cfg).expect("oracle");
        if drafts
            .iter()
            .any(|d| d.fault.is_none() && d.candidate.judge_score.is_some_and(|s| s >= 80))
        {
            with_good_correct += 1;
        }
        for draft in drafts {
            let score = draft.candidate.judge_score.expect("scored");
            assert!((-100..=100).contains(&score));
            scores.entry(draft.fault).or_default().push(score);
        }
    }
    assert!(
        with_good_correct >= 900,
        "only {with_good_correct} of 1000 problems have a correct plan scored >= 80"
    );
    let mean = |fault: Option<Fault>| {
        let list = &scores[&fault];
        list.iter().map(|&s| f64::from(s)).sum::<f64>() / list.len() as f64
    };
    let clean = mean(None);
    // The judge sees plans only: arithmetic slips look as good as clean work...
    assert!((mean(Some(Fault::WrongArithmetic)) - clean).abs() < 5.0);
    // ...while wrong or missing steps are usually caught, but not always.
    for visible in [Fault::WrongStep, Fault::SkippedStep] {
        assert!(clean - mean(Some(visible)) > 30.0, "{visible:?}");
        assert!(scores[&Some(visible)].iter().any(|&s| s >= 80));
    }
    assert!(scores[&None].iter().any(|&s| s < 70));
}

#[test]
fn every_candidate_is_complete_and_well_formed() {
    let cfg = OracleConfig::default();
    for problem in problems(300, 2) {
        for candidate in oracle_candidates(&problem, &cfg).expect("oracle") {
            assert_eq!(candidate.problem_id, problem.id);
            assert_eq!(candidate.teacher, "oracle");
            for text in [
                &candidate.constraints,
                &candidate.plan,
                &candidate.execution,
                &candidate.judge_reason,
            ] {
                assert!(!text.trim().is_empty());
            }
            assert!(candidate.constraints.contains("Explicit constraints:"));
            assert!(candidate.constraints.contains("Implicit constraints:"));
            assert!(!candidate.plan_steps.is_empty());
            assert!(candidate.plan_steps.iter().all(|s| !s.trim().is_empty()));
            let numbered: Vec<String> = candidate
                .plan_steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("{}. {s}", i + 1))
                .collect();
            assert_eq!(candidate.plan, numbered.join("\n"));
            assert!(!candidate.plan.contains('='), "a plan computes nothing");
            let last_line = candidate.execution.lines().last().expect("lines");
            assert!(last_line.starts_with("The answer is \\boxed{") && last_line.ends_with("}."));
            let score = candidate.judge_score.expect("scored");
            let score_line = candidate.judge_reason.lines().last().expect("lines");
            assert_eq!(score_line, format!("Score: {score}"));
            assert_eq!(candidate.extracted_answer, None);
            assert_eq!(candidate.correct, None);
            assert!(candidate.grade_reason.is_empty());
            assert_eq!(candidate.sampling.model, "oracle");
            assert_eq!(candidate.sampling.temperature, 0.7);
            assert_eq!(candidate.sampling.seed, Some(cfg.seed));
        }
    }
}

#[test]
fn non_synthetic_problems_and_bad_settings_are_refused() {
    let problem = Problem {
        id: 3,
        fields: NewProblem {
            dataset: "gsm8k".to_owned(),
            split: "train".to_owned(),
            external_id: "gsm8k/train/1".to_owned(),
            question: "How many?".to_owned(),
            gold_answer: "4".to_owned(),
            gold_solution: None,
            metadata: json!({"source": "gsm8k/train"}),
        },
    };
    let err = oracle_candidates(&problem, &OracleConfig::default()).expect_err("not synthetic");
    assert!(matches!(err, OracleError::NotSynthetic { .. }));
    assert!(
        err.to_string()
            .contains("`gsm8k/train/1` (dataset `gsm8k`) is not synthetic")
    );

    let mut tampered = problems(1, 0).remove(0);
    tampered.fields.gold_answer = "100000".to_owned();
    assert!(matches!(
        oracle_candidates(&tampered, &OracleConfig::default()),
        Err(OracleError::GoldMismatch { .. })
    ));
    let bad_rate = OracleConfig {
        error_rate: 1.5,
        ..OracleConfig::default()
    };
    assert_eq!(
        oracle_candidates(&problems(1, 0)[0], &bad_rate),
        Err(OracleError::BadErrorRate(1.5))
    );
}

#[test]
fn faithful_plans_resolve_back_references_and_name_what_to_ignore() {
    let twists = Twists {
        distractors: 0..=2,
        back_reference_rate: 0.4,
        late_start_rate: 0.5,
    };
    let cfg = OracleConfig {
        error_rate: 0.0,
        ..OracleConfig::default()
    };
    let mut referring = 0;
    for problem in problems_with(200, 6, twists) {
        let meta = SynthMeta::from_metadata(&problem.fields.metadata).expect("metadata");
        for candidate in oracle_candidates(&problem, &cfg).expect("oracle") {
            assert_eq!(
                boxed_integer(&candidate.execution).to_string(),
                problem.fields.gold_answer
            );
            assert_eq!(
                candidate.plan_steps[0] == "Find the starting count, told last.",
                meta.start_told_last
            );
            let ignore = candidate
                .plan_steps
                .iter()
                .find(|s| s.starts_with("Ignore "));
            assert_eq!(ignore.is_some(), !meta.distractors.is_empty());
            for distractor in &meta.distractors {
                assert!(ignore.is_some_and(|s| s.contains(&distractor.about)));
                assert!(candidate.constraints.contains(&distractor.sentence));
            }
            for back_ref in &meta.back_refs {
                referring += 1;
                let step = meta.ops[back_ref.change as usize];
                let text = match back_ref.to {
                    Reference::Start => "starting count".to_owned(),
                    Reference::PreviousChange => format!("the same {}", step.operand),
                };
                assert!(
                    candidate
                        .plan_steps
                        .iter()
                        .any(|s| s.contains(&text) && s.contains(&step.operand.to_string())),
                    "{:?} not resolved in {}",
                    back_ref,
                    candidate.plan
                );
            }
        }
    }
    assert!(referring > 100, "only {referring} back-references seen");
}
