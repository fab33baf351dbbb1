//! Curate: the candidate list with filters, search and sort; a detail pane with the
//! whole trajectory; accept/reject/undo, bulk rules, and inline edits with a diff
//! against the teacher's original.

use crossterm::event::KeyEvent;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};

mod edit;
mod overview;
mod render;

use super::{Ctx, Screen, clamp, step};
use crate::config::theme::Theme;
use crate::tui::action::Action;
use crate::tui::background::Done;
use crate::tui::keymap::{Pane, Scope};
use crate::tui::overlay::{Overlay, PromptKind};
use crate::tui::widgets::diff::{DiffLine, line_diff};
use crate::tui::widgets::editor::{Editor, EditorOutcome};
use crate::workspace::curate::{accept_best_correct, reject_incorrect};
use crate::workspace::records::{Candidate, CandidateStatus, Problem};
use crate::workspace::store::{
    CurationFilter, CurationRow, CurationSort, EditField, FieldChange, PlanDiversity, StatusCounts,
};
use edit::{candidate_view, comparable, original_view, verdict_is_stale};

/// Rows fetched per query; more are fetched as the selection nears the end.
const PAGE: usize = 500;
const PAGE_STEP: isize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditTarget {
    Step(usize),
    Execution,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sibling {
    pub id: i64,
    pub plan_index: u32,
    pub status: CandidateStatus,
    pub score: Option<i32>,
    pub correct: Option<bool>,
}

/// The teacher's text of a candidate, kept by the store for diffs.
#[derive(Debug, Clone, PartialEq)]
pub struct Original {
    pub constraints: String,
    pub plan: String,
    pub plan_steps: Vec<String>,
    pub execution: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub candidate: Candidate,
    pub problem: Problem,
    pub siblings: Vec<Sibling>,
    pub original: Original,
    /// The execution was edited and the verdict was not recomputed for it.
    pub verdict_stale: bool,
    pub diff: Vec<DiffLine>,
    /// Plans asked and distinct plans got for the problem, where distill recorded it.
    pub diversity: Option<PlanDiversity>,
    /// Stages of this candidate the teacher ended at `max_tokens`.
    pub cut_stages: Vec<&'static str>,
}

#[derive(Debug, Clone, Default)]
pub struct CurateScreen {
    pub filter: CurationFilter,
    pub sort: CurationSort,
    pub rows: Vec<CurationRow>,
    exhausted: bool,
    pub selected: usize,
    pub focus: FocusState,
    pub detail: Option<Detail>,
    pub detail_scroll: u16,
    pub step: usize,
    pub show_diff: bool,
    pub editor: Option<(EditTarget, Editor)>,
    /// Set while `$EDITOR` has the execution; the loop commits the result.
    pub external_target: Option<EditTarget>,
    pub counts: StatusCounts,
    /// The detail shows a sibling that is not the selected row (it may be filtered
    /// out of the list), so reloads keep showing it.
    sibling_shown: bool,
    /// Candidates whose plan the teacher is executing, so a second key press while the
    /// first call runs does not pay for the same call twice.
    reexecuting: std::collections::BTreeSet<i64>,
    /// The at-a-glance overview (`v`), shown in place of the detail while set.
    pub overview: Option<overview::Overview>,
}

/// `Focus` with a default, so the screen can derive `Default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FocusState(pub Focus);

impl Default for FocusState {
    fn default() -> Self {
        Self(Focus::List)
    }
}

impl CurateScreen {
    pub fn new(ctx: &mut Ctx) -> anyhow::Result<Self> {
        let mut screen = Self::default();
        screen.reload(ctx)?;
        Ok(screen)
    }

    /// True while an inline editor reads raw keys.
    pub fn captures_keys(&self) -> bool {
        self.editor.is_some()
    }

    /// Raw keys for the inline editor.
    pub fn handle_key(&mut self, key: &KeyEvent) -> Option<Action> {
        let (_, editor) = self.editor.as_mut()?;
        match editor.handle_key(key) {
            EditorOutcome::Continue => None,
            EditorOutcome::Save(text) => Some(Action::CommitEdit(text)),
            EditorOutcome::Cancel => Some(Action::Cancel),
        }
    }

    pub fn paste(&mut self, text: &str) {
        if let Some((_, editor)) = self.editor.as_mut() {
            editor.paste(text);
        }
    }

    pub fn current_id(&self) -> Option<i64> {
        self.detail.as_ref().map(|d| d.candidate.id)
    }

    /// Text to hand to `$EDITOR`, remembering where the result goes.
    pub fn begin_external_edit(&mut self) -> Option<String> {
        let detail = self.detail.as_ref()?;
        self.external_target = Some(EditTarget::Execution);
        Some(detail.candidate.fields.execution.clone())
    }

    /// Re-queries the list keeping as many rows as were loaded, and the selection.
    fn reload(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let want = self.rows.len().max(PAGE);
        self.rows = ctx.store.curation_page(&self.filter, self.sort, 0, want)?;
        self.exhausted = self.rows.len() < want;
        self.selected = clamp(self.selected, self.rows.len());
        self.counts = ctx.store.candidate_status_counts()?;
        if self.overview.is_some() {
            self.overview = Some(overview::Overview::load(ctx)?);
        }
        match (
            self.sibling_shown,
            self.current_id(),
            self.rows.get(self.selected),
        ) {
            (true, Some(id), _) => self.load_detail(ctx, id),
            (_, _, Some(row)) => {
                self.sibling_shown = false;
                self.load_detail(ctx, row.candidate_id)
            }
            (_, _, None) => {
                self.sibling_shown = false;
                self.detail = None;
                Ok(())
            }
        }
    }

    fn load_more(&mut self, ctx: &mut Ctx) -> anyhow::Result<bool> {
        if self.exhausted {
            return Ok(false);
        }
        let more = ctx
            .store
            .curation_page(&self.filter, self.sort, self.rows.len(), PAGE)?;
        self.exhausted = more.len() < PAGE;
        let grew = !more.is_empty();
        self.rows.extend(more);
        Ok(grew)
    }

    fn load_detail(&mut self, ctx: &mut Ctx, id: i64) -> anyhow::Result<()> {
        let same = self.current_id() == Some(id);
        let candidate = ctx.store.candidate(id)?;
        let problem = ctx.store.problem(candidate.fields.problem_id)?;
        let siblings = ctx
            .store
            .candidates_for_problem(problem.id)?
            .into_iter()
            .map(|c| Sibling {
                id: c.id,
                plan_index: c.fields.plan_index,
                status: c.status,
                score: c.fields.judge_score,
                correct: c.fields.correct,
            })
            .collect();
        let (constraints, plan, plan_steps, execution) = ctx.store.candidate_original(id)?;
        let original = Original {
            constraints,
            plan,
            plan_steps,
            execution,
        };
        let verdict_stale = verdict_is_stale(&candidate, &problem, &original);
        let diff = if candidate.edited {
            line_diff(
                &comparable(&original_view(&original)),
                &comparable(&candidate_view(&candidate)),
            )
        } else {
            Vec::new()
        };
        if !same {
            self.detail_scroll = 0;
            self.step = 0;
        }
        self.step = clamp(self.step, candidate.fields.plan_steps.len());
        let diversity = ctx.store.plan_diversity(problem.id)?;
        let cut_stages = ctx.store.finish_reasons(id)?.truncated();
        self.detail = Some(Detail {
            candidate,
            problem,
            siblings,
            original,
            verdict_stale,
            diff,
            diversity,
            cut_stages,
        });
        Ok(())
    }

    fn select(&mut self, ctx: &mut Ctx, index: usize) -> anyhow::Result<()> {
        if index + PAGE / 5 >= self.rows.len() {
            self.load_more(ctx)?;
        }
        self.selected = clamp(index, self.rows.len());
        self.sibling_shown = false;
        match self.rows.get(self.selected) {
            Some(row) => self.load_detail(ctx, row.candidate_id),
            None => {
                self.detail = None;
                Ok(())
            }
        }
    }

    fn set_status(&mut self, ctx: &mut Ctx, status: CandidateStatus) -> anyhow::Result<()> {
        let Some(id) = self.current_id() else {
            ctx.info = Some("no candidate selected".into());
            return Ok(());
        };
        let changed =
            ctx.store
                .apply_changes(&[FieldChange::new(id, EditField::Status, status.as_str())])?;
        ctx.info = Some(match changed {
            Some(_) => format!("candidate {id}: {}", status.as_str()),
            None => format!("candidate {id} is already {}", status.as_str()),
        });
        self.reload(ctx)
    }

    fn next_pending(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let mut from = self.selected + 1;
        loop {
            if let Some(offset) = self.rows[from.min(self.rows.len())..]
                .iter()
                .position(|r| r.status == CandidateStatus::Pending)
            {
                return self.select(ctx, from + offset);
            }
            from = self.rows.len();
            if !self.load_more(ctx)? {
                ctx.info = Some("no pending candidate below".into());
                return Ok(());
            }
        }
    }

    fn show_sibling(&mut self, ctx: &mut Ctx, delta: isize) -> anyhow::Result<()> {
        let Some(detail) = &self.detail else {
            return Ok(());
        };
        let Some(at) = detail
            .siblings
            .iter()
            .position(|s| s.id == detail.candidate.id)
        else {
            return Ok(());
        };
        let n = detail.siblings.len();
        let next = (at as isize + delta).rem_euclid(n as isize) as usize;
        let id = detail.siblings[next].id;
        match self.rows.iter().position(|r| r.candidate_id == id) {
            Some(row) => {
                self.selected = row;
                self.sibling_shown = false;
            }
            None => self.sibling_shown = true,
        }
        self.load_detail(ctx, id)
    }

    pub fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        if self.update_list(action, ctx)? || self.update_filters(action, ctx)? {
            return Ok(None);
        }
        self.update_detail(action, ctx)?;
        Ok(None)
    }

    /// Moving through the list, focus, status changes, undo. True when handled.
    fn update_list(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<bool> {
        let detail_focus = self.focus.0 == Focus::Detail;
        match action {
            Action::Down | Action::Up | Action::PageDown | Action::PageUp if detail_focus => {
                let delta: i32 = match action {
                    Action::Down => 1,
                    Action::Up => -1,
                    Action::PageDown => PAGE_STEP as i32,
                    _ => -(PAGE_STEP as i32),
                };
                self.detail_scroll = (self.detail_scroll as i32 + delta).max(0) as u16;
            }
            Action::Top if detail_focus => self.detail_scroll = 0,
            Action::Down => self.select(ctx, step(self.selected, 1, self.rows.len()))?,
            Action::Up => self.select(ctx, step(self.selected, -1, self.rows.len()))?,
            Action::PageDown => {
                self.select(ctx, step(self.selected, PAGE_STEP, self.rows.len()))?
            }
            Action::PageUp => self.select(ctx, step(self.selected, -PAGE_STEP, self.rows.len()))?,
            Action::Top => self.select(ctx, 0)?,
            Action::Bottom => {
                while self.load_more(ctx)? {}
                self.select(ctx, self.rows.len().saturating_sub(1))?;
            }
            Action::FocusNext => {
                self.focus.0 = match self.focus.0 {
                    Focus::List => Focus::Detail,
                    Focus::Detail => Focus::List,
                }
            }
            Action::Cancel => {
                // Esc closes the innermost thing open: the editor, else the diff.
                let closed_editor = self.editor.take().is_some();
                if !closed_editor {
                    self.show_diff = false;
                }
            }
            Action::Accept => self.set_status(ctx, CandidateStatus::Accepted)?,
            Action::Reject => self.set_status(ctx, CandidateStatus::Rejected)?,
            Action::ResetPending => self.set_status(ctx, CandidateStatus::Pending)?,
            Action::NextPending => self.next_pending(ctx)?,
            Action::Undo | Action::Redo => {
                let undo = *action == Action::Undo;
                let step = if undo {
                    ctx.store.undo()?
                } else {
                    ctx.store.redo()?
                };
                ctx.info = Some(match step {
                    Some(s) => format!(
                        "{} ({} candidate{})",
                        if undo { "undone" } else { "redone" },
                        s.candidate_ids.len(),
                        if s.candidate_ids.len() == 1 { "" } else { "s" }
                    ),
                    None => format!("nothing to {}", if undo { "undo" } else { "redo" }),
                });
                self.reload(ctx)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Bulk rules, filters and sort. True when handled.
    fn update_filters(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<bool> {
        match action {
            Action::BulkAcceptAt(min_score) => {
                let outcome = accept_best_correct(ctx.store, *min_score)?;
                ctx.info = Some(format!(
                    "accepted {} (score >= {min_score}); {} problems without a pick",
                    outcome.changed, outcome.without_pick
                ));
                self.reload(ctx)?;
            }
            Action::BulkRejectIncorrect => {
                let outcome = reject_incorrect(ctx.store)?;
                ctx.info = Some(format!("rejected {} incorrect", outcome.changed));
                self.reload(ctx)?;
            }
            Action::SetSearch(text) => {
                self.filter.search = Some(text.clone()).filter(|t| !t.is_empty());
                self.refilter(ctx)?;
            }
            Action::CycleStatusFilter => {
                self.filter.status = match self.filter.status {
                    None => Some(CandidateStatus::Pending),
                    Some(CandidateStatus::Pending) => Some(CandidateStatus::Accepted),
                    Some(CandidateStatus::Accepted) => Some(CandidateStatus::Rejected),
                    Some(CandidateStatus::Rejected) => None,
                };
                self.refilter(ctx)?;
            }
            Action::CycleCorrectFilter => {
                self.filter.correct = match self.filter.correct {
                    None => Some(true),
                    Some(true) => Some(false),
                    Some(false) => None,
                };
                self.refilter(ctx)?;
            }
            Action::ToggleEditedFilter => {
                self.filter.edited = match self.filter.edited {
                    None => Some(true),
                    Some(_) => None,
                };
                self.refilter(ctx)?;
            }
            Action::SetScoreRange(min, max) => {
                self.filter.min_score = *min;
                self.filter.max_score = *max;
                self.refilter(ctx)?;
            }
            Action::ClearFilters => {
                self.filter = CurationFilter::default();
                self.refilter(ctx)?;
            }
            Action::CycleSort => {
                self.sort = match self.sort {
                    CurationSort::ScoreDesc => CurationSort::ScoreAsc,
                    CurationSort::ScoreAsc => CurationSort::ProblemId,
                    CurationSort::ProblemId => CurationSort::RecentlyUpdated,
                    CurationSort::RecentlyUpdated => CurationSort::ScoreDesc,
                };
                self.refilter(ctx)?;
            }
            Action::Search => {
                let before = self.filter.search.clone().unwrap_or_default();
                ctx.open = Some(Overlay::prompt(PromptKind::Search, before));
            }
            Action::BulkAcceptBest => {
                let default = ctx.workspace.config.distill.min_score.to_string();
                ctx.open = Some(Overlay::prompt(PromptKind::BulkScore, default));
            }
            Action::ScoreRange => {
                let f = &self.filter;
                let current = match (f.min_score, f.max_score) {
                    (None, None) => String::new(),
                    (lo, hi) => format!(
                        "{}..{}",
                        lo.map_or(String::new(), |v| v.to_string()),
                        hi.map_or(String::new(), |v| v.to_string())
                    ),
                };
                ctx.open = Some(Overlay::prompt(PromptKind::ScoreRange, current));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The detail pane: siblings, plan steps, edits, the diff, re-execution.
    fn update_detail(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<()> {
        match action {
            Action::NextCandidate => self.show_sibling(ctx, 1)?,
            Action::PrevCandidate => self.show_sibling(ctx, -1)?,
            Action::NextStep | Action::PrevStep => {
                let n = self
                    .detail
                    .as_ref()
                    .map_or(0, |d| d.candidate.fields.plan_steps.len());
                let delta = if *action == Action::NextStep { 1 } else { -1 };
                self.step = step(self.step, delta, n);
            }
            Action::EditStep => {
                let Some(detail) = &self.detail else {
                    return Ok(());
                };
                match detail.candidate.fields.plan_steps.get(self.step) {
                    Some(text) => {
                        self.editor = Some((EditTarget::Step(self.step), Editor::new(text)));
                        ctx.info = Some("editing step: ctrl-s saves, esc cancels".into());
                    }
                    None => ctx.info = Some("this plan has no steps to edit".into()),
                }
            }
            Action::EditExecution => {
                if let Some(detail) = &self.detail {
                    let editor = Editor::new(&detail.candidate.fields.execution);
                    self.editor = Some((EditTarget::Execution, editor));
                    ctx.info = Some("editing execution: ctrl-s saves, esc cancels".into());
                }
            }
            Action::CommitEdit(text) => {
                let target = match (self.editor.take(), self.external_target.take()) {
                    (Some((target, _)), _) | (None, Some(target)) => target,
                    (None, None) => return Ok(()),
                };
                self.commit_edit(ctx, target, text.clone())?;
            }
            Action::ToggleDiff => self.show_diff = !self.show_diff,
            Action::ToggleOverview => {
                self.overview = match self.overview {
                    Some(_) => None,
                    None => Some(overview::Overview::load(ctx)?),
                }
            }
            Action::EditExecutionExternal => match self.begin_external_edit() {
                Some(text) => ctx.external_edit = Some(text),
                None => anyhow::bail!("no candidate selected"),
            },
            Action::ReexecutePlan => self.reexecute_plan(ctx)?,
            _ => {}
        }
        Ok(())
    }

    fn refilter(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.rows.clear();
        self.selected = 0;
        self.detail = None;
        self.reload(ctx)
    }

    /// The list and detail panes; render and mouse hit-testing share it.
    pub fn panes(area: Rect) -> [Rect; 2] {
        if area.width >= 100 {
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area)
        } else {
            Layout::vertical([Constraint::Length(area.height.min(9)), Constraint::Min(0)])
                .areas(area)
        }
    }

    /// The first row shown when `height` rows fit: the selection stays mid-list.
    fn list_top(&self, height: usize) -> usize {
        let top = self.selected.saturating_sub(height.saturating_sub(1) / 2);
        top.min(self.rows.len().saturating_sub(height))
    }

    /// A click on a list row selects it; a click anywhere in a pane focuses it.
    pub fn click(&mut self, ctx: &mut Ctx, area: Rect, at: Position) -> anyhow::Result<()> {
        if self.editor.is_some() {
            return Ok(());
        }
        let [list, detail] = Self::panes(area);
        if detail.contains(at) {
            self.focus.0 = Focus::Detail;
        } else if list.contains(at) {
            self.focus.0 = Focus::List;
            let inner = list_rows(list);
            if inner.contains(at) {
                let index = self.list_top(inner.height as usize) + usize::from(at.y - inner.y);
                if index < self.rows.len() && index != self.selected {
                    self.select(ctx, index)?;
                }
            }
        }
        Ok(())
    }

    /// The wheel scrolls the detail when over it, else moves the list selection.
    pub fn scroll_at(
        &mut self,
        ctx: &mut Ctx,
        area: Rect,
        at: Position,
        down: bool,
    ) -> anyhow::Result<()> {
        if self.editor.is_some() {
            return Ok(());
        }
        let [_, detail] = Self::panes(area);
        if detail.contains(at) {
            self.detail_scroll = if down {
                self.detail_scroll.saturating_add(3)
            } else {
                self.detail_scroll.saturating_sub(3)
            };
            Ok(())
        } else {
            let delta = if down { 1 } else { -1 };
            self.select(ctx, step(self.selected, delta, self.rows.len()))
        }
    }
}

impl Screen for CurateScreen {
    fn title(&self) -> &'static str {
        "Curate"
    }

    fn scope(&self) -> Scope {
        Scope::Curate
    }

    fn hints(&self) -> &'static [Action] {
        &[
            Action::Accept,
            Action::Reject,
            Action::NextPending,
            Action::Undo,
            Action::Search,
            Action::EditStep,
            Action::ToggleDiff,
            Action::ToggleOverview,
        ]
    }

    fn shown(&mut self, _ctx: &mut Ctx) -> anyhow::Result<()> {
        Ok(())
    }

    fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        CurateScreen::update(self, action, ctx)
    }

    fn finished(&mut self, done: &Done, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.plan_executed(&done.outcome, ctx)
    }

    fn click(&mut self, ctx: &mut Ctx, area: Rect, at: Position) -> anyhow::Result<()> {
        CurateScreen::click(self, ctx, area, at)
    }

    fn scroll_at(
        &mut self,
        ctx: &mut Ctx,
        area: Rect,
        at: Position,
        down: bool,
    ) -> anyhow::Result<()> {
        CurateScreen::scroll_at(self, ctx, area, at, down)
    }

    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        CurateScreen::render(self, area, buf, theme)
    }

    fn captures_keys(&self) -> bool {
        CurateScreen::captures_keys(self)
    }

    fn handle_key(&mut self, key: &KeyEvent) -> Option<Action> {
        CurateScreen::handle_key(self, key)
    }

    fn paste(&mut self, text: &str) {
        CurateScreen::paste(self, text)
    }

    fn focus(&self) -> (Pane, bool) {
        let pane = if self.focus.0 == Focus::Detail {
            Pane::Detail
        } else {
            Pane::List
        };
        (pane, self.show_diff)
    }
}

/// The list pane's data rows: inside the border, below the header row.
fn list_rows(list: Rect) -> Rect {
    let inner = ratatui::widgets::Block::default()
        .borders(ratatui::widgets::Borders::ALL)
        .inner(list);
    Rect {
        y: inner.y.saturating_add(1),
        height: inner.height.saturating_sub(1),
        ..inner
    }
}
