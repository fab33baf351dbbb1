//! The background thread that appends a `device` event to a run's `events.jsonl` every
//! few seconds, through its own [`EventWriter`] (appends are single `O_APPEND` writes,
//! so its lines never interleave with the training loop's).

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::gpu::Gpus;
use super::process::{ProcessClock, rss_mib};
use crate::runlog::{DeviceStats, EventWriter, RunEvent};

/// How often a run samples its device.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// The first sample comes this soon (or after one interval, if that is shorter), so a
/// run shows its device almost at once and the first CPU % spans a useful stretch.
const FIRST_SAMPLE: Duration = Duration::from_secs(1);

/// Samples while it lives; dropping it stops the thread (at once, not at the next tick)
/// and waits for it, so no sample lands after the run's last event.
pub struct Sampler {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Samples every [`INTERVAL`] into the events file at `events`.
    pub fn start(events: &Path) -> std::io::Result<Self> {
        Self::every(events, INTERVAL)
    }

    pub fn every(events: &Path, interval: Duration) -> std::io::Result<Self> {
        let writer = EventWriter::open(events)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("telemetry".into())
            .spawn(move || sample_until_stopped(writer, &stopped, interval))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Hanging up wakes the thread's `recv_timeout` at once.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sample_until_stopped(mut writer: EventWriter, stopped: &mpsc::Receiver<()>, interval: Duration) {
    let mut clock = ProcessClock::new();
    // NVML is loaded here, off the caller's thread: it can take a moment with many GPUs.
    let gpus = Gpus::open();
    let mut wait = FIRST_SAMPLE.min(interval);
    // Only a timeout means "go on"; a message or a hung-up sender means stop.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        let stats = DeviceStats {
            cpu_pct: clock.cpu_pct(),
            rss_mib: rss_mib(),
            gpus: gpus.read(),
        };
        // A missed sample is harmless; the next one retries.
        let _ = writer.write(RunEvent::Device(stats));
        wait = interval;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::runlog::read_all;

    fn device_events(path: &Path) -> Vec<DeviceStats> {
        let Ok(all) = read_all(path) else {
            return Vec::new();
        };
        all.events
            .into_iter()
            .filter_map(|e| match e.event {
                RunEvent::Device(stats) => Some(stats),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn writes_device_events_and_stops_promptly_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        // A long interval: only the first sample (after about a second) is expected, and
        // a sampler that slept through its interval would hold up the drop for a minute.
        let sampler = Sampler::every(&path, Duration::from_secs(60)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while device_events(&path).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let dropped = Instant::now();
        drop(sampler);
        let took = dropped.elapsed();
        assert!(took < Duration::from_secs(10), "drop took {took:?}");

        let events = device_events(&path);
        assert_eq!(events.len(), 1, "one sample in a 60 s interval: {events:?}");
        let stats = &events[0];
        assert!(stats.rss_mib.is_some_and(|r| r > 0.0), "{stats:?}");
        assert!(stats.cpu_pct.is_some_and(|c| c >= 0.0), "{stats:?}");
        let line = std::fs::read_to_string(&path).unwrap();
        assert!(line.contains(r#""kind":"device""#), "{line}");

        // Nothing more arrives once it has been dropped.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(device_events(&path).len(), 1);
    }

    #[test]
    fn a_short_interval_keeps_sampling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let sampler = Sampler::every(&path, Duration::from_millis(20)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while device_events(&path).len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(sampler);
        assert!(device_events(&path).len() >= 3);
    }

    #[test]
    fn an_unwritable_events_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("events.jsonl");
        assert!(Sampler::start(&path).is_err());
    }
}
