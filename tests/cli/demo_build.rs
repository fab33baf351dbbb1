//! The demo's first stages on a temp workspace: synthetic problems, the oracle's
//! candidates graded by the real grader, auto-curation.

use plantune_tui::config::Paths;
use plantune_tui::data::synth::{SynthConfig, generate};
use plantune_tui::grade::{GradeOptions, grade_with};
use plantune_tui::teacher::oracle::{OracleConfig, oracle_drafts};
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::{CandidateStatus, Problem};

fn paths(root: &std::path::Path) -> Paths {
    Paths {
        config_dir: root.join("config"),
        data_dir: root.join("data"),
        cache_dir: root.join("cache"),
    }
}

#[test]
fn the_grader_agrees_with_the_oracles_ground_truth() {
    let problems = generate(&SynthConfig {
        seed: 5,
        train: 300,
        test_id: 0,
        test_ood: 0,
        ..Default::default()
    })
    .unwrap();
    let config = OracleConfig {
        seed: 9,
        error_rate: 0.3,
        plans_per_problem: 5,
    };
    let mut checked = 0;
    for (i, fields) in problems.into_iter().enumerate() {
        let problem = Problem {
            id: i as i64 + 1,
            fields,
        };
        for draft in oracle_drafts(&problem, &config).unwrap() {
            let verdict = grade_with(
                &draft.candidate.execution,
                &problem.fields.gold_answer,
                &GradeOptions {
                    question: Some(&problem.fields.question),
                },
            );
            assert_eq!(
                verdict.correct,
                draft.fault.is_none(),
                "fault {:?}, verdict {:?}, execution:\n{}",
                draft.fault,
                verdict,
                draft.candidate.execution
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 1500);
}

#[test]
fn building_twice_adds_nothing_and_curation_follows_the_paper_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::init(&tmp.path().join("demo"), &paths(tmp.path())).unwrap();
    let first = plantune_tui::demo::build::build_workspace(&ws).unwrap();
    assert_eq!(first.problems.inserted, 600);
    assert_eq!(first.candidates_new, 2000);
    assert!(first.curation.changed > 300, "{:?}", first.curation);
    let second = plantune_tui::demo::build::build_workspace(&ws).unwrap();
    assert_eq!((second.problems.inserted, second.candidates_new), (0, 0));
    assert_eq!(second.curation.changed, 0);

    let store = ws.store().unwrap();
    for accepted in store
        .candidates_with_status(CandidateStatus::Accepted)
        .unwrap()
    {
        assert_eq!(accepted.fields.correct, Some(true));
        assert!(accepted.fields.judge_score.unwrap() >= 80);
        let siblings = store
            .candidates_for_problem(accepted.fields.problem_id)
            .unwrap();
        let best = siblings
            .iter()
            .filter(|c| c.fields.correct == Some(true))
            .filter_map(|c| c.fields.judge_score)
            .max()
            .unwrap();
        assert_eq!(accepted.fields.judge_score, Some(best));
        assert_eq!(
            siblings
                .iter()
                .filter(|c| c.status == CandidateStatus::Accepted)
                .count(),
            1
        );
    }
}
