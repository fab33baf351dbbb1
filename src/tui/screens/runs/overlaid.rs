//! Several runs on one chart: loss, reward and accuracy of every marked run, one
//! colour each, with a legend naming them; optional smoothing, x by step or by tokens.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget};

use super::view::{Metrics, RunView};
use crate::config::theme::Theme;
use crate::text::sanitize;
use crate::tui::screens::border_style;
use crate::tui::widgets::series::Series;

/// Theme slots the runs are drawn in, in order; all are ANSI colours in the default
/// theme, so the chart reads on a 16-colour terminal. More runs than slots reuse them.
const SLOTS: [&str; 6] = [
    "chart.loss",
    "chart.reward",
    "chart.kl",
    "chart.eval_loss",
    "chart.lr",
    "verdict.incorrect",
];

/// Weight of the previous value in the exponential smoothing (TensorBoard's 0.6).
const SMOOTHING: f64 = 0.6;

/// How the overlaid charts are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverlayOptions {
    pub smooth: bool,
    /// x is tokens seen (estimated as tokens/s × elapsed) instead of the step.
    pub by_tokens: bool,
}

/// Picks one metric out of a run's metrics.
type Pick = fn(&Metrics) -> &Series;

/// One metric of every run, as chart points.
struct Curves {
    title: &'static str,
    lines: Vec<(usize, Vec<(f64, f64)>)>,
}

pub fn render(
    runs: &[&RunView],
    options: OverlayOptions,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
) {
    let [legend, charts] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    render_legend(runs, options, legend, buf, theme);
    let columns = (area.width / 3).saturating_sub(8).max(2) as usize;
    let metrics: [(&'static str, Pick); 3] = [
        ("loss", |m| &m.loss),
        ("reward mean", |m| &m.reward),
        ("accuracy", |m| &m.accuracy),
    ];
    let curves: Vec<Curves> = metrics
        .iter()
        .map(|(title, pick)| Curves {
            title,
            lines: runs
                .iter()
                .enumerate()
                .filter(|(_, run)| !pick(&run.metrics).is_empty())
                .map(|(i, run)| (i, points(run, pick(&run.metrics), columns, options)))
                .collect(),
        })
        .filter(|c| c.title == "loss" || !c.lines.is_empty())
        .collect();
    let constraints = vec![Constraint::Ratio(1, curves.len() as u32); curves.len()];
    let areas = Layout::horizontal(constraints).split(charts);
    let x_name = if options.by_tokens { "tokens" } else { "step" };
    for (curves, area) in curves.iter().zip(areas.iter()) {
        render_one(curves, x_name, *area, buf, theme);
    }
}

fn render_legend(
    runs: &[&RunView],
    options: OverlayOptions,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
) {
    let mut spans = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        spans.push(Span::styled("━━ ", theme.style(SLOTS[i % SLOTS.len()])));
        spans.push(Span::raw(format!("{}  ", sanitize(&run.id))));
    }
    spans.push(Span::styled(
        format!(
            "· x {} · {}",
            if options.by_tokens { "tokens" } else { "step" },
            if options.smooth { "smoothed" } else { "raw" }
        ),
        theme.style("ui.dim"),
    ));
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// A run's series as chart points: downsampled, x mapped to tokens, smoothed.
fn points(
    run: &RunView,
    series: &Series,
    columns: usize,
    options: OverlayOptions,
) -> Vec<(f64, f64)> {
    let mut points = series.downsample(columns);
    if options.by_tokens {
        let tokens = run.metrics.tokens.downsample(4 * columns);
        for p in &mut points {
            p.0 = tokens_at(&tokens, p.0);
        }
    }
    if options.smooth {
        let mut state: Option<f64> = None;
        for p in &mut points {
            let s = state.map_or(p.1, |s| SMOOTHING * s + (1.0 - SMOOTHING) * p.1);
            p.1 = s;
            state = Some(s);
        }
    }
    points
}

/// Tokens seen at `step`, linearly between the known points.
fn tokens_at(tokens: &[(f64, f64)], step: f64) -> f64 {
    let at = tokens.partition_point(|p| p.0 < step);
    match (
        at.checked_sub(1).and_then(|i| tokens.get(i)),
        tokens.get(at),
    ) {
        (Some(a), Some(b)) if b.0 > a.0 => a.1 + (b.1 - a.1) * (step - a.0) / (b.0 - a.0),
        (_, Some(b)) => b.1,
        (Some(a), None) => a.1,
        (None, None) => 0.0,
    }
}

fn render_one(curves: &Curves, x_name: &str, area: Rect, buf: &mut Buffer, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border_style(theme, false))
        .title(Span::styled(
            format!(" {} by {x_name} ", curves.title),
            theme.style("ui.title"),
        ));
    let all = curves.lines.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in all {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    if x0 > x1 {
        let inner = block.inner(area);
        block.render(area, buf);
        Paragraph::new(Line::styled("no data", theme.style("ui.dim"))).render(inner, buf);
        return;
    }
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let pad = ((y1 - y0) * 0.05).max(1e-12);
    let datasets = curves
        .lines
        .iter()
        .map(|(i, points)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.style(SLOTS[i % SLOTS.len()]))
                .data(points)
        })
        .collect();
    Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([x0, x1])
                .style(theme.style("ui.dim"))
                .labels([x_label(x0), x_label(x1)]),
        )
        .y_axis(
            Axis::default()
                .bounds([y0 - pad, y1 + pad])
                .style(theme.style("ui.dim"))
                .labels([compact(y0), compact(y1)]),
        )
        .render(area, buf);
}

/// Steps and tokens are counts: `120`, not `120.000`.
fn x_label(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.0}")
    } else {
        compact(v)
    }
}

pub(super) fn compact(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_interpolated_between_known_steps() {
        let tokens = [(0.0, 0.0), (10.0, 1000.0), (20.0, 3000.0)];
        assert_eq!(tokens_at(&tokens, 5.0), 500.0);
        assert_eq!(tokens_at(&tokens, 15.0), 2000.0);
        assert_eq!(tokens_at(&tokens, 30.0), 3000.0);
        assert_eq!(tokens_at(&[], 3.0), 0.0);
    }
}
