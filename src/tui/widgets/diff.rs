//! Line diff of an edited text against the teacher's original (longest common
//! subsequence; texts here are a few hundred lines at most).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

/// Beyond this many cells the table would cost more than it is worth: show the whole
/// original as removed and the edit as added instead.
const MAX_CELLS: usize = 4_000_000;

pub fn line_diff(original: &str, edited: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = original.lines().collect();
    let b: Vec<&str> = edited.lines().collect();
    if a.len().saturating_mul(b.len()) > MAX_CELLS {
        return a
            .iter()
            .map(|l| DiffLine::Removed((*l).into()))
            .chain(b.iter().map(|l| DiffLine::Added((*l).into())))
            .collect();
    }
    // lcs[i][j] = length of the LCS of a[i..] and b[j..].
    let width = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(DiffLine::Same(a[i].into()));
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
            out.push(DiffLine::Removed(a[i].into()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].into()));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| DiffLine::Removed((*l).into())));
    out.extend(b[j..].iter().map(|l| DiffLine::Added((*l).into())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_line_shows_as_removed_then_added() {
        let diff = line_diff("a\nb\nc", "a\nB\nc\nd");
        assert_eq!(
            diff,
            vec![
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Added("B".into()),
                DiffLine::Same("c".into()),
                DiffLine::Added("d".into()),
            ]
        );
        assert!(
            line_diff("x\ny", "x\ny")
                .iter()
                .all(|l| matches!(l, DiffLine::Same(_)))
        );
    }
}
