//! `\boxed{...}` / `\fbox{...}` extraction: the last box, the boxes that join it into one
//! answer, and the reading of an unclosed last box.

use super::NoAnswer;
use crate::grade::{ExtractRule, Extraction};

/// At most this many boxes join into one answer (roots of a polynomial, a short list).
const MAX_JOINED_BOXES: usize = 8;
/// Text between two joined boxes longer than this is prose, not a separator.
const MAX_GAP: usize = 48;

/// One box found in the text: where its command starts, its content, where it ends.
struct BoxAt<'a> {
    start: usize,
    content: &'a str,
    end: usize,
}

pub(crate) fn last_box(text: &str) -> Option<Result<Extraction, NoAnswer>> {
    let (start, cmd) = find_box_before(text, text.len())?;
    let last = match read_box(text, start, cmd) {
        Ok(b) => b,
        Err(e) => return Some(Err(e)),
    };
    let mut parts = vec![last.content];
    let mut next_start = last.start;
    while parts.len() < MAX_JOINED_BOXES {
        let Some((start, cmd)) = find_box_before(text, next_start) else {
            break;
        };
        let Ok(prev) = read_box(text, start, cmd) else {
            break;
        };
        if prev.end > next_start || !is_separator(&text[prev.end..next_start]) {
            break;
        }
        parts.push(prev.content);
        next_start = prev.start;
    }
    parts.reverse();
    Some(Ok(Extraction {
        text: parts.join(", "),
        rule: ExtractRule::Boxed,
    }))
}

/// The last box command starting before byte `before`.
fn find_box_before(text: &str, before: usize) -> Option<(usize, &'static str)> {
    [("\\boxed", "boxed"), ("\\fbox", "fbox")]
        .iter()
        .filter_map(|(pat, cmd)| rfind_command(&text[..before], pat).map(|i| (i, *cmd)))
        .max_by_key(|(i, _)| *i)
}

fn read_box<'a>(text: &'a str, start: usize, cmd: &'static str) -> Result<BoxAt<'a>, NoAnswer> {
    let after_cmd = start + 1 + cmd.len();
    let rest = &text[after_cmd..];
    let body = rest.trim_start();
    let body_at = after_cmd + (rest.len() - body.len());
    if let Some(inner) = body.strip_prefix('{') {
        let inner_at = body_at + 1;
        return match matching_brace(inner) {
            Some(end) => {
                let content = inner[..end].trim();
                if content.is_empty() {
                    Err(NoAnswer::EmptyBox(cmd))
                } else {
                    Ok(BoxAt {
                        start,
                        content,
                        end: inner_at + end + 1,
                    })
                }
            }
            None => unclosed(inner, cmd).map(|content| BoxAt {
                start,
                content,
                end: text.len(),
            }),
        };
    }
    // `\boxed 5`: TeX takes the next token; models write a short word or number.
    let token: &str = body
        .split(|c: char| c.is_whitespace() || c == '$' || c == '\\')
        .next()
        .unwrap_or("");
    let token = token.trim_end_matches(['.', ',']);
    if token.is_empty() {
        return Err(NoAnswer::EmptyBox(cmd));
    }
    Ok(BoxAt {
        start,
        content: token,
        end: body_at + token.len(),
    })
}

/// The content of a box whose closing brace was forgotten: up to the end of its line or
/// its math delimiter, accepted only when the writer went on (a delimiter, a new line or a
/// full stop follows) and its own groups are complete. A box that simply stops at the end
/// of the text is a cut-off generation, not an answer.
fn unclosed<'a>(inner: &'a str, cmd: &'static str) -> Result<&'a str, NoAnswer> {
    let cut = ["\n", "$", "\\]", "\\)"]
        .iter()
        .filter_map(|d| inner.find(d))
        .min();
    let went_on = cut.is_some() || inner.trim_end().ends_with('.');
    let content = inner[..cut.unwrap_or(inner.len())]
        .trim()
        .trim_end_matches('.')
        .trim();
    if !went_on || content.is_empty() || !balanced(content) {
        return Err(NoAnswer::UnclosedBox(cmd));
    }
    Ok(content)
}

fn balanced(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut depth = 0i64;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0
}

/// Text between two boxes that only separates answers: commas, "and", "or", math
/// delimiters, spacing and short labels such as `x_1 =`.
fn is_separator(gap: &str) -> bool {
    if gap.len() > MAX_GAP {
        return false;
    }
    gap.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '$' | '~'))
        .filter(|w| !w.is_empty())
        .all(|w| {
            matches!(
                w,
                "and"
                    | "or"
                    | "&"
                    | "\\\\"
                    | "\\quad"
                    | "\\qquad"
                    | "\\("
                    | "\\)"
                    | "\\["
                    | "\\]"
                    | "\\text{and}"
                    | "\\text{or}"
                    | "\\text{"
                    | "}"
                    | "\\,"
                    | "="
            ) || is_label(w)
        })
}

/// `x`, `x=`, `x_1=`, `x_{2}=`, `y=`: the name given to the next boxed value.
fn is_label(w: &str) -> bool {
    let w = w.trim_end_matches('=');
    let mut chars = w.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && w.len() <= 6
        && chars.all(|c| c.is_ascii_digit() || matches!(c, '_' | '{' | '}'))
}

/// Last occurrence of a command name not followed by more letters (`\boxed`, not `\boxedx`).
fn rfind_command(text: &str, pat: &str) -> Option<usize> {
    let mut end = text.len();
    while let Some(i) = text[..end].rfind(pat) {
        let after = text[i + pat.len()..].chars().next();
        if !after.is_some_and(|c| c.is_ascii_alphabetic()) {
            return Some(i);
        }
        end = i;
    }
    None
}

/// Byte index of the `}` closing a group whose `{` was just consumed; escaped braces skip.
fn matching_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 1usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}
