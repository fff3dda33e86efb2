//! Logging in Redis's line format (`serverLog()`):
//! `<pid>:<role> <dd Mon yyyy HH:MM:SS.mmm> <level char> <message>`, with level characters
//! `.` debug, `-` verbose, `*` notice, `#` warning, and role `M` (primary), `S` (replica),
//! `C` (fork child), `X` (sentinel). Writes to stdout, or appends to `logfile`.

use std::io::Write;
use std::sync::Mutex;

/// Log levels, ordered as Redis's `LL_*`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    /// `loglevel debug` exists (levels are indexed as Redis's); nothing logs at it yet.
    #[allow(dead_code)]
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

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
    s.file = file;
    Ok(())
}

/// Changes the minimum level at runtime (CONFIG SET loglevel).
pub fn set_level(min_level: usize) {
    SINK.lock().unwrap_or_else(|e| e.into_inner()).min = min_level;
}

/// Sets the role character (`M`, `S`, `C`, `X`).
pub fn set_role(role: char) {
    SINK.lock().unwrap_or_else(|e| e.into_inner()).role = role;
}

/// Formats a unix time in ms as `02 Dec 2026 15:41:02.123` (UTC, as Redis prints localtime on
/// a TZ-less host).
pub fn timestamp(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis
    )
}

/// Writes one log line if `level` is enabled.
pub fn log(level: Level, msg: &str) {
    let mut s = SINK.lock().unwrap_or_else(|e| e.into_inner());
    if (level as usize) < s.min {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let c = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        s.role,
        timestamp(now),
        c,
        msg
    );
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

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps() {
        assert_eq!(super::timestamp(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(
            super::timestamp(1_796_227_221_875),
            "02 Dec 2026 16:00:21.875"
        );
    }
}
