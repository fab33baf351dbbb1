//! Reading teacher text: plan steps, the judge's score, the boxed answer.

/// What a line of a plan starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// `Step 3:` / `**Step 3.**`
    StepLabel,
    /// `3.` / `3)`
    Numbered,
    /// `## Title` or a line that is all bold
    Heading,
    /// `-`, `*`, `+`, `•`
    Bullet,
    Text,
}

struct Line<'a> {
    indent: usize,
    marker: Marker,
    rest: &'a str,
}

fn strip_emphasis(text: &str) -> &str {
    text.trim()
        .trim_start_matches("**")
        .trim_end_matches("**")
        .trim_start_matches("__")
        .trim_end_matches("__")
        .trim()
}

/// `digits` then one of `terminators`, returning what follows.
fn after_number<'a>(text: &'a str, terminators: &[char]) -> Option<&'a str> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 3 {
        return None;
    }
    let tail = &text[digits..];
    let next = tail.chars().next()?;
    if !terminators.contains(&next) {
        return None;
    }
    let tail = &tail[next.len_utf8()..];
    // "3.5 apples" is a number, not an item.
    (tail.is_empty() || tail.starts_with(char::is_whitespace) || tail.starts_with('*'))
        .then_some(tail)
}

fn step_label(core: &str) -> Option<&str> {
    let head = core.get(..4)?;
    if !head.eq_ignore_ascii_case("step") {
        return None;
    }
    let tail = core[4..].trim_start();
    let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let tail = tail[digits..].trim_start_matches([':', '.', ')', '-', '–', '—', ' ']);
    Some(tail)
}

fn classify(raw: &str) -> Option<Line<'_>> {
    let trimmed = raw.trim_start();
    if trimmed.trim().is_empty() {
        return None;
    }
    let indent = raw.len() - trimmed.len();
    let line = |marker: Marker, rest| Line {
        indent,
        marker,
        rest: strip_emphasis(rest),
    };
    for bullet in ["- ", "* ", "+ ", "• "] {
        if let Some(rest) = trimmed.strip_prefix(bullet) {
            return Some(line(Marker::Bullet, rest));
        }
    }
    let hashes = trimmed.len() - trimmed.trim_start_matches('#').len();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        let title = &trimmed[hashes..];
        if let Some(rest) = step_label(strip_emphasis(title)) {
            return Some(line(Marker::StepLabel, rest));
        }
        return Some(line(Marker::Heading, title));
    }
    let core = trimmed
        .strip_prefix("**")
        .or_else(|| trimmed.strip_prefix("__"))
        .unwrap_or(trimmed);
    if let Some(rest) = step_label(core) {
        return Some(line(Marker::StepLabel, rest));
    }
    if let Some(rest) = after_number(core, &['.', ')']) {
        return Some(line(Marker::Numbered, rest));
    }
    let text = trimmed.trim_end();
    if text.len() > 4 && text.starts_with("**") && text.ends_with("**") {
        return Some(line(Marker::Heading, text));
    }
    Some(line(Marker::Text, trimmed))
}

/// Splits a plan into its steps for the curation view and the training targets.
/// Understands numbered lists (`1.`, `1)`), `Step 1:` labels, headed sections and
/// bullets; text under an item (wrapped lines, nested lists) joins that item. A plan
/// with no recognisable structure gives one step per non-empty line.
pub fn plan_steps(plan: &str) -> Vec<String> {
    let lines: Vec<Option<Line<'_>>> = plan.lines().map(classify).collect();
    let count = |marker| {
        lines
            .iter()
            .flatten()
            .filter(|l| l.marker == marker)
            .count()
    };
    // A single heading is a title ("## Plan"), not a list of sections.
    let primary = [
        (Marker::StepLabel, 1),
        (Marker::Numbered, 1),
        (Marker::Heading, 2),
        (Marker::Bullet, 1),
    ]
    .into_iter()
    .find(|(marker, needed)| count(*marker) >= *needed)
    .map(|(marker, _)| marker);
    let Some(primary) = primary else {
        return lines
            .iter()
            .flatten()
            .map(|l| l.rest.to_owned())
            .filter(|s| !s.is_empty())
            .collect();
    };
    let top = lines
        .iter()
        .flatten()
        .filter(|l| l.marker == primary)
        .map(|l| l.indent)
        .min()
        .unwrap_or(0);

    let mut steps: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut after_blank = false;
    for line in &lines {
        let Some(line) = line else {
            after_blank = true;
            continue;
        };
        if line.marker == primary && line.indent <= top + 1 {
            steps.extend(current.take());
            current = Some(line.rest.to_owned());
        } else if let Some(step) = current.as_mut() {
            // Under a list, unindented prose after a blank line is commentary about the
            // plan ("This gives the answer."), not part of the last step.
            let commentary = primary != Marker::Heading
                && after_blank
                && line.indent <= top
                && line.marker == Marker::Text;
            if !commentary && !line.rest.is_empty() {
                if !step.is_empty() {
                    step.push(' ');
                }
                step.push_str(line.rest);
            }
        }
        after_blank = false;
    }
    steps.extend(current);
    steps.retain(|s| !s.is_empty());
    steps
}

/// The judge's score: the integer after the last `Score:` (markdown emphasis allowed),
/// if it lies in [-100, 100].
pub fn judge_score(judgement: &str) -> Option<i32> {
    judgement.lines().rev().find_map(|line| {
        let plain: String = line
            .chars()
            .filter(|c| !matches!(c, '*' | '#' | '_'))
            .collect();
        let lower = plain.to_ascii_lowercase();
        let at = lower.rfind("score")?;
        let tail = plain[at + "score".len()..].trim_start().strip_prefix(':')?;
        let tail = tail.trim_start();
        let sign_len = usize::from(tail.starts_with(['-', '+']));
        let digits = tail[sign_len..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if digits == 0 {
            return None;
        }
        let value: i32 = tail[..sign_len + digits].parse().ok()?;
        (-100..=100).contains(&value).then_some(value)
    })
}

/// The content of the last `\boxed{...}`, braces balanced.
pub fn last_boxed(text: &str) -> Option<String> {
    let start = text.rfind("\\boxed{")? + "\\boxed{".len();
    let mut depth = 1usize;
    for (offset, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(text[start..start + offset].trim().to_owned());
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_lists_with_wrapped_lines_and_nested_bullets() {
        let plan = "Plan:\n1. Find the apples Tom has.\n   He starts with 3.\n2) Add the 3.5 kg \
                    bought.\n   - convert units\n\n3. Report the total.\n\nThis plan answers it.";
        assert_eq!(
            plan_steps(plan),
            vec![
                "Find the apples Tom has. He starts with 3.",
                "Add the 3.5 kg bought. convert units",
                "Report the total.",
            ]
        );
    }

    #[test]
    fn step_labels_win_over_numbers_inside_them() {
        let plan = "**Step 1:** Count the cars.\n1. red\n2. blue\nStep 2 - Sum them.\n\
                    ### Step 3. Divide.";
        assert_eq!(
            plan_steps(plan),
            vec!["Count the cars. red blue", "Sum them.", "Divide."]
        );
    }

    #[test]
    fn headed_sections_and_bullets_and_plain_lines() {
        let plan = "## Understand\nRead the totals.\n\nKeep units.\n## Compute\nMultiply.";
        assert_eq!(
            plan_steps(plan),
            vec![
                "Understand Read the totals. Keep units.",
                "Compute Multiply."
            ]
        );
        assert_eq!(
            plan_steps("# Plan\n- first\n- second"),
            vec!["first", "second"]
        );
        assert_eq!(plan_steps("find a\n\nfind b\n"), vec!["find a", "find b"]);
        assert!(plan_steps("  \n").is_empty());
    }

    #[test]
    fn judge_scores_are_read_from_the_last_score_line() {
        assert_eq!(judge_score("Looks good.\nScore: 85"), Some(85));
        assert_eq!(
            judge_score("Score: 10\nrevised\n**Score:** -40/100"),
            Some(-40)
        );
        assert_eq!(judge_score("Final score: +100"), Some(100));
        assert_eq!(judge_score("Score: 150"), None);
        assert_eq!(judge_score("Score: high"), None);
        assert_eq!(judge_score("no verdict"), None);
    }

    #[test]
    fn boxed_answers_balance_braces() {
        assert_eq!(
            last_boxed(r"so \boxed{1} then \boxed{\frac{1}{2}} done"),
            Some(r"\frac{1}{2}".to_owned())
        );
        assert_eq!(last_boxed(r"\boxed{ 42 }"), Some("42".to_owned()));
        assert_eq!(last_boxed(r"\boxed{unclosed"), None);
        assert_eq!(last_boxed("no box"), None);
    }
}
