//! Drawing the Runs screen: the list, the stats line, charts, the log and the side
//! pane (device and samples, in `samples.rs`). Pure: reads state only.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget};

use super::overlaid::compact;
use super::samples::render_side;
use super::view::RunView;
use super::{RunsLayout, RunsScreen};
use crate::config::theme::Theme;
use crate::runlog::RunStatus;
use crate::runs::RunState;
use crate::text::sanitize;
use crate::tui::screens::{border_style, text_lines};
use crate::tui::widgets::series::Series;

impl RunsScreen {
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
        let resumes: Vec<u64> = run
            .summary
            .attempts
            .resumes
            .iter()
            .map(|&(_, step)| step)
            .collect();
        let overlaid = self.overlaid();
        if !overlaid.is_empty() {
            super::overlaid::render(&overlaid, self.overlay, charts, buf, theme);
            self.render_log(run, log, buf, theme);
            render_side(run, self.samples, side, buf, theme);
            return;
        }
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(charts);
        render_chart(
            "loss",
            &run.metrics.loss,
            "chart.loss",
            left,
            &resumes,
            buf,
            theme,
        );
        if run.is_grpo() && right.height < 8 {
            // Too short for two charts (80×24): the reward, the one GRPO is about.
            render_chart(
                "reward mean",
                &run.metrics.reward,
                "chart.reward",
                right,
                &resumes,
                buf,
                theme,
            );
        } else if run.is_grpo() {
            let [r1, r2] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(right);
            render_chart(
                "reward mean",
                &run.metrics.reward,
                "chart.reward",
                r1,
                &resumes,
                buf,
                theme,
            );
            if run.metrics.accuracy.is_empty() {
                let title = if run.kl_beta == Some(0.0) {
                    "KL — (β = 0, not computed)"
                } else {
                    "KL (nats/token)"
                };
                render_chart(title, &run.metrics.kl, "chart.kl", r2, &resumes, buf, theme);
            } else {
                render_chart(
                    "accuracy",
                    &run.metrics.accuracy,
                    "chart.accuracy",
                    r2,
                    &resumes,
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
                &resumes,
                buf,
                theme,
            );
        }
        self.render_log(run, log, buf, theme);
        render_side(run, self.samples, side, buf, theme);
    }

    fn render_list(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let block = list_block(self.runs.len())
            .border_style(border_style(theme, true))
            .title_style(theme.style("ui.title"));
        let (inner, top) = self.list_window(area);
        block.render(area, buf);
        let header = Rect {
            y: inner.y.saturating_sub(1),
            height: 1,
            ..inner
        };
        Paragraph::new(Line::styled(
            format!(
                "  {:<9} {:<24} {:<5} {}",
                "state", "run", "kind", "progress"
            ),
            theme.style("plan.section"),
        ))
        .render(header, buf);
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
                let state = run.state();
                let stalled = state.standing_alarm(&run.summary).is_some();
                let (label, slot) = state_label(state, stalled);
                let progress =
                    run.summary
                        .last_step
                        .as_ref()
                        .map_or(String::new(), |s| match s.total {
                            Some(total) => format!("step {}/{total}", s.step),
                            None => format!("step {}", s.step),
                        });
                let mark = if self.marked.contains(&run.id) {
                    "● "
                } else {
                    "  "
                };
                let line = Line::from(vec![
                    Span::styled(mark, theme.style("ui.accent")),
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

/// `stalled`: the run's stall alarm stands ([`RunState::standing_alarm`]).
fn state_label(state: RunState, stalled: bool) -> (&'static str, &'static str) {
    match state {
        _ if stalled => ("stalled", "ui.warning"),
        RunState::Running => ("running", "run.running"),
        RunState::Finished(RunStatus::Completed) => ("finished", "run.completed"),
        RunState::Finished(RunStatus::Failed) => ("failed", "run.failed"),
        RunState::Finished(RunStatus::Stopped) => ("stopped", "run.stopped"),
        RunState::Died => ("died", "run.failed"),
        RunState::Unknown => ("unknown", "run.stopped"),
        RunState::Waiting => ("waiting", "ui.dim"),
    }
}

pub(super) fn duration(seconds: f64) -> String {
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
            kl_text(run, last(&run.metrics.kl)),
            last(&run.metrics.accuracy)
        )));
    }
    let state = run.state();
    let alarm = state.standing_alarm(summary);
    let status = match (state, &summary.finished) {
        (RunState::Died, _) => Span::styled(
            "process gone without run_finished: treat as crashed",
            theme.style("run.failed"),
        ),
        _ if alarm.is_some() => Span::styled(
            format!("alarm: {}", sanitize(alarm.unwrap_or_default())),
            theme.style("ui.warning"),
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

/// One metric's chart; `resumes` are the steps where a resumed attempt took over, drawn
/// as vertical lines and named in the title, so a replayed stretch reads as such.
fn render_chart(
    title: &str,
    series: &Series,
    slot: &str,
    area: Rect,
    resumes: &[u64],
    buf: &mut Buffer,
    theme: &Theme,
) {
    let title = match resumes.last() {
        Some(step) => format!(" {title} · resumed at {step} "),
        None => format!(" {title} "),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border_style(theme, false))
        .title(Span::styled(title, theme.style("ui.title")));
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
    let marks: Vec<[(f64, f64); 2]> = resumes
        .iter()
        .map(|&step| step as f64)
        .filter(|x| (first.0..=x1).contains(x))
        .map(|x| [(x, y0), (x, y1)])
        .collect();
    let mut datasets: Vec<Dataset> = marks
        .iter()
        .map(|line| {
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Line)
                .style(theme.style("ui.dim"))
                .data(line)
        })
        .collect();
    datasets.push(
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.style(slot))
            .data(&points),
    );
    Chart::new(datasets)
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

/// The KL figure, or a dash saying why there is none: with β = 0 the reference model
/// is not run and the KL a worker logs is a placeholder 0.
fn kl_text(run: &RunView, measured: String) -> String {
    if run.kl_beta == Some(0.0) {
        "— (β = 0)".to_owned()
    } else {
        measured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_text(resumes: &[u64]) -> Vec<String> {
        let mut series = Series::default();
        for step in 1..=30 {
            series.push(step as f64, 1.0 / step as f64);
        }
        let area = Rect::new(0, 0, 60, 12);
        let mut buf = Buffer::empty(area);
        render_chart(
            "loss",
            &series,
            "chart.loss",
            area,
            resumes,
            &mut buf,
            &Theme::default(),
        );
        (0..area.height)
            .map(|y| (0..area.width).map(|x| buf[(x, y)].symbol()).collect())
            .collect()
    }

    #[test]
    fn a_resumed_run_names_and_marks_its_resume_step() {
        let plain = chart_text(&[]);
        let resumed = chart_text(&[13]);
        assert!(plain[0].contains(" loss ") && !plain[0].contains("resumed"));
        assert!(
            resumed[0].contains(" loss · resumed at 13 "),
            "{}",
            resumed[0]
        );
        // The vertical mark: the same column carries a dot on most rows of the plot.
        let dots = |rows: &[String]| rows.iter().filter(|r| r.contains('•')).count();
        assert!(dots(&resumed) >= 6 && dots(&plain) == 0, "{resumed:#?}");
    }
}
