//! --keystats (redis-cli 7.4): one scan collecting both the memory size (MEMORY USAGE) and the
//! length (STRLEN, LLEN...) of every key, then redis-cli's report: the top key sizes, the
//! biggest key per type by size and by length, the key size distribution (an HdrHistogram
//! with 4 significant figures, percentile iteration as hdr_histogram's C iterator with one
//! tick per half distance), the key name length distribution and a per-type table.
//!
//! Options: `--keystats-samples N` (MEMORY USAGE SAMPLES), `--cursor N` (start there, as
//! printed after a Ctrl-C), `--top N` (default 10), `-i` (sleep per 100 SCANs). On a
//! terminal the report is redrawn in place while scanning, as redis-cli does.

use super::bytes_to_human as human;
use super::keys::{
    dbsize, key_sizes, key_types, pattern, scan_keys, size_command, TypeStats, Types,
};
use crate::conn::Conn;
use crate::format::repr;
use crate::Ctx;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by SIGINT: the scan stops after the current batch and the report is printed.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// A non-negative integer option as redis-cli's strtoull checks it.
fn unsigned(v: &Option<String>, name: &str) -> Result<Option<u64>, String> {
    let Some(s) = v else { return Ok(None) };
    let t = s.trim_start();
    let neg = t.starts_with('-');
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} conversion error."));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{name} conversion error."))?;
    if neg && n != 0 {
        return Err(format!("{name} should be followed by a positive integer."));
    }
    Ok(Some(n))
}

/// redis-cli's `updateKeyType`: only a strictly bigger size replaces the biggest key.
fn add(t: &mut TypeStats, key: &[u8], size: u64) {
    t.total += size;
    t.keys += 1;
    if t.biggest < size {
        t.biggest = size;
        t.biggest_key = Some(key.to_vec());
    }
}

/// A key as `%s` prints it (up to its first NUL byte).
fn c_name(k: &[u8]) -> String {
    crate::conn::cstr(k)
}

/// Key name lengths counted in redis-cli's fixed ranges (32 B, 256 B, 64 KB, 1 MB, 16 MB,
/// 128 MB, 512 MB, above).
struct LengthDist {
    bounds: [u64; 7],
    counts: [u64; 8],
    total_count: u64,
    total_size: u64,
    max_size: u64,
}

impl LengthDist {
    fn new() -> LengthDist {
        LengthDist {
            bounds: [
                1 << 5,
                1 << 8,
                1 << 16,
                1 << 20,
                16 << 20,
                128 << 20,
                512 << 20,
            ],
            counts: [0; 8],
            total_count: 0,
            total_size: 0,
            max_size: 0,
        }
    }

    fn add(&mut self, size: u64) {
        self.total_count += 1;
        self.total_size += size;
        self.max_size = self.max_size.max(size);
        let j = self
            .bounds
            .iter()
            .position(|&b| size <= b)
            .unwrap_or(self.bounds.len());
        self.counts[j] += 1;
    }
}

/// The report's line writer: redis-cli's `cleanPrintfln`, which on a terminal clears each
/// line before writing it, and counts lines for redrawing in place.
struct Lines {
    tty: bool,
    out: String,
    count: usize,
}

impl Lines {
    fn line(&mut self, s: &str) {
        if self.tty {
            self.out.push_str("\x1b[2K\r");
        }
        self.out.push_str(s);
        self.out.push('\n');
        self.count += 1;
    }
}

/// Everything collected so far.
struct Stats {
    sampled: u64,
    total_keys: u64,
    total_size: u64,
    memory: Types,
    length: Types,
    /// (size, type name, quoted key), largest first; ties keep the first seen first.
    top: Vec<(u64, String, String)>,
    top_limit: u64,
    sizes: hdrhistogram::Histogram<u64>,
    names: LengthDist,
}

impl Stats {
    /// Empty statistics keeping the `top_limit` biggest keys, sizes in `sizes`.
    fn new(top_limit: u64, sizes: hdrhistogram::Histogram<u64>) -> Stats {
        Stats {
            sampled: 0,
            total_keys: 0,
            total_size: 0,
            memory: Types::new(),
            length: Types::new(),
            top: Vec::new(),
            top_limit,
            sizes,
            names: LengthDist::new(),
        }
    }

    /// redis-cli's `updateTopSizes`.
    fn update_top(&mut self, key: &[u8], size: u64, ty: &str) {
        let limit = self.top_limit as usize;
        if limit != 0 && self.top.len() == limit && size <= self.top[limit - 1].0 {
            return;
        }
        let at = self
            .top
            .iter()
            .position(|t| size > t.0)
            .unwrap_or(self.top.len());
        // redis-cli keeps the type name in a 10-byte buffer.
        let ty: String = ty.chars().take(9).collect();
        self.top.insert(at, (size, ty, repr(key)));
        if self.top.len() == limit + 1 {
            self.top.pop();
        }
    }

    /// The progress bar and the per-type tops (redis-cli's `displayKeyStats`).
    fn head(&self, l: &mut Lines) {
        let pct = if self.total_keys == 0 {
            0.0
        } else if self.sampled < self.total_keys {
            self.sampled as f64 / self.total_keys as f64
        } else {
            1.0
        };
        let bar = if l.tty {
            let done = (60.0 * pct).round() as usize;
            format!(
                "\x1b[32m{}\x1b[31m{}\x1b[39m",
                "|".repeat(done),
                "-".repeat(60 - done)
            )
        } else {
            "keys scanned".to_string()
        };
        l.line(&format!("{:6.2}% {bar}", pct * 100.0));
        l.line(&format!("Keys sampled: {}", self.sampled));
        l.line(&format!("Keys size:    {}", human(self.total_size as i64)));
        l.line("");
        l.line(&format!("--- Top {} key sizes ---", self.top_limit));
        for (i, (size, ty, key)) in self.top.iter().enumerate() {
            l.line(&format!(
                "{:3} {:>8} {:<10} {key}",
                i + 1,
                human(*size as i64),
                ty
            ));
        }
        l.line("");
        l.line("--- Top size per type ---");
        for i in self.memory.order() {
            let t = &self.memory.stats[i];
            if let Some(k) = &t.biggest_key {
                l.line(&format!(
                    "{:<10} {} is {}",
                    self.memory.name(i),
                    c_name(k),
                    human(t.biggest as i64)
                ));
            }
        }
        l.line("");
        l.line("--- Top length and cardinality per type ---");
        for i in self.length.order() {
            let t = &self.length.stats[i];
            if let Some(k) = &t.biggest_key {
                let name = self.length.name(i);
                let unit = size_command(name).1;
                let size = if unit == "bytes" {
                    human(t.biggest as i64)
                } else {
                    format!("{} {unit}", t.biggest)
                };
                l.line(&format!("{name:<10} {} has {size}", c_name(k)));
            }
        }
    }

    /// The distributions and the per-type table printed at the end.
    fn tail(&self, l: &mut Lines) {
        l.line("");
        l.line("Key size Percentile Total keys");
        l.line("-------- ---------- -----------");
        for (value, percentile, cumulative) in percentiles(&self.sizes) {
            l.line(&format!(
                "{:>8} {percentile:9.4}% {cumulative:11}",
                human(value as i64)
            ));
        }
        let (mean, stddev) = mean_stddev(&self.sizes);
        l.line(&format!(
            "Note: 0.01% size precision, Mean: {}, StdDeviation: {}",
            human(mean as i64),
            human(stddev as i64)
        ));
        l.line("");
        let d = &self.names;
        l.line("Key name length Percentile Total keys");
        l.line("--------------- ---------- -----------");
        let mut keys = 0u64;
        for (i, &bound) in d.bounds.iter().enumerate() {
            if d.counts[i] > 0 {
                keys += d.counts[i];
                l.line(&format!(
                    "{:>15} {:9.4}% {keys:11}",
                    human(bound.min(d.max_size) as i64),
                    100.0 * keys as f64 / d.total_count as f64
                ));
            }
        }
        if keys < d.total_count {
            l.line(&format!(
                "           inf {:9.4}% {:11}",
                100.0, d.total_count
            ));
        }
        let avg = d
            .total_size
            .checked_div(d.total_count)
            .map_or_else(|| "0".to_string(), |a| human(a as i64));
        l.line(&format!(
            "Total key length is {} ({avg} avg)",
            human(d.total_size as i64)
        ));
        l.line("");
        l.line("Type        Total keys  Keys % Tot size Avg size  Total length/card Avg ln/card");
        l.line("--------- ------------ ------- -------- -------- ------------------ -----------");
        for i in self.memory.order() {
            let m = &self.memory.stats[i];
            if m.keys == 0 {
                continue;
            }
            let name = self.memory.name(i);
            let (mut total_len, mut avg_len) = (" - ".to_string(), " - ".to_string());
            let (cmd, unit) = size_command(name);
            // Every type seen by size was seen by length too (same TYPE replies).
            let b = self
                .length
                .dict
                .names()
                .iter()
                .position(|n| n == name)
                .map(|j| &self.length.stats[j]);
            if let Some(b) = b.filter(|b| cmd.is_some() && b.keys > 0) {
                let avg = b.total as f64 / b.keys as f64;
                if unit == "bytes" {
                    total_len = human(b.total as i64);
                    avg_len = human(avg.round() as i64);
                } else {
                    total_len = format!("{} {unit}", b.total);
                    avg_len = format!("{avg:.2}");
                }
            }
            l.line(&format!(
                "{name:<10} {:11} {:6.2}% {:>8} {:>8} {total_len:>18} {avg_len:>11}",
                m.keys,
                if self.sampled > 0 {
                    100.0 * m.keys as f64 / self.sampled as f64
                } else {
                    0.0
                },
                human(m.total as i64),
                human((m.total / m.keys) as i64),
            ));
        }
    }
}

/// The rows of redis-cli's key size table: hdr_histogram's percentile iteration (one tick
/// per half distance) as (highest equivalent value, percentile, cumulative count), without
/// repeated cumulative counts, the row that reaches the total shown as 100%.
fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Vec<(u64, f64, u64)> {
    let total = h.len();
    let mut rows = Vec::new();
    if total == 0 {
        return rows;
    }
    let mut to = 0.0f64;
    let mut cumulative = 0u64;
    let mut last_shown = 0u64;
    'buckets: for v in h.iter_recorded() {
        let count = v.count_at_value();
        cumulative += count;
        loop {
            let current = 100.0 * cumulative as f64 / total as f64;
            if to > current {
                break;
            }
            if cumulative != last_shown {
                let pct = if cumulative == total { 100.0 } else { to };
                rows.push((h.highest_equivalent(v.value_iterated_to()), pct, cumulative));
                last_shown = cumulative;
            }
            if cumulative == total {
                break 'buckets;
            }
            let temp = ((100.0 / (100.0 - to)).ln() / 2f64.ln()) as i64 + 1;
            to += 100.0 / 2f64.powi(temp as i32);
        }
    }
    rows
}

/// hdr_mean and hdr_stddev of C's hdr_histogram (median equivalent values, an integer sum
/// for the mean).
fn mean_stddev(h: &hdrhistogram::Histogram<u64>) -> (f64, f64) {
    let total = h.len();
    if total == 0 {
        return (0.0, 0.0);
    }
    let mut sum: i128 = 0;
    for v in h.iter_recorded() {
        sum += v.count_at_value() as i128 * h.median_equivalent(v.value_iterated_to()) as i128;
    }
    let mean = sum as f64 / total as f64;
    let mut dev_total = 0.0;
    for v in h.iter_recorded() {
        let dev = h.median_equivalent(v.value_iterated_to()) as f64 - mean;
        dev_total += dev * dev * v.count_at_value() as f64;
    }
    (mean, (dev_total / total as f64).sqrt())
}

/// Runs --keystats.
pub fn run(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    let a = &ctx.args;
    let samples = unsigned(&a.keystats_samples, "--keystats-samples").map_err(|e| {
        e.replace(
            "should be followed by a positive integer",
            "value should be positive",
        )
    })?;
    let cursor = unsigned(&a.cursor, "--cursor")?.unwrap_or(0);
    let top_limit = unsigned(&a.top, "--top")?.unwrap_or(10);
    pattern(ctx)?;
    conn.connect_strict()?;
    let sizes = hdrhistogram::Histogram::new_with_bounds(1, 1 << 40, 4)
        .map_err(|e| format!("Keystats hdr init error: {e:?}"))?;
    let mut st = Stats::new(top_limit, sizes);
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    st.total_keys = dbsize(conn)?;
    let mut out = std::io::stdout();
    let _ = write!(
        out,
        "\n# Scanning the entire keyspace to find the biggest keys and distribution information.\n\
         # Use -i 0.1 to sleep 0.1 sec per 100 SCAN commands (not usually needed).\n\
         # Use --cursor <n> to start the scan at the cursor <n> (usually after a Ctrl-C).\n\
         # Use --top <n> to display <n> top key sizes (default is 10).\n\
         # Ctrl-C to stop the scan.\n\n"
    );
    let _ = out.flush();
    let mut refreshed = Instant::now();
    let last_cursor = scan_keys(ctx, conn, cursor, |conn, keys| {
        let mem_types = key_types(conn, keys, &mut st.memory)?;
        let mem = key_sizes(conn, keys, &mem_types, &st.memory, true, samples)?;
        let len_types = key_types(conn, keys, &mut st.length)?;
        let len = key_sizes(conn, keys, &len_types, &st.length, false, None)?;
        for (i, k) in keys.iter().enumerate() {
            // Keys that vanished between SCAN and TYPE are skipped.
            let (Some(mt), Some(lt)) = (mem_types[i], len_types[i]) else {
                continue;
            };
            st.total_size += mem[i];
            st.sampled += 1;
            let name = st.memory.name(mt).to_string();
            st.update_top(k, mem[i], &name);
            add(&mut st.memory.stats[mt], k, mem[i]);
            add(&mut st.length.stats[lt], k, len[i]);
            if st.sizes.record(mem[i]).is_err() {
                eprintln!("Value {} not added in the hdr histogram.", mem[i]);
            }
            st.names.add(k.len() as u64);
        }
        if ctx.tty && refreshed.elapsed() > Duration::from_millis(300) {
            let mut l = Lines {
                tty: true,
                out: String::new(),
                count: 0,
            };
            st.head(&mut l);
            let _ = write!(l.out, "\x1b[{}A\r", l.count);
            let _ = out.write_all(l.out.as_bytes());
            let _ = out.flush();
            refreshed = Instant::now();
        }
        // An interruption ends the scan early: the report covers what was sampled.
        Ok(!STOP.load(Ordering::SeqCst))
    })?;
    let mut l = Lines {
        tty: ctx.tty,
        out: String::new(),
        count: 0,
    };
    st.head(&mut l);
    st.tail(&mut l);
    let _ = out.write_all(l.out.as_bytes());
    if last_cursor != 0 {
        let _ = write!(
            out,
            "\nScan interrupted:\nUse 'pyrope-cli --keystats --cursor {last_cursor}' to restart from the last cursor.\n"
        );
    }
    let _ = out.flush();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_rows_follow_the_c_iterator() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 40, 4).unwrap();
        for v in [64, 64, 64, 100, 200, 239, 239, 300, 763, 5000, 1 << 20] {
            h.record(v).unwrap();
        }
        let rows = percentiles(&h);
        assert_eq!(rows[0], (64, 0.0, 3));
        assert_eq!(
            rows.last().unwrap(),
            &(h.highest_equivalent(1 << 20), 100.0, 11)
        );
        // Cumulative counts never repeat and grow.
        assert!(rows.windows(2).all(|w| w[0].2 < w[1].2), "{rows:?}");
        // 50% is reached at the 6th value (239).
        assert!(rows.contains(&(239, 50.0, 7)), "{rows:?}");
    }

    #[test]
    fn top_sizes_keep_order_and_limit() {
        let mut st = Stats::new(2, hdrhistogram::Histogram::new(3).unwrap());
        st.update_top(b"a", 5, "string");
        st.update_top(b"b", 7, "list");
        st.update_top(b"c", 5, "string");
        st.update_top(b"d", 6, "hash");
        let names: Vec<&str> = st.top.iter().map(|t| t.2.as_str()).collect();
        assert_eq!(names, ["\"b\"", "\"d\""]);
    }

    #[test]
    fn option_checks_as_redis_cli() {
        assert_eq!(unsigned(&Some("12".into()), "--top"), Ok(Some(12)));
        assert_eq!(
            unsigned(&Some("-3".into()), "--top").unwrap_err(),
            "--top should be followed by a positive integer."
        );
        assert_eq!(
            unsigned(&Some("3x".into()), "--cursor").unwrap_err(),
            "--cursor conversion error."
        );
    }
}
