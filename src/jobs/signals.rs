//! SIGTERM / SIGINT as a flag the training loop polls between steps, so a stop request
//! finishes the current step and checkpoints instead of killing mid-write.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Only an atomic store: the one thing a signal handler may safely do here.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// A cheap handle to the process-wide stop flag.
#[derive(Debug, Clone, Copy)]
pub struct StopFlag;

impl StopFlag {
    pub fn requested(self) -> bool {
        STOP_REQUESTED.load(Ordering::SeqCst)
    }

    /// Lets in-process callers (tests, the pipeline runner) request a stop.
    pub fn request(self) {
        STOP_REQUESTED.store(true, Ordering::SeqCst);
    }
}

/// Installs handlers for SIGTERM and SIGINT that set the stop flag.
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
    Ok(StopFlag)
}
