//! Tests of the run view and the side pane.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::render::{duration, render_side};
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
    let area = Rect::new(0, 0, 100, 8);
    let mut buf = Buffer::empty(area);
    render_side(run, area, &mut buf, &Theme::default());
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
