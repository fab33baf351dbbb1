//! Runs: every run of the workspace, live from its `events.jsonl`. Runs are separate
//! processes: closing the TUI never touches one; stopping and resuming go through
//! `runs/`, exactly as `plantune-tui runs stop/resume` do, and whether a run is alive
//! is what its lock says.

mod overlaid;
mod render;
mod samples;
#[cfg(test)]
mod tests;
mod view;
mod workflow;

use std::collections::BTreeSet;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::widgets::{Block, Borders};

pub use samples::SampleCursor;
pub use view::{Metrics, RunView, SampleView};

use super::{Ctx, Screen, clamp, step};
use crate::config::theme::Theme;
use crate::runs::{Liveness, RunDir, RunState};
use crate::tui::action::Action;
use crate::tui::background::Done;
use crate::tui::keymap::Scope;

/// Ticks between re-listing the runs directory (new runs appear without a restart).
const RESCAN_TICKS: u32 = 8;

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
    /// Runs marked for the overlaid charts (shown once two or more are marked).
    pub marked: BTreeSet<String>,
    pub overlay: overlaid::OverlayOptions,
    /// Which step's samples the side pane shows, and whether the prompt is unfolded.
    pub samples: SampleCursor,
    /// Until the user picks a run, the selection follows the running one: a pipeline
    /// queues its runs up front, so the live run is often not the newest row.
    user_picked: bool,
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
            self.pick(index);
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
        let list_height = (self.runs.len() as u16 + 3).clamp(4, 8);
        let [list, stats, charts, bottom] = Layout::vertical([
            Constraint::Length(list_height),
            Constraint::Length(2),
            Constraint::Min(6),
            Constraint::Percentage(35),
        ])
        .areas(area);
        // Narrow terminals give the samples the wider half: they are prose, the log is not.
        let log_share = if area.width < 100 { 45 } else { 60 };
        let [log, side] = Layout::horizontal([
            Constraint::Percentage(log_share),
            Constraint::Percentage(100 - log_share),
        ])
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
        let inner = Block::default().borders(Borders::ALL).inner(list);
        // The first inner line is the header.
        let inner = Rect {
            y: inner.y.saturating_add(1),
            height: inner.height.saturating_sub(1),
            ..inner
        };
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
                self.pick(index);
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
            self.pick(step(
                self.selected,
                if down { 1 } else { -1 },
                self.runs.len(),
            ));
        }
    }

    /// Marks or unmarks the selected run for the overlaid charts.
    fn toggle_mark(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.selected_run().map(|r| r.id.clone()) else {
            return;
        };
        if !self.marked.remove(&id) {
            self.marked.insert(id);
        }
        ctx.info = Some(match self.marked.len() {
            0 => "no runs marked".into(),
            1 => "1 run marked: mark another (space) to overlay their curves".into(),
            n => format!("{n} runs overlaid (w smoothing, x step/tokens)"),
        });
    }

    /// The marked runs, in list order, when there are enough to overlay.
    pub fn overlaid(&self) -> Vec<&RunView> {
        let runs: Vec<&RunView> = self
            .runs
            .iter()
            .filter(|r| self.marked.contains(&r.id))
            .collect();
        if runs.len() >= 2 { runs } else { Vec::new() }
    }

    /// Runs are polled whatever the screen, so switching to it is instant.
    fn tick(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(RESCAN_TICKS) {
            self.rescan(ctx)?;
        }
        self.poll_all();
        Ok(())
    }

    fn poll_all(&mut self) {
        for run in &mut self.runs {
            run.poll();
        }
        self.follow_running();
    }

    fn follow_running(&mut self) {
        if self.user_picked
            || self
                .selected_run()
                .is_some_and(|r| r.state() == RunState::Running)
        {
            return;
        }
        if let Some(index) = self
            .runs
            .iter()
            .position(|r| r.state() == RunState::Running)
        {
            self.selected = index;
            self.log_scroll = 0;
        }
    }

    /// The user chose a row: the selection stays where they put it.
    fn pick(&mut self, index: usize) {
        self.selected = index;
        self.log_scroll = 0;
        self.user_picked = true;
    }

    pub fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        match action {
            Action::Tick => self.tick(ctx)?,
            Action::ShowRuns => self.poll_all(),
            Action::StopRun => self.stop_run(ctx)?,
            Action::ResumeRun => self.resume_run(ctx)?,
            Action::OpenRunConfig => self.open_run_config(ctx)?,
            Action::NewRunFromPreset => self.pick_preset(ctx)?,
            Action::StartPreset(path) => self.start_preset(ctx, path)?,
            Action::ToggleRunMark => self.toggle_mark(ctx),
            Action::ToggleSmoothing => self.overlay.smooth = !self.overlay.smooth,
            Action::ToggleChartX => self.overlay.by_tokens = !self.overlay.by_tokens,
            Action::ToggleSamplePrompt => self.samples.show_prompt = !self.samples.show_prompt,
            Action::PrevSampleStep | Action::NextSampleStep => {
                if let Some(run) = self.runs.get(self.selected) {
                    self.samples
                        .step_by(run, matches!(action, Action::PrevSampleStep));
                }
            }
            Action::Down => self.pick(step(self.selected, 1, self.runs.len())),
            Action::Up => self.pick(step(self.selected, -1, self.runs.len())),
            Action::Top => self.pick(0),
            Action::Bottom => self.pick(self.runs.len().saturating_sub(1)),
            Action::PageDown => self.log_scroll = self.log_scroll.saturating_add(5),
            Action::PageUp => self.log_scroll = self.log_scroll.saturating_sub(5),
            _ => {}
        }
        Ok(None)
    }
}

impl Screen for RunsScreen {
    fn title(&self) -> &'static str {
        "Runs"
    }

    fn scope(&self) -> Scope {
        Scope::Runs
    }

    fn hints(&self) -> &'static [Action] {
        &[
            Action::NewRunFromPreset,
            Action::StopRun,
            Action::ResumeRun,
            Action::OpenRunConfig,
            Action::ToggleRunMark,
        ]
    }

    fn shown(&mut self, _ctx: &mut Ctx) -> anyhow::Result<()> {
        self.poll_all();
        Ok(())
    }

    fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        RunsScreen::update(self, action, ctx)
    }

    fn tick(&mut self, ctx: &mut Ctx, _shown: bool) -> anyhow::Result<()> {
        RunsScreen::tick(self, ctx)
    }

    fn finished(&mut self, done: &Done, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.run_created(&done.outcome, ctx)
    }

    fn click(&mut self, _ctx: &mut Ctx, area: Rect, at: Position) -> anyhow::Result<()> {
        RunsScreen::click(self, area, at);
        Ok(())
    }

    fn scroll_at(
        &mut self,
        _ctx: &mut Ctx,
        area: Rect,
        at: Position,
        down: bool,
    ) -> anyhow::Result<()> {
        RunsScreen::scroll_at(self, area, at, down);
        Ok(())
    }

    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        RunsScreen::render(self, area, buf, theme)
    }
}
