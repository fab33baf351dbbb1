//! Curate at a glance (`v`): a histogram of judge scores with the acceptance
//! threshold marked, the candidates per status, and how many distinct plans each
//! problem got. Shown in place of the detail pane.

use std::collections::BTreeMap;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use crate::config::theme::Theme;
use crate::tui::screens::{Ctx, border_style};
use crate::workspace::store::StatusCounts;

/// Judge scores run over [-100, 100]; ten bins of 20 read at a glance.
const BIN: i32 = 20;
const BINS: usize = 10;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    /// Candidates per score bin, lowest bin first.
    pub bins: [u64; BINS],
    pub unscored: u64,
    /// `distill.min_score`: what bulk acceptance takes.
    pub threshold: i32,
    pub counts: StatusCounts,
    /// Problems by the number of distinct plans they got.
    pub plans: BTreeMap<u32, u64>,
}

/// The bin of a score; 100 falls in the top bin.
fn bin_of(score: i32) -> usize {
    let clamped = score.clamp(-100, 100);
    (((clamped + 100) / BIN) as usize).min(BINS - 1)
}

fn bin_low(bin: usize) -> i32 {
    -100 + BIN * bin as i32
}

impl Overview {
    pub fn load(ctx: &Ctx) -> anyhow::Result<Self> {
        let mut overview = Self {
            threshold: ctx.workspace.config.distill.min_score,
            counts: ctx.store.candidate_status_counts()?,
            ..Self::default()
        };
        for (score, n) in ctx.store.judge_score_counts()? {
            match score {
                Some(score) => overview.bins[bin_of(score)] += n,
                None => overview.unscored += n,
            }
        }
        for distinct in ctx.store.distinct_plan_counts()?.into_values() {
            *overview.plans.entry(distinct).or_default() += 1;
        }
        Ok(overview)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, false))
            .title(Span::styled(
                " Overview (v back to the candidate) ",
                theme.style("ui.title"),
            ));
        let inner = block.inner(area);
        block.render(area, buf);
        let wide = inner.width >= 66;
        let [left, right] = if wide {
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(inner)
        } else {
            Layout::vertical([Constraint::Length(BINS as u16 + 2), Constraint::Min(0)]).areas(inner)
        };
        Paragraph::new(self.histogram(left.width, theme)).render(left, buf);
        let mut side = self.status_lines(theme);
        side.extend(self.plan_lines(theme));
        Paragraph::new(side).render(right, buf);
    }

    /// Bars from the highest bin down, the bin holding the threshold marked.
    fn histogram(&self, width: u16, theme: &Theme) -> Vec<Line<'static>> {
        let max = self.bins.iter().copied().max().unwrap_or(0).max(1);
        let label_width = 10;
        let bar_room = (width as usize).saturating_sub(label_width + 22).max(4);
        let threshold_bin = bin_of(self.threshold);
        let mut lines = vec![Line::styled(
            format!("judge score   candidates (accept ≥ {})", self.threshold),
            theme.style("plan.section"),
        )];
        for bin in (0..BINS).rev() {
            let n = self.bins[bin];
            let len = (n as usize * bar_room).div_ceil(max as usize);
            let low = bin_low(bin);
            let range = format!("{low:>4}..{:<4}", low + BIN);
            let slot = if bin >= threshold_bin {
                "verdict.correct"
            } else {
                "ui.dim"
            };
            let mut spans = vec![
                Span::raw(format!("{range:<label_width$}")),
                Span::styled("█".repeat(len), theme.style(slot)),
                Span::raw(format!(" {n}")),
            ];
            if bin == threshold_bin {
                spans.push(Span::styled(
                    format!(" ◀ threshold {}", self.threshold),
                    theme.style("ui.accent"),
                ));
            }
            lines.push(Line::from(spans));
        }
        if self.unscored > 0 {
            lines.push(Line::styled(
                format!("unscored  {}", self.unscored),
                theme.style("ui.dim"),
            ));
        }
        lines
    }

    fn status_lines(&self, theme: &Theme) -> Vec<Line<'static>> {
        let c = &self.counts;
        vec![
            Line::styled("candidates by status", theme.style("plan.section")),
            Line::styled(
                format!("pending {}", c.pending),
                theme.style("status.pending"),
            ),
            Line::styled(
                format!("accepted {}", c.accepted),
                theme.style("status.accepted"),
            ),
            Line::styled(
                format!("rejected {}", c.rejected),
                theme.style("status.rejected"),
            ),
        ]
    }

    fn plan_lines(&self, theme: &Theme) -> Vec<Line<'static>> {
        let mut lines = vec![Line::styled(
            "distinct plans per problem",
            theme.style("plan.section"),
        )];
        if self.plans.is_empty() {
            lines.push(Line::styled(
                "none recorded yet (distill does)",
                theme.style("ui.dim"),
            ));
            return lines;
        }
        let max = self.plans.values().copied().max().unwrap_or(1).max(1);
        for (&distinct, &problems) in &self.plans {
            let len = (problems as usize * 12).div_ceil(max as usize);
            let noun = if problems == 1 { "problem" } else { "problems" };
            let slot = if distinct <= 1 {
                "ui.warning"
            } else {
                "ui.accent"
            };
            lines.push(Line::from(vec![
                Span::raw(format!("{distinct:>2} plans ")),
                Span::styled("█".repeat(len), theme.style(slot)),
                Span::raw(format!(" {problems} {noun}")),
            ]));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_fall_in_bins_of_twenty_with_the_ends_included() {
        assert_eq!(bin_of(-100), 0);
        assert_eq!(bin_of(-81), 0);
        assert_eq!(bin_of(-80), 1);
        assert_eq!(bin_of(79), 8);
        assert_eq!(bin_of(80), 9);
        assert_eq!(bin_of(100), 9);
        assert_eq!(bin_of(250), 9);
        assert_eq!(bin_low(9), 80);
    }
}
