//! Eval: accuracy per (model, benchmark, mode) with 95% Wilson intervals, and a bar
//! chart of the same numbers.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Widget};

use super::{Ctx, Screen, border_style, clamp, step};
use crate::config::theme::Theme;
use crate::text::sanitize;
use crate::tui::action::Action;
use crate::tui::keymap::Scope;
use crate::workspace::store::PredictionKey;

#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    pub key: PredictionKey,
    pub n: u64,
    pub correct: u64,
    pub accuracy: f64,
    pub interval: (f64, f64),
}

/// Ticks between re-reading the stored results while the screen is shown, so an
/// evaluation running in the background fills in without a key press.
const REFRESH_TICKS: u32 = 8;

#[derive(Debug, Clone, Default)]
pub struct EvalScreen {
    pub rows: Vec<EvalRow>,
    pub selected: usize,
    ticks: u32,
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
        if self.launch_step(action, ctx)? {
            return Ok(None);
        }
        match action {
            Action::ShowEval => self.refresh(ctx)?,
            Action::Tick => {
                self.ticks = self.ticks.wrapping_add(1);
                if self.ticks.is_multiple_of(REFRESH_TICKS) {
                    self.refresh(ctx)?;
                }
            }
            Action::Down => self.selected = step(self.selected, 1, self.rows.len()),
            Action::Up => self.selected = step(self.selected, -1, self.rows.len()),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = self.rows.len().saturating_sub(1),
            _ => {}
        }
        Ok(None)
    }

    /// Table and chart; render and mouse hit-testing share it.
    fn layout(&self, area: Rect) -> [Rect; 2] {
        let table_height = (self.rows.len() as u16 + 3).min(area.height / 2).max(4);
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(area)
    }

    /// The table's data rows (below the header) and the first one shown.
    fn table_window(&self, area: Rect) -> (Rect, usize) {
        let [table, _] = self.layout(area);
        let inner = Block::default().borders(Borders::ALL).inner(table);
        let rows = Rect {
            y: inner.y.saturating_add(1),
            height: inner.height.saturating_sub(1),
            ..inner
        };
        let height = rows.height as usize;
        (rows, self.selected.saturating_sub(height.saturating_sub(1)))
    }

    /// A click on a table row selects it.
    pub fn click(&mut self, area: Rect, at: Position) {
        let (rows, top) = self.table_window(area);
        if rows.contains(at) {
            let index = top + usize::from(at.y - rows.y);
            if index < self.rows.len() {
                self.selected = index;
            }
        }
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let [table, chart] = self.layout(area);
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
                "no predictions yet: n evaluates a model, or run `plantune-tui eval ...`",
                theme.style("ui.dim"),
            ))
            .render(inner, buf);
            return;
        }
        // Seeded names (`plan-tuned+grpo@seed2`) outgrow 18 columns; wide panes give
        // the model column what the other columns leave.
        let longest = self
            .rows
            .iter()
            .map(|r| r.key.model.chars().count())
            .max()
            .unwrap_or(0);
        let spare = usize::from(inner.width).saturating_sub(78);
        let mw = longest.clamp(18, 18 + spare.min(14));
        let mut lines = vec![Line::styled(
            format!(
                "{:<mw$} {:<16} {:<10} {:>6} {:>7}  {}",
                "model", "benchmark", "mode", "n", "acc", "95% CI"
            ),
            theme.style("plan.section"),
        )];
        let (rows_area, top) = self.table_window(area);
        let height = rows_area.height as usize;
        for (i, row) in self.rows.iter().enumerate().skip(top).take(height) {
            let line = Line::raw(format!(
                "{:<mw$.mw$} {:<16.16} {:<10.10} {:>6} {:>6.1}%  [{:.1}, {:.1}]",
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

impl Screen for EvalScreen {
    fn title(&self) -> &'static str {
        "Eval"
    }

    fn scope(&self) -> Scope {
        Scope::Eval
    }

    fn hints(&self) -> &'static [Action] {
        &[Action::LaunchEval, Action::Down]
    }

    fn shown(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.refresh(ctx)
    }

    fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        EvalScreen::update(self, action, ctx)
    }

    /// Stored results are re-read only while the screen is shown.
    fn tick(&mut self, ctx: &mut Ctx, shown: bool) -> anyhow::Result<()> {
        if shown {
            EvalScreen::update(self, &Action::Tick, ctx)?;
        }
        Ok(())
    }

    fn click(&mut self, _ctx: &mut Ctx, area: Rect, at: Position) -> anyhow::Result<()> {
        EvalScreen::click(self, area, at);
        Ok(())
    }

    fn scroll_at(
        &mut self,
        ctx: &mut Ctx,
        _area: Rect,
        _at: Position,
        down: bool,
    ) -> anyhow::Result<()> {
        let step = if down { Action::Down } else { Action::Up };
        EvalScreen::update(self, &step, ctx).map(|_| ())
    }

    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        EvalScreen::render(self, area, buf, theme)
    }
}
