//! The Runs side pane: device stats, then the samples of one step — each completion
//! first, with its reward components and the extracted answer against gold; the
//! prompt (long and shared by the group) folded behind `p`. `[`/`]` move by step.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use super::view::{RunView, SampleView};
use crate::config::theme::Theme;
use crate::text::sanitize;
use crate::tui::screens::{border_style, text_lines};

/// Which samples the pane shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleCursor {
    /// The step shown; `None` follows the latest step with samples.
    pub step: Option<u64>,
    pub show_prompt: bool,
}

impl SampleCursor {
    /// The step shown for `run`: the chosen one when the run has it, else the latest
    /// step at or before it, else the run's latest.
    pub fn resolve(&self, run: &RunView) -> Option<u64> {
        let steps = run.sample_steps();
        match self.step {
            None => steps.last().copied(),
            Some(want) => steps
                .iter()
                .rev()
                .find(|&&s| s <= want)
                .or(steps.last())
                .copied(),
        }
    }

    /// Moves to the previous (`back`) or next step with samples; moving past the
    /// latest step follows new samples again.
    pub fn step_by(&mut self, run: &RunView, back: bool) {
        let steps = run.sample_steps();
        let Some(current) = self.resolve(run) else {
            return;
        };
        let at = steps.iter().position(|&s| s == current).unwrap_or(0);
        self.step = if back {
            Some(steps[at.saturating_sub(1)])
        } else if at + 2 >= steps.len() {
            // Onto the last step: follow the live end rather than pin it.
            None
        } else {
            Some(steps[at + 1])
        };
    }
}

pub fn render_side(
    run: &RunView,
    cursor: SampleCursor,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
) {
    let step = cursor.resolve(run);
    let steps = run.sample_steps();
    let title = match step {
        Some(step) => {
            let at = steps.iter().position(|&s| s == step).map_or(0, |i| i + 1);
            let follow = if cursor.step.is_none() { ", live" } else { "" };
            format!(" Samples @{step} ({at}/{}{follow}) [ ] p ", steps.len())
        }
        None => " Device · samples ".to_owned(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border_style(theme, false))
        .title(Span::styled(title, theme.style("ui.title")));
    let inner = block.inner(area);
    block.render(area, buf);
    let mut lines = device_lines(run, theme);
    if let Some(step) = step {
        let shown: Vec<&SampleView> = run.samples.iter().filter(|s| s.step == step).collect();
        for (i, sample) in shown.iter().enumerate() {
            lines.extend(sample_lines(i + 1, shown.len(), sample, theme));
        }
        if let Some(first) = shown.first() {
            if cursor.show_prompt {
                lines.push(Line::styled(
                    "prompt (p hides)",
                    theme.style("plan.section"),
                ));
                lines.extend(text_lines(&first.prompt, theme.style("ui.dim")));
            } else {
                lines.push(Line::styled(
                    format!(
                        "prompt folded ({} chars): p shows",
                        first.prompt.chars().count()
                    ),
                    theme.style("ui.dim"),
                ));
            }
        }
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

/// The device label and the last CPU/RSS/GPU figures.
fn device_lines(run: &RunView, theme: &Theme) -> Vec<Line<'static>> {
    let dim = theme.style("ui.dim");
    let mut lines = Vec::new();
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.0}{unit}"));
    let label = match sanitize(&run.summary.device_label).trim() {
        "" => String::new(),
        label => format!("{label} "),
    };
    match &run.summary.device {
        Some(d) => {
            lines.push(Line::raw(format!(
                "{label}CPU {}  RSS {}",
                opt(d.cpu_pct, "%"),
                opt(d.rss_mib, " MiB")
            )));
            for g in &d.gpus {
                lines.push(Line::raw(format!(
                    "GPU{} {} util {} mem {}/{} {} {}",
                    g.index,
                    sanitize(&g.name),
                    opt(g.utilisation_pct, "%"),
                    opt(g.memory_used_mib, ""),
                    opt(g.memory_total_mib, " MiB"),
                    opt(g.temperature_c, "°C"),
                    opt(g.power_w, " W"),
                )));
            }
        }
        None => lines.push(Line::styled(format!("{label}no device stats yet"), dim)),
    }
    lines
}

/// One sample: a header with its total reward and components, the answer against
/// gold, then the completion.
fn sample_lines(index: usize, of: usize, sample: &SampleView, theme: &Theme) -> Vec<Line<'static>> {
    let mut header = format!("#{index}/{of}");
    if let Some(r) = sample.reward {
        header.push_str(&format!(" reward {r:.2}"));
    }
    let parts: Vec<String> = sample
        .rewards
        .iter()
        .map(|(name, value)| format!("{} {value:.2}", sanitize(name)))
        .collect();
    if !parts.is_empty() {
        header.push_str(&format!(" = {}", parts.join(" + ")));
    }
    let mut lines = vec![Line::styled(header, theme.style("plan.section"))];
    if sample.gold.is_some() || sample.answer.is_some() {
        let (mark, slot) = match sample.correct {
            Some(true) => ("✓", "verdict.correct"),
            Some(false) => ("✗", "verdict.incorrect"),
            None => ("?", "ui.dim"),
        };
        let answer = sample
            .answer
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), |a| sanitize(a).into_owned());
        let gold = sample
            .gold
            .as_deref()
            .map_or_else(|| "-".to_owned(), |g| sanitize(g).into_owned());
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), theme.style(slot)),
            Span::raw(format!("answer {answer}  gold {gold}")),
        ]));
    }
    lines.extend(text_lines(&sample.completion, theme.style("ui.text")));
    lines
}
