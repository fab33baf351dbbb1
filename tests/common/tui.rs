//! A small deterministic workspace for the TUI tests: fixed names, texts and times.

#![allow(clippy::unwrap_used, dead_code)]

// Fixture set-up that fails should fail the test loudly; each test binary uses a
// different subset of the helpers.

use std::path::Path;

use plantune_tui::config::paths::Paths;
use plantune_tui::config::theme::Theme;
use plantune_tui::tui::App;
use plantune_tui::tui::keymap::Keymap;
use plantune_tui::workspace::Workspace;
use plantune_tui::workspace::records::{NewCandidate, NewProblem, Sampling};
use plantune_tui::workspace::store::{NewPrediction, PredictionKey, RunRecord, Store};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub workspace: Workspace,
    pub paths: Paths,
}

impl Fixture {
    pub fn root(&self) -> &Path {
        &self.workspace.root
    }

    pub fn store(&self) -> Store {
        self.workspace.store().unwrap()
    }

    pub fn app(&self) -> App {
        App::new(
            self.workspace.clone(),
            Keymap::defaults().unwrap(),
            Theme::load("default", &self.paths.user_themes()).unwrap(),
        )
        .unwrap()
    }
}

pub fn paths_in(dir: &Path) -> Paths {
    Paths {
        config_dir: dir.join("config"),
        data_dir: dir.join("data"),
        cache_dir: dir.join("cache"),
    }
}

/// A workspace named `demo` (the name shows in the title bar, so it must not depend
/// on the temp dir's random name), without problems.
pub fn empty_workspace() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths_in(dir.path());
    let workspace = Workspace::init(&dir.path().join("demo"), &paths).unwrap();
    Fixture {
        dir,
        workspace,
        paths,
    }
}

pub fn problem(i: usize) -> NewProblem {
    NewProblem {
        dataset: "gsm8k".into(),
        split: "train".into(),
        external_id: format!("p{i}"),
        question: format!(
            "Tom has {} apples and buys {} more. How many apples now?",
            i + 2,
            i + 3
        ),
        gold_answer: format!("{}", 2 * i + 5),
        gold_solution: None,
        metadata: serde_json::json!({}),
    }
}

pub fn candidate(
    problem_id: i64,
    i: usize,
    plan_index: u32,
    score: i32,
    correct: bool,
) -> NewCandidate {
    let answer = if correct { 2 * i + 5 } else { 2 * i + 6 };
    NewCandidate {
        problem_id,
        teacher: "oracle".into(),
        plan_index,
        constraints: "Count apples; the answer is a whole number.".into(),
        plan: "1. Read the starting amount.\n2. Add the bought apples.\n3. Report the total."
            .into(),
        plan_steps: vec![
            "Read the starting amount.".into(),
            "Add the bought apples.".into(),
            "Report the total.".into(),
        ],
        execution: format!(
            "Start with {}. Add {}. Total \\boxed{{{answer}}}.",
            i + 2,
            i + 3
        ),
        extracted_answer: Some(answer.to_string()),
        correct: Some(correct),
        grade_reason: if correct {
            "matches gold".into()
        } else {
            "differs from gold".into()
        },
        judge_score: Some(score),
        judge_reason: format!("Plan {plan_index} covers the constraints. Score: {score}"),
        sampling: Sampling {
            model: "oracle".into(),
            temperature: 0.7,
            ..Default::default()
        },
    }
}

/// Two problems with three plans each: scores 80/60/-20, correct, correct, incorrect.
pub fn curated_workspace() -> Fixture {
    let fixture = empty_workspace();
    let mut store = fixture.store();
    store.insert_problems(&[problem(0), problem(1)]).unwrap();
    let ids: Vec<i64> = store
        .problems(None, None)
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    let mut candidates = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        candidates.push(candidate(*id, i, 0, 80 - i as i32, true));
        candidates.push(candidate(*id, i, 1, 60, true));
        candidates.push(candidate(*id, i, 2, -20, false));
    }
    store.insert_candidates(&candidates).unwrap();
    fixture
}

/// Adds predictions for two models on one benchmark, and one finished and one dead run.
pub fn add_eval_and_runs(fixture: &Fixture) {
    let mut store = fixture.store();
    let ids: Vec<i64> = store
        .problems(None, None)
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    let mut preds = Vec::new();
    for (model, mode, right) in [
        ("smol-base", "direct", [true, false]),
        ("smol-plan", "plan", [true, true]),
    ] {
        for (i, id) in ids.iter().enumerate() {
            preds.push(NewPrediction {
                key: PredictionKey {
                    model: model.into(),
                    benchmark: "gsm8k".into(),
                    mode: mode.into(),
                },
                problem_id: *id,
                sample_index: 0,
                output: format!(
                    "{model} thinks... \\boxed{{{}}}",
                    if right[i] { 2 * i + 5 } else { 0 }
                ),
                extracted: Some(if right[i] {
                    (2 * i + 5).to_string()
                } else {
                    "0".into()
                }),
                correct: right[i],
                reason: if right[i] {
                    "matches gold".into()
                } else {
                    "differs".into()
                },
                tokens: 12,
                latency_ms: 40,
            });
        }
    }
    store.insert_predictions(&preds).unwrap();

    for (id, finished) in [("sft-001", true), ("grpo-002", false)] {
        let dir = fixture.workspace.runs_dir().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lines = vec![format!(
            r#"{{"t":1000,"kind":"run_started","device":"cpu","parameters":135000000}}"#
        )];
        for step in 1..=40u64 {
            let loss = 2.0 / (step as f64).sqrt();
            let grpo = if id.starts_with("grpo") {
                format!(
                    r#","reward_mean":{:.3},"kl":{:.4},"accuracy":{:.3}"#,
                    step as f64 / 40.0,
                    0.001 * step as f64,
                    step as f64 / 50.0
                )
            } else {
                String::new()
            };
            lines.push(format!(
                r#"{{"t":{},"kind":"step","step":{step},"loss":{loss:.4},"lr":0.0001,"grad_norm":1.5,"tokens_per_s":900,"elapsed_s":{},"total_steps":100{grpo}}}"#,
                1000 + step * 500,
                step as f64 * 0.5
            ));
        }
        lines.push(r#"{"t":21000,"kind":"device","cpu_pct":180,"rss_mib":812}"#.into());
        if id.starts_with("grpo") {
            // Two steps of samples, two each, with reward components and the answer
            // against gold, for the sample view and its `[`/`]` keys.
            for (step, completion, answer, correct) in [
                (
                    20,
                    r"Plan: 1. subtract. Execution: 3-2=1 \\boxed{1}",
                    "1",
                    false,
                ),
                (20, r"Plan: 1. add. Execution: 2+3=5 \\boxed{5}", "5", true),
                (40, r"Plan: 1. add. Execution: 2+3=5 \\boxed{5}", "5", true),
                (40, r"Plan: 1. add. Execution: 2+3=6 \\boxed{6}", "6", false),
            ] {
                let (answer_reward, total) = if correct { (2.0, 3.0) } else { (0.0, 1.0) };
                lines.push(format!(
                    r#"{{"t":21000,"kind":"sample","step":{step},"prompt":"<|im_start|>user Solve the problem. First write a plan. Q: Tom has 2 apples and buys 3 more. How many apples now?","completion":"{completion}","reward":{total},"rewards":{{"answer":{answer_reward},"format":1.0}},"gold":"5","answer":"{answer}","correct":{correct}}}"#
                ));
            }
        } else {
            lines.push(r#"{"t":21000,"kind":"sample","step":40,"prompt":"Q: 2+3?","completion":"Plan: add. \\boxed{5}","reward":1.0}"#.into());
        }
        lines.push(r#"{"t":21500,"kind":"log","level":"info","message":"epoch 1 done"}"#.into());
        if finished {
            lines.push(r#"{"t":22000,"kind":"run_finished","status":"completed"}"#.into());
        }
        let mut text = lines.join("\n") + "\n";
        if !finished {
            text.push_str(r#"{"t":22500,"kind":"step","ste"#);
        }
        std::fs::write(dir.join("events.jsonl"), text).unwrap();
        if !finished {
            // What a worker that died leaves: its lock file, held by no one.
            std::fs::write(dir.join("run.lock"), "").unwrap();
            std::fs::write(dir.join("run.pid"), "999999999").unwrap();
        }
        store
            .upsert_run(&RunRecord {
                id: id.into(),
                kind: if finished {
                    "sft".into()
                } else {
                    "grpo".into()
                },
                status: "running".into(),
                // The finished run has no pid; the other's is far above any pid_max,
                // so it is certainly dead: a run that died without run_finished.
                pid: if finished { None } else { Some(999_999_999) },
                dir: format!("runs/{id}"),
                dataset_hash: None,
                config: serde_json::json!({}),
                created_ms: 1000,
                updated_ms: 1000,
            })
            .unwrap();
    }
}

/// Renders the whole app into a buffer of the given size.
pub fn render(app: &App, width: u16, height: u16) -> Buffer {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    app.render(area, &mut buf);
    buf
}

/// The buffer's symbols, one line per row, trailing spaces trimmed.
pub fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Synthetic problems with 2..=4 operations on an in- and an out-of-distribution split,
/// and predictions of `smol-base` (direct) and `smol-plan` (plan) on both: the plan
/// model holds up as operations grow, the base model does not.
pub fn add_synth_eval(fixture: &Fixture) {
    let mut store = fixture.store();
    let mut problems = Vec::new();
    for split in ["test_id", "test_ood"] {
        for ops in 2..=4u32 {
            for k in 0..2u32 {
                problems.push(NewProblem {
                    dataset: "synth".into(),
                    split: split.into(),
                    external_id: format!("{split}-{ops}-{k}"),
                    question: format!("Tom starts with {k} apples; {ops} operations follow."),
                    gold_answer: "1".into(),
                    gold_solution: None,
                    metadata: serde_json::json!({"steps": ops, "start": k, "ops": [],
                        "holder": "Tom", "object": "apples", "scene": "shop"}),
                });
            }
        }
    }
    store.insert_problems(&problems).unwrap();
    let mut preds = Vec::new();
    for problem in store.problems(Some("synth"), None).unwrap() {
        let split = problem.fields.split.clone();
        let ops = problem.fields.metadata["steps"].as_u64().unwrap();
        let k = problem.fields.metadata["start"].as_u64().unwrap();
        for (model, mode) in [("smol-base", "direct"), ("smol-plan", "plan")] {
            // base: right on 2 ops only (in distribution: also one of the 3-op ones);
            // plan: wrong only on one 4-op out-of-distribution problem.
            let right = if model == "smol-base" {
                ops == 2 || (split == "test_id" && ops == 3 && k == 0)
            } else {
                !(split == "test_ood" && ops == 4 && k == 1)
            };
            preds.push(NewPrediction {
                key: PredictionKey {
                    model: model.into(),
                    benchmark: format!("synth/{split}"),
                    mode: mode.into(),
                },
                problem_id: problem.id,
                sample_index: 0,
                output: format!("\\boxed{{{}}}", if right { 1 } else { 0 }),
                extracted: Some(if right { "1" } else { "0" }.into()),
                correct: right,
                reason: if right { "matches gold" } else { "differs" }.into(),
                tokens: 4,
                latency_ms: 10,
            });
        }
    }
    store.insert_predictions(&preds).unwrap();
}
