//! Signal handling: SIGTERM and SIGINT request a graceful shutdown (the event loop notices
//! within one cron period); SIGPIPE is ignored so a closed client socket is an error return,
//! not a crash.

use std::sync::atomic::{AtomicBool, Ordering};

static SHUTDOWN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    SHUTDOWN.store(true, Ordering::SeqCst);
}

/// Installs the handlers.
pub fn install() {
    // SAFETY: the handlers only store to atomics (async-signal-safe) and are installed once,
    // before any other thread that could race on the dispositions exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
}

/// True once after a shutdown signal arrived.
pub fn take_shutdown_request() -> bool {
    SHUTDOWN.swap(false, Ordering::SeqCst)
}
