//! Issue 26's views, headless: the Runs sample view and its keys (`p`, `[`, `]`), the
//! Compare chart of accuracy by number of operations, and the Curate overview (`v`),
//! each snapshotted at 80×24 and 120×40.

use crate::common;

use common::tui::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use plantune_tui::tui::App;

fn press(app: &mut App, c: char) {
    let modifiers = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    if let Some(action) = app.handle_key(&KeyEvent::new(KeyCode::Char(c), modifiers)) {
        app.update(action);
    }
}

/// The GRPO run's samples: step 40 live; `[` goes to step 20, `p` unfolds the prompt,
/// `]` follows the live end again.
#[test]
fn runs_sample_keys_step_through_steps_and_unfold_the_prompt() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let mut app = fx.app();
    press(&mut app, '2');
    press(&mut app, 'j');
    assert_eq!(app.runs.selected_run().unwrap().id, "grpo-002");
    let shown = text(&render(&app, 120, 40));
    assert!(shown.contains("Samples @40 (2/2, live)"), "{shown}");
    assert!(shown.contains("answer 6  gold 5"), "{shown}");
    assert!(
        !shown.contains("Solve the problem"),
        "prompt folded:\n{shown}"
    );
    press(&mut app, '[');
    assert_eq!(app.runs.samples.step, Some(20));
    press(&mut app, 'p');
    assert!(app.runs.samples.show_prompt);
    for (width, height) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(
            format!("runs_samples_step20_prompt_{width}x{height}"),
            text(&render(&app, width, height))
        );
    }
    let shown = text(&render(&app, 120, 40));
    assert!(shown.contains("Samples @20 (1/2)"), "{shown}");
    assert!(shown.contains("Solve the problem"), "{shown}");
    press(&mut app, ']');
    assert_eq!(app.runs.samples.step, None, "back to following new samples");
    press(&mut app, 'p');
    assert!(!app.runs.samples.show_prompt);
}

#[test]
fn compare_charts_accuracy_by_operations_for_a_and_b() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    add_synth_eval(&fx);
    let mut app = fx.app();
    press(&mut app, '3');
    // Cycle A to the base model on the out-of-distribution split.
    for _ in 0..app.compare.sets.len() {
        let a = &app.compare.sets[app.compare.a.unwrap()];
        if a.model == "smol-base" && a.benchmark == "synth/test_ood" {
            break;
        }
        press(&mut app, 'a');
    }
    let a = &app.compare.sets[app.compare.a.unwrap()];
    assert_eq!(
        (a.model.as_str(), a.benchmark.as_str()),
        ("smol-base", "synth/test_ood")
    );
    let b = &app.compare.sets[app.compare.b.unwrap()];
    assert_eq!(b.model, "smol-plan");
    // One line per model and split; the points are accuracy % by operations.
    let lines = &app.compare.steps.lines;
    let line = |side: char, split: &str| {
        lines
            .iter()
            .find(|l| l.side == side && l.split == split)
            .map(|l| l.points.clone())
            .unwrap_or_else(|| panic!("no {side} {split} line in {lines:?}"))
    };
    assert_eq!(line('A', "ood"), vec![(2.0, 100.0), (3.0, 0.0), (4.0, 0.0)]);
    assert_eq!(line('A', "id"), vec![(2.0, 100.0), (3.0, 50.0), (4.0, 0.0)]);
    assert_eq!(
        line('B', "ood"),
        vec![(2.0, 100.0), (3.0, 100.0), (4.0, 50.0)]
    );
    assert_eq!(lines.len(), 4, "gsm8k has no operation counts: {lines:?}");
    for (width, height) in [(80, 24), (120, 40)] {
        let shown = text(&render(&app, width, height));
        assert!(
            shown.contains("accuracy % by number of operations"),
            "{shown}"
        );
        assert!(shown.contains("A ood"), "{shown}");
        insta::assert_snapshot!(format!("compare_steps_{width}x{height}"), shown);
    }
}

#[test]
fn v_shows_the_curate_overview_and_hides_it_again() {
    let fx = curated_workspace();
    let mut app = fx.app();
    press(&mut app, 'a');
    press(&mut app, 'v');
    let overview = app.curate.overview.clone().expect("v opens the overview");
    // Scores 80, 79, 60, 60, -20, -20; the threshold is distill.min_score (80).
    assert_eq!(overview.threshold, 80);
    assert_eq!(overview.bins[9], 1, "80 is in 80..100");
    assert_eq!(overview.bins[8], 3, "79, 60, 60 in 60..80");
    assert_eq!(overview.bins[4], 2, "-20, -20 in -20..0");
    assert_eq!(overview.counts.accepted, 1);
    for (width, height) in [(80, 24), (120, 40)] {
        let shown = text(&render(&app, width, height));
        assert!(shown.contains("◀ threshold 80"), "{shown}");
        assert!(shown.contains("accepted 1"), "{shown}");
        insta::assert_snapshot!(format!("curate_overview_{width}x{height}"), shown);
    }
    // Curating with the overview open keeps its counts current.
    press(&mut app, 'x');
    assert_eq!(app.curate.overview.as_ref().unwrap().counts.rejected, 1);
    press(&mut app, 'v');
    assert!(app.curate.overview.is_none());
}
