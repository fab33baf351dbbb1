//! Tests of the run view and the side pane.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::SampleCursor;
use super::render::duration;
use super::samples::render_side;
use super::view::RunView;
use crate::config::theme::Theme;
use crate::runlog::{RunEvent, RunStatus, TimedEvent};
use crate::runs::{RunDir, RunState};

fn at(t: i64, event: RunEvent) -> TimedEvent {
    TimedEvent { t, event }
}

fn view(dir: RunDir) -> RunView {
    RunView::new("r".into(), "sft".into(), "running".into(), None, dir)
}

#[test]
fn a_run_without_run_finished_whose_lock_is_free_is_shown_as_died() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = view(RunDir::at(tmp.path()));
    assert_eq!(run.state(), RunState::Waiting);
    run.apply(at(
        1000,
        RunEvent::Log {
            level: "info".into(),
            message: "hello".into(),
        },
    ));
    assert_eq!(
        run.state(),
        RunState::Unknown,
        "lock not asked before a poll"
    );
    run.poll();
    assert_eq!(
        run.state(),
        RunState::Unknown,
        "no worker ever took the lock"
    );
    let lock = crate::jobs::RunLock::acquire(tmp.path()).unwrap();
    run.poll();
    assert_eq!(run.state(), RunState::Running, "this test holds the lock");
    drop(lock);
    run.poll();
    assert_eq!(run.state(), RunState::Died);
    run.apply(at(
        3500,
        RunEvent::RunFinished {
            status: RunStatus::Stopped,
            error: None,
        },
    ));
    assert_eq!(run.state(), RunState::Finished(RunStatus::Stopped));
    assert_eq!(
        run.logs.back().map(String::as_str),
        Some("+    2.5s finished: Stopped")
    );
}

#[test]
fn eta_follows_the_pace_so_far() {
    let mut run = view(RunDir::at("/nowhere"));
    run.summary.last_step = Some(crate::runs::LastStep {
        step: 25,
        total: Some(100),
        elapsed_s: 50.0,
        loss: 1.0,
        lr: 1e-4,
        grad_norm: 1.0,
        tokens_per_s: 10.0,
    });
    assert_eq!(run.summary.eta_s(), Some(150.0));
    assert_eq!(duration(150.0), "2m30s");
    assert_eq!(duration(3725.0), "1h02m");
}

fn side_text(run: &RunView) -> String {
    side_text_with(run, SampleCursor::default(), 8)
}

fn side_text_with(run: &RunView, cursor: SampleCursor, height: u16) -> String {
    let area = Rect::new(0, 0, 100, height);
    let mut buf = Buffer::empty(area);
    render_side(run, cursor, area, &mut buf, &Theme::default());
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn side_pane_shows_gpu_power_and_falls_back_to_the_cpu_line() {
    let mut run = view(RunDir::at("/nowhere"));
    assert!(side_text(&run).contains("no device stats yet"));
    run.apply(at(
        1000,
        RunEvent::Device(crate::runlog::DeviceStats {
            cpu_pct: Some(187.4),
            rss_mib: Some(912.0),
            gpus: Vec::new(),
        }),
    ));
    let cpu_only = side_text(&run);
    assert!(cpu_only.contains("CPU 187%  RSS 912 MiB"), "{cpu_only}");
    assert!(!cpu_only.contains("GPU"), "{cpu_only}");
    run.apply(at(
        2000,
        RunEvent::Device(crate::runlog::DeviceStats {
            cpu_pct: Some(99.0),
            rss_mib: Some(1024.0),
            gpus: vec![crate::runlog::GpuStats {
                index: 0,
                name: "NVIDIA H200\u{1b}[2J".into(),
                utilisation_pct: Some(93.0),
                memory_used_mib: Some(40_960.0),
                memory_total_mib: Some(143_771.0),
                temperature_c: None,
                power_w: Some(412.6),
            }],
        }),
    ));
    let with_gpu = side_text(&run);
    assert!(with_gpu.contains("CPU 99%  RSS 1024 MiB"), "{with_gpu}");
    assert!(
        with_gpu.contains("util 93% mem 40960/143771 MiB - 413 W"),
        "{with_gpu}"
    );
    assert!(!with_gpu.contains('\u{1b}'), "{with_gpu}");
}

fn sample(step: u64, completion: &str, answer: Option<&str>, correct: Option<bool>) -> RunEvent {
    RunEvent::Sample {
        step,
        prompt: "PROMPT <|im_start|>user Solve".into(),
        completion: completion.into(),
        reward: Some(if correct == Some(true) { 3.0 } else { 1.0 }),
        rewards: [("answer".to_owned(), 2.0), ("format".to_owned(), 1.0)]
            .into_iter()
            .collect(),
        gold: Some("5".into()),
        answer: answer.map(str::to_owned),
        correct,
    }
}

#[test]
fn samples_show_the_completion_and_its_score_with_the_prompt_folded() {
    let mut run = view(RunDir::at("/nowhere"));
    run.apply(at(
        1,
        sample(10, "first \\boxed{4}", Some("4"), Some(false)),
    ));
    run.apply(at(
        2,
        sample(20, "wrote \\boxed{5}\u{1b}[2J", Some("5"), Some(true)),
    ));
    let text = side_text_with(&run, SampleCursor::default(), 12);
    assert!(text.contains("Samples @20 (2/2, live)"), "{text}");
    assert!(
        text.contains("#1/1 reward 3.00 = answer 2.00 + format 1.00"),
        "{text}"
    );
    assert!(text.contains("✓ answer 5  gold 5"), "{text}");
    assert!(text.contains("wrote \\boxed{5}"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(!text.contains("PROMPT"), "{text}");
    assert!(text.contains("prompt folded (29 chars): p shows"), "{text}");
    let completion_at = text.find("wrote").unwrap();
    let unfolded = side_text_with(
        &run,
        SampleCursor {
            step: None,
            show_prompt: true,
        },
        12,
    );
    let prompt_at = unfolded.find("PROMPT").expect("p unfolds the prompt");
    assert!(prompt_at > completion_at, "completion first:\n{unfolded}");
}

#[test]
fn brackets_step_through_sample_steps_and_past_the_last_follow_live() {
    let mut run = view(RunDir::at("/nowhere"));
    for (t, step) in [(1, 10), (2, 10), (3, 20), (4, 30)] {
        run.apply(at(t, sample(step, "c", None, None)));
    }
    assert_eq!(run.sample_steps(), vec![10, 20, 30]);
    let mut cursor = SampleCursor::default();
    assert_eq!(cursor.resolve(&run), Some(30));
    cursor.step_by(&run, true);
    assert_eq!(cursor.step, Some(20));
    cursor.step_by(&run, true);
    cursor.step_by(&run, true);
    assert_eq!(cursor.step, Some(10), "stays on the first step");
    cursor.step_by(&run, false);
    assert_eq!(cursor.step, Some(20));
    cursor.step_by(&run, false);
    assert_eq!(cursor.step, None, "onto the last step follows new samples");
    let text = side_text_with(&run, cursor, 10);
    assert!(text.contains("? answer (none)  gold 5"), "{text}");
    // A step the run does not have falls back to the latest one before it.
    cursor.step = Some(25);
    assert_eq!(cursor.resolve(&run), Some(20));
}

#[test]
fn the_selection_follows_the_running_run_until_the_user_picks_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<std::path::PathBuf> = (0..3).map(|i| tmp.path().join(format!("r{i}"))).collect();
    let mut screen = super::RunsScreen::default();
    for (i, dir) in dirs.iter().enumerate() {
        std::fs::create_dir_all(dir).unwrap();
        screen.runs.push(RunView::new(
            format!("r{i}"),
            "sft".into(),
            "created".into(),
            None,
            RunDir::at(dir),
        ));
    }
    screen.poll_all();
    assert_eq!(screen.selected, 0, "nothing runs yet: the selection stays");

    let lock = crate::jobs::RunLock::acquire(&dirs[2]).unwrap();
    screen.poll_all();
    assert_eq!(
        screen.selected, 2,
        "the queued run that started is selected"
    );
    drop(lock);

    let lock = crate::jobs::RunLock::acquire(&dirs[1]).unwrap();
    screen.poll_all();
    assert_eq!(screen.selected, 1, "and the next one after it");

    screen.pick(0);
    screen.poll_all();
    assert_eq!(screen.selected, 0, "a run the user picked stays picked");
    drop(lock);
}

fn screen_text(area: Rect, buf: &Buffer) -> String {
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_stalled_run_reads_as_stalled_in_warning_colours_until_steps_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = view(RunDir::at(tmp.path()));
    let _lock = crate::jobs::RunLock::acquire(tmp.path()).unwrap();
    run.poll();
    let stalled = "stalled: no step for 6m40s (typical step 8.0s; alarm after 1m00s)";
    run.apply(at(
        1000,
        RunEvent::Log {
            level: "alarm".into(),
            message: format!("{stalled}\u{1b}[2J"),
        },
    ));
    let mut screen = super::RunsScreen::default();
    screen.runs.push(run);
    let theme = Theme::load("default", tmp.path()).unwrap();
    let area = Rect::new(0, 0, 120, 40);
    let mut buf = Buffer::empty(area);
    screen.render(area, &mut buf, &theme);
    let text = screen_text(area, &buf);
    // The stats line (not the log, which wraps it in its box) carries the alarm.
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("alarm: {stalled}"))),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'));
    let row = text.lines().position(|l| l.contains("stalled ")).unwrap();
    let col = text.lines().nth(row).unwrap().find("stalled").unwrap();
    assert_eq!(
        buf[(col as u16, row as u16)].fg,
        theme.style("ui.warning").fg.unwrap()
    );

    screen.runs[0].apply(at(
        2000,
        RunEvent::Log {
            level: "alarm_cleared".into(),
            message: "steps resumed after 7m00s without one".into(),
        },
    ));
    let mut buf = Buffer::empty(area);
    screen.render(area, &mut buf, &theme);
    let text = screen_text(area, &buf);
    assert!(text.contains("running "), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("alarm: ")), "{text}");
    assert!(text.contains("2 events, 0 checkpoints"), "{text}");
    assert!(text.contains("alarm_cleared: steps resumed"), "{text}");
}
