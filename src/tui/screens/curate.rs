//! Curate: the candidate list with filters, search and sort; a detail pane with the
//! whole trajectory; accept/reject/undo, bulk rules, and inline edits with a diff
//! against the teacher's original.

use anyhow::Context as _;
use crossterm::event::KeyEvent;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use super::{Ctx, border_style, clamp, step, text_lines};
use crate::config::theme::Theme;
use crate::text::sanitize;
use crate::tui::action::Action;
use crate::tui::regrade::regrade_execution;
use crate::tui::widgets::diff::{DiffLine, line_diff};
use crate::tui::widgets::editor::{Editor, EditorOutcome};
use crate::workspace::curate::{accept_best_correct, reject_incorrect};
use crate::workspace::records::{Candidate, CandidateStatus, Problem};
use crate::workspace::store::{
    CurationFilter, CurationRow, CurationSort, EditField, FieldChange, StatusCounts,
};

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
        self.detail = Some(Detail {
            candidate,
            problem,
            siblings,
            original,
            verdict_stale,
            diff,
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

    fn commit_edit(
        &mut self,
        ctx: &mut Ctx,
        target: EditTarget,
        text: String,
    ) -> anyhow::Result<()> {
        let Some(detail) = &self.detail else {
            return Ok(());
        };
        let id = detail.candidate.id;
        let fields = &detail.candidate.fields;
        let changes = match target {
            EditTarget::Step(i) => {
                let mut steps = fields.plan_steps.clone();
                let Some(old) = steps.get(i).cloned() else {
                    anyhow::bail!("plan step {} no longer exists", i + 1);
                };
                steps[i] = text.clone();
                let plan = if !old.is_empty() && fields.plan.matches(&old).count() == 1 {
                    fields.plan.replacen(&old, &text, 1)
                } else {
                    numbered(&steps)
                };
                vec![
                    FieldChange::new(
                        id,
                        EditField::PlanSteps,
                        serde_json::to_string(&steps).context("encoding plan steps")?,
                    ),
                    FieldChange::new(id, EditField::Plan, plan),
                ]
            }
            EditTarget::Execution => execution_changes(id, &detail.problem, &text),
        };
        let applied = ctx.store.apply_changes(&changes)?;
        ctx.info = Some(match (applied, target) {
            (None, _) => "no change".into(),
            (Some(_), EditTarget::Step(i)) => format!("candidate {id}: step {} edited", i + 1),
            (Some(_), EditTarget::Execution) => format!("candidate {id}: execution edited"),
        });
        self.reload(ctx)
    }

    /// Stores the teacher's new execution of a candidate's plan as an edit of the
    /// execution, like one typed in the editor: re-graded, one undo step, the
    /// original kept for the diff.
    fn store_reexecution(
        &mut self,
        ctx: &mut Ctx,
        id: i64,
        plan: &str,
        text: &str,
    ) -> anyhow::Result<()> {
        let candidate = ctx.store.candidate(id)?;
        if candidate.fields.plan != plan {
            anyhow::bail!(
                "candidate {id}'s plan changed while the teacher executed it; its answer \
                 was not stored (re-execute again)"
            );
        }
        let problem = ctx.store.problem(candidate.fields.problem_id)?;
        let applied = ctx
            .store
            .apply_changes(&execution_changes(id, &problem, text))?;
        ctx.info = Some(match applied {
            None => format!("candidate {id}: the teacher wrote the same execution again"),
            Some(_) => {
                let verdict = match regrade_execution(&problem, text) {
                    Some(grade) => match (grade.correct, grade.extracted_answer) {
                        (Some(true), _) => "correct".to_owned(),
                        (_, Some(answer)) => format!("incorrect (answer {answer})"),
                        (_, None) => "incorrect (no answer found)".to_owned(),
                    },
                    None => "not graded".to_owned(),
                };
                format!("candidate {id}: plan re-executed by the teacher, re-graded {verdict}")
            }
        });
        self.reload(ctx)
    }

    pub fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
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
                    return Ok(None);
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
                    (None, None) => return Ok(None),
                };
                self.commit_edit(ctx, target, text.clone())?;
            }
            Action::ToggleDiff => self.show_diff = !self.show_diff,
            Action::PlanExecuted {
                candidate_id,
                plan,
                result,
            } => match result {
                Ok(text) => self.store_reexecution(ctx, *candidate_id, plan, text)?,
                Err(e) => anyhow::bail!("re-executing candidate {candidate_id}'s plan: {e}"),
            },
            _ => {}
        }
        Ok(None)
    }

    fn refilter(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.rows.clear();
        self.selected = 0;
        self.detail = None;
        self.reload(ctx)
    }

    pub fn filter_summary(&self) -> String {
        let f = &self.filter;
        let mut parts = Vec::new();
        if let Some(s) = f.status {
            parts.push(s.as_str().to_owned());
        }
        match f.correct {
            Some(true) => parts.push("correct".into()),
            Some(false) => parts.push("incorrect".into()),
            None => {}
        }
        if f.edited == Some(true) {
            parts.push("edited".into());
        }
        if f.min_score.is_some() || f.max_score.is_some() {
            let lo = f.min_score.map_or(String::new(), |v| v.to_string());
            let hi = f.max_score.map_or(String::new(), |v| v.to_string());
            parts.push(format!("score {lo}..{hi}"));
        }
        if let Some(s) = &f.search {
            parts.push(format!("/{}", sanitize(s)));
        }
        let sort = match self.sort {
            CurationSort::ScoreDesc => "score↓",
            CurationSort::ScoreAsc => "score↑",
            CurationSort::ProblemId => "problem",
            CurationSort::RecentlyUpdated => "recent",
        };
        let filters = if parts.is_empty() {
            "all".to_owned()
        } else {
            parts.join(" ")
        };
        format!("{filters} · sort {sort}")
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
            let inner = bordered(list);
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

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let [list_area, detail_area] = Self::panes(area);
        self.render_list(list_area, buf, theme);
        self.render_detail(detail_area, buf, theme);
    }

    fn render_list(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let c = &self.counts;
        let title = format!(
            " Candidates {}{} · P{} A{} R{} · {} ",
            self.rows.len(),
            if self.exhausted { "" } else { "+" },
            c.pending,
            c.accepted,
            c.rejected,
            self.filter_summary()
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, self.focus.0 == Focus::List))
            .title(Span::styled(title, theme.style("ui.title")));
        let inner = block.inner(area);
        block.render(area, buf);
        if self.rows.is_empty() {
            Paragraph::new(Line::styled(
                "no candidates match (F clears filters)",
                theme.style("ui.dim"),
            ))
            .render(inner, buf);
            return;
        }
        let height = inner.height as usize;
        let top = self.list_top(height);
        let lines: Vec<Line> = self.rows[top..]
            .iter()
            .take(height)
            .enumerate()
            .map(|(i, row)| {
                let line = row_line(row, theme);
                if top + i == self.selected {
                    line.style(theme.style("ui.selection"))
                } else {
                    line
                }
            })
            .collect();
        Paragraph::new(lines).render(inner, buf);
    }

    fn render_detail(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let focused = self.focus.0 == Focus::Detail || self.editor.is_some();
        let title = match (&self.detail, self.show_diff, &self.editor) {
            (None, _, _) => " Detail ".to_owned(),
            (Some(d), _, Some((target, _))) => format!(
                " Editing candidate {} {} (ctrl-s save, esc cancel) ",
                d.candidate.id,
                match target {
                    EditTarget::Step(i) => format!("step {}", i + 1),
                    EditTarget::Execution => "execution".into(),
                }
            ),
            (Some(d), true, None) => format!(" Diff vs original · candidate {} ", d.candidate.id),
            (Some(d), false, None) => format!(
                " Candidate {} · problem {} · {} ",
                d.candidate.id,
                d.problem.id,
                sanitize(&d.problem.fields.dataset)
            ),
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, focused))
            .title(Span::styled(title, theme.style("ui.title")));
        let inner = block.inner(area);
        block.render(area, buf);
        let Some(detail) = &self.detail else {
            return;
        };
        if let Some((_, editor)) = &self.editor {
            Clear.render(inner, buf);
            editor.render(inner, buf, theme.style("ui.text"));
            return;
        }
        let lines = if self.show_diff {
            diff_lines(detail, theme)
        } else {
            detail_lines(detail, self.step, theme)
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((self.detail_scroll, 0))
            .render(inner, buf);
    }
}

/// The inside of a bordered block.
fn bordered(area: Rect) -> Rect {
    Block::default().borders(Borders::ALL).inner(area)
}

fn status_span(status: CandidateStatus, theme: &Theme) -> Span<'static> {
    let (text, slot) = match status {
        CandidateStatus::Pending => ("pend", "status.pending"),
        CandidateStatus::Accepted => ("acc ", "status.accepted"),
        CandidateStatus::Rejected => ("rej ", "status.rejected"),
    };
    Span::styled(text, theme.style(slot))
}

fn verdict_span(correct: Option<bool>, theme: &Theme) -> Span<'static> {
    match correct {
        Some(true) => Span::styled("✓", theme.style("verdict.correct")),
        Some(false) => Span::styled("✗", theme.style("verdict.incorrect")),
        None => Span::styled("?", theme.style("ui.dim")),
    }
}

fn score_text(score: Option<i32>) -> String {
    score.map_or("   -".into(), |s| format!("{s:>4}"))
}

fn row_line(row: &CurationRow, theme: &Theme) -> Line<'static> {
    let question: String = sanitize(&row.question)
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    Line::from(vec![
        status_span(row.status, theme),
        Span::raw(" "),
        Span::styled(
            format!("{:<6.6}", sanitize(&row.dataset)),
            theme.style("ui.dim"),
        ),
        Span::raw(format!(" {:>5}.{} ", row.problem_id, row.plan_index)),
        Span::raw(score_text(row.judge_score)),
        Span::raw(" "),
        verdict_span(row.correct, theme),
        Span::styled(
            if row.edited { "✎ " } else { "  " },
            theme.style("ui.accent"),
        ),
        Span::raw(question),
    ])
}

fn section(title: &str, theme: &Theme) -> Line<'static> {
    Line::styled(title.to_owned(), theme.style("plan.section"))
}

fn detail_lines(detail: &Detail, selected_step: usize, theme: &Theme) -> Vec<Line<'static>> {
    let c = &detail.candidate;
    let f = &c.fields;
    let text = theme.style("ui.text");
    let mut lines = Vec::new();
    let mut siblings = vec![Span::styled("plans ", theme.style("ui.dim"))];
    for s in &detail.siblings {
        let label = format!("[{} {}]", s.plan_index + 1, score_text(s.score).trim());
        let style = if s.id == c.id {
            theme.style("ui.selection")
        } else {
            theme.style(match s.status {
                CandidateStatus::Pending => "status.pending",
                CandidateStatus::Accepted => "status.accepted",
                CandidateStatus::Rejected => "status.rejected",
            })
        };
        siblings.push(Span::styled(label, style));
        siblings.push(verdict_span(s.correct, theme));
        siblings.push(Span::raw(" "));
    }
    lines.push(Line::from(siblings));
    lines.push(Line::from(vec![
        Span::styled("status ", theme.style("ui.dim")),
        status_span(c.status, theme),
        Span::styled(
            format!("  teacher {}", sanitize(&f.teacher)),
            theme.style("ui.dim"),
        ),
        Span::styled(
            if c.edited { "  ✎ edited" } else { "" },
            theme.style("ui.accent"),
        ),
    ]));
    lines.push(section("Question", theme));
    lines.extend(text_lines(&detail.problem.fields.question, text));
    lines.push(Line::from(vec![
        Span::styled("Gold answer: ", theme.style("plan.section")),
        Span::styled(
            sanitize(&detail.problem.fields.gold_answer).into_owned(),
            theme.style("answer.extracted"),
        ),
    ]));
    lines.push(section("Constraints", theme));
    lines.extend(text_lines(&f.constraints, text));
    lines.push(section("Plan", theme));
    if f.plan_steps.is_empty() {
        lines.extend(text_lines(&f.plan, text));
    }
    for (i, step) in f.plan_steps.iter().enumerate() {
        let marker = Span::styled(format!("{:>2}. ", i + 1), theme.style("plan.step"));
        let style = if i == selected_step {
            theme.style("ui.selection")
        } else {
            text
        };
        let mut step_lines = text_lines(step, style).into_iter();
        if let Some(first) = step_lines.next() {
            let mut spans = vec![marker];
            spans.extend(first.spans);
            lines.push(Line::from(spans));
        }
        lines.extend(step_lines.map(|l| {
            let mut spans = vec![Span::raw("    ")];
            spans.extend(l.spans);
            Line::from(spans)
        }));
    }
    lines.push(section("Execution", theme));
    lines.extend(text_lines(&f.execution, text));
    lines.push(Line::from(vec![
        Span::styled("Extracted answer: ", theme.style("plan.section")),
        Span::styled(
            f.extracted_answer
                .as_deref()
                .map_or("(none)".into(), |a| sanitize(a).into_owned()),
            theme.style("answer.extracted"),
        ),
    ]));
    let mut verdict = vec![
        Span::styled("Verdict: ", theme.style("plan.section")),
        verdict_span(f.correct, theme),
        Span::raw(" "),
    ];
    verdict.extend(
        text_lines(&f.grade_reason, text)
            .into_iter()
            .flat_map(|l| l.spans),
    );
    if detail.verdict_stale {
        verdict.push(Span::styled(
            "  [stale: execution edited, not re-graded]",
            theme.style("ui.warning"),
        ));
    }
    lines.push(Line::from(verdict));
    lines.push(Line::from(vec![
        Span::styled("Judge score: ", theme.style("plan.section")),
        Span::raw(score_text(f.judge_score).trim().to_owned()),
    ]));
    lines.extend(text_lines(&f.judge_reason, theme.style("ui.dim")));
    lines
}

fn diff_lines(detail: &Detail, theme: &Theme) -> Vec<Line<'static>> {
    if detail.diff.is_empty() {
        return vec![Line::styled(
            "not edited: identical to the teacher's original",
            theme.style("ui.dim"),
        )];
    }
    detail
        .diff
        .iter()
        .flat_map(|line| {
            let (prefix, text, style) = match line {
                DiffLine::Same(t) => ("  ", t, theme.style("ui.text")),
                DiffLine::Added(t) => ("+ ", t, theme.style("diff.added")),
                DiffLine::Removed(t) => ("- ", t, theme.style("diff.removed")),
            };
            text_lines(text, style).into_iter().map(move |l| {
                let mut spans = vec![Span::styled(prefix, style)];
                spans.extend(l.spans);
                Line::from(spans)
            })
        })
        .collect()
}

/// An edit of the execution with the verdict recomputed for it, applied as one step.
fn execution_changes(id: i64, problem: &Problem, text: &str) -> Vec<FieldChange> {
    let mut changes = vec![FieldChange::new(id, EditField::Execution, text.to_owned())];
    if let Some(grade) = regrade_execution(problem, text) {
        changes.extend(
            grade
                .fields()
                .into_iter()
                .map(|(field, value)| FieldChange {
                    candidate_id: id,
                    field,
                    value,
                }),
        );
    }
    changes
}

fn numbered(steps: &[String]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {s}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The editable parts of a trajectory as one text, so one diff shows every edit.
fn comparable(parts: &(String, Vec<String>, String)) -> String {
    format!(
        "## Constraints\n{}\n## Plan\n{}\n## Execution\n{}",
        parts.0,
        numbered(&parts.1),
        parts.2
    )
}

fn original_view(o: &Original) -> (String, Vec<String>, String) {
    (
        o.constraints.clone(),
        o.plan_steps.clone(),
        o.execution.clone(),
    )
}

fn candidate_view(c: &Candidate) -> (String, Vec<String>, String) {
    (
        c.fields.constraints.clone(),
        c.fields.plan_steps.clone(),
        c.fields.execution.clone(),
    )
}

/// A verdict is stale when the execution differs from what was graded and no fresh
/// grade agrees with the stored one.
fn verdict_is_stale(candidate: &Candidate, problem: &Problem, original: &Original) -> bool {
    let f = &candidate.fields;
    if f.execution == original.execution {
        return false;
    }
    match regrade_execution(problem, &f.execution) {
        Some(grade) => {
            grade.correct != f.correct
                || grade.extracted_answer != f.extracted_answer
                || grade.reason != f.grade_reason
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_edit_keeps_the_rest_of_the_plan_text() {
        assert_eq!(numbered(&["a".into(), "b".into()]), "1. a\n2. b");
    }
}
