//! Compare: two prediction sets on one benchmark, problem by problem, with the paired
//! table on top and both outputs side by side, scrolled together.

use std::collections::BTreeMap;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use super::compare_steps::StepsChart;
use super::{Ctx, Screen, border_style, clamp, step, text_lines};
use crate::config::theme::Theme;
use crate::eval::stats::{PairedCounts, mcnemar_exact_p, wilson_interval};
use crate::text::sanitize;
use crate::tui::action::Action;
use crate::tui::keymap::Scope;
use crate::workspace::store::{Prediction, PredictionKey};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CompareFilter {
    #[default]
    All,
    /// A wrong, B right.
    Fixed,
    /// A right, B wrong.
    Broke,
    BothRight,
    BothWrong,
}

impl CompareFilter {
    fn next(self) -> Self {
        match self {
            Self::All => Self::Fixed,
            Self::Fixed => Self::Broke,
            Self::Broke => Self::BothRight,
            Self::BothRight => Self::BothWrong,
            Self::BothWrong => Self::All,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Fixed => "fixed (A✗ B✓)",
            Self::Broke => "broke (A✓ B✗)",
            Self::BothRight => "both right",
            Self::BothWrong => "both wrong",
        }
    }

    fn keeps(self, a: bool, b: bool) -> bool {
        match self {
            Self::All => true,
            Self::Fixed => !a && b,
            Self::Broke => a && !b,
            Self::BothRight => a && b,
            Self::BothWrong => !a && !b,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PairRow {
    pub problem_id: i64,
    pub a: Prediction,
    pub b: Prediction,
}

/// Counts of the 2×2 paired table.
pub type Paired = PairedCounts;

#[derive(Debug, Clone, Default)]
pub struct CompareScreen {
    pub sets: Vec<PredictionKey>,
    pub a: Option<usize>,
    pub b: Option<usize>,
    pub filter: CompareFilter,
    pairs: Vec<PairRow>,
    /// Indexes into `pairs` that pass the filter.
    pub visible: Vec<usize>,
    pub paired: Paired,
    pub selected: usize,
    pub scroll: u16,
    pub question: String,
    /// Accuracy by number of operations for A's and B's models (empty off synthetic data).
    pub steps: StepsChart,
}

impl CompareScreen {
    pub fn new(ctx: &mut Ctx) -> anyhow::Result<Self> {
        let mut screen = Self::default();
        screen.refresh(ctx)?;
        Ok(screen)
    }

    pub fn refresh(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let keep_a = self.a.and_then(|i| self.sets.get(i).cloned());
        let keep_b = self.b.and_then(|i| self.sets.get(i).cloned());
        self.sets = ctx
            .store
            .prediction_counts()?
            .into_iter()
            .map(|(key, _, _)| key)
            .collect();
        self.a = keep_a
            .and_then(|k| self.sets.iter().position(|s| *s == k))
            .or(if self.sets.is_empty() { None } else { Some(0) });
        self.b = keep_b
            .and_then(|k| self.sets.iter().position(|s| *s == k))
            .or_else(|| self.first_partner(self.a?));
        self.load_pairs(ctx)
    }

    /// The opening partner of `a`: another student rather than `a` trained with another
    /// seed (`baseline` vs `plan-tuned`, not `baseline` vs `baseline@seed2`), when the
    /// benchmark has one.
    fn first_partner(&self, a: usize) -> Option<usize> {
        let family = |model: &str| model.split('@').next().unwrap_or(model).to_owned();
        let own = family(&self.sets.get(a)?.model);
        let bench = &self.sets[a].benchmark;
        self.sets
            .iter()
            .position(|s| &s.benchmark == bench && family(&s.model) != own)
            .or_else(|| self.partner_after(a, a))
    }

    /// The next set after `from` on the same benchmark as set `a`, other than `a`.
    fn partner_after(&self, a: usize, from: usize) -> Option<usize> {
        let bench = &self.sets.get(a)?.benchmark;
        let n = self.sets.len();
        (1..=n)
            .map(|d| (from + d) % n)
            .find(|&i| i != a && &self.sets[i].benchmark == bench)
    }

    fn load_pairs(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.pairs.clear();
        if let (Some(a), Some(b)) = (self.a, self.b) {
            let first = |preds: Vec<Prediction>| -> BTreeMap<i64, Prediction> {
                let mut map = BTreeMap::new();
                for p in preds {
                    map.entry(p.fields.problem_id).or_insert(p);
                }
                map
            };
            let a_preds = first(ctx.store.predictions(&self.sets[a])?);
            let mut b_preds = first(ctx.store.predictions(&self.sets[b])?);
            for (problem_id, pa) in a_preds {
                if let Some(pb) = b_preds.remove(&problem_id) {
                    self.pairs.push(PairRow {
                        problem_id,
                        a: pa,
                        b: pb,
                    });
                }
            }
        }
        let mut paired = Paired::default();
        for p in &self.pairs {
            match (p.a.fields.correct, p.b.fields.correct) {
                (true, true) => paired.both_right += 1,
                (true, false) => paired.only_a += 1,
                (false, true) => paired.only_b += 1,
                (false, false) => paired.both_wrong += 1,
            }
        }
        self.paired = paired;
        let key = |i: Option<usize>| i.and_then(|i| self.sets.get(i));
        self.steps = StepsChart::load(ctx.store, &self.sets, key(self.a), key(self.b))?;
        self.apply_filter(ctx)
    }

    fn apply_filter(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let filter = self.filter;
        self.visible = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| filter.keeps(p.a.fields.correct, p.b.fields.correct))
            .map(|(i, _)| i)
            .collect();
        self.selected = clamp(self.selected, self.visible.len());
        self.load_question(ctx)
    }

    fn load_question(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.scroll = 0;
        self.question = match self.current() {
            Some(row) => ctx.store.problem(row.problem_id)?.fields.question,
            None => String::new(),
        };
        Ok(())
    }

    pub fn current(&self) -> Option<&PairRow> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.pairs.get(i))
    }

    pub fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        match action {
            Action::ShowCompare => self.refresh(ctx)?,
            Action::Down | Action::Up => {
                let delta = if *action == Action::Down { 1 } else { -1 };
                self.selected = step(self.selected, delta, self.visible.len());
                self.load_question(ctx)?;
            }
            Action::Top => {
                self.selected = 0;
                self.load_question(ctx)?;
            }
            Action::Bottom => {
                self.selected = self.visible.len().saturating_sub(1);
                self.load_question(ctx)?;
            }
            // Both outputs scroll together: one offset for the pair.
            Action::PageDown => self.scroll = self.scroll.saturating_add(5),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(5),
            Action::CycleSetA if !self.sets.is_empty() => {
                let a = self.a.map_or(0, |a| (a + 1) % self.sets.len());
                self.a = Some(a);
                self.b = self.partner_after(a, a);
                self.load_pairs(ctx)?;
            }
            Action::CycleSetB => {
                if let Some(a) = self.a {
                    self.b = self.partner_after(a, self.b.unwrap_or(a));
                    self.load_pairs(ctx)?;
                }
            }
            Action::NextOnlyA => self.jump(ctx, true, false)?,
            Action::NextOnlyB => self.jump(ctx, false, true)?,
            Action::CycleCompareFilter => {
                self.filter = self.filter.next();
                self.selected = 0;
                self.apply_filter(ctx)?;
            }
            _ => {}
        }
        Ok(None)
    }

    /// Selects the next visible problem (wrapping) where A's and B's verdicts are
    /// `a` and `b`.
    fn jump(&mut self, ctx: &mut Ctx, a: bool, b: bool) -> anyhow::Result<()> {
        let n = self.visible.len();
        let hit = (1..=n).map(|d| (self.selected + d) % n).find(|&i| {
            let row = &self.pairs[self.visible[i]];
            row.a.fields.correct == a && row.b.fields.correct == b
        });
        match hit {
            Some(i) => {
                self.selected = i;
                self.scroll = 0;
                self.load_question(ctx)
            }
            None => {
                let who = if a { "A" } else { "B" };
                ctx.info = Some(format!("no problem shown that only {who} got right"));
                Ok(())
            }
        }
    }

    /// The head's lines: each set with its accuracy and Wilson interval, then the
    /// paired difference with Newcombe's interval and McNemar's p, then the counts.
    fn head_lines(&self, theme: &Theme) -> Vec<Line<'static>> {
        let p = self.paired;
        let n = p.n();
        let acc = |right: u64| {
            if n == 0 {
                return "acc —".to_owned();
            }
            let (lo, hi) = wilson_interval(right, n);
            format!(
                "acc {:.1}% [{:.1}, {:.1}]",
                100.0 * right as f64 / n as f64,
                100.0 * lo,
                100.0 * hi
            )
        };
        let d = p.difference();
        let difference = if n == 0 {
            "A − B: no shared problems".to_owned()
        } else {
            format!(
                "A − B {:+.1} pts, 95% CI [{:+.1}, {:+.1}] (Newcombe, paired) · McNemar p = {:.3}",
                100.0 * d.estimate,
                100.0 * d.low,
                100.0 * d.high,
                mcnemar_exact_p(p.only_a, p.only_b)
            )
        };
        vec![
            Line::from(vec![
                Span::raw(format!("A: {}  ", self.set_name(self.a))),
                Span::styled(acc(p.both_right + p.only_a), theme.style("ui.accent")),
            ]),
            Line::from(vec![
                Span::raw(format!("B: {}  ", self.set_name(self.b))),
                Span::styled(acc(p.both_right + p.only_b), theme.style("ui.accent")),
            ]),
            Line::styled(difference, theme.style("ui.title")),
            Line::from(vec![
                Span::styled(
                    format!("both ✓ {}  ", p.both_right),
                    theme.style("verdict.correct"),
                ),
                Span::raw(format!("only A {}  only B {}  ", p.only_a, p.only_b)),
                Span::styled(
                    format!("both ✗ {}", p.both_wrong),
                    theme.style("verdict.incorrect"),
                ),
                Span::styled(
                    format!("  · filter {} · A/B next only-A/only-B", self.filter.name()),
                    theme.style("ui.dim"),
                ),
            ]),
        ]
    }

    fn set_name(&self, index: Option<usize>) -> String {
        match index.and_then(|i| self.sets.get(i)) {
            Some(k) => format!(
                "{} / {} / {}",
                sanitize(&k.model),
                sanitize(&k.benchmark),
                sanitize(&k.mode)
            ),
            None => "(none)".into(),
        }
    }

    /// Head, problem list, steps chart (beside the list, when there is one and room)
    /// and outputs; render and mouse hit-testing share it.
    pub fn layout(&self, area: Rect) -> [Rect; 4] {
        let [head, middle, outputs] = Layout::vertical([
            Constraint::Length(6),
            Constraint::Percentage(35),
            Constraint::Min(4),
        ])
        .areas(area);
        if self.steps.is_empty() || area.width < 60 {
            let steps = Rect { width: 0, ..middle };
            return [head, middle, steps, outputs];
        }
        let [list, steps] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(middle);
        [head, list, steps, outputs]
    }

    /// The list's inner area and its first visible row.
    fn list_window(&self, area: Rect) -> (Rect, usize) {
        let [_, list, _, _] = self.layout(area);
        let inner = Block::default().borders(Borders::ALL).inner(list);
        let height = inner.height as usize;
        (
            inner,
            self.selected.saturating_sub(height.saturating_sub(1)),
        )
    }

    /// A click on a problem row selects it.
    pub fn click(&mut self, ctx: &mut Ctx, area: Rect, at: Position) -> anyhow::Result<()> {
        let (inner, top) = self.list_window(area);
        if inner.contains(at) {
            let index = top + usize::from(at.y - inner.y);
            if index < self.visible.len() && index != self.selected {
                self.selected = index;
                self.load_question(ctx)?;
            }
        }
        Ok(())
    }

    /// The wheel scrolls both outputs when over them, else moves the selection.
    pub fn scroll_at(
        &mut self,
        ctx: &mut Ctx,
        area: Rect,
        at: Position,
        down: bool,
    ) -> anyhow::Result<()> {
        let [_, _, _, outputs] = self.layout(area);
        if outputs.contains(at) {
            self.scroll = if down {
                self.scroll.saturating_add(3)
            } else {
                self.scroll.saturating_sub(3)
            };
            return Ok(());
        }
        let next = step(self.selected, if down { 1 } else { -1 }, self.visible.len());
        if next != self.selected {
            self.selected = next;
            self.load_question(ctx)?;
        }
        Ok(())
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let [head, list, steps, outputs] = self.layout(area);
        if steps.width > 0 {
            self.steps.render(steps, buf, theme);
        }
        let head_block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, false))
            .title(Span::styled(
                " Compare (a/b pick sets, f filter) ",
                theme.style("ui.title"),
            ));
        let head_lines = self.head_lines(theme);
        Paragraph::new(head_lines)
            .block(head_block)
            .render(head, buf);

        let list_block = Block::default()
            .borders(Borders::ALL)
            .border_style(border_style(theme, true))
            .title(Span::styled(
                format!(" Problems ({}) ", self.visible.len()),
                theme.style("ui.title"),
            ));
        let (inner, top) = self.list_window(area);
        list_block.render(list, buf);
        if self.sets.len() < 2 || self.b.is_none() {
            Paragraph::new(Line::styled(
                "need two prediction sets on the same benchmark (run `plantune-tui eval`)",
                theme.style("ui.dim"),
            ))
            .render(inner, buf);
            return;
        }
        let height = inner.height as usize;
        let verdict = |ok: bool| {
            if ok {
                Span::styled("✓", theme.style("verdict.correct"))
            } else {
                Span::styled("✗", theme.style("verdict.incorrect"))
            }
        };
        let lines: Vec<Line> = self
            .visible
            .iter()
            .enumerate()
            .skip(top)
            .take(height)
            .map(|(i, &pi)| {
                let row = &self.pairs[pi];
                let show = |p: &Prediction| {
                    p.fields
                        .extracted
                        .as_deref()
                        .map_or("-".to_owned(), |e| sanitize(e).replace('\n', " "))
                };
                let line = Line::from(vec![
                    Span::raw(format!("#{:<6} A ", row.problem_id)),
                    verdict(row.a.fields.correct),
                    Span::raw(format!(" {:<12.12} B ", show(&row.a))),
                    verdict(row.b.fields.correct),
                    Span::raw(format!(" {:<12.12}", show(&row.b))),
                ]);
                if i == self.selected {
                    line.style(theme.style("ui.selection"))
                } else {
                    line
                }
            })
            .collect();
        Paragraph::new(lines).render(inner, buf);

        let Some(row) = self.current() else {
            return;
        };
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(outputs);
        for (side, pred, label) in [(left, &row.a, "A"), (right, &row.b, "B")] {
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(border_style(theme, false))
                .title(Span::styled(
                    format!(" {label} output "),
                    theme.style("ui.title"),
                ));
            let mut lines = text_lines(&self.question, theme.style("ui.dim"));
            lines.push(Line::raw(""));
            lines.extend(text_lines(&pred.fields.output, theme.style("ui.text")));
            lines.push(Line::styled(
                format!("→ {}", sanitize(&pred.fields.reason)),
                theme.style(if pred.fields.correct {
                    "verdict.correct"
                } else {
                    "verdict.incorrect"
                }),
            ));
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0))
                .render(side, buf);
        }
    }
}

impl Screen for CompareScreen {
    fn title(&self) -> &'static str {
        "Compare"
    }

    fn scope(&self) -> Scope {
        Scope::Compare
    }

    fn hints(&self) -> &'static [Action] {
        &[
            Action::CycleSetA,
            Action::CycleSetB,
            Action::CycleCompareFilter,
        ]
    }

    fn shown(&mut self, ctx: &mut Ctx) -> anyhow::Result<()> {
        self.refresh(ctx)
    }

    fn update(&mut self, action: &Action, ctx: &mut Ctx) -> anyhow::Result<Option<Action>> {
        CompareScreen::update(self, action, ctx)
    }

    fn click(&mut self, ctx: &mut Ctx, area: Rect, at: Position) -> anyhow::Result<()> {
        CompareScreen::click(self, ctx, area, at)
    }

    fn scroll_at(
        &mut self,
        ctx: &mut Ctx,
        area: Rect,
        at: Position,
        down: bool,
    ) -> anyhow::Result<()> {
        CompareScreen::scroll_at(self, ctx, area, at, down)
    }

    fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        CompareScreen::render(self, area, buf, theme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(model: &str, benchmark: &str) -> PredictionKey {
        PredictionKey {
            model: model.into(),
            benchmark: benchmark.into(),
            mode: "direct".into(),
        }
    }

    #[test]
    fn the_opening_partner_is_another_student_not_another_seed() {
        let screen = CompareScreen {
            sets: vec![
                key("baseline", "id"),
                key("baseline@seed2", "id"),
                key("plan-tuned", "ood"),
                key("plan-tuned", "id"),
            ],
            ..CompareScreen::default()
        };
        assert_eq!(screen.first_partner(0), Some(3));
        assert_eq!(screen.first_partner(1), Some(3));
        let seeds_only = CompareScreen {
            sets: vec![key("baseline", "id"), key("baseline@seed2", "id")],
            ..CompareScreen::default()
        };
        assert_eq!(seeds_only.first_partner(0), Some(1), "a seed beats nothing");
    }
}
