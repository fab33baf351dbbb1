//! Drawing the curate screen: the candidate list and the detail pane (trajectory or
//! diff). Pure: reads state only.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use super::{CurateScreen, Detail, EditTarget, Focus};
use crate::config::theme::Theme;
use crate::text::sanitize;
use crate::tui::screens::{border_style, text_lines};
use crate::tui::widgets::diff::DiffLine;
use crate::workspace::records::CandidateStatus;
use crate::workspace::store::{CurationRow, CurationSort};

impl CurateScreen {
    /// The filters and sort in words, for the list's title.
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

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let [list_area, detail_area] = Self::panes(area);
        self.render_list(list_area, buf, theme);
        match &self.overview {
            Some(overview) if self.editor.is_none() => overview.render(detail_area, buf, theme),
            _ => self.render_detail(detail_area, buf, theme),
        }
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
        Paragraph::new(header_line(self.sort, theme)).render(inner, buf);
        let inner = super::list_rows(area);
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

/// The list's column names, aligned with `row_line`; the sorted column carries an
/// arrow.
fn header_line(sort: CurationSort, theme: &Theme) -> Line<'static> {
    let (problem, score, question) = match sort {
        CurationSort::ScoreDesc => ("prob.pl", "jdg↓", "question"),
        CurationSort::ScoreAsc => ("prob.pl", "jdg↑", "question"),
        CurationSort::ProblemId => ("prob↑pl", "jdg", "question"),
        CurationSort::RecentlyUpdated => ("prob.pl", "jdg", "question (recent first)"),
    };
    Line::styled(
        format!(
            "{:<4} {:<6} {:>7} {:>4} {}  {}",
            "stat", "data", problem, score, "✓", question
        ),
        theme.style("plan.section"),
    )
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

/// The problem's plans as `[index score]✓` chips (the shown one selected), then how
/// many distinct plans distill got for it.
fn plans_line(detail: &Detail, theme: &Theme) -> Line<'static> {
    let mut siblings = vec![Span::styled("plans ", theme.style("ui.dim"))];
    for s in &detail.siblings {
        let label = format!("[{} {}]", s.plan_index + 1, score_text(s.score).trim());
        let style = if s.id == detail.candidate.id {
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
    if let Some(d) = &detail.diversity {
        // Best-of-N is only as good as N distinct plans: say when the teacher repeated.
        let slot = if d.distinct < d.asked {
            "status.pending"
        } else {
            "ui.dim"
        };
        siblings.push(Span::styled(
            format!("· {} distinct of {} asked", d.distinct, d.asked),
            theme.style(slot),
        ));
    }
    Line::from(siblings)
}

fn detail_lines(detail: &Detail, selected_step: usize, theme: &Theme) -> Vec<Line<'static>> {
    let c = &detail.candidate;
    let f = &c.fields;
    let text = theme.style("ui.text");
    let mut lines = Vec::new();
    lines.push(plans_line(detail, theme));
    if !detail.cut_stages.is_empty() {
        lines.push(Line::styled(
            format!("cut off by max_tokens: {}", detail.cut_stages.join(", ")),
            theme.style("verdict.incorrect"),
        ));
    }
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
