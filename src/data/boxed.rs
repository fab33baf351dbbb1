//! Extraction of the final `\boxed{...}` (or `\fbox{...}`) answer of a LaTeX solution.

const COMMANDS: [&str; 2] = ["\\boxed", "\\fbox"];

/// The content of the last `\boxed{...}` / `\fbox{...}` in `text`, nested braces matched
/// and escaped braces (`\{`, `\}`) treated as text. Also accepts the brace-less form
/// `\boxed 5`. `None` when there is no complete boxed answer.
pub fn last_boxed(text: &str) -> Option<&str> {
    let mut best: Option<(usize, &str)> = None;
    for command in COMMANDS {
        let mut search_from = 0;
        while let Some(found) = text[search_from..].find(command) {
            let start = search_from + found;
            let after = start + command.len();
            if let Some(content) = boxed_argument(&text[after..])
                && best.is_none_or(|(best_start, _)| start > best_start)
            {
                best = Some((start, content));
            }
            search_from = after;
        }
    }
    best.map(|(_, content)| content.trim())
}

fn boxed_argument(rest: &str) -> Option<&str> {
    if rest.starts_with('{') {
        return braced(rest);
    }
    // `\boxedx` is another command; only whitespace may separate `\boxed` and a bare token.
    let trimmed = rest.trim_start();
    if trimmed.len() == rest.len() {
        return None;
    }
    if trimmed.starts_with('{') {
        return braced(trimmed);
    }
    let end = trimmed
        .find(|c: char| c.is_whitespace() || c == '$')
        .unwrap_or(trimmed.len());
    (end > 0).then(|| &trimmed[..end])
}

/// `text` starts with `{`; returns what lies between it and its matching `}`.
fn braced(text: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[1..index]);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::last_boxed;

    #[test]
    fn takes_the_last_boxed_answer_with_nested_braces() {
        let text = r"First \boxed{1}, then $\boxed{\frac{9}{11}}$.";
        assert_eq!(last_boxed(text), Some(r"\frac{9}{11}"));
    }

    #[test]
    fn fbox_and_escaped_braces_are_understood() {
        assert_eq!(
            last_boxed(r"\boxed{2} so \fbox{\{1, 2\}}"),
            Some(r"\{1, 2\}")
        );
    }

    #[test]
    fn bare_token_form_and_missing_answers() {
        assert_eq!(last_boxed(r"so $\boxed 5$."), Some("5"));
        assert_eq!(last_boxed(r"\boxedx{3}"), None);
        assert_eq!(last_boxed(r"no answer \boxed{unclosed"), None);
        assert_eq!(last_boxed("plain text"), None);
    }
}
