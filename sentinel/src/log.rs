//! The sentinel's log sink: lines in Redis's format with role `X`
//! ([`pyrope_common::logfmt`]), to stdout or appended to `logfile`, at or above `loglevel`.
//!
//! Sentinel events (`+sdown`, `+switch-master`...) reach the log through
//! [`crate::state::Sentinel::event`], which formats them as Redis's `sentinelEvent()`.

pub use pyrope_common::logfmt::{ctime, Level};
use std::io::Write;
use std::sync::Mutex;

struct Sink {
    min: usize,
    file: Option<std::fs::File>,
}

static SINK: Mutex<Sink> = Mutex::new(Sink { min: 2, file: None });

/// Sets the minimum level (0 debug .. 4 nothing) and the log file (empty: stdout). An error
/// opening the file is returned for the caller to report.
pub fn configure(min_level: usize, logfile: &str) -> std::io::Result<()> {
    let file = match logfile {
        "" => None,
        path => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
    };
    let mut s = SINK.lock().unwrap_or_else(|e| e.into_inner());
    s.min = min_level;
    s.file = file;
    Ok(())
}

/// Milliseconds since the unix epoch (Redis's `mstime()`).
pub fn mstime() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes one log line if `level` is enabled.
pub fn log(level: Level, msg: &str) {
    let mut s = SINK.lock().unwrap_or_else(|e| e.into_inner());
    if (level as usize) < s.min {
        return;
    }
    let line = pyrope_common::logfmt::line(std::process::id(), 'X', mstime(), level, msg);
    match s.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
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
