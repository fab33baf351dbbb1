//! Next-token cross-entropy over completion tokens only, built from differentiable
//! primitives (candle's fused softmax has no backward).

use candle_core::{D, DType, Result, Tensor};

use super::batch::IGNORE_INDEX;

/// Mean cross-entropy of `logits [b, t, v]` predicting `labels [b, t]` shifted by one
/// (position i predicts token i+1); positions labelled [`IGNORE_INDEX`] carry no loss.
/// Returns (loss, number of predicted tokens).
pub fn shifted_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<(Tensor, usize)> {
    let (b, t, v) = logits.dims3()?;
    if t < 2 {
        candle_core::bail!("sequences of length {t} have no next token to predict");
    }
    let logits = logits.narrow(1, 0, t - 1)?.reshape((b * (t - 1), v))?;
    let targets = labels.narrow(1, 1, t - 1)?.flatten_all()?;
    let keep = targets.ne(IGNORE_INDEX)?;
    let count = keep.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()? as usize;
    if count == 0 {
        candle_core::bail!("no completion tokens in this batch: every label is masked");
    }
    // Ignored positions point at token 0; their loss is multiplied away below.
    let safe_targets = keep
        .where_cond(&targets, &targets.zeros_like()?)?
        .to_dtype(DType::U32)?;
    let logits = logits.to_dtype(DType::F32)?;
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let log_norm = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&safe_targets.unsqueeze(1)?, 1)?;
    let nll = (log_norm - picked)?.squeeze(1)?;
    let loss = (nll * keep.to_dtype(DType::F32)?)?.sum_all()? / count as f64;
    Ok((loss?, count))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn matches_hand_computed_values_and_ignores_masked_positions() {
        // Two positions predict; the second target is masked.
        let logits = Tensor::new(
            &[[[1.0f32, 2.0, 3.0], [0.5, 0.5, 0.5], [9.0, 9.0, 9.0]]],
            &Device::Cpu,
        )
        .unwrap();
        let labels = Tensor::new(&[[-100i64, 2, -100]], &Device::Cpu).unwrap();
        let (loss, count) = shifted_cross_entropy(&logits, &labels).unwrap();
        assert_eq!(count, 1);
        let expected = -(3.0f32.exp() / (1.0f32.exp() + 2.0f32.exp() + 3.0f32.exp())).ln();
        assert!((loss.to_scalar::<f32>().unwrap() - expected).abs() < 1e-6);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let init = Tensor::new(
            &[[[0.3f64, -1.2, 0.8], [2.0, 0.1, -0.5], [0.0, 0.0, 0.0]]],
            &Device::Cpu,
        )
        .unwrap();
        let labels = Tensor::new(&[[-100i64, 1, 0]], &Device::Cpu).unwrap();
        let var = Var::from_tensor(&init).unwrap();
        let (loss, _) = shifted_cross_entropy(var.as_tensor(), &labels).unwrap();
        let grads = loss.backward().unwrap();
        let analytic = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = init.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let eps = 1e-4;
        for i in 0..base.len() {
            let at = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                let t = Tensor::from_vec(v, (1, 3, 3), &Device::Cpu).unwrap();
                // The loss is computed in f32 internally; compare at that precision.
                shifted_cross_entropy(&t, &labels)
                    .unwrap()
                    .0
                    .to_scalar::<f32>()
                    .unwrap() as f64
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                (numeric - analytic[i]).abs() < 2e-3,
                "{i}: {numeric} vs {}",
                analytic[i]
            );
        }
    }

    #[test]
    fn an_all_masked_batch_is_an_error() {
        let logits = Tensor::zeros((1, 2, 3), DType::F32, &Device::Cpu).unwrap();
        let labels = Tensor::new(&[[-100i64, -100]], &Device::Cpu).unwrap();
        assert!(shifted_cross_entropy(&logits, &labels).is_err());
    }
}
