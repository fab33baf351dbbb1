//! Tests of chords, layering, conditions and errors.

use crossterm::event::{KeyCode, KeyModifiers};

use super::*;

fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

#[test]
fn defaults_resolve_screen_bindings_over_global_ones() {
    let keymap = Keymap::defaults().unwrap();
    let a = key(KeyCode::Char('a'), KeyModifiers::NONE);
    assert_eq!(
        keymap.resolve(Scope::Curate, &KeyContext::default(), &a),
        Some(Action::Accept)
    );
    assert_eq!(
        keymap.resolve(Scope::Compare, &KeyContext::default(), &a),
        Some(Action::CycleSetA)
    );
    assert_eq!(
        keymap.resolve(Scope::Runs, &KeyContext::default(), &a),
        None
    );
    let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
    assert_eq!(
        keymap.resolve(Scope::Eval, &KeyContext::default(), &q),
        Some(Action::Quit)
    );
    let redo = key(KeyCode::Char('r'), KeyModifiers::CONTROL);
    assert_eq!(
        keymap.resolve(Scope::Curate, &KeyContext::default(), &redo),
        Some(Action::Redo)
    );
    // Terminals differ in whether `G` carries SHIFT.
    let g1 = key(KeyCode::Char('G'), KeyModifiers::SHIFT);
    let g2 = key(KeyCode::Char('G'), KeyModifiers::NONE);
    assert_eq!(
        keymap.resolve(Scope::Runs, &KeyContext::default(), &g1),
        Some(Action::Bottom)
    );
    assert_eq!(
        keymap.resolve(Scope::Runs, &KeyContext::default(), &g2),
        Some(Action::Bottom)
    );
    let backtab = key(KeyCode::BackTab, KeyModifiers::SHIFT);
    assert_eq!(
        keymap.resolve(Scope::Runs, &KeyContext::default(), &backtab),
        Some(Action::PrevScreen)
    );
}

#[test]
fn user_layer_rebinds_and_unbinds() {
    let mut keymap = Keymap::defaults().unwrap();
    keymap
        .layer(
            Path::new("user.toml"),
            "[curate]\nctrl-a = \"accept\"\nx = \"none\"\n[global]\nf5 = \"show_runs\"\n",
        )
        .unwrap();
    let ctrl_a = key(KeyCode::Char('a'), KeyModifiers::CONTROL);
    assert_eq!(
        keymap.resolve(Scope::Curate, &KeyContext::default(), &ctrl_a),
        Some(Action::Accept)
    );
    let x = key(KeyCode::Char('x'), KeyModifiers::NONE);
    assert_eq!(
        keymap.resolve(Scope::Curate, &KeyContext::default(), &x),
        None
    );
    let f5 = key(KeyCode::F(5), KeyModifiers::NONE);
    assert_eq!(
        keymap.resolve(Scope::Curate, &KeyContext::default(), &f5),
        Some(Action::ShowRuns)
    );
}

#[test]
fn errors_name_file_line_and_key() {
    let mut keymap = Keymap::defaults().unwrap();
    let err = keymap
        .layer(
            Path::new("km.toml"),
            "[curate]\na = \"accept\"\nz = \"explode\"\n",
        )
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("km.toml:3:"), "{err}");
    assert!(err.contains("z: unknown action \"explode\""), "{err}");

    let err = keymap
        .layer(Path::new("km.toml"), "[curate]\nctrl-nokey = \"accept\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("km.toml:2:"), "{err}");
    assert!(err.contains("ctrl-nokey: not a key chord"), "{err}");

    let err = keymap
        .layer(Path::new("km.toml"), "\n[bogus]\na = \"accept\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("km.toml:2:"), "{err}");
    assert!(err.contains("unknown section [bogus]"), "{err}");
}

#[test]
fn chords_print_as_they_are_written() {
    for text in [
        "a", "G", "ctrl-r", "backtab", "space", "f5", "/", "pagedown",
    ] {
        assert_eq!(Chord::parse(text).unwrap().to_string(), text);
    }
    assert_eq!(Chord::parse("shift-g"), Chord::parse("G"));
    assert_eq!(Chord::parse("f13"), None);
    assert_eq!(Chord::parse("hyper"), None);
}

#[test]
fn when_conditions_pick_the_binding_for_the_context() {
    let mut keymap = Keymap::defaults().unwrap();
    keymap
        .layer(
            Path::new("user.toml"),
            "[curate]\n\
             e = [{ action = \"edit_execution\", when = \"detail_focused\" }, \"edit_step\"]\n\
             z = { action = \"toggle_diff\", when = \"!diff_shown\" }\n\
             [global]\n\
             z = \"cancel\"\n",
        )
        .unwrap();
    let e = key(KeyCode::Char('e'), KeyModifiers::NONE);
    let list = KeyContext::default();
    let detail = KeyContext {
        focus: Pane::Detail,
        ..KeyContext::default()
    };
    assert_eq!(
        keymap.resolve(Scope::Curate, &list, &e),
        Some(Action::EditStep)
    );
    assert_eq!(
        keymap.resolve(Scope::Curate, &detail, &e),
        Some(Action::EditExecution)
    );
    // A screen binding whose condition fails falls through to the global one.
    let z = key(KeyCode::Char('z'), KeyModifiers::NONE);
    assert_eq!(
        keymap.resolve(Scope::Curate, &list, &z),
        Some(Action::ToggleDiff)
    );
    let diff = KeyContext {
        diff_shown: true,
        ..KeyContext::default()
    };
    assert_eq!(
        keymap.resolve(Scope::Curate, &diff, &z),
        Some(Action::Cancel)
    );
    // The help lists the conditional binding and keeps the global one visible.
    let rows = keymap.bindings_for(Scope::Curate);
    let z_rows: Vec<String> = rows
        .iter()
        .filter(|r| r.chord == Chord::parse("z").unwrap())
        .map(|r| {
            format!(
                "{:?} {:?} {:?}",
                r.scope,
                r.action,
                r.when.map(|w| w.to_string())
            )
        })
        .collect();
    assert_eq!(
        z_rows,
        [
            "Curate ToggleDiff Some(\"!diff_shown\")",
            "Global Cancel None"
        ]
    );
}

#[test]
fn default_arrows_move_focus_between_curate_panes() {
    let keymap = Keymap::defaults().unwrap();
    let right = key(KeyCode::Right, KeyModifiers::NONE);
    let left = key(KeyCode::Left, KeyModifiers::NONE);
    let list = KeyContext::default();
    let detail = KeyContext {
        focus: Pane::Detail,
        ..KeyContext::default()
    };
    assert_eq!(
        keymap.resolve(Scope::Curate, &list, &right),
        Some(Action::FocusNext)
    );
    assert_eq!(keymap.resolve(Scope::Curate, &detail, &right), None);
    assert_eq!(
        keymap.resolve(Scope::Curate, &detail, &left),
        Some(Action::FocusNext)
    );
    assert_eq!(keymap.resolve(Scope::Curate, &list, &left), None);
}

#[test]
fn bad_conditions_and_binding_tables_name_the_key() {
    let mut keymap = Keymap::defaults().unwrap();
    for (text, expected) in [
        (
            "[curate]\ne = { action = \"edit_step\", when = \"sideways\" }\n",
            "e: unknown condition \"sideways\"",
        ),
        (
            "[curate]\ne = { acton = \"edit_step\" }\n",
            "e: unknown field \"acton\"",
        ),
        (
            "[curate]\ne = { when = \"diff_shown\" }\n",
            "e: a binding table needs `action",
        ),
        ("[curate]\ne = 3\n", "e: expected an action name"),
    ] {
        let err = keymap
            .layer(Path::new("km.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("km.toml:2:"), "{err}");
        assert!(err.contains(expected), "{err}");
    }
    assert_eq!(
        When::parse(" ! list_focused ").map(|w| w.to_string()),
        Some("!list_focused".into())
    );
}
