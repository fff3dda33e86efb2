//! Logging in Redis's line format (`serverLog()`), with the sentinel role character:
//! `<pid>:X <dd Mon yyyy HH:MM:SS.mmm> <level char> <message>`. Level characters are `.`
//! debug, `-` verbose, `*` notice, `#` warning, as Redis's `LL_*`. Lines go to stdout or are
//! appended to `logfile`.
//!
//! Sentinel events (`+sdown`, `+switch-master`...) reach the log through
//! [`crate::state::Sentinel::event`], which formats them as Redis's `sentinelEvent()`.

use std::io::Write;
use std::sync::Mutex;

/// Log levels, ordered as Redis's `LL_DEBUG`..`LL_WARNING`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    /// Parses a `loglevel` value (`debug`, `verbose`, `notice`, `warning`, `nothing`); the
    /// result is the minimum level index written (4 = nothing).
    pub fn parse_min(s: &str) -> Option<usize> {
        Some(match s.to_ascii_lowercase().as_str() {
            "debug" => 0,
            "verbose" => 1,
            "notice" => 2,
            "warning" => 3,
            "nothing" => 4,
            _ => return None,
        })
    }
}

struct Sink {
    min: usize,
    file: Option<std::fs::File>,
}

static SINK: Mutex<Sink> = Mutex::new(Sink { min: 2, file: None });

/// Sets the minimum level (0 debug .. 4 nothing) and the log file (empty: stdout). An error
/// opening the file is returned for the caller to report.
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

/// Formats a unix time in ms as `02 Dec 2026 15:41:02.123` (UTC, as Redis prints localtime on
/// a TZ-less host).
pub fn timestamp(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Howard Hinnant's civil-from-days: (year, month 1..12, day 1..31) of a day count since
/// 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// C `ctime()` without the newline, in UTC: `Sun Dec  6 02:07:22 2026` (Redis prints the
/// "Next failover delay" time this way).
pub fn ctime(unix_s: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_s.div_euclid(86400);
    let rem = unix_s.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
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
    let c = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let line = format!(
        "{}:X {} {} {}\n",
        std::process::id(),
        timestamp(mstime()),
        c,
        msg
    );
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

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps() {
        assert_eq!(super::timestamp(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(
            super::timestamp(1_796_227_221_875),
            "02 Dec 2026 16:00:21.875"
        );
        assert_eq!(super::ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(super::ctime(1_796_522_842), "Sun Dec  6 02:07:22 2026");
    }
}
