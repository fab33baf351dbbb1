//! Self-consistency (maj@k): a majority vote over answers that the grader considers
//! equivalent, so `1/2` and `0.5` vote together.

use crate::grade::{GradeOptions, answers_equivalent};

/// The winning answer among `answers` (`None` = a sample with no answer, which never
/// wins unless every sample has none). Ties go to the answer seen first.
pub fn majority<'a>(answers: &'a [Option<String>], opts: &GradeOptions) -> Option<&'a str> {
    let mut clusters: Vec<(&'a str, usize)> = Vec::new();
    for answer in answers.iter().flatten() {
        match clusters
            .iter_mut()
            .find(|(representative, _)| answers_equivalent(answer, representative, opts).0)
        {
            Some(cluster) => cluster.1 += 1,
            None => clusters.push((answer.as_str(), 1)),
        }
    }
    let mut best: Option<(&'a str, usize)> = None;
    for (answer, votes) in clusters {
        if best.is_none_or(|(_, most)| votes > most) {
            best = Some((answer, votes));
        }
    }
    best.map(|(answer, _)| answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(xs: &[&str]) -> Vec<Option<String>> {
        xs.iter().map(|x| Some((*x).to_owned())).collect()
    }

    #[test]
    fn equivalent_answers_vote_together() {
        let opts = GradeOptions::default();
        let answers = some(&["3", "\\frac{1}{2}", "0.5", "3", "1/2"]);
        assert_eq!(majority(&answers, &opts), Some("\\frac{1}{2}"));
    }

    #[test]
    fn ties_go_to_the_first_and_missing_answers_never_win() {
        let opts = GradeOptions::default();
        assert_eq!(majority(&some(&["7", "8"]), &opts), Some("7"));
        let mut answers = vec![None, None, None];
        answers.push(Some("4".into()));
        assert_eq!(majority(&answers, &opts), Some("4"));
        assert_eq!(majority(&[None, None], &opts), None);
    }
}
