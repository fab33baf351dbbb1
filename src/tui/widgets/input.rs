//! A one-line text input (search, score thresholds, the command palette).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputOutcome {
    Changed,
    Unchanged,
    Submit,
    Cancel,
}

impl LineInput {
    pub fn new(text: &str) -> Self {
        Self { text: text.into() }
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> InputOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => InputOutcome::Submit,
            KeyCode::Esc => InputOutcome::Cancel,
            KeyCode::Char('u') if ctrl => {
                self.text.clear();
                InputOutcome::Changed
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                self.text.push(c);
                InputOutcome::Changed
            }
            KeyCode::Backspace => {
                if self.text.pop().is_some() {
                    InputOutcome::Changed
                } else {
                    InputOutcome::Unchanged
                }
            }
            _ => InputOutcome::Unchanged,
        }
    }
}
