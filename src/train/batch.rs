//! Turning tokenized examples into padded batches: deterministic shuffles per epoch,
//! length-grouped batches (less padding), and a cursor that checkpoints can save.

use candle_core::{Device, Result, Tensor};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Label value that carries no loss (prompt tokens and padding), as in PyTorch.
pub const IGNORE_INDEX: i64 = -100;

/// One tokenized training example: the prompt's labels are [`IGNORE_INDEX`], so only
/// the completion is learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizedExample {
    pub input_ids: Vec<u32>,
    pub labels: Vec<i64>,
}

impl TokenizedExample {
    pub fn new(prompt: &[u32], completion: &[u32]) -> Self {
        let mut input_ids = prompt.to_vec();
        input_ids.extend_from_slice(completion);
        let mut labels = vec![IGNORE_INDEX; prompt.len()];
        labels.extend(completion.iter().map(|&t| i64::from(t)));
        Self { input_ids, labels }
    }

    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    pub fn completion_tokens(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }
}

/// Where training is in the data: saved in checkpoints so a resumed run sees exactly
/// the batches an uninterrupted run would have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DataCursor {
    pub epoch: u64,
    /// Index of the next batch within the epoch's batch order.
    pub batch: usize,
}

/// The batch order of one epoch: examples shuffled by (seed, epoch), then grouped into
/// windows of similar length so a batch pads little, then the batches shuffled again so
/// lengths do not trend across the epoch.
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(&mut rng);
    // Sort within windows of 16 batches: grouping without making every epoch identical.
    let window = batch_size * 16;
    for chunk in order.chunks_mut(window) {
        chunk.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    batches.shuffle(&mut rng);
    batches
}

/// A padded batch on a device.
pub struct Batch {
    /// `[b, t]` u32 token ids, right-padded.
    pub input_ids: Tensor,
    /// `[b, t]` u8: 1 for real tokens.
    pub attention_mask: Tensor,
    /// `[b, t]` i64 labels aligned with `input_ids` (not yet shifted).
    pub labels: Tensor,
    pub tokens: usize,
    pub completion_tokens: usize,
}

pub fn collate(examples: &[&TokenizedExample], pad_id: u32, device: &Device) -> Result<Batch> {
    let width = examples.iter().map(|e| e.len()).max().unwrap_or(0);
    let b = examples.len();
    let mut ids = Vec::with_capacity(b * width);
    let mut mask = Vec::with_capacity(b * width);
    let mut labels = Vec::with_capacity(b * width);
    for e in examples {
        let pad = width - e.len();
        ids.extend_from_slice(&e.input_ids);
        ids.extend(std::iter::repeat_n(pad_id, pad));
        mask.extend(std::iter::repeat_n(1u8, e.len()));
        mask.extend(std::iter::repeat_n(0u8, pad));
        labels.extend_from_slice(&e.labels);
        labels.extend(std::iter::repeat_n(IGNORE_INDEX, pad));
    }
    Ok(Batch {
        input_ids: Tensor::from_vec(ids, (b, width), device)?,
        attention_mask: Tensor::from_vec(mask, (b, width), device)?,
        labels: Tensor::from_vec(labels, (b, width), device)?,
        tokens: examples.iter().map(|e| e.len()).sum(),
        completion_tokens: examples.iter().map(|e| e.completion_tokens()).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tokens_carry_no_loss() {
        let e = TokenizedExample::new(&[5, 6, 7], &[8, 9]);
        assert_eq!(e.labels, vec![-100, -100, -100, 8, 9]);
        assert_eq!(e.completion_tokens(), 2);
    }

    #[test]
    fn epochs_are_deterministic_complete_and_length_grouped() {
        let lengths: Vec<usize> = (0..100).map(|i| (i * 37) % 61 + 1).collect();
        let a = epoch_batches(&lengths, 4, 7, 0);
        assert_eq!(a, epoch_batches(&lengths, 4, 7, 0));
        assert_ne!(a, epoch_batches(&lengths, 4, 7, 1));
        let mut seen: Vec<usize> = a.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        let padding = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| {
                    let max = b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
                    b.iter().map(|&i| max - lengths[i]).sum::<usize>()
                })
                .sum()
        };
        let naive: Vec<Vec<usize>> = (0..100)
            .collect::<Vec<_>>()
            .chunks(4)
            .map(<[usize]>::to_vec)
            .collect();
        assert!(
            padding(&a) * 2 < padding(&naive),
            "{} vs {}",
            padding(&a),
            padding(&naive)
        );
    }

    #[test]
    fn collate_pads_right_and_masks() {
        let a = TokenizedExample::new(&[1, 2], &[3]);
        let b = TokenizedExample::new(&[1], &[4]);
        let batch = collate(&[&a, &b], 0, &Device::Cpu).unwrap();
        assert_eq!(
            batch.input_ids.to_vec2::<u32>().unwrap(),
            vec![vec![1, 2, 3], vec![1, 4, 0]]
        );
        assert_eq!(
            batch.attention_mask.to_vec2::<u8>().unwrap(),
            vec![vec![1, 1, 1], vec![1, 1, 0]]
        );
        assert_eq!(
            batch.labels.to_vec2::<i64>().unwrap(),
            vec![vec![-100, -100, 3], vec![-100, 4, -100]]
        );
        assert_eq!((batch.tokens, batch.completion_tokens), (5, 2));
    }
}
