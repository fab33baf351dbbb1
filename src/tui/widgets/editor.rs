//! A small multi-line text editor for inline edits of a plan step or an execution.
//! It is a text input, so it reads raw keys instead of going through the keymap.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

const TAB: &str = "    ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorOutcome {
    Continue,
    Save(String),
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    lines: Vec<String>,
    row: usize,
    /// Cursor column in characters, not bytes.
    col: usize,
}

impl Editor {
    /// Starts editing `text`. Control characters and escape sequences are stripped up
    /// front: the editor shows every character it holds, so it may hold no escapes,
    /// and saving writes what the user saw.
    pub fn new(text: &str) -> Self {
        let clean = crate::text::sanitize(text);
        let mut lines: Vec<String> = clean.split('\n').map(str::to_owned).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        Self {
            lines,
            row: 0,
            col: 0,
        }
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    fn line_len(&self, row: usize) -> usize {
        self.lines.get(row).map_or(0, |l| l.chars().count())
    }

    fn byte_at(&self, row: usize, col: usize) -> usize {
        let line = &self.lines[row];
        line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
    }

    fn insert_str(&mut self, text: &str) {
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                self.newline();
            }
            let at = self.byte_at(self.row, self.col);
            self.lines[self.row].insert_str(at, part);
            self.col += part.chars().count();
        }
    }

    fn newline(&mut self) {
        let at = self.byte_at(self.row, self.col);
        let rest = self.lines[self.row].split_off(at);
        self.row += 1;
        self.lines.insert(self.row, rest);
        self.col = 0;
    }

    fn backspace(&mut self) {
        if self.col > 0 {
            let end = self.byte_at(self.row, self.col);
            let start = self.byte_at(self.row, self.col - 1);
            self.lines[self.row].replace_range(start..end, "");
            self.col -= 1;
        } else if self.row > 0 {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.col = self.line_len(self.row);
            self.lines[self.row].push_str(&line);
        }
    }

    fn delete(&mut self) {
        if self.col < self.line_len(self.row) {
            let start = self.byte_at(self.row, self.col);
            let end = self.byte_at(self.row, self.col + 1);
            self.lines[self.row].replace_range(start..end, "");
        } else if self.row + 1 < self.lines.len() {
            let next = self.lines.remove(self.row + 1);
            self.lines[self.row].push_str(&next);
        }
    }

    /// Feeds one key. Ctrl-S saves, Esc cancels.
    pub fn handle_key(&mut self, key: &KeyEvent) -> EditorOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('s') if ctrl => return EditorOutcome::Save(self.text()),
            KeyCode::Esc => return EditorOutcome::Cancel,
            KeyCode::Char('a') if ctrl => self.col = 0,
            KeyCode::Char('e') if ctrl => self.col = self.line_len(self.row),
            KeyCode::Char(c) if !ctrl && !c.is_control() => self.insert_str(&c.to_string()),
            KeyCode::Tab => self.insert_str(TAB),
            KeyCode::Enter => self.newline(),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => self.delete(),
            KeyCode::Left if self.col > 0 => self.col -= 1,
            KeyCode::Left if self.row > 0 => {
                self.row -= 1;
                self.col = self.line_len(self.row);
            }
            KeyCode::Right if self.col < self.line_len(self.row) => self.col += 1,
            KeyCode::Right if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = 0;
            }
            KeyCode::Up if self.row > 0 => {
                self.row -= 1;
                self.col = self.col.min(self.line_len(self.row));
            }
            KeyCode::Down if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = self.col.min(self.line_len(self.row));
            }
            KeyCode::Home => self.col = 0,
            KeyCode::End => self.col = self.line_len(self.row),
            _ => {}
        }
        EditorOutcome::Continue
    }

    /// Pastes text (bracketed paste), newlines included.
    pub fn paste(&mut self, text: &str) {
        self.insert_str(&crate::text::sanitize(text));
    }

    /// Draws the text with the cursor as a reversed cell, scrolled to keep it visible.
    /// The text was sanitised on the way in and typed keys are printable.
    pub fn render(&self, area: Rect, buf: &mut Buffer, style: Style) {
        if area.height == 0 || area.width == 0 {
            return;
        }
        let height = area.height as usize;
        let top = self.row.saturating_sub(height - 1);
        let width = area.width as usize;
        let left = self.col.saturating_sub(width.saturating_sub(1));
        let cursor_style = style.add_modifier(Modifier::REVERSED);
        let lines: Vec<Line> = self
            .lines
            .iter()
            .enumerate()
            .skip(top)
            .take(height)
            .map(|(row, line)| {
                let chars: Vec<char> = line.chars().skip(left).collect();
                if row != self.row {
                    return Line::styled(chars.into_iter().collect::<String>(), style);
                }
                let at = self.col - left;
                let before: String = chars.iter().take(at).collect();
                let under: String = chars.get(at).map_or(" ".into(), |c| c.to_string());
                let after: String = chars.iter().skip(at + 1).collect();
                Line::from(vec![
                    Span::styled(before, style),
                    Span::styled(under, cursor_style),
                    Span::styled(after, style),
                ])
            })
            .collect();
        Paragraph::new(lines).render(area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(editor: &mut Editor, code: KeyCode) -> EditorOutcome {
        editor.handle_key(&KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn typing(editor: &mut Editor, text: &str) {
        for c in text.chars() {
            press(editor, KeyCode::Char(c));
        }
    }

    #[test]
    fn multi_line_editing_with_unicode() {
        let mut editor = Editor::new("Add 3 → 4\nthen stop");
        press(&mut editor, KeyCode::End);
        typing(&mut editor, "!");
        press(&mut editor, KeyCode::Enter);
        typing(&mut editor, "é");
        press(&mut editor, KeyCode::Down);
        press(&mut editor, KeyCode::Home);
        press(&mut editor, KeyCode::Delete);
        assert_eq!(editor.text(), "Add 3 → 4!\né\nhen stop");
        press(&mut editor, KeyCode::Backspace);
        assert_eq!(editor.text(), "Add 3 → 4!\néhen stop");
        press(&mut editor, KeyCode::Left);
        press(&mut editor, KeyCode::Backspace);
        assert_eq!(editor.text(), "Add 3 → 4!éhen stop");
        assert_eq!(editor.cursor(), (0, 10));
        editor.paste("X\nY");
        assert_eq!(editor.text(), "Add 3 → 4!X\nYéhen stop");
        let save = editor.handle_key(&KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
        assert_eq!(save, EditorOutcome::Save("Add 3 → 4!X\nYéhen stop".into()));
        assert_eq!(press(&mut editor, KeyCode::Esc), EditorOutcome::Cancel);
    }
}
