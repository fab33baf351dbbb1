//! The Compare screen's chart of accuracy by number of operations: for the models of
//! sets A and B, one line per split (in- and out-of-distribution) of the synthetic
//! benchmark, so where the plan-tuned student pulls ahead can be seen, not computed.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget};

use super::border_style;
use crate::config::theme::Theme;
use crate::eval::report::accuracy_by_steps;
use crate::text::sanitize;
use crate::workspace::store::{PredictionKey, Store, StoreError};

/// One line of the chart: whose it is and its (operations, accuracy %) points.
#[derive(Debug, Clone, PartialEq)]
pub struct StepsLine {
    /// `A` or `B`.
    pub side: char,
    /// The benchmark's split without `test_`, e.g. `ood`.
    pub split: String,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepsChart {
    pub lines: Vec<StepsLine>,
}

impl StepsChart {
    /// For A and B, every set of the same model and mode whose problems have an
    /// operation count (the synthetic splits), as accuracy by operations.
    pub fn load(
        store: &Store,
        sets: &[PredictionKey],
        a: Option<&PredictionKey>,
        b: Option<&PredictionKey>,
    ) -> Result<Self, StoreError> {
        let mut lines = Vec::new();
        for (side, chosen) in [('A', a), ('B', b)] {
            let Some(chosen) = chosen else { continue };
            let same_model = sets
                .iter()
                .filter(|k| k.model == chosen.model && k.mode == chosen.mode);
            for key in same_model {
                let by_steps = accuracy_by_steps(store, key)?;
                if by_steps.is_empty() {
                    continue;
                }
                let points = by_steps
                    .iter()
                    .filter(|(_, (_, n))| *n > 0)
                    .map(|(&ops, &(right, n))| (f64::from(ops), 100.0 * right as f64 / n as f64))
                    .collect();
                // `synth/test_ood` reads as `ood`: the legend must fit beside the list.
                let split = key.benchmark.rsplit('/').next().unwrap_or(&key.benchmark);
                let split = split.strip_prefix("test_").unwrap_or(split);
                lines.push(StepsLine {
                    side,
                    split: split.to_owned(),
                    points,
                });
            }
        }
        Ok(Self { lines })
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Out-of-distribution lines are dotted, in-distribution ones solid; A and B keep
    /// their colours across both.
    fn look(line: &StepsLine) -> (&'static str, Marker) {
        let slot = if line.side == 'A' {
            "chart.loss"
        } else {
            "chart.accuracy"
        };
        let marker = if line.split.contains("ood") {
            Marker::Dot
        } else {
            Marker::Braille
        };
        (slot, marker)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, false))
            .title(Span::styled(
                " accuracy % by number of operations ",
                theme.style("ui.title"),
            ));
        let inner = block.inner(area);
        block.render(area, buf);
        let [legend, plot] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        let mut spans = Vec::new();
        for line in &self.lines {
            let (slot, marker) = Self::look(line);
            let stroke = if marker == Marker::Dot {
                "•• "
            } else {
                "━━ "
            };
            spans.push(Span::styled(stroke, theme.style(slot)));
            spans.push(Span::raw(format!(
                "{} {}  ",
                line.side,
                sanitize(&line.split)
            )));
        }
        Paragraph::new(Line::from(spans)).render(legend, buf);
        let all = self.lines.iter().flat_map(|l| l.points.iter());
        let (x0, x1) = all.fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
        if x0 > x1 {
            Paragraph::new(Line::styled(
                "no problems with an operation count",
                theme.style("ui.dim"),
            ))
            .render(plot, buf);
            return;
        }
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        // Small students score in single digits: a fixed 0–100% axis would flatten them.
        let top = self
            .lines
            .iter()
            .flat_map(|line| line.points.iter().map(|p| p.1))
            .fold(0.0_f64, f64::max);
        let y_top = ((top / 10.0).ceil() * 10.0).clamp(10.0, 100.0);
        let datasets = self
            .lines
            .iter()
            .map(|line| {
                let (slot, marker) = Self::look(line);
                Dataset::default()
                    .marker(marker)
                    .graph_type(GraphType::Line)
                    .style(theme.style(slot))
                    .data(&line.points)
            })
            .collect();
        Chart::new(datasets)
            .x_axis(
                Axis::default()
                    .bounds([x0, x1])
                    .style(theme.style("ui.dim"))
                    .labels([format!("{x0:.0}"), format!("{x1:.0}")]),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, y_top])
                    .style(theme.style("ui.dim"))
                    .labels(["0%".to_string(), format!("{y_top:.0}%")]),
            )
            .render(plot, buf);
    }
}
