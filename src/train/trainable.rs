//! What the trainers need from a model. Implemented by the decoder in `model/` (full
//! fine-tuning or LoRA) and by small models in tests.

use candle_core::{Device, Result, Tensor};

use super::optim::NamedVar;

pub trait Trainable {
    /// Logits `[b, t, vocab]` for right-padded `input_ids [b, t]` with
    /// `attention_mask [b, t]` (1 = real token).
    fn logits(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor>;

    /// The parameters the optimiser updates, with the names checkpoints use.
    fn trainable_params(&self) -> Vec<NamedVar>;

    fn device(&self) -> Device;
}
