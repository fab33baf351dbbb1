//! The trainable decoder, differentiable fused ops, LoRA, loading and saving,
//! tokenizer and chat templates.

pub mod chat;
pub mod gguf;
pub mod hub;
pub mod tokenizer;
