//! A seeded generator of multi-step arithmetic word problems: the demo's task domain,
//! needing no network and no weights. The number of operations is the difficulty knob;
//! the out-of-distribution split uses strictly more operations than training.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::workspace::records::NewProblem;

mod twists;
pub use twists::{BackRef, Distractor, Reference, Twists, reference_phrase};

/// Every intermediate and final value stays at or below this, so a tiny model only
/// ever meets numbers of three digits.
pub const MAX_VALUE: u32 = 999;
const MAX_FACTOR: u32 = 5;
const MAX_DIVISOR: u32 = 6;
/// How many fresh draws a problem may take before the configuration is declared too
/// small to give that many distinct questions.
const MAX_ATTEMPTS: u32 = 1000;

pub const DATASET: &str = "synth";
pub const SPLITS: [&str; 3] = ["train", "test_id", "test_ood"];

#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub seed: u64,
    pub train: usize,
    pub test_id: usize,
    pub test_ood: usize,
    /// Operations per training (and in-distribution test) problem.
    pub train_steps: RangeInclusive<u32>,
    /// Operations per out-of-distribution test problem; must all exceed `train_steps`.
    pub ood_steps: RangeInclusive<u32>,
    /// Largest starting amount and largest number added or removed in one step.
    pub max_operand: u32,
    pub twists: Twists,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            train: 1000,
            test_id: 200,
            test_ood: 200,
            train_steps: 2..=4,
            ood_steps: 5..=6,
            max_operand: 20,
            twists: Twists::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SynthError {
    #[error("synth: {which} step range {start}..={end} is empty or starts at 0")]
    BadStepRange {
        which: &'static str,
        start: u32,
        end: u32,
    },
    #[error(
        "synth: out-of-distribution steps must all exceed training steps (ood starts at {ood_start}, train ends at {train_end})"
    )]
    OodNotHarder { ood_start: u32, train_end: u32 },
    #[error("synth: max_operand must be between 2 and {MAX_VALUE}, got {0}")]
    BadMaxOperand(u32),
    #[error("synth: distractors range {start}..={end} is empty")]
    BadDistractors { start: u32, end: u32 },
    #[error("synth: {which} must be between 0 and 1, got {rate}")]
    BadRate { which: &'static str, rate: f64 },
    #[error("synth: cannot find {wanted} distinct {split} questions with this configuration")]
    TooFewDistinct { split: &'static str, wanted: usize },
    #[error("synth: cannot encode problem metadata: {0}")]
    Metadata(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    pub const ALL: [Self; 4] = [Self::Add, Self::Sub, Self::Mul, Self::Div];

    pub fn symbol(self) -> char {
        match self {
            Self::Add => '+',
            Self::Sub => '-',
            Self::Mul => '*',
            Self::Div => '/',
        }
    }

    /// The result, or `None` when it would be negative or a division is not exact.
    pub fn apply(self, value: i64, operand: i64) -> Option<i64> {
        let result = match self {
            Self::Add => value.checked_add(operand)?,
            Self::Sub => value.checked_sub(operand)?,
            Self::Mul => value.checked_mul(operand)?,
            Self::Div => {
                if operand == 0 || value % operand != 0 {
                    return None;
                }
                value / operand
            }
        };
        (result >= 0).then_some(result)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub op: Op,
    pub operand: u32,
}

/// What a synthetic problem's `metadata` holds: enough to recompute the answer and to
/// phrase plans about it (the oracle teacher reads it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthMeta {
    pub steps: u32,
    pub start: u32,
    pub ops: Vec<Step>,
    /// Subject of the solution's sentences, e.g. `Tom` or `The shop`.
    pub holder: String,
    /// Plural noun being counted, e.g. `apples`.
    pub object: String,
    pub scene: String,
    /// Sentences of the question the solution ignores, in story order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distractors: Vec<Distractor>,
    /// Changes whose amount the question gives by reference to an earlier amount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub back_refs: Vec<BackRef>,
    /// The question tells the starting amount after the changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub start_told_last: bool,
}

impl SynthMeta {
    pub fn from_metadata(metadata: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(metadata)
    }

    /// The running value after each operation, or `None` if an operation is invalid.
    pub fn values(&self) -> Option<Vec<i64>> {
        let mut current = i64::from(self.start);
        let mut values = Vec::with_capacity(self.ops.len());
        for step in &self.ops {
            current = step.op.apply(current, i64::from(step.operand))?;
            values.push(current);
        }
        Some(values)
    }

    pub fn answer(&self) -> Option<i64> {
        match self.values()?.last() {
            Some(&last) => Some(last),
            None => Some(i64::from(self.start)),
        }
    }
}

struct Person {
    name: &'static str,
    subject: &'static str,
    object: &'static str,
}

const PEOPLE: [Person; 10] = [
    Person {
        name: "Tom",
        subject: "He",
        object: "him",
    },
    Person {
        name: "Mia",
        subject: "She",
        object: "her",
    },
    Person {
        name: "Ravi",
        subject: "He",
        object: "him",
    },
    Person {
        name: "Lena",
        subject: "She",
        object: "her",
    },
    Person {
        name: "Omar",
        subject: "He",
        object: "him",
    },
    Person {
        name: "Aiko",
        subject: "She",
        object: "her",
    },
    Person {
        name: "Sam",
        subject: "He",
        object: "him",
    },
    Person {
        name: "Nora",
        subject: "She",
        object: "her",
    },
    Person {
        name: "Diego",
        subject: "He",
        object: "him",
    },
    Person {
        name: "Zara",
        subject: "She",
        object: "her",
    },
];

const OBJECTS: [&str; 12] = [
    "apples", "marbles", "stickers", "books", "pencils", "cookies", "cards", "shells", "stamps",
    "coins", "eggs", "buttons",
];

/// A story frame. Templates use `{name}`, `{He}`, `{him}`, `{obj}`, `{n}`.
struct Scene {
    key: &'static str,
    /// Subject of the solution lines; `{name}` is replaced.
    holder: &'static str,
    opening: &'static str,
    /// The opening told after the changes (see [`Twists::late_start_rate`]).
    late_opening: &'static str,
    question: &'static str,
    add: &'static [&'static str],
    sub: &'static [&'static str],
    mul: &'static [&'static str],
    div: &'static [&'static str],
}

const SCENES: [Scene; 3] = [
    Scene {
        key: "collection",
        holder: "{name}",
        opening: "{name} has {n} {obj}.",
        late_opening: "{name} started with {n} {obj}.",
        question: "How many {obj} does {name} have now?",
        add: &[
            "{He} buys {n} more {obj}.",
            "A friend gives {him} {n} {obj}.",
            "{He} finds {n} more {obj}.",
        ],
        sub: &[
            "{He} gives {n} {obj} to a friend.",
            "{He} loses {n} {obj}.",
            "{He} sells {n} {obj}.",
        ],
        mul: &[
            "Then {he} gets enough {obj} to have {n} times as many as before.",
            "Then {his} number of {obj} becomes {n} times as large.",
        ],
        div: &[
            "{He} splits the {obj} into {n} equal groups and keeps only one group.",
            "{He} shares the {obj} equally among {n} children, {himself} included, and keeps {his} share.",
        ],
    },
    Scene {
        key: "shop",
        holder: "The shop",
        opening: "{name}'s shop has {n} {obj} in stock.",
        late_opening: "{name}'s shop started with {n} {obj} in stock.",
        question: "How many {obj} does the shop have in stock now?",
        add: &[
            "The shop receives a delivery of {n} {obj}.",
            "A supplier brings {n} more {obj}.",
        ],
        sub: &[
            "The shop sells {n} {obj}.",
            "{n} of the {obj} are damaged and thrown away.",
        ],
        mul: &["A large order arrives that makes the stock {n} times as large."],
        div: &["The stock is shared equally among {n} branches, and this shop keeps one share."],
    },
    Scene {
        key: "class",
        holder: "The class",
        opening: "{name}'s class collects {n} {obj}.",
        late_opening: "{name}'s class started with {n} {obj}.",
        question: "How many {obj} does the class have now?",
        add: &[
            "The students bring {n} more {obj}.",
            "A teacher adds {n} {obj}.",
        ],
        sub: &[
            "The class gives {n} {obj} to another class.",
            "The class uses {n} {obj} in a project.",
        ],
        mul: &["A donation makes the pile of {obj} {n} times as big."],
        div: &[
            "The {obj} are divided equally among {n} teams, and the class keeps one team's share.",
        ],
    },
];

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    // Sampling a u32 index keeps the stream identical on 32- and 64-bit platforms.
    let index = rng.random_range(0..items.len() as u32) as usize;
    &items[index]
}

fn fill(template: &str, person: &Person, object: &str, number: u32) -> String {
    template
        .replace("{name}", person.name)
        .replace("{He}", person.subject)
        .replace("{he}", &person.subject.to_lowercase())
        .replace("{him}", person.object)
        .replace(
            "{himself}",
            if person.object == "him" {
                "himself"
            } else {
                "herself"
            },
        )
        .replace("{his}", if person.object == "him" { "his" } else { "her" })
        .replace("{obj}", object)
        .replace("{n}", &number.to_string())
}

/// [`fill`] with the person's name wherever a pronoun would stand.
fn fill_named(template: &str, person: &Person, object: &str, number: u32) -> String {
    let possessive = format!("{}'s", person.name);
    let named = template
        .replace("{He}", person.name)
        .replace("{he}", person.name)
        .replace("{himself}", person.name)
        .replace("{him}", person.name)
        .replace("{his}", &possessive);
    fill(&named, person, object, number)
}

fn capitalise(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Draws a valid operation for `value`, or `None` only if none fits (cannot happen for
/// values in 1..=MAX_VALUE, since adding 1 or subtracting 1 always fits one of them).
fn draw_step(rng: &mut ChaCha8Rng, value: u32, max_operand: u32) -> Option<Step> {
    let add_max = max_operand.min(MAX_VALUE - value);
    let sub_max = max_operand.min(value.saturating_sub(1));
    let mul_max = MAX_FACTOR.min(MAX_VALUE / value.max(1));
    let divisors: Vec<u32> = (2..=MAX_DIVISOR)
        .filter(|&d| value.is_multiple_of(d))
        .collect();
    let feasible: Vec<Op> = Op::ALL
        .into_iter()
        .filter(|op| match op {
            Op::Add => add_max >= 1,
            Op::Sub => sub_max >= 1,
            Op::Mul => mul_max >= 2,
            Op::Div => !divisors.is_empty(),
        })
        .collect();
    if feasible.is_empty() {
        return None;
    }
    let op = *pick(rng, &feasible);
    let operand = match op {
        Op::Add => rng.random_range(1..=add_max),
        Op::Sub => rng.random_range(1..=sub_max),
        Op::Mul => rng.random_range(2..=mul_max),
        Op::Div => *pick(rng, &divisors),
    };
    Some(Step { op, operand })
}

/// One sentence of a story between its opening and its question.
enum Told {
    /// An ordinary change: a scene template and its amount.
    Change(&'static str, u32),
    /// A back-referring change, already phrased.
    Referring(String),
    Distractor(Distractor),
}

fn draw_problem(
    rng: &mut ChaCha8Rng,
    steps_range: &RangeInclusive<u32>,
    max_operand: u32,
    twists: &Twists,
) -> Option<(String, String, u32, SynthMeta)> {
    let steps = rng.random_range(steps_range.clone());
    let scene = pick(rng, &SCENES);
    let person = pick(rng, &PEOPLE);
    let object = *pick(rng, &OBJECTS);
    let start = rng.random_range(2..=max_operand);
    let holder = fill(scene.holder, person, object, 0);
    let start_told_last = twists.draw_late_start(rng);

    let mut story = Vec::with_capacity(steps as usize);
    let mut lines = Vec::with_capacity(steps as usize + 1);
    let mut ops: Vec<Step> = Vec::with_capacity(steps as usize);
    let mut back_refs = Vec::new();
    let mut value = start;
    for change in 0..steps {
        let referring = if twists.draw_refers_back(rng) {
            twists::draw_back_ref(rng, value, start, ops.last().copied())
        } else {
            None
        };
        let step = match referring {
            Some((step, to)) => {
                back_refs.push(BackRef { change, to });
                story.push(Told::Referring(twists::back_ref_sentence(
                    &holder, object, step.op, to,
                )));
                step
            }
            None => {
                let step = draw_step(rng, value, max_operand)?;
                let templates = match step.op {
                    Op::Add => scene.add,
                    Op::Sub => scene.sub,
                    Op::Mul => scene.mul,
                    Op::Div => scene.div,
                };
                let &template = pick(rng, templates);
                story.push(Told::Change(template, step.operand));
                step
            }
        };
        let next = step.op.apply(i64::from(value), i64::from(step.operand))?;
        let next = u32::try_from(next).ok()?;
        lines.push(format!(
            "{holder} has {value} {} {} = {next} {object}.",
            step.op.symbol(),
            step.operand
        ));
        ops.push(step);
        value = next;
    }

    for _ in 0..twists.draw_distractor_count(rng) {
        let distractor = twists::draw_distractor(rng, person, &holder, object, max_operand);
        let at = rng.random_range(0..=story.len() as u32) as usize;
        story.insert(at, Told::Distractor(distractor));
    }

    let mut sentences = Vec::with_capacity(story.len() + 2);
    let mut distractors = Vec::new();
    if !start_told_last {
        sentences.push(fill(scene.opening, person, object, start));
    }
    let mut after_other_subject = start_told_last;
    for told in &story {
        match told {
            Told::Change(template, operand) => {
                // A pronoun right after another person's sentence, or with no
                // opening before it, would not say whose count changes.
                let sentence = if after_other_subject {
                    fill_named(template, person, object, *operand)
                } else {
                    fill(template, person, object, *operand)
                };
                sentences.push(capitalise(&sentence));
                after_other_subject = false;
            }
            Told::Referring(sentence) => {
                sentences.push(capitalise(sentence));
                after_other_subject = false;
            }
            Told::Distractor(distractor) => {
                sentences.push(distractor.sentence.clone());
                distractors.push(distractor.clone());
                after_other_subject = true;
            }
        }
    }
    if start_told_last {
        sentences.push(fill(scene.late_opening, person, object, start));
    }
    sentences.push(fill(scene.question, person, object, 0));
    lines.push(format!("#### {value}"));
    let meta = SynthMeta {
        steps,
        start,
        ops,
        holder,
        object: object.to_owned(),
        scene: scene.key.to_owned(),
        distractors,
        back_refs,
        start_told_last,
    };
    Some((sentences.join(" "), lines.join("\n"), value, meta))
}

fn validate(cfg: &SynthConfig) -> Result<(), SynthError> {
    for (which, range) in [("train", &cfg.train_steps), ("ood", &cfg.ood_steps)] {
        if range.is_empty() || *range.start() == 0 {
            return Err(SynthError::BadStepRange {
                which,
                start: *range.start(),
                end: *range.end(),
            });
        }
    }
    if cfg.ood_steps.start() <= cfg.train_steps.end() {
        return Err(SynthError::OodNotHarder {
            ood_start: *cfg.ood_steps.start(),
            train_end: *cfg.train_steps.end(),
        });
    }
    if !(2..=MAX_VALUE).contains(&cfg.max_operand) {
        return Err(SynthError::BadMaxOperand(cfg.max_operand));
    }
    cfg.twists.validate()
}

/// Generates the `train`, `test_id` and `test_ood` splits of dataset `synth`.
/// Deterministic in `cfg`; each split draws from its own ChaCha stream, so changing
/// a test size does not change the training set. No question appears twice.
pub fn generate(cfg: &SynthConfig) -> Result<Vec<NewProblem>, SynthError> {
    validate(cfg)?;
    let plan = [
        (SPLITS[0], cfg.train, &cfg.train_steps),
        (SPLITS[1], cfg.test_id, &cfg.train_steps),
        (SPLITS[2], cfg.test_ood, &cfg.ood_steps),
    ];
    let mut seen: HashSet<String> = HashSet::new();
    let mut problems = Vec::with_capacity(cfg.train + cfg.test_id + cfg.test_ood);
    for (stream, (split, count, steps)) in plan.into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(stream as u64);
        for index in 0..count {
            let mut attempts = 0;
            let (question, solution, answer, meta) = loop {
                attempts += 1;
                if attempts > MAX_ATTEMPTS {
                    return Err(SynthError::TooFewDistinct {
                        split,
                        wanted: count,
                    });
                }
                if let Some(drawn) = draw_problem(&mut rng, steps, cfg.max_operand, &cfg.twists)
                    && seen.insert(drawn.0.clone())
                {
                    break drawn;
                }
            };
            let metadata =
                serde_json::to_value(&meta).map_err(|err| SynthError::Metadata(err.to_string()))?;
            problems.push(NewProblem {
                dataset: DATASET.to_owned(),
                split: split.to_owned(),
                external_id: format!("synth-{}/{split}/{index}", cfg.seed),
                question,
                gold_answer: answer.to_string(),
                gold_solution: Some(solution),
                metadata,
            });
        }
    }
    Ok(problems)
}
