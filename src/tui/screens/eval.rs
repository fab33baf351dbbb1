//! Eval: accuracy per (model, benchmark, mode) with 95% Wilson intervals, and a bar
//! chart of the same numbers.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Widget};

use super::{Ctx, border_style, clamp, step};
use crate::config::theme::Theme;
use crate::tui::action::Action;
use crate::tui::sanitize;
use crate::workspace::store::PredictionKey;

#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    pub key: PredictionKey,
    pub n: u64,
    pub correct: u64,
    pub accuracy: f64,
    pub interval: (f64, f64),
}

#[derive(Debug, Clone, Default)]
pub struct EvalScreen {
    pub rows: Vec<EvalRow>,
    pub selected: usize,
}

impl EvalScreen {
    pub fn new(ctx: &mut Ctx) -> anyhow::Result<Self> {
        let mut screen = Self::default();
        screen.refresh(ctx)?;
        Ok(screen)
    }

    pub fn refresh(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.rows = ctx
            .store
            .prediction_counts()?
            .into_iter()
            .map(|(key, n, correct)| EvalRow {
                key,
                n,
                correct,
                accuracy: if n == 0 {
                    0.0
                } else {
                    correct as f64 / n as f64
                },
                interval: crate::eval::stats::wilson_interval(correct, n),
            })
            .collect();
        self.selected = clamp(self.selected, self.rows.len());
        Ok(())
    }

    pub fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        match action {
            Action::ShowEval => self.refresh(ctx)?,
            Action::Down => self.selected = step(self.selected, 1, self.rows.len()),
            Action::Up => self.selected = step(self.selected, -1, self.rows.len()),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = self.rows.len().saturating_sub(1),
            _ => {}
        }
        Ok(None)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let table_height = (self.rows.len() as u16 + 3).min(area.height / 2).max(4);
        let [table, chart] =
            Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(area);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, true))
            .title(Span::styled(
                " Accuracy (95% Wilson) ",
                theme.style("ui.title"),
            ));
        let inner = block.inner(table);
        block.render(table, buf);
        if self.rows.is_empty() {
            Paragraph::new(Line::styled(
                "no predictions yet: run `plantune-tui eval ...`",
                theme.style("ui.dim"),
            ))
            .render(inner, buf);
            return;
        }
        let mut lines = vec![Line::styled(
            format!(
                "{:<18} {:<16} {:<10} {:>6} {:>7}  {}",
                "model", "benchmark", "mode", "n", "acc", "95% CI"
            ),
            theme.style("plan.section"),
        )];
        let height = inner.height.saturating_sub(1) as usize;
        let top = self.selected.saturating_sub(height.saturating_sub(1));
        for (i, row) in self.rows.iter().enumerate().skip(top).take(height) {
            let line = Line::raw(format!(
                "{:<18.18} {:<16.16} {:<10.10} {:>6} {:>6.1}%  [{:.1}, {:.1}]",
                sanitize(&row.key.model),
                sanitize(&row.key.benchmark),
                sanitize(&row.key.mode),
                row.n,
                row.accuracy * 100.0,
                row.interval.0 * 100.0,
                row.interval.1 * 100.0
            ));
            lines.push(if i == self.selected {
                line.style(theme.style("ui.selection"))
            } else {
                line
            });
        }
        Paragraph::new(lines).render(inner, buf);

        let bars: Vec<Bar> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let style = if i == self.selected {
                    theme.style("ui.accent")
                } else {
                    theme.style("chart.accuracy")
                };
                Bar::default()
                    .value((row.accuracy * 1000.0).round() as u64)
                    .text_value(format!("{:.1}", row.accuracy * 100.0))
                    .label(Line::raw(format!("{}", i + 1)))
                    .style(style)
            })
            .collect();
        let chart_block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, false))
            .title(Span::styled(
                " Accuracy % (bars numbered as table rows) ",
                theme.style("ui.title"),
            ));
        BarChart::default()
            .block(chart_block)
            .data(BarGroup::default().bars(&bars))
            .bar_width(5)
            .bar_gap(1)
            .max(1000)
            .render(chart, buf);
    }
}
