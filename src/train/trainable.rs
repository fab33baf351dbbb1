//! What the trainers need from a model. Implemented by the decoder in `model/` (full
//! fine-tuning or LoRA) and by small models in tests.

use candle_core::{Device, Result, Tensor};

use super::optim::NamedVar;

pub trait Trainable {
    /// Logits `[b, t, vocab]` for right-padded `input_ids [b, t]` with
    /// `attention_mask [b, t]` (1 = real token).
    fn logits(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor>;

    /// Mean next-token cross-entropy over the positions of `labels [b, t]` that are
    /// not ignored (see [`super::loss::shifted_cross_entropy`]), and how many there
    /// are. Models with the LM head fused into the loss override this, so the
    /// `[b·t, vocab]` logits of a training step are never built.
    fn next_token_loss(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        labels: &Tensor,
    ) -> Result<(Tensor, usize)> {
        let logits = self.logits(input_ids, attention_mask)?;
        super::loss::shifted_cross_entropy(&logits, labels)
    }

    /// The parameters the optimiser updates, with the names checkpoints use.
    fn trainable_params(&self) -> Vec<NamedVar>;

    fn device(&self) -> Device;
}
