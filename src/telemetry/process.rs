//! The current process's CPU use and resident memory.

use std::time::{Duration, Instant};

/// CPU time used so far by the whole process (all threads, user + system).
pub fn cpu_time() -> Option<Duration> {
    // SAFETY: `usage` is a plain C struct that `getrusage` fills in; we read it only on
    // success.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        usage
    };
    let time = |t: libc::timeval| {
        Some(
            Duration::from_secs(u64::try_from(t.tv_sec).ok()?)
                + Duration::from_micros(u64::try_from(t.tv_usec).ok()?),
        )
    };
    Some(time(usage.ru_utime)? + time(usage.ru_stime)?)
}

/// Resident set size in MiB (`VmRSS` in `/proc/self/status`; `None` off Linux).
pub fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU use between successive readings, top-style: 100 is one core busy, so a
/// multi-threaded process can read above 100.
pub struct ProcessClock {
    last: Option<(Duration, Instant)>,
}

/// Readings closer together than this are too coarse to mean anything.
const MIN_WALL: Duration = Duration::from_millis(10);

impl ProcessClock {
    /// Starts measuring from now.
    pub fn new() -> Self {
        Self {
            last: cpu_time().map(|cpu| (cpu, Instant::now())),
        }
    }

    /// CPU % since the previous reading (or since [`ProcessClock::new`]); `None` when the
    /// CPU time cannot be read or too little time has passed.
    pub fn cpu_pct(&mut self) -> Option<f64> {
        let now = Instant::now();
        let cpu = cpu_time()?;
        let Some((last_cpu, last_at)) = self.last else {
            self.last = Some((cpu, now));
            return None;
        };
        let wall = now.duration_since(last_at);
        if wall < MIN_WALL {
            return None;
        }
        self.last = Some((cpu, now));
        Some(cpu.saturating_sub(last_cpu).as_secs_f64() / wall.as_secs_f64() * 100.0)
    }
}

impl Default for ProcessClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_plausible() {
        let rss = rss_mib().expect("VmRSS readable on Linux");
        // A test binary with candle linked in is well over 1 MiB and far under 1 TiB.
        assert!(rss > 1.0 && rss < 1024.0 * 1024.0, "rss {rss} MiB");
    }

    #[test]
    fn cpu_time_grows_and_a_busy_thread_reads_as_cpu_use() {
        let mut clock = ProcessClock::new();
        let before = cpu_time().expect("getrusage works");
        // Spin for a wall-clock while; on a loaded machine this thread may get only part
        // of a core, hence the generous lower bound.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = cpu_time().expect("getrusage works");
        assert!(
            after > before,
            "cpu time did not advance: {before:?} -> {after:?}"
        );
        let pct = clock.cpu_pct().expect("300 ms passed");
        assert!(pct > 5.0, "a spinning thread read as {pct}% CPU");
        // Other test threads may run at the same time, so only a loose upper bound.
        let cores = std::thread::available_parallelism().map_or(64, |n| n.get()) as f64;
        assert!(pct <= cores * 100.0 + 50.0, "{pct}% on {cores} cores");
    }
}
