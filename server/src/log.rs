//! Logging in Redis's line format (`serverLog()`):
//! `<pid>:<role> <dd Mon yyyy HH:MM:SS.mmm> <level char> <message>`, with level characters
//! `.` debug, `-` verbose, `*` notice, `#` warning, and role `M` (primary), `S` (replica),
//! `C` (fork child), `X` (sentinel). The format is `common::logfmt`'s (shared with the
//! sentinel); this module is the server's sink: stdout, or appended to `logfile`.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Set in a fork child: log lines go straight to `CHILD_FD` with write(2), never through the
/// sink's mutex (another thread of the parent may have held it at the fork).
static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// The log file's descriptor (1 = stdout), mirrored for the child.
static CHILD_FD: AtomicI32 = AtomicI32::new(1);
/// The minimum level, mirrored for the child.
static CHILD_MIN: AtomicUsize = AtomicUsize::new(2);

/// Log levels, ordered as Redis's `LL_*` (shared with the other binaries).
pub use pyrope_common::logfmt::Level;

struct Sink {
    min: usize,
    file: Option<std::fs::File>,
    role: char,
}

static SINK: Mutex<Sink> = Mutex::new(Sink {
    min: 2,
    file: None,
    role: 'M',
});

/// Sets the minimum level (index into debug, verbose, notice, warning, nothing) and the log
/// file (empty = stdout). Errors opening the file are returned for the caller to report.
pub fn configure(min_level: usize, logfile: &str) -> std::io::Result<()> {
    let file = if logfile.is_empty() {
        None
    } else {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logfile)?,
        )
    };
    let mut s = SINK.lock().unwrap_or_else(|e| e.into_inner());
    s.min = min_level;
    CHILD_MIN.store(min_level, Ordering::Relaxed);
    CHILD_FD.store(
        file.as_ref().map_or(1, |f| f.as_raw_fd()),
        Ordering::Relaxed,
    );
    s.file = file;
    Ok(())
}

/// Changes the minimum level at runtime (CONFIG SET loglevel).
pub fn set_level(min_level: usize) {
    CHILD_MIN.store(min_level, Ordering::Relaxed);
    SINK.lock().unwrap_or_else(|e| e.into_inner()).min = min_level;
}

/// Sets the role character (`M`, `S`, `C`, `X`).
pub fn set_role(role: char) {
    SINK.lock().unwrap_or_else(|e| e.into_inner()).role = role;
}

/// Called first thing in a fork child: from now on lines are written with one write(2) on
/// the log descriptor, role `C`, without taking any lock.
pub fn enter_child() {
    IN_CHILD.store(true, Ordering::Relaxed);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes one log line if `level` is enabled.
pub fn log(level: Level, msg: &str) {
    if IN_CHILD.load(Ordering::Relaxed) {
        if (level as usize) < CHILD_MIN.load(Ordering::Relaxed) {
            return;
        }
        let line = pyrope_common::logfmt::line(std::process::id(), 'C', now_ms(), level, msg);
        // SAFETY: write(2) of a local buffer on the log descriptor the parent opened.
        unsafe {
            libc::write(
                CHILD_FD.load(Ordering::Relaxed),
                line.as_ptr().cast(),
                line.len(),
            );
        }
        return;
    }
    let mut s = SINK.lock().unwrap_or_else(|e| e.into_inner());
    if (level as usize) < s.min {
        return;
    }
    let line = pyrope_common::logfmt::line(std::process::id(), s.role, now_ms(), level, msg);
    match s.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

/// `log!(Notice, "fmt", args)`
#[macro_export]
macro_rules! log {
    ($lvl:ident, $($arg:tt)*) => {
        $crate::log::log($crate::log::Level::$lvl, &format!($($arg)*))
    };
}
