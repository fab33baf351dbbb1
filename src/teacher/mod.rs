//! Teachers that write planning trajectories: the oracle for the synthetic domain,
//! and (later) the OpenAI-compatible client and a local model.

pub mod oracle;
