//! Batched generation with a KV cache: left-padded prompts, greedy or sampled decoding,
//! stop strings and EOS, per-sequence early stop, log-probabilities of chosen tokens;
//! and the model engine behind a bounded queue that `serve` and the local teacher share.

pub mod engine;
pub mod generate;
pub mod job;
pub mod reply_end;
pub mod sampling;
pub mod stream_text;

pub use generate::{FinishReason, Generation, generate, generate_streaming};
pub use reply_end::reply_end_ids;
pub use sampling::SamplingParams;
