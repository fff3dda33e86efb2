//! Redis's log line format (`serverLog()`), shared by the binaries that log like Redis:
//! `<pid>:<role> <dd Mon yyyy HH:MM:SS.mmm> <level char> <message>`, with level characters
//! `.` debug, `-` verbose, `*` notice, `#` warning and role `M` (primary), `S` (replica),
//! `C` (fork child), `X` (sentinel). Where the lines go (stdout, `logfile`) is the binary's.

/// Log levels, ordered as Redis's `LL_DEBUG`..`LL_WARNING`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    /// The level character of a log line.
    pub fn as_char(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }

    /// Parses a `loglevel` value (`debug`, `verbose`, `notice`, `warning`, `nothing`) into the
    /// minimum level index written (4 = nothing).
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

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

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
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Formats a unix time in ms as `02 Dec 2026 15:41:02.123` (UTC, as Redis prints localtime on
/// a TZ-less host).
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
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

/// C `ctime()` without the newline, in UTC: `Sun Dec  6 02:07:22 2026`.
pub fn ctime(unix_s: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
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

/// One log line, newline included: `<pid>:<role> <timestamp> <level char> <msg>\n`.
pub fn line(pid: u32, role: char, now_ms: i64, level: Level, msg: &str) -> String {
    format!(
        "{pid}:{role} {} {} {msg}\n",
        timestamp(now_ms),
        level.as_char()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(timestamp(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(timestamp(1_796_227_221_875), "02 Dec 2026 16:00:21.875");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_796_522_842), "Sun Dec  6 02:07:22 2026");
        assert_eq!(
            line(7, 'X', 0, Level::Warning, "+tilt"),
            "7:X 01 Jan 1970 00:00:00.000 # +tilt\n"
        );
    }
}
