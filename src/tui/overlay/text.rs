//! Read-only text in a scrollable window (a run's frozen config).

use ratatui::buffer::Buffer;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::{Surface, centered};
use crate::text::sanitize;
use crate::tui::action::Action;

/// Scrolling shared by the text and help windows.
pub fn scroll(scroll: &mut u16, action: &Action) {
    match action {
        Action::Down => *scroll = scroll.saturating_add(1),
        Action::Up => *scroll = scroll.saturating_sub(1),
        Action::PageDown => *scroll = scroll.saturating_add(10),
        Action::PageUp => *scroll = scroll.saturating_sub(10),
        Action::Top => *scroll = 0,
        _ => {}
    }
}

pub fn render(s: &Surface, buf: &mut Buffer, title: &str, text: &str, scroll: u16) {
    let popup = centered(s.main, 80, 90);
    Clear.render(popup, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(s.theme.style("ui.border_focused"))
        .title(Span::styled(
            format!(" {} · esc closes ", sanitize(title)),
            s.theme.style("ui.title"),
        ));
    let style = s.theme.style("ui.text");
    let lines: Vec<Line> = sanitize(text)
        .split('\n')
        .map(|l| Line::styled(l.to_owned(), style))
        .collect();
    Paragraph::new(lines)
        .block(block)
        .scroll((scroll, 0))
        .render(popup, buf);
}
