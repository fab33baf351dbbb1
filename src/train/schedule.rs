//! Learning-rate schedules: linear warmup, then cosine, linear or constant.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    #[default]
    Cosine,
    Linear,
    Constant,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub base_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub decay: Decay,
    /// The decay ends at `base_lr * min_lr_ratio` (0 = all the way down).
    pub min_lr_ratio: f64,
}

impl Schedule {
    /// Warmup from a ratio of the total, as the paper's authors configure it.
    pub fn with_warmup_ratio(
        base_lr: f64,
        total_steps: u64,
        warmup_ratio: f64,
        decay: Decay,
    ) -> Self {
        Self {
            base_lr,
            warmup_steps: (total_steps as f64 * warmup_ratio).ceil() as u64,
            total_steps,
            decay,
            min_lr_ratio: 0.0,
        }
    }

    /// The learning rate for optimiser step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let factor = match self.decay {
            Decay::Constant => 1.0,
            Decay::Linear => 1.0 - progress,
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        };
        let floor = self.min_lr_ratio;
        self.base_lr * (floor + (1.0 - floor) * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_zero() {
        let s = Schedule::with_warmup_ratio(1e-3, 100, 0.1, Decay::Cosine);
        assert_eq!(s.warmup_steps, 10);
        assert!((s.lr_at(0) - 1e-4).abs() < 1e-12);
        assert!((s.lr_at(9) - 1e-3).abs() < 1e-12);
        assert!((s.lr_at(10) - 1e-3).abs() < 1e-12);
        assert!((s.lr_at(55) - 5e-4).abs() < 1e-12, "{}", s.lr_at(55));
        assert!(s.lr_at(100).abs() < 1e-12);
        let linear = Schedule {
            decay: Decay::Linear,
            ..s
        };
        assert!((linear.lr_at(55) - 5e-4).abs() < 1e-12);
        let constant = Schedule {
            decay: Decay::Constant,
            ..s
        };
        assert!((constant.lr_at(99) - 1e-3).abs() < 1e-12);
    }
}
