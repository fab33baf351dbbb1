//! The TUI driven headless by actions and keys on a temp workspace; the store is checked
//! afterwards, so these tests see what a user's keystrokes really persist.

mod tui_common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use plantune_tui::tui::app::{Overlay, ScreenId};
use plantune_tui::tui::{Action, App};
use plantune_tui::workspace::records::CandidateStatus;
use tui_common::*;

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
    assert!(matches!(app.overlay, Some(Overlay::Prompt { .. })));
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typing(&mut app, "80");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.overlay.is_none());
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
    assert!(matches!(app.overlay, Some(Overlay::Help { .. })));
    let help = text(&render(&app, 120, 40));
    assert!(
        help.contains("toggle_help") || help.contains("show or hide this help"),
        "{help}"
    );
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert!(app.overlay.is_none());

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
    assert_eq!(grpo.last_step.as_ref().unwrap().step, 41);
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
