//! `plantune-tui bench tui`: a workspace with many candidates and a long events file,
//! driven headless. Measures time to first frame, per-frame cost while scrolling (state
//! update + draw through a `TestBackend` terminal), how long a huge run log takes to be
//! caught up by the tailer, per-frame cost while a run writes 100 events a second (the
//! `live` case: the Runs screen following a run as it trains), and peak RSS.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

use crate::config::paths::Paths;
use crate::config::theme::Theme;
use crate::jobs::RunLock;
use crate::runlog::{EventWriter, RunEvent, RunStatus};
use crate::runs::RunDir;
use crate::tui::App;
use crate::tui::action::Action;
use crate::tui::keymap::Keymap;
use crate::workspace::Workspace;
use crate::workspace::records::{NewCandidate, NewProblem, Sampling};
use crate::workspace::store::RunRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TuiBenchOptions {
    pub candidates: usize,
    pub event_lines: usize,
    /// Scroll steps measured on each screen.
    pub frames: usize,
    pub width: u16,
    pub height: u16,
    /// Runs drawn overlaid on one chart, and the steps each has.
    pub overlaid_runs: usize,
    pub overlaid_steps: usize,
    /// The live case: events a second appended to a run while it is shown, and for how
    /// long.
    pub live_lines_per_s: u32,
    pub live_for: Duration,
}

impl Default for TuiBenchOptions {
    fn default() -> Self {
        Self {
            candidates: 100_000,
            event_lines: 1_000_000,
            frames: 1_000,
            width: 120,
            height: 40,
            overlaid_runs: 10,
            overlaid_steps: 10_000,
            live_lines_per_s: 100,
            live_for: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TuiBench {
    pub candidates: usize,
    pub event_lines: usize,
    pub events_mib: f64,
    pub setup_s: f64,
    /// Opening the app (store queries, first poll of every run) plus the first draw.
    pub time_to_first_frame_ms: f64,
    /// Ticks (and time) until the tailer has read the whole events file.
    pub events_catch_up_ticks: u64,
    pub events_read: u64,
    pub events_catch_up_ms: f64,
    /// Curate screen, one `Down` per frame: update + draw.
    pub curate_frame_p50_ms: f64,
    pub curate_frame_p99_ms: f64,
    /// Runs screen with the full run loaded, one tick + draw per frame.
    pub runs_frame_p50_ms: f64,
    pub runs_frame_p99_ms: f64,
    /// Runs screen with `overlaid_runs` runs marked and drawn on one chart (loss,
    /// reward, accuracy, with legend), one tick + draw per frame.
    pub overlaid_runs: usize,
    pub overlaid_steps: usize,
    pub overlaid_frame_p50_ms: f64,
    pub overlaid_frame_p99_ms: f64,
    /// Runs screen on a run another thread appends `live_lines_per_s` step events to
    /// (through `EventWriter`, as a worker does), one tick + draw per frame at the TUI's
    /// frame rate, until every line written has been seen.
    pub live_lines_per_s: u32,
    pub live_lines_written: u64,
    pub live_lines_seen: u64,
    pub live_frames: usize,
    pub live_frame_p50_ms: f64,
    pub live_frame_p99_ms: f64,
    pub frames: usize,
    /// Peak over the whole process, including building the fixture.
    pub peak_rss_mib: Option<f64>,
    /// Resident set at the end, with the app holding everything it loaded.
    pub rss_end_mib: Option<f64>,
}

const PLANS: usize = 5;
const RUN_ID: &str = "bench-run";
const LIVE_RUN: &str = "live-run";
/// The TUI loop's frame interval (`tui::run` draws at most every 33 ms).
const FRAME: Duration = Duration::from_millis(33);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let at = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[at]
}

fn populate(workspace: &Workspace, candidates: usize) -> anyhow::Result<()> {
    let mut store = workspace.store()?;
    let problems: Vec<NewProblem> = (0..candidates.div_ceil(PLANS))
        .map(|i| NewProblem {
            dataset: "bench".into(),
            split: "train".into(),
            external_id: format!("bench/{i}"),
            question: format!(
                "Problem {i}: a train leaves at {} and travels {} km at {} km/h. When does it arrive?",
                i % 24,
                i % 500 + 10,
                i % 90 + 30
            ),
            gold_answer: (i % 97).to_string(),
            gold_solution: None,
            metadata: serde_json::json!({}),
        })
        .collect();
    store.insert_problems(&problems)?;
    let ids: Vec<i64> = store
        .problems(Some("bench"), None)?
        .iter()
        .map(|p| p.id)
        .collect();
    let steps: Vec<String> = (1..=6)
        .map(|s| format!("Step {s}: work out the quantity needed for the next part."))
        .collect();
    let batch: Vec<NewCandidate> = (0..candidates)
        .map(|i| NewCandidate {
            problem_id: ids[(i / PLANS).min(ids.len() - 1)],
            teacher: "bench".into(),
            plan_index: (i % PLANS) as u32,
            constraints: "Distances are positive; answer in hours.".into(),
            plan: steps.join("\n"),
            plan_steps: steps.clone(),
            execution: "Compute each step in turn.\n".repeat(20) + "\\boxed{42}",
            extracted_answer: Some("42".into()),
            correct: Some(i % 3 != 0),
            grade_reason: "numeric comparison".into(),
            judge_score: Some((i % 201) as i32 - 100),
            judge_reason: "Score: judged".into(),
            sampling: Sampling::default(),
        })
        .collect();
    for chunk in batch.chunks(10_000) {
        store.insert_candidates(chunk)?;
    }
    Ok(())
}

fn write_events(workspace: &Workspace, lines: usize) -> anyhow::Result<f64> {
    let dir = RunDir::new(workspace, RUN_ID);
    std::fs::create_dir_all(dir.root())?;
    let path = dir.events();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(
        out,
        r#"{{"t":0,"kind":"run_started","device":"cpu","parameters":1000}}"#
    )?;
    for i in 1..lines as u64 {
        if i % 100 == 0 {
            writeln!(
                out,
                r#"{{"t":{i},"kind":"log","level":"info","message":"line {i}"}}"#
            )?;
        } else {
            writeln!(
                out,
                r#"{{"t":{i},"kind":"step","step":{i},"loss":{:.5},"lr":0.0001,"grad_norm":1.0,"tokens_per_s":1000.0,"elapsed_s":{},"total_steps":{lines},"reward_mean":0.5,"kl":0.01}}"#,
                1.0 / (i as f64).sqrt(),
                i as f64 * 0.01
            )?;
        }
    }
    out.flush()?;
    register(workspace, RUN_ID)?;
    Ok(std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0))
}

/// Builds the workspace under `dir` and measures. `dir` should be an empty temp dir.
pub fn run(options: &TuiBenchOptions, dir: &Path) -> anyhow::Result<TuiBench> {
    let setup = Instant::now();
    let paths = Paths {
        config_dir: dir.join("config"),
        data_dir: dir.join("data"),
        cache_dir: dir.join("cache"),
    };
    let workspace = Workspace::init(&dir.join("bench"), &paths).context("creating workspace")?;
    populate(&workspace, options.candidates)?;
    let events_mib = write_events(&workspace, options.event_lines)?;
    let setup_s = setup.elapsed().as_secs_f64();

    let mut terminal = Terminal::new(TestBackend::new(options.width, options.height))?;
    let start = Instant::now();
    let keymap = Keymap::defaults()?;
    let theme = Theme::load("default", &paths.user_themes())?;
    let mut app = App::new(workspace, keymap, theme)?;
    terminal.draw(|f| app.render(f.area(), f.buffer_mut()))?;
    let time_to_first_frame_ms = ms(start.elapsed());

    let mut curate = Vec::with_capacity(options.frames);
    for _ in 0..options.frames {
        let t = Instant::now();
        app.update(Action::Down);
        terminal.draw(|f| app.render(f.area(), f.buffer_mut()))?;
        curate.push(ms(t.elapsed()));
    }

    app.update(Action::ShowRuns);
    let expected = options.event_lines as u64;
    let catch_up = Instant::now();
    let mut ticks = 0u64;
    while app
        .runs
        .runs
        .iter()
        .find(|r| r.id == RUN_ID)
        .map_or(0, |r| r.summary.events)
        < expected
    {
        app.update(Action::Tick);
        ticks += 1;
        if ticks > 100_000 {
            anyhow::bail!("the tailer never caught up with {expected} events");
        }
    }
    let events_catch_up_ms = ms(catch_up.elapsed());
    let events_read = app
        .runs
        .runs
        .iter()
        .find(|r| r.id == RUN_ID)
        .map_or(0, |r| r.summary.events);

    let mut runs = Vec::with_capacity(options.frames);
    for _ in 0..options.frames {
        let t = Instant::now();
        app.update(Action::Tick);
        terminal.draw(|f| app.render(f.area(), f.buffer_mut()))?;
        runs.push(ms(t.elapsed()));
    }
    let mut overlaid = measure_overlaid(&mut app, &mut terminal, options)?;
    let mut live = measure_live(&mut app, &mut terminal, options)?;

    Ok(TuiBench {
        candidates: options.candidates,
        event_lines: options.event_lines,
        events_mib,
        setup_s,
        time_to_first_frame_ms,
        events_catch_up_ticks: ticks,
        events_read,
        events_catch_up_ms,
        curate_frame_p50_ms: percentile(&mut curate, 0.5),
        curate_frame_p99_ms: percentile(&mut curate, 0.99),
        runs_frame_p50_ms: percentile(&mut runs, 0.5),
        runs_frame_p99_ms: percentile(&mut runs, 0.99),
        overlaid_runs: options.overlaid_runs,
        overlaid_steps: options.overlaid_steps,
        overlaid_frame_p50_ms: percentile(&mut overlaid, 0.5),
        overlaid_frame_p99_ms: percentile(&mut overlaid, 0.99),
        live_lines_per_s: options.live_lines_per_s,
        live_lines_written: live.written,
        live_lines_seen: live.seen,
        live_frames: live.frames.len(),
        live_frame_p50_ms: percentile(&mut live.frames, 0.5),
        live_frame_p99_ms: percentile(&mut live.frames, 0.99),
        frames: options.frames,
        peak_rss_mib: crate::bench::peak_rss_mib(),
        rss_end_mib: current_rss_mib(),
    })
}

/// Writes `options.overlaid_runs` GRPO runs of `overlaid_steps` steps, waits until the
/// app has read them all, marks them, and times tick + draw with all of them overlaid.
fn measure_overlaid(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    options: &TuiBenchOptions,
) -> anyhow::Result<Vec<f64>> {
    let ids: Vec<String> = (0..options.overlaid_runs)
        .map(|i| format!("overlay-{i:02}"))
        .collect();
    for id in &ids {
        write_run(&app.workspace, id, options.overlaid_steps)?;
    }
    // A tick re-lists the runs folder every few ticks; then the tailers catch up.
    let want = options.overlaid_steps as u64;
    let caught_up = |app: &App| {
        ids.iter().all(|id| {
            app.runs
                .runs
                .iter()
                .find(|r| &r.id == id)
                .is_some_and(|r| r.summary.events >= want)
        })
    };
    let mut ticks = 0u64;
    while !caught_up(app) {
        app.update(Action::Tick);
        ticks += 1;
        if ticks > 100_000 {
            anyhow::bail!("the overlaid runs were never read to the end");
        }
    }
    app.runs.marked = ids.iter().cloned().collect();
    anyhow::ensure!(
        app.runs.overlaid().len() == options.overlaid_runs,
        "not every run is overlaid"
    );
    let mut frames = Vec::with_capacity(options.frames);
    for _ in 0..options.frames {
        let t = Instant::now();
        app.update(Action::Tick);
        terminal.draw(|f| app.render(f.area(), f.buffer_mut()))?;
        frames.push(ms(t.elapsed()));
    }
    Ok(frames)
}

/// One registered GRPO run of `steps` steps (loss, reward, accuracy, tokens).
fn write_run(workspace: &Workspace, id: &str, steps: usize) -> anyhow::Result<()> {
    let dir = RunDir::new(workspace, id);
    std::fs::create_dir_all(dir.root())?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.events())?);
    writeln!(
        out,
        r#"{{"t":0,"kind":"run_started","device":"cpu","parameters":1000}}"#
    )?;
    for i in 1..steps as u64 {
        let x = i as f64;
        writeln!(
            out,
            r#"{{"t":{i},"kind":"step","step":{i},"loss":{:.5},"tokens_per_s":1000.0,"elapsed_s":{},"total_steps":{steps},"reward_mean":{:.4},"accuracy":{:.4}}}"#,
            1.0 / x.sqrt(),
            x * 0.01,
            1.0 - 1.0 / x.sqrt(),
            (x / steps as f64).min(1.0)
        )?;
    }
    out.flush()?;
    register(workspace, id)
}

/// A registry row for a GRPO run the bench wrote, so the Runs screen lists it.
fn register(workspace: &Workspace, id: &str) -> anyhow::Result<()> {
    workspace.store()?.upsert_run(&RunRecord {
        id: id.into(),
        kind: "grpo".into(),
        status: "running".into(),
        pid: None,
        dir: RunDir::registry_dir(id),
        dataset_hash: None,
        config: serde_json::json!({}),
        created_ms: 0,
        updated_ms: 0,
    })?;
    Ok(())
}

struct Live {
    written: u64,
    seen: u64,
    frames: Vec<f64>,
}

fn events_seen(app: &App, id: &str) -> u64 {
    app.runs
        .runs
        .iter()
        .find(|r| r.id == id)
        .map_or(0, |r| r.summary.events)
}

/// Shows a run on the Runs screen while a thread writes it at `live_lines_per_s`, and
/// times tick + draw at the TUI's frame rate until the screen has seen every line.
fn measure_live(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    options: &TuiBenchOptions,
) -> anyhow::Result<Live> {
    let dir = RunDir::new(&app.workspace, LIVE_RUN);
    std::fs::create_dir_all(dir.root())?;
    register(&app.workspace, LIVE_RUN)?;
    let mut writer = EventWriter::open(&dir.events())?;
    writer.write(RunEvent::RunStarted {
        config: serde_json::json!({ "grpo": { "beta": 0.04 } }),
        device: "cpu".into(),
        parameters: 1000,
        trainable_parameters: 1000,
    })?;
    let mut ticks = 0;
    let index = loop {
        if let Some(i) = app.runs.runs.iter().position(|r| r.id == LIVE_RUN) {
            break i;
        }
        app.update(Action::Tick);
        ticks += 1;
        anyhow::ensure!(
            ticks < 1_000,
            "the live run never appeared on the Runs screen"
        );
    };
    app.runs.marked.clear();
    app.runs.selected = index;

    let rate = options.live_lines_per_s.max(1);
    let steps = (f64::from(rate) * options.live_for.as_secs_f64())
        .round()
        .max(1.0) as u64;
    // run_started, the steps, run_finished.
    let written = steps + 2;
    let every = Duration::from_secs_f64(1.0 / f64::from(rate));
    let root = dir.root().to_path_buf();
    let thread = std::thread::spawn(move || -> anyhow::Result<()> {
        // The lock makes the screen see a live run, as it does a worker's.
        let _lock = RunLock::acquire(&root)?;
        let start = Instant::now();
        for i in 1..=steps {
            writer.write(live_step(i, steps))?;
            let due = start + every.mul_f64(i as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        writer.write(RunEvent::RunFinished {
            status: RunStatus::Completed,
            error: None,
        })?;
        Ok(())
    });

    let deadline = Instant::now() + options.live_for + Duration::from_secs(60);
    let mut frames = Vec::new();
    let mut next = Instant::now();
    let seen = loop {
        let t = Instant::now();
        app.update(Action::Tick);
        terminal.draw(|f| app.render(f.area(), f.buffer_mut()))?;
        frames.push(ms(t.elapsed()));
        let seen = events_seen(app, LIVE_RUN);
        if thread.is_finished() && seen >= written {
            break seen;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the Runs screen saw {seen} of {written} live lines"
        );
        next += FRAME;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    };
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("the live writer panicked"))??;
    anyhow::ensure!(
        app.runs.selected_run().is_some_and(|r| r.id == LIVE_RUN),
        "the live run was not the one shown"
    );
    Ok(Live {
        written,
        seen,
        frames,
    })
}

/// A GRPO step as a worker writes it.
fn live_step(step: u64, total: u64) -> RunEvent {
    let x = step as f64;
    RunEvent::Step {
        step,
        epoch: x / total as f64,
        loss: 1.0 / x.sqrt(),
        lr: 1e-5,
        grad_norm: 0.8,
        tokens_per_s: 1200.0,
        elapsed_s: x * 0.01,
        total_steps: Some(total),
        reward_mean: Some(1.0 - 1.0 / x.sqrt()),
        reward_std: Some(0.3),
        rewards: [("answer", 0.6), ("format", 0.9), ("plan", 0.4)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        kl: Some(0.01),
        clip_frac: Some(0.02),
        completion_len: Some(180.0),
        accuracy: Some((x / total as f64).min(1.0)),
        metrics: Default::default(),
    }
}

fn current_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_bench_runs_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let options = TuiBenchOptions {
            candidates: 50,
            event_lines: 2_000,
            frames: 20,
            width: 80,
            height: 24,
            overlaid_runs: 3,
            overlaid_steps: 200,
            live_lines_per_s: 100,
            live_for: Duration::from_millis(500),
        };
        let result = run(&options, dir.path()).unwrap();
        assert_eq!(result.overlaid_runs, 3);
        assert!(result.overlaid_frame_p99_ms >= result.overlaid_frame_p50_ms);
        assert_eq!(result.live_lines_written, 52);
        assert_eq!(result.live_lines_seen, result.live_lines_written);
        assert!(result.live_frames >= 10, "{} frames", result.live_frames);
        assert!(result.live_frame_p99_ms >= result.live_frame_p50_ms);
        assert_eq!(result.candidates, 50);
        assert_eq!(result.events_read, 2_000);
        assert!(result.curate_frame_p99_ms >= result.curate_frame_p50_ms);
        assert!(result.events_mib > 0.0);
    }

    #[test]
    fn percentiles_pick_ranked_samples() {
        let mut samples: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        assert_eq!(percentile(&mut samples, 0.5), 51.0);
        assert_eq!(percentile(&mut samples, 0.99), 99.0);
    }
}
