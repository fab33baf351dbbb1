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

/// JSON text with the characters serde leaves raw but a terminal obeys (C1 controls,
/// bidi overrides, DEL) written as `\uXXXX` escapes. Those characters can only sit inside
/// JSON strings, and the escape decodes to the same character, so the value is exact.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    let raw = |c: char| c != '\n' && c != '\t' && is_dropped(c);
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A writer that passes each complete line through a filter ([`sanitize`] for text,
/// [`json_safe`] for JSON lines) before the inner writer sees it; a partial line waits
/// for its newline, a flush or the drop.
pub struct LineFilter<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
    filter: for<'a> fn(&'a str) -> Cow<'a, str>,
}

impl<W: std::io::Write> LineFilter<W> {
    pub fn sanitizing(inner: W) -> Self {
        Self::new(inner, sanitize)
    }

    pub fn json(inner: W) -> Self {
        Self::new(inner, json_safe)
    }

    fn new(inner: W, filter: for<'a> fn(&'a str) -> Cow<'a, str>) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            filter,
        }
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let line: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&line);
        self.inner.write_all((self.filter)(&text).as_bytes())
    }
}

impl<W: std::io::Write> std::io::Write for LineFilter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.emit(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let all = self.pending.len();
        self.emit(all)?;
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for LineFilter<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_safe_escapes_what_serde_leaves_raw_and_decodes_to_the_same_value() {
        let value = serde_json::json!({ "id": "a\u{9b}2J\u{202e}b\u{1b}]0;x\u{7}" });
        let json = serde_json::to_string(&value).unwrap();
        let safe = json_safe(&json);
        assert!(
            !safe.chars().any(|c| c.is_control() || is_dropped(c)),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn line_filter_sanitises_whole_lines_and_keeps_partial_ones_for_the_flush() {
        let mut out = Vec::new();
        {
            let mut w = LineFilter::sanitizing(&mut out);
            use std::io::Write;
            w.write_all(b"a\x1b]52;c;").unwrap();
            w.write_all(b"ZZ\x07b\nc\xc2").unwrap();
            w.write_all(b"\x9bd").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "ab\nc");
    }

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
