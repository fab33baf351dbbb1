//! Benchmarks behind `plantune-tui bench ...`: speed and memory targets are measured
//! here, never in timed unit tests.

pub mod grpo;
pub mod store;

/// Peak resident set size of this process so far, in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
