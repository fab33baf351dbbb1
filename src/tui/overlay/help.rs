//! The key help: every binding that applies on the screen below, with its description.

use ratatui::buffer::Buffer;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::{Surface, centered};

pub fn render(s: &Surface, buf: &mut Buffer, scroll: u16) {
    let theme = s.theme;
    let popup = centered(s.main, 70, 90);
    Clear.render(popup, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style("ui.border_focused"))
        .title(Span::styled(
            format!(" Keys · {} (esc closes) ", s.screen_title),
            theme.style("ui.title"),
        ));
    let mut lines = Vec::new();
    let mut last_scope = None;
    for row in s.keymap.bindings_for(s.scope) {
        if last_scope != Some(row.scope) {
            lines.push(Line::styled(
                row.scope.name().to_owned(),
                theme.style("plan.section"),
            ));
            last_scope = Some(row.scope);
        }
        let mut spans = vec![
            Span::styled(
                format!("  {:<10}", row.chord.to_string()),
                theme.style("ui.key"),
            ),
            Span::raw(row.action.description()),
        ];
        if let Some(when) = row.when {
            spans.push(Span::styled(
                format!("  (when {when})"),
                theme.style("ui.dim"),
            ));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::styled(
        "text editor: ctrl-s save, esc cancel, arrows/home/end move",
        theme.style("ui.dim"),
    ));
    Paragraph::new(lines)
        .block(block)
        .scroll((scroll, 0))
        .render(popup, buf);
}
