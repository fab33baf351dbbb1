//! Bounded metric series for live charts: memory stays flat however long a run is, and
//! the chart gets at most one point per column.

/// Points kept per series. When full, every other point is dropped and only every
/// `stride`-th new point is kept, so the series always spans the whole run.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    points: Vec<(f64, f64)>,
    stride: u64,
    seen: u64,
    last: Option<(f64, f64)>,
}

impl Series {
    pub fn push(&mut self, x: f64, y: f64) {
        if !y.is_finite() {
            return;
        }
        // A resumed run writes again the steps after its checkpoint: the newer point
        // replaces the older ones from there on (see `runlog::attempts`).
        if self.last.is_some_and(|(lx, _)| x <= lx) {
            self.points.retain(|&(px, _)| px < x);
        }
        self.last = Some((x, y));
        let stride = self.stride.max(1);
        if self.seen.is_multiple_of(stride) {
            self.points.push((x, y));
            if self.points.len() >= CAPACITY {
                let mut keep = false;
                self.points.retain(|_| {
                    keep = !keep;
                    keep
                });
                self.stride = stride * 2;
            }
        }
        self.seen += 1;
    }

    pub fn last(&self) -> Option<(f64, f64)> {
        self.last
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// Pushed points (before thinning).
    pub fn count(&self) -> u64 {
        self.seen
    }

    /// At most `columns` points: each bucket's first x with its mean y, plus the
    /// latest point so the line always ends where the run is.
    pub fn downsample(&self, columns: usize) -> Vec<(f64, f64)> {
        let columns = columns.max(2);
        let mut out: Vec<(f64, f64)> = if self.points.len() <= columns {
            self.points.clone()
        } else {
            self.points
                .chunks(self.points.len().div_ceil(columns))
                .map(|chunk| {
                    let n = chunk.len() as f64;
                    let sum: f64 = chunk.iter().map(|p| p.1).sum();
                    (chunk[0].0, sum / n)
                })
                .collect()
        };
        if let Some(last) = self.last
            && out.last().is_none_or(|p| p.0 < last.0)
        {
            out.push(last);
        }
        out
    }

    /// (min, max) of the kept y values.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        let mut iter = self
            .points
            .iter()
            .map(|p| p.1)
            .chain(self.last.map(|p| p.1));
        let first = iter.next()?;
        Some(iter.fold((first, first), |(lo, hi), y| (lo.min(y), hi.max(y))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_bounded_and_spans_the_run() {
        let mut series = Series::default();
        for i in 0..1_000_000u64 {
            series.push(i as f64, (i % 7) as f64);
        }
        assert!(series.points.len() < CAPACITY);
        assert_eq!(series.count(), 1_000_000);
        assert_eq!(series.points[0].0, 0.0);
        let down = series.downsample(80);
        assert!(down.len() <= 81, "{}", down.len());
        assert_eq!(down.last().unwrap().0, 999_999.0);
        assert_eq!(series.bounds(), Some((0.0, 6.0)));
    }

    #[test]
    fn a_replayed_step_replaces_the_earlier_points_from_there_on() {
        let mut series = Series::default();
        for x in 1..=4 {
            series.push(f64::from(x), 1.0);
        }
        for x in 3..=6 {
            series.push(f64::from(x), 2.0);
        }
        let xs: Vec<f64> = series.downsample(80).iter().map(|p| p.0).collect();
        assert_eq!(xs, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(series.bounds(), Some((1.0, 2.0)));
    }
}
