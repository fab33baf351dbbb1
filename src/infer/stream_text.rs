//! Which part of a growing reply may be sent to a streaming client: never text past a
//! stop string, never the start of what may still become one, never half a character.

/// The sending position in one choice's text.
#[derive(Debug, Clone, Default)]
pub struct StreamedText {
    sent: usize,
}

impl StreamedText {
    /// Given the whole text decoded so far, the new piece that is safe to send.
    pub fn advance(&mut self, text: &str, stops: &[String]) -> Option<String> {
        let longest_stop = stops.iter().map(String::len).max().unwrap_or(0);
        let mut end = match stops.iter().filter_map(|s| text.find(s.as_str())).min() {
            Some(at) => at,
            // The tail could be the first bytes of a stop string: hold it back.
            None => text.len().saturating_sub(longest_stop.saturating_sub(1)),
        };
        // A byte-level token can end inside a character, which decodes as U+FFFD
        // until the rest arrives.
        end = end.min(text.trim_end_matches('\u{FFFD}').len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.take(text, end)
    }

    /// Whatever of the final text (already cut at its stop string) is still unsent.
    pub fn finish(&mut self, final_text: &str) -> Option<String> {
        self.take(final_text, final_text.len())
    }

    fn take(&mut self, text: &str, end: usize) -> Option<String> {
        if end <= self.sent || !text.is_char_boundary(self.sent) {
            return None;
        }
        let piece = text[self.sent..end].to_owned();
        self.sent = end;
        Some(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(steps: &[&str], stops: &[&str], final_text: &str) -> Vec<String> {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut streamed = StreamedText::default();
        let mut pieces: Vec<String> = steps
            .iter()
            .filter_map(|text| streamed.advance(text, &stops))
            .collect();
        pieces.extend(streamed.finish(final_text));
        pieces
    }

    #[test]
    fn without_stops_every_piece_goes_out_at_once() {
        assert_eq!(
            run(&["He", "Hello", "Hello!"], &[], "Hello!"),
            ["He", "llo", "!"]
        );
    }

    #[test]
    fn a_possible_stop_is_held_back_and_a_matched_one_never_sent() {
        let pieces = run(
            &["Answer", "Answer: 4", "Answer: 4\n", "Answer: 4\n\nmore"],
            &["\n\n"],
            "Answer: 4",
        );
        assert_eq!(pieces.concat(), "Answer: 4");
        assert!(pieces.iter().all(|p| !p.contains('\n')), "{pieces:?}");
    }

    #[test]
    fn a_character_split_across_tokens_waits_for_its_second_half() {
        let pieces = run(&["caf", "caf\u{FFFD}", "café"], &[], "café");
        assert_eq!(pieces, ["caf", "é"]);
    }
}
