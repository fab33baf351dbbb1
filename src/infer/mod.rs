//! Batched generation with a KV cache: left-padded prompts, greedy or sampled decoding,
//! stop strings and EOS, per-sequence early stop, log-probabilities of chosen tokens.

pub mod generate;
pub mod sampling;

pub use generate::{FinishReason, Generation, generate};
pub use sampling::SamplingParams;
