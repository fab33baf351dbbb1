//! Plan diversity: plans compared after normalising, so a teacher that answers every
//! seed with the same plan yields one candidate, not N copies of it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// A plan reduced to what makes it a different plan: list numbering and bullets
/// (`1.`, `2)`, `-`, `*`, `Step 3:`), case, and all whitespace runs are dropped.
pub fn normalise_plan(plan: &str) -> String {
    plan.lines()
        .map(|line| strip_marker(line.trim()).to_lowercase())
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The line without its list marker.
fn strip_marker(line: &str) -> &str {
    let mut rest = line;
    if let Some(after) = rest
        .get(..5)
        .filter(|head| head.eq_ignore_ascii_case("step "))
        .map(|_| &rest[5..])
    {
        rest = after;
    }
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        let after = &rest[digits..];
        if let Some(tail) = after.strip_prefix(['.', ')', ':']) {
            return tail.trim_start();
        }
        return if line.len() == rest.len() {
            line
        } else {
            after.trim_start()
        };
    }
    rest.strip_prefix(['-', '*', '•'])
        .map_or(rest, str::trim_start)
}

/// What [`PlanSet::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    New,
    /// The problem already has this plan, first written with this seed.
    Duplicate {
        first_seed: Option<u64>,
    },
}

/// The distinct plans of one problem (stored ones, and this job's), shared by the
/// job's concurrent plan tasks so two identical answers cannot both be stored.
#[derive(Debug, Default)]
pub struct PlanSet {
    seen: Mutex<HashMap<String, Option<u64>>>,
    asked: AtomicU32,
}

impl PlanSet {
    /// Starts from the plans (with their seeds) the store already holds.
    pub fn new(stored: impl IntoIterator<Item = (String, Option<u64>)>) -> Self {
        let seen = stored
            .into_iter()
            .map(|(plan, seed)| (normalise_plan(&plan), seed))
            .collect();
        Self {
            seen: Mutex::new(seen),
            asked: AtomicU32::new(0),
        }
    }

    /// Counts one plan answer and records it unless an equal plan is already there.
    pub fn claim(&self, plan: &str, seed: Option<u64>) -> Claim {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.get(&normalise_plan(plan)) {
            Some(first_seed) => Claim::Duplicate {
                first_seed: *first_seed,
            },
            None => {
                seen.insert(normalise_plan(plan), seed);
                Claim::New
            }
        }
    }

    /// Distinct plans the problem has now.
    pub fn distinct(&self) -> u32 {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        u32::try_from(seen.len()).unwrap_or(u32::MAX)
    }

    /// Plan answers this job received for the problem.
    pub fn asked(&self) -> u32 {
        self.asked.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_case_and_whitespace_do_not_make_a_new_plan() {
        let a = "1. Read the two numbers.\n2. Add them.\n\n3. Report the sum.";
        let b = "  Step 1: read the two   numbers.\n - Add them.\n3) Report  the sum.  ";
        assert_eq!(normalise_plan(a), normalise_plan(b));
        assert_ne!(normalise_plan(a), normalise_plan("1. Subtract them."));
        // A number that is content, not a marker, stays.
        assert_eq!(normalise_plan("12 apples"), "12 apples");
    }

    #[test]
    fn a_set_claims_each_plan_once_and_remembers_the_first_seed() {
        let set = PlanSet::new([("1. Add them.".to_owned(), Some(0))]);
        assert_eq!(
            set.claim("2) add them.", Some(4)),
            Claim::Duplicate {
                first_seed: Some(0)
            }
        );
        assert_eq!(set.claim("Multiply them.", Some(5)), Claim::New);
        assert_eq!(
            set.claim("multiply   them.", Some(6)),
            Claim::Duplicate {
                first_seed: Some(5)
            }
        );
        assert_eq!((set.asked(), set.distinct()), (3, 2));
    }
}
