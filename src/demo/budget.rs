//! How much work one demo does, in steps, batch sizes and tokens.

/// How much work the demo does; sized for a 2-core CPU.
#[derive(Debug, Clone, Copy)]
pub struct DemoBudget {
    pub sft_steps: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub grpo_steps: u64,
    pub grpo_prompts: usize,
    pub grpo_group: usize,
    pub grpo_lr: f64,
    pub max_new_tokens: usize,
    pub eval_limit: Option<usize>,
    /// Training seeds per student: each seed trains every student again.
    pub seeds: u32,
}

impl Default for DemoBudget {
    fn default() -> Self {
        Self {
            sft_steps: 120,
            batch_size: 16,
            lr: 3e-3,
            grpo_steps: 6,
            grpo_prompts: 4,
            grpo_group: 8,
            grpo_lr: 5e-5,
            max_new_tokens: 200,
            eval_limit: None,
            seeds: 3,
        }
    }
}
