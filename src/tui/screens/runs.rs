//! Runs: every run of the workspace, live from its `events.jsonl`. Runs are separate
//! processes: closing the TUI never touches one; stopping and resuming go through
//! `runs/`, exactly as `plantune-tui runs stop/resume` do, and whether a run is alive
//! is what its lock says.

use std::collections::{BTreeSet, VecDeque};

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget, Wrap};

use super::{Ctx, border_style, clamp, step, text_lines};
use crate::config::theme::Theme;
use crate::runlog::{RunEvent, RunStatus, Tailer, TimedEvent};
use crate::runs::{Liveness, RunDir, RunState, RunSummary};
use crate::text::sanitize;
use crate::tui::action::Action;
use crate::tui::widgets::series::Series;

const LOG_LINES: usize = 200;
const SAMPLES: usize = 5;
/// Ticks between re-listing the runs directory (new runs appear without a restart).
const RESCAN_TICKS: u32 = 8;

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub loss: Series,
    pub lr: Series,
    pub grad_norm: Series,
    pub tokens_per_s: Series,
    pub reward: Series,
    pub kl: Series,
    pub accuracy: Series,
}

pub struct RunView {
    pub id: String,
    pub kind: String,
    pub registry_status: String,
    pub pid: Option<i64>,
    /// What the run's lock said at the last poll (`None`: not asked yet).
    pub lock: Option<Liveness>,
    pub dir: RunDir,
    tailer: Tailer,
    pub summary: RunSummary,
    pub metrics: Metrics,
    pub logs: VecDeque<String>,
    pub samples: VecDeque<(u64, String, String, Option<f64>)>,
    pub torn_tail: bool,
    pub malformed: u64,
    pub read_error: Option<String>,
}

impl RunView {
    fn new(id: String, kind: String, status: String, pid: Option<i64>, dir: RunDir) -> Self {
        Self {
            id,
            kind,
            registry_status: status,
            pid,
            lock: None,
            tailer: Tailer::new(&dir.events()),
            dir,
            summary: RunSummary::default(),
            metrics: Metrics::default(),
            logs: VecDeque::new(),
            samples: VecDeque::new(),
            torn_tail: false,
            malformed: 0,
            read_error: None,
        }
    }

    /// Reads what the run appended since the last poll, and asks its lock.
    pub fn poll(&mut self) {
        match self.tailer.poll() {
            Ok(events) => {
                self.read_error = None;
                for event in events {
                    self.apply(event);
                }
            }
            Err(e) => self.read_error = Some(e.to_string()),
        }
        self.torn_tail = self.tailer.has_torn_tail();
        self.malformed = self.tailer.malformed();
        self.lock = self.dir.liveness().ok();
    }

    fn log(&mut self, t: i64, text: String) {
        let rel = (t - self.summary.first_t.unwrap_or(t)) as f64 / 1000.0;
        self.logs.push_back(format!("+{rel:>7.1}s {text}"));
        while self.logs.len() > LOG_LINES {
            self.logs.pop_front();
        }
    }

    pub fn apply(&mut self, timed: TimedEvent) {
        self.summary.apply(&timed);
        match timed.event {
            RunEvent::RunStarted {
                device, parameters, ..
            } => {
                self.log(
                    timed.t,
                    format!("started on {device}, {parameters} parameters"),
                );
            }
            RunEvent::Step {
                step,
                loss,
                lr,
                grad_norm,
                tokens_per_s,
                reward_mean,
                kl,
                accuracy,
                ..
            } => {
                let x = step as f64;
                let m = &mut self.metrics;
                m.loss.push(x, loss);
                m.lr.push(x, lr);
                m.grad_norm.push(x, grad_norm);
                m.tokens_per_s.push(x, tokens_per_s);
                if let Some(r) = reward_mean {
                    m.reward.push(x, r);
                }
                if let Some(k) = kl {
                    m.kl.push(x, k);
                }
                if let Some(a) = accuracy {
                    m.accuracy.push(x, a);
                }
            }
            RunEvent::Eval { step, metrics } => {
                let text: Vec<String> =
                    metrics.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
                self.log(timed.t, format!("eval @{step}: {}", text.join(" ")));
            }
            RunEvent::Sample {
                step,
                prompt,
                completion,
                reward,
                ..
            } => {
                self.samples.push_back((step, prompt, completion, reward));
                while self.samples.len() > SAMPLES {
                    self.samples.pop_front();
                }
            }
            RunEvent::Checkpoint { step, path } => {
                self.log(timed.t, format!("checkpoint @{step}: {path}"));
            }
            RunEvent::Log { level, message } => self.log(timed.t, format!("{level}: {message}")),
            RunEvent::RunFinished { status, error } => {
                let text = match &error {
                    Some(e) => format!("finished: {status:?} ({e})"),
                    None => format!("finished: {status:?}"),
                };
                self.log(timed.t, text);
            }
            RunEvent::Device(_) | RunEvent::Unknown => {}
        }
    }

    pub fn state(&self) -> RunState {
        RunState::of(&self.summary, self.lock)
    }

    pub fn is_grpo(&self) -> bool {
        !self.metrics.reward.is_empty() || !self.metrics.kl.is_empty()
    }
}

/// Where the Runs screen draws each part; render and mouse hit-testing share it.
pub struct RunsLayout {
    pub list: Rect,
    pub stats: Rect,
    pub charts: Rect,
    pub log: Rect,
    pub side: Rect,
}

#[derive(Default)]
pub struct RunsScreen {
    pub runs: Vec<RunView>,
    pub selected: usize,
    pub log_scroll: u16,
    ticks: u32,
}

impl RunsScreen {
    /// Lists the runs without reading their events: a long events file would delay
    /// the first frame, so reading starts on the first tick.
    pub fn new(ctx: &mut Ctx) -> anyhow::Result<Self> {
        let mut screen = Self::default();
        screen.rescan(ctx)?;
        Ok(screen)
    }

    /// Runs from the registry, plus run folders that have events but no registry row
    /// (runs from other tools, or a registry write that never happened).
    fn rescan(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let known: BTreeSet<String> = self.runs.iter().map(|r| r.id.clone()).collect();
        let runs_dir = ctx.workspace.runs_dir();
        for record in ctx.store.runs()? {
            if let Some(view) = self.runs.iter_mut().find(|r| r.id == record.id) {
                view.registry_status = record.status;
                view.pid = record.pid;
                continue;
            }
            let dir = RunDir::of_record(ctx.workspace, &record);
            self.runs.push(RunView::new(
                record.id,
                record.kind,
                record.status,
                record.pid,
                dir,
            ));
        }
        if let Ok(entries) = std::fs::read_dir(&runs_dir) {
            let mut extra: Vec<RunDir> = entries
                .filter_map(Result::ok)
                .map(|e| RunDir::at(e.path()))
                .filter(|dir| dir.events().is_file())
                .collect();
            extra.sort_by(|a, b| a.root().cmp(b.root()));
            for dir in extra {
                let id = dir
                    .root()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if known.contains(&id) || self.runs.iter().any(|r| r.id == id) {
                    continue;
                }
                self.runs.push(RunView::new(
                    id,
                    "?".into(),
                    "unregistered".into(),
                    None,
                    dir,
                ));
            }
        }
        self.selected = clamp(self.selected, self.runs.len());
        Ok(())
    }

    pub fn selected_run(&self) -> Option<&RunView> {
        self.runs.get(self.selected)
    }

    /// Lists runs again and selects `id` (a run just created).
    pub fn select_id(&mut self, ctx: &mut Ctx, id: &str) -> anyhow::Result<()> {
        self.rescan(ctx)?;
        if let Some(index) = self.runs.iter().position(|r| r.id == id) {
            self.selected = index;
            self.log_scroll = 0;
        }
        self.poll_all();
        Ok(())
    }

    /// A worker was just launched for `id`: show it as running before its first event.
    pub fn mark_started(&mut self, id: &str, pid: u32) {
        if let Some(run) = self.runs.iter_mut().find(|r| r.id == id) {
            run.pid = Some(i64::from(pid));
            run.lock = Some(Liveness::Alive {
                pid: Some(i64::from(pid)),
            });
            run.summary.finished = None;
            run.registry_status = "running".into();
        }
    }

    /// A new run's worker is known to have been launched for `id`. Unlike a resume, an
    /// ending already read is this worker's own (it can end before its launch has been
    /// reported), so it is kept.
    pub fn mark_launched(&mut self, id: &str, pid: u32) {
        if let Some(run) = self.runs.iter_mut().find(|r| r.id == id) {
            run.pid = Some(i64::from(pid));
            if run.summary.finished.is_none() {
                run.lock = Some(Liveness::Alive {
                    pid: Some(i64::from(pid)),
                });
                run.registry_status = "running".into();
            }
        }
    }

    pub fn layout(&self, area: Rect) -> RunsLayout {
        let list_height = (self.runs.len() as u16 + 2).clamp(3, 7);
        let [list, stats, charts, bottom] = Layout::vertical([
            Constraint::Length(list_height),
            Constraint::Length(2),
            Constraint::Min(6),
            Constraint::Percentage(35),
        ])
        .areas(area);
        let [log, side] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(bottom);
        RunsLayout {
            list,
            stats,
            charts,
            log,
            side,
        }
    }

    /// The list's inner area and its first visible row.
    fn list_window(&self, list: Rect) -> (Rect, usize) {
        let inner = list_block(0).inner(list);
        let height = inner.height as usize;
        (
            inner,
            self.selected.saturating_sub(height.saturating_sub(1)),
        )
    }

    /// A click on a row of the list selects that run.
    pub fn click(&mut self, area: Rect, at: Position) {
        let (inner, top) = self.list_window(self.layout(area).list);
        if inner.contains(at) {
            let index = top + usize::from(at.y - inner.y);
            if index < self.runs.len() {
                self.selected = index;
                self.log_scroll = 0;
            }
        }
    }

    /// The wheel scrolls the log when over it, else moves the selection.
    pub fn scroll_at(&mut self, area: Rect, at: Position, down: bool) {
        if self.layout(area).log.contains(at) {
            self.log_scroll = if down {
                self.log_scroll.saturating_sub(3)
            } else {
                self.log_scroll.saturating_add(3)
            };
        } else {
            self.selected = step(self.selected, if down { 1 } else { -1 }, self.runs.len());
        }
    }

    fn poll_all(&mut self) {
        for run in &mut self.runs {
            run.poll();
        }
    }

    pub fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        match action {
            Action::Tick => {
                self.ticks = self.ticks.wrapping_add(1);
                if self.ticks.is_multiple_of(RESCAN_TICKS) {
                    self.rescan(ctx)?;
                }
                self.poll_all();
            }
            Action::ShowRuns => self.poll_all(),
            Action::Down => self.selected = step(self.selected, 1, self.runs.len()),
            Action::Up => self.selected = step(self.selected, -1, self.runs.len()),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = self.runs.len().saturating_sub(1),
            Action::PageDown => self.log_scroll = self.log_scroll.saturating_add(5),
            Action::PageUp => self.log_scroll = self.log_scroll.saturating_sub(5),
            _ => {}
        }
        Ok(None)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let RunsLayout {
            list,
            stats,
            charts,
            log,
            side,
        } = self.layout(area);
        self.render_list(list, buf, theme);
        let Some(run) = self.runs.get(self.selected) else {
            return;
        };
        render_stats(run, stats, buf, theme);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(charts);
        render_chart("loss", &run.metrics.loss, "chart.loss", left, buf, theme);
        if run.is_grpo() {
            let [r1, r2] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(right);
            render_chart(
                "reward mean",
                &run.metrics.reward,
                "chart.reward",
                r1,
                buf,
                theme,
            );
            if run.metrics.accuracy.is_empty() {
                render_chart("KL", &run.metrics.kl, "chart.kl", r2, buf, theme);
            } else {
                render_chart(
                    "accuracy",
                    &run.metrics.accuracy,
                    "chart.accuracy",
                    r2,
                    buf,
                    theme,
                );
            }
        } else {
            render_chart(
                "learning rate",
                &run.metrics.lr,
                "chart.lr",
                right,
                buf,
                theme,
            );
        }
        self.render_log(run, log, buf, theme);
        render_side(run, side, buf, theme);
    }

    fn render_list(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let block = list_block(self.runs.len())
            .border_style(border_style(theme, true))
            .title_style(theme.style("ui.title"));
        let (inner, top) = self.list_window(area);
        block.render(area, buf);
        if self.runs.is_empty() {
            Paragraph::new(Line::styled(
                "no runs yet: n starts one from a preset, or `plantune-tui train ...`",
                theme.style("ui.dim"),
            ))
            .render(inner, buf);
            return;
        }
        let height = inner.height as usize;
        let lines: Vec<Line> = self
            .runs
            .iter()
            .enumerate()
            .skip(top)
            .take(height)
            .map(|(i, run)| {
                let (label, slot) = state_label(run.state());
                let progress =
                    run.summary
                        .last_step
                        .as_ref()
                        .map_or(String::new(), |s| match s.total {
                            Some(total) => format!("step {}/{total}", s.step),
                            None => format!("step {}", s.step),
                        });
                let line = Line::from(vec![
                    Span::styled(format!("{label:<9}"), theme.style(slot)),
                    Span::raw(format!(
                        " {:<24.24} {:<5.5} {progress}",
                        sanitize(&run.id),
                        sanitize(&run.kind)
                    )),
                ]);
                if i == self.selected {
                    line.style(theme.style("ui.selection"))
                } else {
                    line
                }
            })
            .collect();
        Paragraph::new(lines).render(inner, buf);
    }

    fn render_log(&self, run: &RunView, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, false))
            .title(Span::styled(" Log ", theme.style("ui.title")));
        let inner = block.inner(area);
        block.render(area, buf);
        let height = inner.height as usize;
        let end = run.logs.len().saturating_sub(self.log_scroll as usize);
        let start = end.saturating_sub(height);
        let mut lines: Vec<Line> = run
            .logs
            .range(start..end)
            .flat_map(|l| text_lines(l, theme.style("ui.text")))
            .collect();
        if run.torn_tail && self.log_scroll == 0 {
            lines.push(Line::styled(
                "… last line incomplete (being written, or torn)",
                theme.style("ui.warning"),
            ));
        }
        let skip = lines.len().saturating_sub(height);
        Paragraph::new(lines.split_off(skip)).render(inner, buf);
    }
}

fn list_block(runs: usize) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" Runs ({runs}) "))
}

fn state_label(state: RunState) -> (&'static str, &'static str) {
    match state {
        RunState::Running => ("running", "run.running"),
        RunState::Finished(RunStatus::Completed) => ("finished", "run.completed"),
        RunState::Finished(RunStatus::Failed) => ("failed", "run.failed"),
        RunState::Finished(RunStatus::Stopped) => ("stopped", "run.stopped"),
        RunState::Died => ("died", "run.failed"),
        RunState::Unknown => ("unknown", "run.stopped"),
        RunState::Waiting => ("waiting", "ui.dim"),
    }
}

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn render_stats(run: &RunView, area: Rect, buf: &mut Buffer, theme: &Theme) {
    let dim = theme.style("ui.dim");
    let mut first = vec![];
    let summary = &run.summary;
    if let Some(s) = &summary.last_step {
        first.push(Span::raw(format!(
            "loss {:.4}  lr {:.2e}  grad {:.3}  {:.0} tok/s  elapsed {}",
            s.loss,
            s.lr,
            s.grad_norm,
            s.tokens_per_s,
            duration(s.elapsed_s)
        )));
        if let Some(eta) = summary.eta_s() {
            first.push(Span::raw(format!("  ETA {}", duration(eta))));
        }
    } else {
        first.push(Span::styled("no steps yet", dim));
    }
    let mut second = Vec::new();
    if run.is_grpo() {
        let last = |s: &Series| s.last().map_or("-".into(), |p| format!("{:.3}", p.1));
        second.push(Span::raw(format!(
            "reward {}  KL {}  acc {}  ",
            last(&run.metrics.reward),
            last(&run.metrics.kl),
            last(&run.metrics.accuracy)
        )));
    }
    let status = match (run.state(), &summary.finished) {
        (RunState::Died, _) => Span::styled(
            "process gone without run_finished: treat as crashed",
            theme.style("run.failed"),
        ),
        (RunState::Unknown, _) => Span::styled(
            "no run_finished and no pid to check: running elsewhere, or died",
            theme.style("run.stopped"),
        ),
        (_, Some((_, Some(error)))) => Span::styled(
            format!("error: {}", sanitize(error)),
            theme.style("run.failed"),
        ),
        _ => Span::styled(
            format!(
                "{} events, {} checkpoints{}",
                summary.events,
                summary.checkpoints,
                if run.malformed > 0 {
                    format!(", {} malformed lines", run.malformed)
                } else {
                    String::new()
                }
            ),
            dim,
        ),
    };
    second.push(status);
    if let Some(e) = &run.read_error {
        second.push(Span::styled(
            format!("  read error: {}", sanitize(e)),
            theme.style("ui.error"),
        ));
    }
    Paragraph::new(vec![Line::from(first), Line::from(second)]).render(area, buf);
}

fn render_chart(
    title: &str,
    series: &Series,
    slot: &str,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border_style(theme, false))
        .title(Span::styled(format!(" {title} "), theme.style("ui.title")));
    let points = series.downsample(area.width.saturating_sub(10) as usize);
    let (Some((lo, hi)), Some(first), Some(last)) =
        (series.bounds(), points.first(), points.last())
    else {
        let inner = block.inner(area);
        block.render(area, buf);
        Paragraph::new(Line::styled("no data", theme.style("ui.dim"))).render(inner, buf);
        return;
    };
    let pad = ((hi - lo) * 0.05).max(1e-12);
    let (y0, y1) = (lo - pad, hi + pad);
    let x1 = if last.0 > first.0 {
        last.0
    } else {
        first.0 + 1.0
    };
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.style(slot))
        .data(&points);
    Chart::new(vec![dataset])
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([first.0, x1])
                .style(theme.style("ui.dim"))
                .labels([format!("{:.0}", first.0), format!("{:.0}", last.0)]),
        )
        .y_axis(
            Axis::default()
                .bounds([y0, y1])
                .style(theme.style("ui.dim"))
                .labels([compact(lo), compact(hi)]),
        )
        .render(area, buf);
}

fn compact(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
    }
}

fn render_side(run: &RunView, area: Rect, buf: &mut Buffer, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border_style(theme, false))
        .title(Span::styled(" Device · samples ", theme.style("ui.title")));
    let inner = block.inner(area);
    block.render(area, buf);
    let dim = theme.style("ui.dim");
    let mut lines = Vec::new();
    if !run.summary.device_label.is_empty() {
        lines.push(Line::styled(
            sanitize(&run.summary.device_label).into_owned(),
            dim,
        ));
    }
    match &run.summary.device {
        Some(d) => {
            let opt =
                |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.0}{unit}"));
            lines.push(Line::raw(format!(
                "CPU {}  RSS {}",
                opt(d.cpu_pct, "%"),
                opt(d.rss_mib, " MiB")
            )));
            for g in &d.gpus {
                lines.push(Line::raw(format!(
                    "GPU{} {} util {} mem {}/{} {} {}",
                    g.index,
                    sanitize(&g.name),
                    opt(g.utilisation_pct, "%"),
                    opt(g.memory_used_mib, ""),
                    opt(g.memory_total_mib, " MiB"),
                    opt(g.temperature_c, "°C"),
                    opt(g.power_w, " W"),
                )));
            }
        }
        None => lines.push(Line::styled("no device stats yet", dim)),
    }
    for (step, prompt, completion, reward) in run.samples.iter().rev() {
        let reward = reward.map_or(String::new(), |r| format!(" reward {r:.2}"));
        lines.push(Line::styled(
            format!("sample @{step}{reward}"),
            theme.style("plan.section"),
        ));
        lines.extend(text_lines(prompt, dim));
        lines.extend(text_lines(completion, theme.style("ui.text")));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
