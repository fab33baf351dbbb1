//! SIGTERM / SIGINT as a flag the training loop polls between steps, so a stop request
//! finishes the current step and checkpoints instead of killing mid-write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Only an atomic store: the one thing a signal handler may safely do here.
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// A stop request: set by a signal (for flags from [`install_stop_handler`]) or by
/// [`StopFlag::request`]. Flags made with [`StopFlag::manual`] ignore signals, so
/// in-process jobs (and parallel tests) do not stop each other.
#[derive(Debug, Clone, Default)]
pub struct StopFlag {
    watches_signals: bool,
    local: Arc<AtomicBool>,
}

impl StopFlag {
    pub fn manual() -> Self {
        Self::default()
    }

    pub fn requested(&self) -> bool {
        self.local.load(Ordering::SeqCst)
            || (self.watches_signals && SIGNALLED.load(Ordering::SeqCst))
    }

    pub fn request(&self) {
        self.local.store(true, Ordering::SeqCst);
    }
}

/// Installs handlers for SIGTERM and SIGINT and returns a flag that sees them.
pub fn install_stop_handler() -> std::io::Result<StopFlag> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only performs an atomic store, which is async-signal-safe;
        // the sigaction struct is fully initialised before use.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(StopFlag {
        watches_signals: true,
        local: Arc::default(),
    })
}
