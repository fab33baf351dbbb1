//! Device telemetry for runs: the process's CPU and memory, and the GPUs' through NVML
//! (loaded at run time, so the CPU build runs unchanged where there is no driver),
//! sampled on a background thread and appended to `events.jsonl` as `device` events.

mod gpu;
mod process;
mod sampler;

pub use gpu::Gpus;
pub use process::{ProcessClock, cpu_time, rss_mib};
pub use sampler::{INTERVAL, Sampler};
