//! Progress of long commands, for a person at a terminal and for a log file alike.
//!
//! On a terminal it is a bar; when stderr is a file or a pipe (`nohup`, `tmux
//! pipe-pane`, a job scheduler) a bar prints nothing readable, so it writes plain
//! one-line records instead: one when the task starts, one at each stage change, one
//! every interval (10 s by default, `PLANTUNE_PROGRESS_INTERVAL_MS` for tests) and one
//! at the end. Each says done/total, rate, ETA and errors so far; no control characters.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Overrides the interval between two progress lines, in milliseconds.
pub const INTERVAL_ENV: &str = "PLANTUNE_PROGRESS_INTERVAL_MS";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// A bar when stderr is a terminal, lines otherwise.
    #[default]
    Auto,
    Bar,
    Lines,
    None,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Sets the mode for the whole process (the command line does, once); later calls
/// are ignored.
pub fn configure(mode: Mode) {
    let _ = MODE.set(mode);
}

/// The mode in force, `Auto` resolved against stderr.
fn resolved_mode() -> Mode {
    match MODE.get().copied().unwrap_or_default() {
        Mode::Auto if std::io::stderr().is_terminal() => Mode::Bar,
        Mode::Auto => Mode::Lines,
        other => other,
    }
}

/// The interval between lines: the environment's override, else 10 s.
pub fn interval() -> Duration {
    std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(DEFAULT_INTERVAL, Duration::from_millis)
}

#[derive(Debug, Clone)]
struct State {
    task: String,
    stage: String,
    unit: String,
    done: u64,
    total: Option<u64>,
    errors: u64,
    message: String,
    started: Instant,
    /// When `done` was last zero, so a resumed job's rate counts only this job's work.
    counted_from: (Instant, u64),
}

impl State {
    /// One plain record: `progress distill [plans]: 3/10 problems (30%), 0.50/s,
    /// ETA 14 s, 0 errors, 12 s elapsed | message`.
    fn line(&self, event: &str) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut out = format!("progress {}", self.task);
        if !self.stage.is_empty() {
            out.push_str(&format!(" [{}]", self.stage));
        }
        match self.total {
            Some(total) if total > 0 => {
                let percent = 100.0 * self.done as f64 / total as f64;
                out.push_str(&format!(
                    ": {}/{} {} ({percent:.0}%)",
                    self.done, total, self.unit
                ));
            }
            _ => out.push_str(&format!(": {} {}", self.done, self.unit)),
        }
        let rate = self.rate();
        out.push_str(&format!(", {rate:.2}/s"));
        match (self.total, rate > 0.0) {
            (Some(total), true) if total >= self.done => {
                let eta = (total - self.done) as f64 / rate;
                out.push_str(&format!(", ETA {}", seconds(eta)));
            }
            _ => out.push_str(", ETA ?"),
        }
        out.push_str(&format!(
            ", {} errors, {} elapsed",
            self.errors,
            seconds(elapsed)
        ));
        if !event.is_empty() {
            out.push_str(&format!(", {event}"));
        }
        if !self.message.is_empty() {
            out.push_str(" | ");
            out.push_str(&self.message);
        }
        plain(&out)
    }

    fn rate(&self) -> f64 {
        let (since, base) = self.counted_from;
        let secs = since.elapsed().as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        self.done.saturating_sub(base) as f64 / secs
    }
}

/// `42 s`, `3 min 5 s`, `2 h 4 min`.
fn seconds(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The text with every control character (escape sequences, newlines) replaced, so a
/// record is one line whatever a teacher or a file name put in it.
fn plain(text: &str) -> String {
    crate::text::sanitize(text)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

enum Output {
    Bar(ProgressBar),
    Lines {
        /// Dropped at the end, which wakes and stops the ticker.
        stop: Option<mpsc::Sender<()>>,
        ticker: Option<std::thread::JoinHandle<()>>,
    },
    Silent,
}

/// One long task's progress. Cheap to update from any thread; it prints from the
/// updates themselves (stage changes) and from a ticker thread (the steady cadence).
pub struct Progress {
    state: Arc<Mutex<State>>,
    output: Mutex<Output>,
}

impl Progress {
    /// Starts showing `task`, counted in `unit` (e.g. "problems"); the first record is
    /// written at once.
    pub fn new(task: &str, unit: &str, total: Option<u64>) -> Self {
        Self::with_mode(resolved_mode(), task, unit, total)
    }

    fn with_mode(mode: Mode, task: &str, unit: &str, total: Option<u64>) -> Self {
        let now = Instant::now();
        let state = Arc::new(Mutex::new(State {
            task: task.to_owned(),
            stage: String::new(),
            unit: unit.to_owned(),
            done: 0,
            total,
            errors: 0,
            message: String::new(),
            started: now,
            counted_from: (now, 0),
        }));
        let output = match mode {
            Mode::Bar | Mode::Auto => Output::Bar(bar(task, unit, total)),
            Mode::Lines => {
                let first = lock(&state).line("started");
                emit(&first);
                let (stop, ticks) = mpsc::channel::<()>();
                let shared = Arc::clone(&state);
                let every = interval();
                let ticker = std::thread::spawn(move || {
                    while let Err(RecvTimeoutError::Timeout) = ticks.recv_timeout(every) {
                        let line = lock(&shared).line("");
                        emit(&line);
                    }
                });
                Output::Lines {
                    stop: Some(stop),
                    ticker: Some(ticker),
                }
            }
            Mode::None => Output::Silent,
        };
        Self {
            state,
            output: Mutex::new(output),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar, &State)) {
        if let Output::Bar(bar) = &*lock_output(&self.output) {
            f(bar, &lock(&self.state));
        }
    }

    pub fn set_total(&self, total: u64) {
        lock(&self.state).total = Some(total);
        self.with_bar(|bar, _| bar.set_length(total));
    }

    pub fn set_done(&self, done: u64) {
        lock(&self.state).done = done;
        self.with_bar(|bar, _| bar.set_position(done));
    }

    /// Done work that this job did not do itself (resumed from before): counted in
    /// done/total, left out of the rate.
    pub fn set_resumed(&self, done: u64) {
        let mut state = lock(&self.state);
        state.done = done;
        state.counted_from = (Instant::now(), done);
        drop(state);
        self.with_bar(|bar, _| bar.set_position(done));
    }

    pub fn set_errors(&self, errors: u64) {
        lock(&self.state).errors = errors;
    }

    /// Free text after the figures (kept to one line).
    pub fn set_message(&self, message: impl Into<String>) {
        let message = plain(&message.into());
        lock(&self.state).message = message.clone();
        self.with_bar(|bar, state| bar.set_message(bar_message(state, &message)));
    }

    /// A new stage: written as a record at once in lines mode.
    pub fn stage(&self, stage: &str) {
        let line = {
            let mut state = lock(&self.state);
            if state.stage == stage {
                return;
            }
            state.stage = plain(stage);
            state.line("stage")
        };
        match &*lock_output(&self.output) {
            Output::Lines { .. } => emit(&line),
            Output::Bar(bar) => bar.set_prefix(plain(stage)),
            Output::Silent => {}
        }
    }

    /// Writes a warning without breaking the bar (a plain line otherwise).
    pub fn warn(&self, text: &str) {
        let line = format!("warning: {}", plain(text));
        match &*lock_output(&self.output) {
            Output::Bar(bar) => bar.suspend(|| emit(&line)),
            _ => emit(&line),
        }
    }

    /// Stops the ticker and writes the last record (or leaves the finished bar).
    pub fn finish(&self) {
        self.end(true);
    }

    /// Like [`Progress::finish`] for a task that may have failed: the last record says
    /// `finished` or `failed`.
    pub fn end(&self, ok: bool) {
        let mut output = lock_output(&self.output);
        match &mut *output {
            Output::Bar(bar) if ok => bar.finish(),
            Output::Bar(bar) => bar.abandon(),
            Output::Lines { stop, ticker } => {
                drop(stop.take());
                if let Some(ticker) = ticker.take() {
                    let _ = ticker.join();
                    let event = if ok { "finished" } else { "failed" };
                    emit(&lock(&self.state).line(event));
                }
            }
            Output::Silent => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An early return (an error) still stops the ticker thread.
        if let Output::Lines { stop, ticker } = &mut *lock_output(&self.output) {
            drop(stop.take());
            if let Some(ticker) = ticker.take() {
                let _ = ticker.join();
            }
        }
    }
}

fn bar(task: &str, unit: &str, total: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::new(total.unwrap_or(0));
    let template = format!(
        "{{elapsed_precise}} {} {{prefix}} [{{bar:30}}] {{pos}}/{{len}} {} ({{per_sec}}, ETA {{eta}}) {{msg}}",
        plain(task),
        plain(unit)
    );
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Redraw each second, so elapsed time moves while a long call is out.
    bar.enable_steady_tick(Duration::from_secs(1));
    bar
}

fn bar_message(state: &State, message: &str) -> String {
    if state.errors > 0 {
        format!("{} errors {message}", state.errors)
    } else {
        message.to_owned()
    }
}

fn emit(line: &str) {
    let mut stderr = std::io::stderr().lock();
    // A closed stderr must not stop the work it reports on.
    let _ = writeln!(stderr, "{line}");
    let _ = stderr.flush();
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock_output(output: &Mutex<Output>) -> std::sync::MutexGuard<'_, Output> {
    output
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        let now = Instant::now() - Duration::from_secs(10);
        State {
            task: "distill".into(),
            stage: "plans".into(),
            unit: "problems".into(),
            done: 5,
            total: Some(10),
            errors: 1,
            message: String::new(),
            started: now,
            counted_from: (now, 0),
        }
    }

    #[test]
    fn a_record_has_the_figures_and_no_control_characters() {
        let mut s = state();
        s.message = plain("teacher said \u{1b}[31mred\nline");
        let line = s.line("stage");
        assert!(line.starts_with("progress distill [plans]: 5/10 problems (50%)"));
        assert!(line.contains("0.50/s"), "{line}");
        assert!(line.contains("ETA 10 s"), "{line}");
        assert!(line.contains("1 errors"), "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }

    #[test]
    fn unknown_totals_and_resumed_work_leave_the_rate_honest() {
        let mut s = state();
        s.total = None;
        assert!(s.line("").contains("ETA ?"));
        s.counted_from = (Instant::now() - Duration::from_secs(10), 5);
        s.total = Some(10);
        assert!(s.line("").contains("0.00/s, ETA ?"), "{}", s.line(""));
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(seconds(42.4), "42 s");
        assert_eq!(seconds(185.0), "3 min 5 s");
        assert_eq!(seconds(7440.0), "2 h 4 min");
    }
}
