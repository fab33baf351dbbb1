//! Batched generation with a KV cache: left-padded prompts, greedy or sampled decoding,
//! stop strings and EOS, per-sequence early stop, log-probabilities of chosen tokens.

pub mod generate;
pub mod reply_end;
pub mod sampling;

pub use generate::{FinishReason, Generation, generate, generate_streaming};
pub use reply_end::reply_end_ids;
pub use sampling::SamplingParams;
