//! Twists that make a synthetic problem need a plan rather than a left-to-right
//! reading: sentences that do not matter, changes whose amount refers back to an
//! earlier one, and the starting amount told after the changes. All are off by
//! default, and while off they draw nothing from the generator's random stream, so a
//! dataset generated before they existed comes out identical.

use std::ops::RangeInclusive;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{MAX_VALUE, OBJECTS, Op, PEOPLE, Person, Step, SynthError, pick};

#[derive(Debug, Clone, PartialEq)]
pub struct Twists {
    /// Irrelevant sentences per problem: another person's count, another object.
    pub distractors: RangeInclusive<u32>,
    /// Probability that a change's amount is given by reference to an earlier amount.
    pub back_reference_rate: f64,
    /// Probability that the starting amount is told after all the changes.
    pub late_start_rate: f64,
}

impl Default for Twists {
    fn default() -> Self {
        Self {
            distractors: 0..=0,
            back_reference_rate: 0.0,
            late_start_rate: 0.0,
        }
    }
}

impl Twists {
    pub(super) fn validate(&self) -> Result<(), SynthError> {
        if self.distractors.is_empty() {
            return Err(SynthError::BadDistractors {
                start: *self.distractors.start(),
                end: *self.distractors.end(),
            });
        }
        for (which, rate) in [
            ("back_reference_rate", self.back_reference_rate),
            ("late_start_rate", self.late_start_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SynthError::BadRate { which, rate });
            }
        }
        Ok(())
    }

    /// Whether this problem tells its starting amount last. Draws only when enabled.
    pub(super) fn draw_late_start(&self, rng: &mut ChaCha8Rng) -> bool {
        self.late_start_rate > 0.0 && rng.random_bool(self.late_start_rate)
    }

    pub(super) fn draw_refers_back(&self, rng: &mut ChaCha8Rng) -> bool {
        self.back_reference_rate > 0.0 && rng.random_bool(self.back_reference_rate)
    }

    pub(super) fn draw_distractor_count(&self, rng: &mut ChaCha8Rng) -> u32 {
        if *self.distractors.end() == 0 {
            0
        } else {
            rng.random_range(self.distractors.clone())
        }
    }
}

/// A sentence the solution must ignore, and what it is about (for plans).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distractor {
    pub sentence: String,
    /// e.g. `Omar's apples` or `the coins`.
    pub about: String,
}

/// What a back-referring change takes its amount from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// The starting amount.
    Start,
    /// The amount of the change just before (same operation again).
    PreviousChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackRef {
    /// Index into the problem's operations.
    pub change: u32,
    pub to: Reference,
}

/// A change whose amount is an earlier amount, valid for the current `value`, or `None`
/// when no reference fits (the caller then draws an ordinary change).
pub(super) fn draw_back_ref(
    rng: &mut ChaCha8Rng,
    value: u32,
    start: u32,
    previous: Option<Step>,
) -> Option<(Step, Reference)> {
    let mut choices = Vec::with_capacity(4);
    if value + start <= MAX_VALUE {
        choices.push((Op::Add, start, Reference::Start));
    }
    if value > start {
        choices.push((Op::Sub, start, Reference::Start));
    }
    match previous {
        Some(Step {
            op: Op::Add,
            operand,
        }) if value + operand <= MAX_VALUE => {
            choices.push((Op::Add, operand, Reference::PreviousChange));
        }
        Some(Step {
            op: Op::Sub,
            operand,
        }) if value > operand => {
            choices.push((Op::Sub, operand, Reference::PreviousChange));
        }
        _ => {}
    }
    if choices.is_empty() {
        return None;
    }
    let &(op, operand, to) = pick(rng, &choices);
    Some((Step { op, operand }, to))
}

/// The story sentence of a back-referring change. It names the holder rather than
/// using a pronoun, so it reads the same wherever distractors land.
pub(super) fn back_ref_sentence(holder: &str, object: &str, op: Op, to: Reference) -> String {
    match (op, to) {
        (Op::Add, Reference::Start) => {
            format!("{holder} then gets as many more {object} as there were at the start.")
        }
        (Op::Sub, Reference::Start) => {
            format!("{holder} then loses as many {object} as there were at the start.")
        }
        (Op::Sub, Reference::PreviousChange) => {
            format!("{holder} then loses the same number of {object} again.")
        }
        _ => format!("{holder} then gets the same number of {object} again."),
    }
}

/// How a plan or a constraint list names where a back-referring amount comes from.
pub fn reference_phrase(to: Reference) -> &'static str {
    match to {
        Reference::Start => "as many as at the start",
        Reference::PreviousChange => "the same amount as the change before",
    }
}

/// A sentence with a number in it that does not bear on the answer: someone else's
/// count, last year's count, or another object.
pub(super) fn draw_distractor(
    rng: &mut ChaCha8Rng,
    person: &Person,
    holder: &str,
    object: &str,
    max_operand: u32,
) -> Distractor {
    let n = rng.random_range(2..=max_operand);
    let others: Vec<&Person> = PEOPLE.iter().filter(|p| p.name != person.name).collect();
    match rng.random_range(0..3u32) {
        0 => {
            let other = pick(rng, &others).name;
            Distractor {
                sentence: format!("{other} has {n} {object}."),
                about: format!("{other}'s {object}"),
            }
        }
        1 => {
            // Not `{other} buys ...`: in the shop scene that reads as a sale.
            let subject = match holder.strip_prefix("The ") {
                Some(rest) => format!("the {rest}"),
                None => holder.to_owned(),
            };
            Distractor {
                sentence: format!("Last year, {subject} had {n} {object}."),
                about: format!("last year's {object}"),
            }
        }
        _ => {
            let kinds: Vec<&str> = OBJECTS.iter().copied().filter(|o| *o != object).collect();
            let other = pick(rng, &kinds);
            Distractor {
                sentence: format!("{holder} also has {n} {other}."),
                about: format!("the {other}"),
            }
        }
    }
}
