//! Untrusted text (model output, teacher output, datasets) on its way to the terminal.
//!
//! ratatui writes cell symbols verbatim, so an escape sequence in a model's output would
//! reach the user's terminal: it could move the cursor, retitle the window, or write the
//! clipboard (OSC 52). Everything that is not printable text goes before a `Buffer`.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';
/// The 8-bit form of CSI; some terminals honour it.
const CSI_8BIT: char = '\u{9b}';
const TAB_WIDTH: usize = 4;

/// Strips escape sequences and control characters; keeps newlines, expands tabs.
/// Returns the input unchanged (borrowed) when it is already clean, which is the
/// common case and keeps rendering allocation-free.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.extend(std::iter::repeat_n(' ', TAB_WIDTH)),
            ESC => match chars.next() {
                // CSI: parameters and intermediates, up to a final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Any other escape is ESC plus one character (with intermediates).
                Some(next) if ('\u{20}'..='\u{2f}').contains(&next) => {
                    chars.next();
                }
                _ => {}
            },
            CSI_8BIT => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            // 8-bit OSC, DCS and the other string introducers.
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if is_dropped(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | '\u{9c}' => return,
            ESC if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

/// Controls that are removed outright: C0 (but newline and tab), DEL, C1, and the bidi
/// overrides that can make displayed text differ from the stored text.
fn is_dropped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn needs_work(c: char) -> bool {
    c == '\t' || is_dropped(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed_unchanged() {
        let text = "Plan:\n1. Add 3 and 4 → 7 ✓";
        assert!(matches!(sanitize(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        let cases = [
            ("a\x1b[31mred\x1b[0m b", "ared b"),
            ("x\x1b]52;c;ZXZpbA==\x07y", "xy"),
            ("x\x1b]0;title\x1b\\y", "xy"),
            ("up\x1b[2Aleft\x1b[10D", "upleft"),
            ("bell\x07 nul\0 cr\r del\x7f", "bell nul cr del"),
            ("c1\u{9b}31m csi", "c1 csi"),
            ("osc8\u{9d}52;c;x\u{9c}end", "osc8end"),
            ("dcs\x1bPq#0;2\x1b\\done", "dcsdone"),
            ("bidi\u{202e}abc\u{2066}", "bidiabc"),
            ("keep\nlines\tand tabs", "keep\nlines    and tabs"),
            ("save\x1b7restore\x1b8", "saverestore"),
            ("charset\x1b(Bok", "charsetok"),
            ("truncated\x1b[", "truncated"),
            ("unterminated osc\x1b]52;c;AAAA", "unterminated osc"),
        ];
        for (input, expected) in cases {
            assert_eq!(sanitize(input), expected, "{input:?}");
        }
    }

    #[test]
    fn output_never_contains_escape_or_control_characters() {
        let nasty: String = (0u32..0x250)
            .filter_map(char::from_u32)
            .chain("\x1b]52;c;\x1b[2J\x1b[H".chars())
            .collect();
        let clean = sanitize(&nasty);
        assert!(
            !clean.chars().any(|c| c.is_control() && c != '\n'),
            "{clean:?}"
        );
    }
}
