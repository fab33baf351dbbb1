//! Every screen rendered into a buffer at 80×24 and 120×40 (insta snapshots), and the
//! guarantee that untrusted text never puts an escape sequence into a frame.

use crate::common;
use common::tui::*;
use plantune_tui::tui::Action;
use plantune_tui::workspace::records::NewCandidate;

fn snapshot_all(width: u16, height: u16) {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let mut app = fx.app();
    let suffix = format!("{width}x{height}");
    insta::assert_snapshot!(
        format!("curate_{suffix}"),
        text(&render(&app, width, height))
    );
    app.update(Action::ShowRuns);
    app.update(Action::Down);
    insta::assert_snapshot!(format!("runs_{suffix}"), text(&render(&app, width, height)));
    app.update(Action::ShowCompare);
    insta::assert_snapshot!(
        format!("compare_{suffix}"),
        text(&render(&app, width, height))
    );
    app.update(Action::ShowEval);
    insta::assert_snapshot!(format!("eval_{suffix}"), text(&render(&app, width, height)));
    app.update(Action::ShowCurate);
    app.update(Action::ToggleHelp);
    insta::assert_snapshot!(format!("help_{suffix}"), text(&render(&app, width, height)));
}

#[test]
fn screens_at_80x24() {
    snapshot_all(80, 24);
}

#[test]
fn screens_at_120x40() {
    snapshot_all(120, 40);
}

#[test]
fn run_overlays_at_80x24() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let presets = fx.root().join("presets");
    std::fs::create_dir_all(&presets).unwrap();
    std::fs::write(
        presets.join("sft-plan1-short.toml"),
        "model = \"tiny\"\ndataset = \"plan1\"\n[sft]\nmax_steps = 60\n",
    )
    .unwrap();
    std::fs::write(presets.join("grpo.toml"), "[grpo]\nmax_steps = 6\n").unwrap();
    std::fs::write(
        fx.workspace.runs_dir().join("sft-001/run.toml"),
        "model = \"tiny\"\ndataset = \"plan1\"\n\n[sft]\nlr = 0.003\nmax_steps = 60\n",
    )
    .unwrap();
    let mut app = fx.app();
    app.update(Action::NewRunFromPreset);
    app.update(Action::Down);
    insta::assert_snapshot!("runs_preset_picker_80x24", text(&render(&app, 80, 24)));
    app.update(Action::Cancel);
    app.update(Action::OpenRunConfig);
    insta::assert_snapshot!("runs_config_80x24", text(&render(&app, 80, 24)));
}

#[test]
fn escape_sequences_in_untrusted_text_never_reach_the_buffer() {
    let fx = empty_workspace();
    let mut store = fx.store();
    let mut evil = problem(0);
    evil.question = "What is 2+2?\x1b[2J\x1b[H\u{9b}31m".into();
    evil.dataset = "gsm\x1b[31m8k".into();
    store.insert_problems(&[evil]).unwrap();
    let id = store.problems(None, None).unwrap()[0].id;
    let payload = "\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x07";
    let candidate = NewCandidate {
        plan: format!("1. Add.{payload}\n2. Move\x1b[10A\x1b[5Cup"),
        plan_steps: vec![
            format!("Add.{payload}"),
            "Move\x1b[10A\x1b[5Cup\r\x08".into(),
        ],
        execution: "4\x1b]0;pwned\x1b\\ \x1bP+q\x1b\\ \\boxed{4}\x07".into(),
        teacher: "evil\x1b[?1049l".into(),
        judge_reason: "fine\u{202e}txet".into(),
        grade_reason: "ok\x1b[6n".into(),
        ..candidate(id, 0, 0, 50, true)
    };
    store.insert_candidates(&[candidate]).unwrap();
    drop(store);

    let mut app = fx.app();
    app.update(Action::NextStep);
    app.update(Action::EditStep);
    assert!(app.curate.captures_keys());
    let editing = text(&render(&app, 80, 24));
    assert!(editing.contains("Moveup"), "{editing}");
    assert!(!editing.contains('\u{1b}'));
    app.update(Action::Cancel);
    for (width, height) in [(80, 24), (120, 40)] {
        for diff in [false, true] {
            if diff {
                app.update(Action::EditExecution);
                app.update(Action::CommitEdit("edited\x1b[2K".into()));
                app.update(Action::ToggleDiff);
            }
            let buf = render(&app, width, height);
            let mut cells = 0;
            for cell in buf.content() {
                cells += 1;
                assert!(
                    !cell
                        .symbol()
                        .chars()
                        .any(|c| c.is_control() || ('\u{80}'..='\u{9f}').contains(&c)),
                    "control character in cell {:?}",
                    cell.symbol()
                );
            }
            assert_eq!(cells, width as usize * height as usize);
            let screen = text(&buf);
            assert!(
                !screen.contains("ZXZpbCBjbGlwYm9hcmQ"),
                "OSC 52 payload leaked:\n{screen}"
            );
        }
        app.update(Action::ToggleDiff);
    }
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("What is 2+2?"), "{screen}");
}

/// Two runs marked: their curves on one chart with a legend naming both; then
/// smoothed and by tokens. At both sizes, on the default (16-colour) theme.
#[test]
fn runs_overlaid_at_80x24_and_120x40() {
    let fx = curated_workspace();
    add_eval_and_runs(&fx);
    let mut app = fx.app();
    app.update(Action::ShowRuns);
    app.update(Action::Tick);
    app.update(Action::ToggleRunMark);
    app.update(Action::Down);
    app.update(Action::ToggleRunMark);
    for (width, height) in [(80, 24), (120, 40)] {
        let shown = text(&render(&app, width, height));
        assert!(
            shown.contains("━━ sft-001") && shown.contains("━━ grpo-002"),
            "{shown}"
        );
        insta::assert_snapshot!(format!("runs_overlaid_{width}x{height}"), shown);
    }
    app.update(Action::ToggleSmoothing);
    app.update(Action::ToggleChartX);
    insta::assert_snapshot!(
        "runs_overlaid_smoothed_by_tokens_120x40",
        text(&render(&app, 120, 40))
    );
}
