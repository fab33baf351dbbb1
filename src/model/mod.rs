//! The trainable decoder, differentiable fused ops, LoRA, loading and saving,
//! tokenizer and chat templates, GGUF import, the tiny from-scratch student and the
//! Hugging Face Hub download.

pub mod attention;
pub mod bench;
pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod decoder;
pub mod decoder_error;
mod few_rows;
pub mod forward;
pub mod fused;
pub mod fused_softmax;
pub mod gguf;
pub mod gradcheck;
pub mod hub;
pub mod kv_cache;
pub mod linear;
pub mod lora;
pub mod memory;
pub mod norm;
pub mod ops;
pub mod recompute;
pub mod rope;
pub mod smollm2;
pub mod tiny;
pub mod tokenizer;
