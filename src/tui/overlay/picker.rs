//! A list to choose from: arrows move, enter chooses, esc cancels.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::{KeyOutcome, PickItem, Surface, centered};
use crate::text::sanitize;
use crate::tui::action::Action;

pub fn handle_key(
    items: &[PickItem],
    selected: usize,
    key: &KeyEvent,
    resolved: Option<Action>,
) -> KeyOutcome {
    if key.code == KeyCode::Enter {
        return KeyOutcome::close(items.get(selected).map(|item| item.action.clone()));
    }
    KeyOutcome::keep(match resolved {
        Some(Action::Cancel | Action::Quit) => Some(Action::Cancel),
        Some(a) if a.is_motion() => Some(a),
        _ => None,
    })
}

pub fn motion(len: usize, selected: &mut usize, action: &Action) {
    let last = len.saturating_sub(1);
    match action {
        Action::Down => *selected = (*selected + 1).min(last),
        Action::Up => *selected = selected.saturating_sub(1),
        Action::PageDown => *selected = (*selected + 10).min(last),
        Action::PageUp => *selected = selected.saturating_sub(10),
        Action::Top => *selected = 0,
        Action::Bottom => *selected = last,
        _ => {}
    }
}

pub fn render(s: &Surface, buf: &mut Buffer, title: &str, items: &[PickItem], selected: usize) {
    let popup = centered(s.main, 70, 60);
    Clear.render(popup, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(s.theme.style("ui.border_focused"))
        .title(Span::styled(
            format!(" {} · esc cancels ", sanitize(title)),
            s.theme.style("ui.title"),
        ));
    let height = block.inner(popup).height as usize;
    let top = selected.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = items
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, item)| {
            let line = Line::raw(sanitize(&item.label).replace('\n', " "));
            if i == selected {
                line.style(s.theme.style("ui.selection"))
            } else {
                line
            }
        })
        .collect();
    Paragraph::new(lines).block(block).render(popup, buf);
}
