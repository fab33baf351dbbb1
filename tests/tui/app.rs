//! The TUI driven headless by actions and keys on a temp workspace; the store is checked
//! afterwards, so these tests see what a user's keystrokes really persist.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::teacher::{EXECUTE_PROMPT, ScriptedServer};
use common::tui::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use plantune_tui::jobs;
use plantune_tui::jobs::Launcher;
use plantune_tui::runlog::{RunEvent, RunStatus, read_all};
use plantune_tui::runs::RunState;
use plantune_tui::runs::{RunKind, preset as presets};
use plantune_tui::tui::app::{Overlay, ScreenId};
use plantune_tui::tui::keymap::Pane;
use plantune_tui::tui::{Action, App};
use plantune_tui::workspace::config::{TeacherKind, TeacherSection};
use plantune_tui::workspace::records::CandidateStatus;
use plantune_tui::workspace::store::{PlanDiversity, RunRecord, StageFinish};
use ratatui::layout::Rect;

fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
    if let Some(action) = app.handle_key(&KeyEvent::new(code, modifiers)) {
        app.update(action);
    }
}

fn typing(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c), KeyModifiers::NONE);
    }
}

fn selected_id(app: &App) -> i64 {
    app.curate.current_id().expect("a candidate is selected")
}

#[test]
fn accept_undo_redo_persist_in_the_store() {
    let fx = curated_workspace();
    let mut app = fx.app();
    let id = selected_id(&app);
    app.update(Action::Accept);
    assert_eq!(
        fx.store().candidate(id).unwrap().status,
        CandidateStatus::Accepted
    );
    assert_eq!(app.curate.rows[0].status, CandidateStatus::Accepted);
    // Keys go through the default keymap: `u` undoes, ctrl-r redoes.
    press(&mut app, KeyCode::Char('u'), KeyModifiers::NONE);
    assert_eq!(
        fx.store().candidate(id).unwrap().status,
        CandidateStatus::Pending
    );
    press(&mut app, KeyCode::Char('r'), KeyModifiers::CONTROL);
    assert_eq!(
        fx.store().candidate(id).unwrap().status,
        CandidateStatus::Accepted
    );
    app.update(Action::Down);
    let second = selected_id(&app);
    app.update(Action::Reject);
    assert_eq!(
        fx.store().candidate(second).unwrap().status,
        CandidateStatus::Rejected
    );
    app.update(Action::ResetPending);
    assert_eq!(
        fx.store().candidate(second).unwrap().status,
        CandidateStatus::Pending
    );
    // History survives a restart: a new App undoes the reset.
    drop(app);
    let mut app = fx.app();
    app.update(Action::Undo);
    assert_eq!(
        fx.store().candidate(second).unwrap().status,
        CandidateStatus::Rejected
    );
}

#[test]
fn inline_step_edit_keeps_the_original_and_shows_a_diff() {
    let fx = curated_workspace();
    let mut app = fx.app();
    let id = selected_id(&app);
    app.update(Action::NextStep);
    press(&mut app, KeyCode::Char('e'), KeyModifiers::NONE);
    assert!(app.curate.captures_keys());
    // While editing, keys are text: `q` must not quit.
    press(&mut app, KeyCode::End, KeyModifiers::NONE);
    press(&mut app, KeyCode::Backspace, KeyModifiers::NONE);
    typing(&mut app, ", carefully (quick check).");
    press(&mut app, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert!(!app.should_quit);
    assert!(!app.curate.captures_keys());

    let stored = fx.store().candidate(id).unwrap();
    assert_eq!(
        stored.fields.plan_steps[1],
        "Add the bought apples, carefully (quick check)."
    );
    assert!(
        stored
            .fields
            .plan
            .contains("2. Add the bought apples, carefully (quick check).")
    );
    assert!(stored.edited);
    let (_, plan, steps, _) = fx.store().candidate_original(id).unwrap();
    assert_eq!(steps[1], "Add the bought apples.");
    assert!(plan.contains("2. Add the bought apples."));

    press(&mut app, KeyCode::Char('d'), KeyModifiers::NONE);
    assert!(app.curate.show_diff);
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("- 2. Add the bought apples."), "{screen}");
    assert!(
        screen.contains("+ 2. Add the bought apples, carefully (quick check)."),
        "{screen}"
    );

    // One undo restores the step and the plan text together.
    app.update(Action::Undo);
    let stored = fx.store().candidate(id).unwrap();
    assert_eq!(stored.fields.plan_steps[1], "Add the bought apples.");
    assert!(!stored.edited);
}

#[test]
fn editing_the_execution_regrades_it_in_the_same_undo_step() {
    let fx = curated_workspace();
    let mut app = fx.app();
    let id = selected_id(&app);
    let before = fx.store().candidate(id).unwrap();
    app.update(Action::EditExecution);
    press(&mut app, KeyCode::End, KeyModifiers::NONE);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    typing(&mut app, "Double-checked.");
    app.update(Action::Cancel);
    assert_eq!(
        fx.store().candidate(id).unwrap(),
        before,
        "cancel writes nothing"
    );

    // A new last \boxed{} answer that is wrong: the verdict follows the edited text.
    app.update(Action::EditExecution);
    press(&mut app, KeyCode::End, KeyModifiers::NONE);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    typing(&mut app, "On reflection the answer is \\boxed{987654}.");
    press(&mut app, KeyCode::Char('s'), KeyModifiers::CONTROL);
    let after = fx.store().candidate(id).unwrap();
    assert!(after.fields.execution.ends_with("\\boxed{987654}."));
    assert_eq!(after.fields.extracted_answer.as_deref(), Some("987654"));
    assert_eq!(after.fields.correct, Some(false));
    assert_ne!(after.fields.grade_reason, before.fields.grade_reason);
    assert!(!app.curate.detail.as_ref().unwrap().verdict_stale);

    // One undo restores the text and the verdict together.
    app.update(Action::Undo);
    let undone = fx.store().candidate(id).unwrap();
    assert_eq!(undone.fields, before.fields);
}

#[test]
fn bulk_rules_through_the_prompt_and_keys() {
    let fx = curated_workspace();
    let mut app = fx.app();
    press(&mut app, KeyCode::Char('A'), KeyModifiers::SHIFT);
    assert!(matches!(app.overlay(), Some(Overlay::Prompt { .. })));
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typing(&mut app, "80");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.overlay().is_none());
    let store = fx.store();
    let accepted = store
        .candidates_with_status(CandidateStatus::Accepted)
        .unwrap();
    assert_eq!(
        accepted.len(),
        1,
        "only problem 1's score-80 plan reaches 80"
    );
    assert_eq!(accepted[0].fields.judge_score, Some(80));

    press(&mut app, KeyCode::Char('X'), KeyModifiers::SHIFT);
    let rejected = fx
        .store()
        .candidates_with_status(CandidateStatus::Rejected)
        .unwrap();
    assert_eq!(rejected.len(), 2);
    assert!(rejected.iter().all(|c| c.fields.correct == Some(false)));
    // One undo reverts the whole bulk rejection.
    app.update(Action::Undo);
    assert!(
        fx.store()
            .candidates_with_status(CandidateStatus::Rejected)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn filters_search_and_sort_narrow_the_list() {
    let fx = curated_workspace();
    let mut app = fx.app();
    assert_eq!(app.curate.rows.len(), 6);
    app.update(Action::CycleCorrectFilter);
    assert_eq!(app.curate.rows.len(), 4);
    app.update(Action::CycleCorrectFilter);
    assert_eq!(app.curate.rows.len(), 2);
    assert!(app.curate.rows.iter().all(|r| r.correct == Some(false)));
    app.update(Action::ClearFilters);

    app.update(Action::Accept);
    app.update(Action::CycleStatusFilter); // pending
    assert_eq!(app.curate.rows.len(), 5);
    app.update(Action::CycleStatusFilter); // accepted
    assert_eq!(app.curate.rows.len(), 1);
    app.update(Action::ClearFilters);

    // Incremental search: every key refilters; esc restores the previous search.
    press(&mut app, KeyCode::Char('/'), KeyModifiers::NONE);
    typing(&mut app, "has 3 ");
    assert_eq!(app.curate.rows.len(), 3);
    assert!(
        app.curate
            .rows
            .iter()
            .all(|r| r.question.contains("has 3 apples"))
    );
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(app.curate.rows.len(), 6);

    press(&mut app, KeyCode::Char('r'), KeyModifiers::NONE);
    typing(&mut app, "0..70");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(app.curate.rows.len(), 2);
    assert!(app.curate.rows.iter().all(|r| r.judge_score == Some(60)));

    app.update(Action::ClearFilters);
    app.update(Action::ToggleEditedFilter);
    assert!(app.curate.rows.is_empty());
    app.update(Action::ClearFilters);
    app.update(Action::CycleSort); // score ascending
    assert_eq!(app.curate.rows[0].judge_score, Some(-20));
}

#[test]
fn next_pending_and_sibling_navigation() {
    let fx = curated_workspace();
    let mut app = fx.app();
    app.update(Action::Accept);
    app.update(Action::Down);
    app.update(Action::Reject);
    app.update(Action::Top);
    app.update(Action::NextPending);
    assert_eq!(app.curate.selected, 2);
    let problem = app.curate.detail.as_ref().unwrap().problem.id;
    let start = selected_id(&app);
    let mut seen = vec![start];
    for _ in 0..2 {
        press(&mut app, KeyCode::Char(']'), KeyModifiers::NONE);
        let detail = app.curate.detail.as_ref().unwrap();
        assert_eq!(detail.problem.id, problem);
        seen.push(detail.candidate.id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "all three plans one keystroke apart");
    press(&mut app, KeyCode::Char(']'), KeyModifiers::NONE);
    assert_eq!(selected_id(&app), start, "wraps around");
}

#[test]
fn failed_actions_are_status_messages_not_crashes() {
    let fx = curated_workspace();
    let mut app = fx.app();
    press(&mut app, KeyCode::Char('r'), KeyModifiers::NONE);
    typing(&mut app, "abc");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let status = app.status.clone().unwrap();
    assert!(status.error);
    assert!(
        status.text.contains("\"abc\" is not a judge score"),
        "{}",
        status.text
    );
    app.update(Action::Undo);
    let status = app.status.clone().unwrap();
    assert_eq!(
        (status.error, status.text.as_str()),
        (false, "nothing to undo")
    );

    press(&mut app, KeyCode::Char('A'), KeyModifiers::NONE);
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let status = app.status.clone().unwrap();
    assert!(status.error && status.text.contains("a minimum score is required"));
    assert!(
        fx.store()
            .candidates_with_status(CandidateStatus::Accepted)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn screens_switch_and_the_help_and_palette_overlays_work() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let mut app = fx.app();
    press(&mut app, KeyCode::Tab, KeyModifiers::NONE);
    assert_eq!(app.screen, ScreenId::Runs);
    assert_eq!(app.runs.runs.len(), 2);
    press(&mut app, KeyCode::Char('4'), KeyModifiers::NONE);
    assert_eq!(app.screen, ScreenId::Eval);
    assert_eq!(app.eval.rows.len(), 2);
    press(&mut app, KeyCode::Char('?'), KeyModifiers::NONE);
    assert!(matches!(app.overlay(), Some(Overlay::Help { .. })));
    let help = text(&render(&app, 120, 40));
    assert!(
        help.contains("toggle_help") || help.contains("show or hide this help"),
        "{help}"
    );
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert!(app.overlay().is_none());

    press(&mut app, KeyCode::Char(':'), KeyModifiers::NONE);
    typing(&mut app, "compare screen");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(app.screen, ScreenId::Compare);
    assert_eq!(app.compare.paired.both_right, 1);
    assert_eq!(app.compare.paired.only_b, 1);
    press(&mut app, KeyCode::Char('f'), KeyModifiers::NONE); // fixed
    assert_eq!(app.compare.visible.len(), 1);
    press(&mut app, KeyCode::Char('f'), KeyModifiers::NONE); // broke
    assert!(app.compare.visible.is_empty());
    press(&mut app, KeyCode::Char('q'), KeyModifiers::NONE);
    assert!(app.should_quit);
}

#[test]
fn runs_are_followed_live_and_torn_lines_shown() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let mut app = fx.app();
    app.update(Action::ShowRuns);
    let grpo = app.runs.runs.iter().find(|r| r.id == "grpo-002").unwrap();
    assert!(grpo.torn_tail);
    assert_eq!(grpo.metrics.loss.count(), 40);
    assert!(grpo.is_grpo());
    // The torn line completes: the next tick reads it.
    let path = fx.workspace.runs_dir().join("grpo-002/events.jsonl");
    let mut text_now = std::fs::read_to_string(&path).unwrap();
    text_now.push_str("p\":41,\"loss\":0.3}\n");
    std::fs::write(&path, text_now).unwrap();
    app.update(Action::Tick);
    let grpo = app.runs.runs.iter().find(|r| r.id == "grpo-002").unwrap();
    assert!(!grpo.torn_tail);
    assert_eq!(grpo.metrics.loss.count(), 41);
    assert_eq!(grpo.summary.last_step.as_ref().unwrap().step, 41);
}

#[test]
fn a_broken_user_keymap_falls_back_and_says_where() {
    let fx = curated_workspace();
    std::fs::create_dir_all(&fx.paths.config_dir).unwrap();
    std::fs::write(
        fx.paths.user_keymap(),
        "[curate]\na = \"accept\"\nz = \"explode\"\n",
    )
    .unwrap();
    let app = plantune_tui::tui::build_app(fx.workspace.clone(), &fx.paths).unwrap();
    let status = app.status.clone().unwrap();
    assert!(status.error);
    assert!(status.text.contains("keymap.toml:3:"), "{}", status.text);
    assert!(
        status.text.contains("unknown action \"explode\""),
        "{}",
        status.text
    );
}

#[test]
fn accepting_under_the_pending_filter_moves_on_and_siblings_stay_reachable() {
    let fx = curated_workspace();
    let mut app = fx.app();
    app.update(Action::CycleStatusFilter); // pending only
    let first = selected_id(&app);
    let second_row = app.curate.rows[1].candidate_id;
    app.update(Action::Accept);
    assert_eq!(app.curate.rows.len(), 5);
    assert_eq!(selected_id(&app), second_row, "the detail follows the list");

    // A sibling filtered out of the list (the accepted plan) is still one key away,
    // and acting on it keeps it shown.
    let first_problem = fx.store().candidate(first).unwrap().fields.problem_id;
    for _ in 0..app.curate.rows.len() {
        if app.curate.detail.as_ref().unwrap().problem.id == first_problem {
            break;
        }
        app.update(Action::Down);
    }
    for _ in 0..3 {
        if selected_id(&app) == first {
            break;
        }
        app.update(Action::NextCandidate);
    }
    app.update(Action::Reject);
    assert_eq!(selected_id(&app), first);
    assert_eq!(
        fx.store().candidate(first).unwrap().status,
        CandidateStatus::Rejected
    );
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status_of(app: &App) -> (bool, String) {
    let status = app.status.clone().expect("a status message");
    (status.error, status.text)
}

/// Applies background results until the status line satisfies `done`; its text.
fn status_when(app: &mut App, what: &str, done: impl Fn(bool, &str) -> bool) -> String {
    wait_until(what, || {
        app.poll_background();
        app.status
            .as_ref()
            .is_some_and(|status| done(status.error, &status.text))
    });
    status_of(app).1
}

/// The real binary, with the fixture's config folders: runs and evals started from
/// the TUI are real processes.
fn real_launcher(fx: &Fixture) -> Launcher {
    Launcher::with_exe(env!("CARGO_BIN_EXE_plantune-tui")).with_paths(&fx.paths)
}

fn register_run(fx: &Fixture, id: &str, status: &str) -> std::path::PathBuf {
    let dir = fx.workspace.runs_dir().join(id);
    std::fs::create_dir_all(&dir).expect("creating the run folder");
    std::fs::write(
        dir.join("events.jsonl"),
        "{\"t\":1000,\"kind\":\"log\",\"level\":\"info\",\"message\":\"hi\"}\n",
    )
    .expect("writing events");
    fx.store()
        .upsert_run(&RunRecord {
            id: id.into(),
            kind: "sft".into(),
            status: status.into(),
            pid: None,
            dir: format!("runs/{id}"),
            dataset_hash: None,
            config: serde_json::json!({}),
            created_ms: 1000,
            updated_ms: 1000,
        })
        .expect("registering the run");
    dir
}

fn finishes(dir: &Path) -> Vec<RunStatus> {
    read_all(&dir.join("events.jsonl"))
        .map(|all| {
            all.events
                .into_iter()
                .filter_map(|e| match e.event {
                    RunEvent::RunFinished { status, .. } => Some(status),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn stop_signals_the_process_holding_the_runs_lock() {
    use std::os::unix::process::ExitStatusExt;

    let fx = empty_workspace();
    let dir = register_run(&fx, "sft-live", "running");
    // A stand-in for a worker: it holds the run's lock as a worker does. Its child
    // shell waits on our pipe, so it ends when the test drops the pipe.
    let mut holder = std::process::Command::new("flock")
        .arg("-o")
        .arg(dir.join("run.lock"))
        .args(["-c", "read line"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(dir.join("run.pid"), holder.id().to_string()).unwrap();
    wait_until("the lock to be taken", || {
        matches!(jobs::liveness(&dir), Ok(jobs::Liveness::Alive { .. }))
    });
    let mut app = fx.app();
    app.update(Action::ShowRuns);
    app.update(Action::ResumeRun);
    let (error, text) = status_of(&app);
    assert!(
        error && text.contains("sft-live is still running"),
        "{text}"
    );

    press(&mut app, KeyCode::Char('s'), KeyModifiers::NONE);
    let (error, text) = status_of(&app);
    assert!(!error, "{text}");
    assert!(
        text.contains(&format!("asked run sft-live (pid {})", holder.id())),
        "{text}"
    );
    let status = holder.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    drop(holder.stdin.take());

    wait_until("the lock to be released", || {
        matches!(jobs::liveness(&dir), Ok(jobs::Liveness::Dead { .. }))
    });
    app.update(Action::StopRun);
    let (error, text) = status_of(&app);
    assert!(
        error && text.contains("run sft-live is not running"),
        "{text}"
    );
    // Nothing to resume from without the frozen config.
    app.update(Action::ResumeRun);
    let (error, text) = status_of(&app);
    assert!(error && text.contains("has no run.toml"), "{text}");
    app.update(Action::OpenRunConfig);
    let (error, text) = status_of(&app);
    assert!(error && text.contains("has no run.toml"), "{text}");
}

#[test]
fn resume_refuses_completed_runs_and_unregistered_ones() {
    let fx = empty_workspace();
    register_run(&fx, "sft-done", "completed");
    let stray = fx.workspace.runs_dir().join("zz-stray");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("events.jsonl"), "").unwrap();
    std::fs::write(stray.join("run.toml"), "model = \"tiny\"\n").unwrap();
    let mut app = fx.app();
    app.update(Action::ShowRuns);
    assert_eq!(app.runs.runs.len(), 2);
    app.update(Action::ResumeRun);
    let (error, text) = status_of(&app);
    assert!(
        error && text.contains("sft-done already completed"),
        "{text}"
    );
    app.update(Action::Down);
    app.update(Action::ResumeRun);
    let (error, text) = status_of(&app);
    assert!(
        error && text.contains("zz-stray is not in the workspace's registry"),
        "{text}"
    );
}

#[test]
fn a_preset_creates_a_run_that_starts_fails_and_resumes_for_real() {
    let fx = empty_workspace();
    let presets = fx.root().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    // No dataset has this hash, so the real worker fails at once, which is what lets
    // this test see it start, end, and start again without training anything.
    std::fs::write(
        presets.join("a-missing-dataset.toml"),
        "model = \"tiny\"\ndataset = \"0000dead\"\n[sft]\nmax_steps = 3\n",
    )
    .unwrap();
    std::fs::write(presets.join("b-both.toml"), "[sft]\n[grpo]\n").unwrap();
    std::fs::write(presets.join("c-typo.toml"), "[sft]\nmax_stesp = 3\n").unwrap();
    std::fs::write(presets.join("notes.txt"), "not a preset").unwrap();
    let mut app = fx.app();
    app.launcher = real_launcher(&fx);

    press(&mut app, KeyCode::Char('2'), KeyModifiers::NONE);
    press(&mut app, KeyCode::Char('n'), KeyModifiers::NONE);
    let Some(Overlay::Picker { items, .. }) = app.overlay() else {
        panic!("expected the preset picker, got {:?}", app.overlay());
    };
    let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert!(
        labels[0].contains("sft · tiny · 0000dead · 3 steps"),
        "{labels:?}"
    );
    assert!(
        labels[1].contains("invalid:") && labels[1].contains("not both"),
        "{labels:?}"
    );
    // The picker reads only the tables; the typo is the CLI's to find.
    assert!(
        labels[2].contains("sft · default model · default dataset · default steps"),
        "{labels:?}"
    );
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("New run from preset"), "{screen}");

    // A preset of no kind is refused at once; the picker is gone.
    app.update(Action::Down);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.overlay().is_none());
    let (error, text) = status_of(&app);
    assert!(error && text.contains("not both"), "{text}");

    // The typo comes back from `plantune-tui train` with its file and line.
    app.update(Action::NewRunFromPreset);
    app.update(Action::Bottom);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let (error, text) = status_of(&app);
    assert!(!error && text.contains("from preset c-typo"), "{text}");
    let text = status_when(&mut app, "train to refuse the typo", |_, text| {
        text.contains("max_stesp")
    });
    assert!(text.contains("c-typo.toml:2"), "{text}");
    assert!(app.status.as_ref().unwrap().error);
    assert!(fx.store().runs().unwrap().is_empty());

    app.update(Action::NewRunFromPreset);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let text = status_when(&mut app, "train to create the run", |_, text| {
        text.starts_with("run ")
    });
    assert!(!app.status.as_ref().unwrap().error, "{text}");
    assert_eq!(app.screen, ScreenId::Runs);
    let run = app.runs.selected_run().expect("the new run is selected");
    let id = run.id.clone();
    assert!(id.starts_with("sft-"), "{id}");
    assert!(
        text.contains(&format!("run {id} started from preset a-missing-dataset")),
        "{text}"
    );
    let dir = fx.workspace.runs_dir().join(&id);
    let frozen = std::fs::read_to_string(dir.join("run.toml")).unwrap();
    assert!(frozen.contains("dataset = \"0000dead\""), "{frozen}");
    assert_eq!(fx.store().run(&id).unwrap().kind, "sft");

    wait_until("the worker to fail", || {
        finishes(&dir) == [RunStatus::Failed]
    });
    wait_until("the worker to exit", || {
        matches!(jobs::liveness(&dir), Ok(jobs::Liveness::Dead { .. }))
    });
    app.update(Action::Tick);
    assert_eq!(
        app.runs.selected_run().unwrap().state(),
        RunState::Finished(RunStatus::Failed)
    );

    // The frozen config opens in a scrollable overlay.
    press(&mut app, KeyCode::Char('o'), KeyModifiers::NONE);
    let Some(Overlay::Text { title, text, .. }) = app.overlay() else {
        panic!("expected the config overlay, got {:?}", app.overlay());
    };
    assert!(title.contains(&id) && text.contains("0000dead"));
    app.update(Action::Down);
    assert!(matches!(
        app.overlay(),
        Some(Overlay::Text { scroll: 1, .. })
    ));
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert!(app.overlay().is_none());

    press(&mut app, KeyCode::Char('R'), KeyModifiers::SHIFT);
    let (error, text) = status_of(&app);
    assert!(
        !error && text.contains(&format!("run {id} resumed")),
        "{text}"
    );
    wait_until("the resumed worker to end", || finishes(&dir).len() == 2);
    assert_eq!(fx.store().run(&id).unwrap().status, "failed");
}

#[test]
fn a_run_config_with_escapes_is_shown_sanitised() {
    let fx = empty_workspace();
    let dir = register_run(&fx, "sft-evil", "failed");
    std::fs::write(
        dir.join("run.toml"),
        "model = \"tiny\x1b]52;c;ZXZpbA==\x07\"\ndataset = \"plan1\x1b[2J\"\n",
    )
    .unwrap();
    let mut app = fx.app();
    app.update(Action::ShowRuns);
    app.update(Action::OpenRunConfig);
    let buf = render(&app, 80, 24);
    assert!(
        buf.content()
            .iter()
            .all(|c| !c.symbol().chars().any(char::is_control)),
        "a control character reached the buffer"
    );
    let screen = text(&buf);
    assert!(screen.contains("run.toml · sft-evil"), "{screen}");
    assert!(screen.contains("dataset = \"plan1"), "{screen}");
    assert!(!screen.contains("ZXZpbA=="), "{screen}");
}

#[test]
fn no_presets_and_no_models_are_status_messages() {
    let fx = empty_workspace();
    let mut app = fx.app();
    app.update(Action::NewRunFromPreset);
    let (error, text) = status_of(&app);
    assert!(
        error && text.contains("no presets: put run configs in"),
        "{text}"
    );
    app.update(Action::LaunchEval);
    let (error, text) = status_of(&app);
    assert!(error && text.contains("no models to evaluate"), "{text}");
    assert!(app.overlay().is_none());
}

#[test]
fn launching_an_evaluation_picks_model_benchmark_mode_and_starts_the_cli() {
    let fx = curated_workspace();
    // Not a loadable model: the evaluation starts for real and fails, which is all
    // this test needs to see that the TUI ran `plantune-tui eval` with its choices.
    let model = fx.root().join("models/fake");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), "{}").unwrap();
    let mut app = fx.app();
    app.launcher = real_launcher(&fx);
    press(&mut app, KeyCode::Char('4'), KeyModifiers::NONE);
    press(&mut app, KeyCode::Char('n'), KeyModifiers::NONE);
    let picked = |app: &App| match app.overlay() {
        Some(Overlay::Picker { title, items, .. }) => (
            title.clone(),
            items.iter().map(|i| i.label.clone()).collect::<Vec<_>>(),
        ),
        other => panic!("expected a picker, got {other:?}"),
    };
    assert_eq!(
        picked(&app),
        ("Evaluate: model (1/3)".into(), vec!["models/fake".into()])
    );
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let (title, items) = picked(&app);
    assert_eq!(title, "Evaluate models/fake: benchmark (2/3)");
    assert_eq!(items.len(), 1);
    assert!(items[0].starts_with("gsm8k/train") && items[0].ends_with("2 problems"));
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let (_, modes) = picked(&app);
    let direct = modes.iter().position(|m| m == "direct").unwrap();
    for _ in 0..direct {
        press(&mut app, KeyCode::Char('j'), KeyModifiers::NONE);
    }
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.overlay().is_none());
    let (error, text) = status_of(&app);
    assert!(!error, "{text}");
    assert!(
        text.contains("evaluating fake on gsm8k/train (direct) in the background"),
        "{text}"
    );
    let logs = fx.root().join("logs");
    let stderr = || {
        std::fs::read_dir(&logs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("stderr.log")).ok())
            .unwrap_or_default()
    };
    wait_until("the evaluation to report its error", || {
        stderr().contains("models/fake")
    });
}

#[test]
fn clicks_select_rows_and_the_wheel_scrolls_the_pane_under_it() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let mut app = fx.app();
    app.frame = Rect::new(0, 0, 120, 40);
    // Curate at 120 columns: tab bar on row 0, list box from row 1, its header on
    // row 2, rows from row 3.
    app.update(Action::ClickAt { column: 5, row: 4 });
    assert_eq!(app.curate.selected, 1);
    app.update(Action::ScrollAt {
        column: 5,
        row: 4,
        down: true,
    });
    assert_eq!(app.curate.selected, 2);
    let shown = selected_id(&app);
    assert_eq!(app.curate.rows[2].candidate_id, shown);
    // Over the detail pane the wheel scrolls the detail, and a click focuses it.
    app.update(Action::ScrollAt {
        column: 90,
        row: 10,
        down: true,
    });
    assert_eq!((app.curate.selected, app.curate.detail_scroll), (2, 3));
    app.update(Action::ClickAt {
        column: 90,
        row: 10,
    });
    assert_eq!(app.key_context().focus, Pane::Detail);
    // A click below the last row selects nothing new.
    app.update(Action::ClickAt { column: 5, row: 30 });
    assert_eq!(app.curate.selected, 2);

    // Tabs are clickable.
    let top_line = text(&render(&app, 120, 40))
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let bytes = top_line.find("2 Runs").unwrap();
    let runs_tab = top_line[..bytes].chars().count() as u16;
    app.update(Action::ClickAt {
        column: runs_tab + 1,
        row: 0,
    });
    assert_eq!(app.screen, ScreenId::Runs);
    assert_eq!(app.runs.selected, 0);
    // Runs: the list's header on row 2, rows from row 3.
    app.update(Action::ClickAt { column: 3, row: 4 });
    assert_eq!(app.runs.selected, 1);
    app.update(Action::ScrollAt {
        column: 3,
        row: 3,
        down: false,
    });
    assert_eq!(app.runs.selected, 0);

    app.update(Action::ShowCompare);
    assert_eq!(app.compare.visible.len(), 2);
    let first_question = app.compare.question.clone();
    // Compare: 6-row head, then the list box; its rows start at row 1 + 6 + 1.
    app.update(Action::ClickAt { column: 3, row: 9 });
    assert_eq!(app.compare.selected, 1);
    assert_ne!(app.compare.question, first_question);

    // Mouse events become these actions; other buttons do nothing.
    let mouse = |kind| MouseEvent {
        kind,
        column: 7,
        row: 9,
        modifiers: KeyModifiers::NONE,
    };
    assert_eq!(
        app.handle_mouse(&mouse(MouseEventKind::Down(MouseButton::Left))),
        Some(Action::ClickAt { column: 7, row: 9 })
    );
    assert_eq!(
        app.handle_mouse(&mouse(MouseEventKind::ScrollUp)),
        Some(Action::ScrollAt {
            column: 7,
            row: 9,
            down: false
        })
    );
    assert_eq!(
        app.handle_mouse(&mouse(MouseEventKind::Down(MouseButton::Right))),
        None
    );
}

#[test]
fn when_conditions_follow_the_focus() {
    let fx = curated_workspace();
    let mut app = fx.app();
    assert_eq!(app.key_context().focus, Pane::List);
    // Left does nothing while the list has the focus; right moves it to the detail.
    press(&mut app, KeyCode::Left, KeyModifiers::NONE);
    assert_eq!(app.key_context().focus, Pane::List);
    press(&mut app, KeyCode::Right, KeyModifiers::NONE);
    assert_eq!(app.key_context().focus, Pane::Detail);
    press(&mut app, KeyCode::Right, KeyModifiers::NONE);
    assert_eq!(app.key_context().focus, Pane::Detail);
    // With the detail focused, j scrolls it instead of moving the selection.
    press(&mut app, KeyCode::Char('j'), KeyModifiers::NONE);
    assert_eq!((app.curate.selected, app.curate.detail_scroll), (0, 1));
    press(&mut app, KeyCode::Left, KeyModifiers::NONE);
    assert_eq!(app.key_context().focus, Pane::List);

    // A user's conditional binding, and the help overlay that lists it.
    app.keymap
        .layer(
            Path::new("user.toml"),
            "[curate]\nz = [{ action = \"toggle_diff\", when = \"!diff_shown\" }, \"cancel\"]\n",
        )
        .unwrap();
    press(&mut app, KeyCode::Char('z'), KeyModifiers::NONE);
    assert!(app.curate.show_diff);
    assert!(app.key_context().diff_shown);
    press(&mut app, KeyCode::Char('z'), KeyModifiers::NONE);
    assert!(!app.curate.show_diff);
    app.update(Action::ToggleHelp);
    let help = text(&render(&app, 120, 40));
    assert!(help.contains("(when !diff_shown)"), "{help}");
}

#[test]
fn the_demo_workspace_presets_are_valid_runs_for_picker_and_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workspaces/demo/presets");
    let mut datasets = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let preset = presets::read(&path).unwrap();
        assert_eq!(preset.kind, RunKind::Sft, "{}", path.display());
        // What `train sft --config` reads, with its unknown-field and type checks.
        let config = plantune_tui::runs::read_config(&path).unwrap();
        assert_eq!(config.model, "tiny", "{}", path.display());
        assert!(config.sft.max_steps > 0 && config.sft.max_steps <= 200);
        assert_eq!(
            preset.summary,
            format!(
                "sft · tiny · {} · {} steps",
                config.dataset, config.sft.max_steps
            )
        );
        datasets.push(config.dataset);
    }
    datasets.sort();
    assert_eq!(datasets, ["baseline", "plan1"]);
}

#[test]
fn reexecuting_an_edited_plan_stores_the_teachers_execution_as_a_regraded_edit() {
    let fx = curated_workspace();
    let mut app = fx.app();
    // The oracle writes whole trajectories: it has nothing to say about a given plan.
    app.update(Action::ReexecutePlan);
    let (error, text) = status_of(&app);
    assert!(
        error && text.contains("oracle teacher cannot execute"),
        "{text}"
    );

    // The lowest-scored candidate is the incorrect one.
    app.update(Action::Bottom);
    let id = selected_id(&app);
    let before = fx.store().candidate(id).unwrap();
    assert_eq!(before.fields.correct, Some(false));
    let problem = fx.store().problem(before.fields.problem_id).unwrap();
    let gold = problem.fields.gold_answer.clone();
    let execution = format!("Step 1: count again.\nStep 2: add carefully.\n\\boxed{{{gold}}}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = execution.clone();
    let server = runtime.block_on(ScriptedServer::start(move |prompt, _| {
        if prompt.contains(EXECUTE_PROMPT) {
            answer.clone()
        } else {
            "unexpected prompt".to_owned()
        }
    }));
    app.workspace.config.teacher = TeacherSection {
        kind: TeacherKind::Openai,
        base_url: server.base_url(),
        model: "teacher-x".into(),
        api_key_env: String::new(),
        timeout_s: 10,
        max_retries: 0,
        ..TeacherSection::default()
    };

    // Edit the plan first: the teacher must see the plan as edited.
    app.update(Action::NextStep);
    app.update(Action::EditStep);
    app.update(Action::CommitEdit(
        "Add the bought apples, twice over.".into(),
    ));
    let edited_plan = fx.store().candidate(id).unwrap().fields.plan;
    assert!(edited_plan.contains("twice over"), "{edited_plan}");

    press(&mut app, KeyCode::Char('R'), KeyModifiers::SHIFT);
    let (error, text) = status_of(&app);
    assert!(
        !error && text.contains("is executing the plan again"),
        "{text}"
    );
    // A second press while the call runs does not ask again.
    app.update(Action::ReexecutePlan);
    let (error, text) = status_of(&app);
    assert!(error && text.contains("already executing"), "{text}");

    let text = status_when(&mut app, "the teacher's execution", |_, text| {
        text.contains("re-executed")
    });
    assert!(text.contains("re-graded correct"), "{text}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let prompt = &requests[0].prompt;
    assert!(prompt.contains(&problem.fields.question), "{prompt}");
    assert!(prompt.contains(&edited_plan), "{prompt}");
    assert_eq!(
        requests[0].body["seed"].as_u64(),
        before.fields.sampling.seed
    );

    let after = fx.store().candidate(id).unwrap();
    assert_eq!(after.fields.execution, execution);
    assert_eq!(after.fields.correct, Some(true));
    assert_eq!(
        after.fields.extracted_answer.as_deref(),
        Some(gold.as_str())
    );
    assert!(after.edited);
    let (_, original_plan, _, original_execution) = fx.store().candidate_original(id).unwrap();
    assert_eq!(original_execution, before.fields.execution);
    assert_eq!(original_plan, before.fields.plan);
    assert_eq!(
        app.curate
            .detail
            .as_ref()
            .unwrap()
            .candidate
            .fields
            .execution,
        execution
    );

    // The diff shows both texts; one undo takes back the execution and its verdict.
    press(&mut app, KeyCode::Char('d'), KeyModifiers::NONE);
    let screen = text_of(&app);
    assert!(screen.contains("+ Step 2: add carefully."), "{screen}");
    app.update(Action::Undo);
    let undone = fx.store().candidate(id).unwrap();
    assert_eq!(undone.fields.execution, before.fields.execution);
    assert_eq!(undone.fields.correct, Some(false));
    assert_eq!(undone.fields.plan, edited_plan);

    // A teacher that fails is a status message, and the next try is allowed.
    app.workspace.config.teacher.base_url = "http://127.0.0.1:9/v1".into();
    app.update(Action::ReexecutePlan);
    let text = status_when(&mut app, "the failed call", |error, _| error);
    assert!(
        text.contains(&format!("re-executing candidate {id}'s plan")),
        "{text}"
    );
    assert_eq!(
        fx.store().candidate(id).unwrap().fields.execution,
        before.fields.execution
    );
}

fn text_of(app: &App) -> String {
    text(&render(app, 120, 40))
}

#[test]
fn space_marks_runs_to_overlay_and_compare_jumps_to_only_a_or_only_b() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let mut app = fx.app();
    press(&mut app, KeyCode::Char('2'), KeyModifiers::NONE);
    press(&mut app, KeyCode::Char(' '), KeyModifiers::NONE);
    assert!(app.runs.overlaid().is_empty(), "one mark overlays nothing");
    press(&mut app, KeyCode::Char('j'), KeyModifiers::NONE);
    press(&mut app, KeyCode::Char(' '), KeyModifiers::NONE);
    let ids: Vec<&str> = app.runs.overlaid().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["sft-001", "grpo-002"]);
    let (error, status) = status_of(&app);
    assert!(!error && status.contains("2 runs overlaid"), "{status}");
    press(&mut app, KeyCode::Char('w'), KeyModifiers::NONE);
    press(&mut app, KeyCode::Char('x'), KeyModifiers::NONE);
    assert!(app.runs.overlay.smooth && app.runs.overlay.by_tokens);
    // Unmarking one leaves a single run: back to its own charts.
    press(&mut app, KeyCode::Char(' '), KeyModifiers::NONE);
    assert!(app.runs.overlaid().is_empty());

    // Compare: problem #1 both right, #2 only B right.
    press(&mut app, KeyCode::Char('3'), KeyModifiers::NONE);
    assert_eq!(app.compare.selected, 0);
    press(&mut app, KeyCode::Char('B'), KeyModifiers::SHIFT);
    assert_eq!(app.compare.selected, 1);
    let row = app.compare.current().unwrap();
    assert!(!row.a.fields.correct && row.b.fields.correct);
    press(&mut app, KeyCode::Char('A'), KeyModifiers::SHIFT);
    assert_eq!(
        app.compare.selected, 1,
        "no only-A problem: the selection stays"
    );
    let (error, status) = status_of(&app);
    assert!(!error && status.contains("only A got right"), "{status}");
}

#[test]
fn curate_shows_how_many_distinct_plans_a_problem_got_and_cut_off_stages() {
    let fx = empty_workspace();
    let mut store = fx.store();
    store.insert_problems(&[problem(0)]).unwrap();
    let id = store.problems(None, None).unwrap()[0].id;
    let finish = StageFinish {
        execution: Some("length".into()),
        ..StageFinish::default()
    };
    store
        .insert_candidate_with_finish(&candidate(id, 0, 0, 70, true), &finish)
        .unwrap();
    store
        .record_plan_diversity(
            id,
            "oracle",
            PlanDiversity {
                asked: 4,
                distinct: 1,
            },
        )
        .unwrap();
    let app = fx.app();
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("1 distinct of 4 asked"), "{screen}");
    assert!(
        screen.contains("cut off by max_tokens: execution"),
        "{screen}"
    );
}
