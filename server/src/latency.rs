//! The latency monitor (Redis 7.4.1's latency.c and sparkline.c) and the LATENCY command.
//!
//! Code paths that may block the server (command execution, the active expire cycle,
//! eviction, fork, AOF writes and fsyncs, ...) time themselves and, when
//! `latency-monitor-threshold` (milliseconds, 0 = off) is set and the time reaches it, add a
//! sample to the named event's time series ([`add_sample_if_needed`], Redis's
//! `latencyAddSampleIfNeeded`). A series keeps the last [`LATENCY_TS_LEN`] samples, one per
//! second (two samples in the same second merge, keeping the larger) and the all-time max.
//!
//! Event names are Redis's: `command` (a command without the `fast` flag), `fast-command`,
//! `expire-cycle`, `expire-del`, `eviction-cycle`, `eviction-del`, `eviction-lazyfree`,
//! `fork`, `aof-write` (plus one of
//! `aof-write-pending-fsync`, `aof-write-active-child`, `aof-write-alone`),
//! `aof-fsync-always`, `aof-fstat`, `aof-rename`, `rdb-unlink-temp-file`.
//!
//! LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR / HISTOGRAM / HELP reply byte for byte as
//! Redis's `latencyCommand()`; HISTOGRAM reads the per-command HdrHistograms INFO latencystats
//! uses (`CmdStats::latency`) and walks them as `hdr_iter_log_init(h, 1024, 2)` does.
//! Events are listed in the order they first occurred (Redis lists its dict's order).

use crate::command::Ctx;
use crate::server::Server;
use std::fmt::Write as _;
use std::time::Instant;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const LATENCY_TS_LEN: usize = 160;
/// Width of LATENCY GRAPH (Redis's `LATENCY_GRAPH_COLS`).
const GRAPH_COLS: usize = 80;

/// One sample: unix time in seconds (0 = empty slot) and latency in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    time: i64,
    latency: u32,
}

/// The time series of one event: a ring of [`LATENCY_TS_LEN`] samples (`idx` is the next
/// slot to write) and the all-time maximum latency (ms).
#[derive(Debug, Clone)]
pub struct TimeSeries {
    idx: usize,
    max: u32,
    samples: [Sample; LATENCY_TS_LEN],
}

impl TimeSeries {
    fn new() -> TimeSeries {
        TimeSeries {
            idx: 0,
            max: 0,
            samples: [Sample::default(); LATENCY_TS_LEN],
        }
    }

    /// The non-empty samples, oldest first (Redis's ring order from `idx`).
    fn ordered(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..LATENCY_TS_LEN)
            .map(move |j| self.samples[(self.idx + j) % LATENCY_TS_LEN])
            .filter(|s| s.time != 0)
    }
}

/// Every event's series, in first-occurrence order, plus the last fork's rate (what
/// Redis keeps in `server.stat_fork_rate`, GB/s, used by DOCTOR).
#[derive(Debug, Default)]
pub struct Latency {
    events: Vec<(String, Box<TimeSeries>)>,
    /// Memory copied per second by the last fork, in GB/s (`stat_fork_rate`).
    pub fork_rate: f64,
}

impl Latency {
    /// Adds a sample of `latency_ms` to `event` at unix second `now_s` (Redis's
    /// `latencyAddSample`): creates the series on demand, raises the max, merges with the
    /// previous sample if it is of the same second (keeping the larger latency).
    pub fn add_sample(&mut self, event: &str, latency_ms: u64, now_s: i64) {
        let latency = latency_ms.min(u32::MAX as u64) as u32;
        let ts = match self.events.iter().position(|(e, _)| e == event) {
            Some(i) => &mut self.events[i].1,
            None => {
                self.events
                    .push((event.to_string(), Box::new(TimeSeries::new())));
                &mut self.events.last_mut().expect("just pushed").1
            }
        };
        if latency > ts.max {
            ts.max = latency;
        }
        let prev = (ts.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
        if ts.samples[prev].time == now_s {
            if latency > ts.samples[prev].latency {
                ts.samples[prev].latency = latency;
            }
            return;
        }
        ts.samples[ts.idx] = Sample {
            time: now_s,
            latency,
        };
        ts.idx = (ts.idx + 1) % LATENCY_TS_LEN;
    }

    /// Deletes the events named `event` (ASCII case-insensitive), or all of them for None;
    /// returns how many were deleted (Redis's `latencyResetEvent`).
    pub fn reset(&mut self, event: Option<&[u8]>) -> usize {
        let before = self.events.len();
        self.events
            .retain(|(e, _)| event.is_some_and(|x| !x.eq_ignore_ascii_case(e.as_bytes())));
        before - self.events.len()
    }

    /// The series of `event` (exact, case-sensitive name as Redis's dict lookup).
    fn get(&self, event: &[u8]) -> Option<&(String, Box<TimeSeries>)> {
        self.events.iter().find(|(e, _)| e.as_bytes() == event)
    }

    /// Number of events with a series.
    pub fn len(&self) -> usize {
        self.events.len()
    }
}

/// Unix time in seconds (Redis's `time(NULL)`).
fn unix_now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Redis's `latencyAddSampleIfNeeded`: records `latency_ms` for `event` when the monitor is
/// on and the latency reaches `latency-monitor-threshold`.
#[inline]
pub fn add_sample_if_needed(srv: &mut Server, event: &str, latency_ms: u64) {
    let thr = srv.settings.latency_monitor_threshold_ms;
    if thr > 0 && latency_ms >= thr {
        srv.latency.add_sample(event, latency_ms, unix_now_s());
    }
}

/// Redis's `latencyStartMonitor`: the start time, or None (nothing measured) while the
/// monitor is off.
#[inline]
pub fn start(srv: &Server) -> Option<Instant> {
    (srv.settings.latency_monitor_threshold_ms > 0).then(Instant::now)
}

/// Redis's `latencyEndMonitor` + `latencyAddSampleIfNeeded`: the milliseconds since `t0`
/// (0 when the monitor was off at the start), sampled under `event` if needed.
#[inline]
pub fn end(srv: &mut Server, t0: Option<Instant>, event: &str) -> u64 {
    let Some(t0) = t0 else { return 0 };
    let ms = t0.elapsed().as_millis() as u64;
    add_sample_if_needed(srv, event, ms);
    ms
}

/// After a successful fork that took `fork_us`: the fork rate DOCTOR reports (Redis's
/// `stat_fork_rate` = used memory / fork time, in GB/s) and the `fork` event.
pub fn fork_done(srv: &mut Server, fork_us: u64) {
    let used = crate::evict::used_memory(srv) as f64;
    srv.latency.fork_rate = used * 1_000_000.0 / fork_us.max(1) as f64 / (1024.0 * 1024.0 * 1024.0);
    add_sample_if_needed(srv, "fork", fork_us / 1000);
}

// ------------------------------------------------------------------------------------------
// Sparkline (sparkline.c)
// ------------------------------------------------------------------------------------------

const CHARSET: &[u8] = b"_-`";
const CHARSET_FILL: &[u8] = b"_o#";
const LABEL_MARGIN_TOP: usize = 1;

/// A sparkline sequence: values with optional labels, min and max (sparkline.c's
/// `struct sequence`).
struct Sequence {
    samples: Vec<(f64, Option<String>)>,
    labels: usize,
    min: f64,
    max: f64,
}

impl Sequence {
    fn new() -> Sequence {
        Sequence {
            samples: Vec::new(),
            labels: 0,
            min: 0.0,
            max: 0.0,
        }
    }

    fn add(&mut self, value: f64, label: &str) {
        if self.samples.is_empty() {
            self.min = value;
            self.max = value;
        } else if value < self.min {
            self.min = value;
        } else if value > self.max {
            self.max = value;
        }
        let label = (!label.is_empty()).then(|| label.to_string());
        if label.is_some() {
            self.labels += 1;
        }
        self.samples.push((value, label));
    }

    /// `sparklineRenderRange` with SPARKLINE_FILL and a linear scale.
    fn render_range(&self, out: &mut Vec<u8>, rows: usize, offset: usize, len: usize) {
        let mut relmax = self.max - self.min;
        if relmax == 0.0 {
            relmax = 1.0;
        }
        let steps = (CHARSET.len() * rows) as i64;
        let mut row = 0usize;
        let mut chars = vec![b' '; len];
        let mut lp = true;
        while lp {
            lp = false;
            chars.fill(b' ');
            for (j, ch) in chars.iter_mut().enumerate() {
                let (value, label) = &self.samples[j + offset];
                let relval = value - self.min;
                // C: step = (int) (relval*steps)/relmax; — the cast binds to the product.
                let mut step = (((relval * steps as f64) as i32) as f64 / relmax) as i64;
                if step < 0 {
                    step = 0;
                }
                if step >= steps {
                    step = steps - 1;
                }
                if row < rows {
                    let charidx = step - ((rows - row - 1) * CHARSET.len()) as i64;
                    lp = true;
                    if charidx >= 0 && (charidx as usize) < CHARSET.len() {
                        *ch = CHARSET_FILL[charidx as usize];
                    } else if charidx >= CHARSET.len() as i64 {
                        *ch = b'|';
                    }
                } else {
                    if self.labels > 0 && row - rows < LABEL_MARGIN_TOP {
                        lp = true;
                        break;
                    }
                    if let Some(l) = label {
                        let label_char = row - rows - LABEL_MARGIN_TOP;
                        if l.len() > label_char {
                            lp = true;
                            *ch = l.as_bytes()[label_char];
                        }
                    }
                }
            }
            if lp {
                row += 1;
                out.extend_from_slice(&chars);
                out.push(b'\n');
            }
        }
    }

    /// `sparklineRender`: the sequence in chunks of `columns`, separated by a blank line.
    fn render(&self, out: &mut Vec<u8>, columns: usize, rows: usize) {
        let mut j = 0;
        while j < self.samples.len() {
            let sublen = (self.samples.len() - j).min(columns);
            if j != 0 {
                out.push(b'\n');
            }
            self.render_range(out, rows, j, sublen);
            j += columns;
        }
    }
}

/// LATENCY GRAPH's text (Redis's `latencyCommandGenSparkeline`): a header line, 80 dashes,
/// then the 4-row filled sparkline labelled with each sample's age (`12s`, `3m`, `1h`, `2d`).
fn graph(event: &str, ts: &TimeSeries, now_s: i64) -> Vec<u8> {
    let mut seq = Sequence::new();
    let (mut min, mut max) = (0u32, 0u32);
    for s in ts.ordered() {
        if seq.samples.is_empty() {
            min = s.latency;
            max = s.latency;
        } else {
            max = max.max(s.latency);
            min = min.min(s.latency);
        }
        let elapsed = (now_s - s.time) as i32;
        let label = if elapsed < 60 {
            format!("{elapsed}s")
        } else if elapsed < 3600 {
            format!("{}m", elapsed / 60)
        } else if elapsed < 3600 * 24 {
            format!("{}h", elapsed / 3600)
        } else {
            format!("{}d", elapsed / (3600 * 24))
        };
        seq.add(s.latency as f64, &label);
    }
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
        ts.max
    )
    .into_bytes();
    out.extend_from_slice(&[b'-'; GRAPH_COLS]);
    out.push(b'\n');
    seq.render(&mut out, GRAPH_COLS, 4);
    out
}

// ------------------------------------------------------------------------------------------
// DOCTOR (createLatencyReport)
// ------------------------------------------------------------------------------------------

/// Statistics of one series (Redis's `analyzeLatencyForEvent`): samples, integer average
/// and mean absolute deviation (ms), and the period (seconds since the oldest sample, at
/// least 1).
struct Stats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

fn analyze(ts: &TimeSeries, now_s: i64) -> Stats {
    let mut st = Stats {
        samples: 0,
        avg: 0,
        mad: 0,
        period: 0,
    };
    let mut sum: u64 = 0;
    for s in ts.samples.iter().filter(|s| s.time != 0) {
        st.samples += 1;
        sum += s.latency as u64;
        if st.period == 0 || s.time < st.period {
            st.period = s.time;
        }
    }
    if let Some(avg) = sum.checked_div(st.samples) {
        st.avg = avg;
        st.period = now_s - st.period;
        if st.period == 0 {
            st.period = 1;
        }
    }
    let mut sum: u64 = 0;
    for s in ts.samples.iter().filter(|s| s.time != 0) {
        sum += (st.avg as i64 - s.latency as i64).unsigned_abs();
    }
    st.mad = sum.checked_div(st.samples).unwrap_or(0);
    st
}

/// Bytes of anonymous huge pages of this process (Redis's `THPGetAnonHugePagesSize`, the
/// sum of smaps' `AnonHugePages:`), 0 if unknown.
fn anon_huge_pages_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// LATENCY DOCTOR's text, Redis 7.4.1's `createLatencyReport` (texts copied verbatim).
fn report(srv: &Server) -> String {
    let thr = srv.settings.latency_monitor_threshold_ms;
    let mut r = String::new();
    if srv.latency.events.is_empty() && thr == 0 {
        r.push_str("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
        return r;
    }
    #[derive(Default)]
    struct Adv {
        better_vm: bool,
        slowlog_enabled: bool,
        slowlog_tuning: bool,
        slowlog_inspect: bool,
        disk_contention: bool,
        scheduler: bool,
        data_writeback: bool,
        no_appendfsync: bool,
        local_disk: bool,
        ssd: bool,
        write_load_info: bool,
        hz: bool,
        large_objects: bool,
        mass_eviction: bool,
        relax_fsync_policy: bool,
        disable_thp: bool,
    }
    let mut a = Adv::default();
    let mut advices = 0;
    let now = unix_now_s();
    let mut eventnum = 0;
    for (event, ts) in &srv.latency.events {
        eventnum += 1;
        if eventnum == 1 {
            r.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let ls = analyze(ts, now);
        let _ = write!(
            r,
            "{eventnum}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            ls.samples,
            ls.avg,
            ls.mad,
            ls.period as f64 / ls.samples as f64,
            ts.max
        );
        let is = |n: &str| event.eq_ignore_ascii_case(n);
        if is("fork") {
            let rate = srv.latency.fork_rate;
            let quality = if rate < 10.0 {
                a.better_vm = true;
                advices += 1;
                "terrible"
            } else if rate < 25.0 {
                a.better_vm = true;
                advices += 1;
                "poor"
            } else if rate < 100.0 {
                "good"
            } else {
                "excellent"
            };
            let _ = write!(r, " Fork rate is {rate:.2} GB/sec ({quality}).");
        }
        if is("command") {
            let slower = srv.settings.slowlog_log_slower_than_us;
            if slower < 0 || srv.settings.slowlog_max_len == 0 {
                a.slowlog_enabled = true;
                advices += 1;
            } else if (slower / 1000) as u64 > thr {
                a.slowlog_tuning = true;
                advices += 1;
            }
            a.slowlog_inspect = true;
            a.large_objects = true;
            advices += 2;
        }
        if is("fast-command") {
            a.scheduler = true;
            advices += 1;
        }
        if is("aof-write-pending-fsync") {
            a.local_disk = true;
            a.disk_contention = true;
            a.ssd = true;
            a.data_writeback = true;
            advices += 4;
        }
        if is("aof-write-active-child") {
            a.no_appendfsync = true;
            a.data_writeback = true;
            a.ssd = true;
            advices += 3;
        }
        if is("aof-write-alone") {
            a.local_disk = true;
            a.data_writeback = true;
            a.ssd = true;
            advices += 3;
        }
        if is("aof-fsync-always") {
            a.relax_fsync_policy = true;
            advices += 1;
        }
        if is("aof-fstat") || is("rdb-unlink-temp-file") {
            a.disk_contention = true;
            a.local_disk = true;
            advices += 2;
        }
        if is("aof-rewrite-diff-write") || is("aof-rename") {
            a.write_load_info = true;
            a.data_writeback = true;
            a.ssd = true;
            a.local_disk = true;
            advices += 4;
        }
        if is("expire-cycle") {
            a.hz = true;
            a.large_objects = true;
            advices += 2;
        }
        if is("eviction-del") {
            a.large_objects = true;
            advices += 1;
        }
        if is("eviction-cycle") {
            a.mass_eviction = true;
            advices += 1;
        }
        r.push('\n');
    }
    if anon_huge_pages_bytes() > 0 {
        a.disable_thp = true;
        advices += 1;
    }

    if eventnum == 0 && advices == 0 {
        r.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if eventnum > 0 && advices == 0 {
        r.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        r.push_str("\nI have a few advices for you:\n\n");
        if a.better_vm {
            r.push_str("- If you are using a virtual machine, consider upgrading it with a faster one using a hypervisior that provides less latency during fork() calls. Xen is known to have poor fork() performance. Even in the context of the same VM provider, certain kinds of instances can execute fork faster than others.\n");
        }
        if a.slowlog_enabled {
            let _ = writeln!(r, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.", thr.wrapping_mul(1000));
        }
        if a.slowlog_tuning {
            let _ = writeln!(r, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.", thr.wrapping_mul(1000));
        }
        if a.slowlog_inspect {
            r.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if a.scheduler {
            r.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if a.local_disk {
            r.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
        }
        if a.ssd {
            r.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
        }
        if a.data_writeback {
            r.push_str("- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n");
        }
        if a.disk_contention {
            r.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
        }
        if a.no_appendfsync {
            r.push_str("- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n");
        }
        if a.relax_fsync_policy && crate::aof::fsync_policy(srv) == crate::aof::FsyncPolicy::Always
        {
            r.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
        }
        if a.write_load_info {
            r.push_str("- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n");
        }
        if a.hz && srv.hz < 100 {
            r.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if a.large_objects {
            r.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if a.mass_eviction {
            r.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
        }
        if a.disable_thp {
            r.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
        }
    }
    r
}

// ------------------------------------------------------------------------------------------
// HISTOGRAM (fillCommandCDF)
// ------------------------------------------------------------------------------------------

/// The (microseconds, cumulative count) pairs Redis's `fillCommandCDF` prints for one
/// histogram (values recorded in nanoseconds): HdrHistogram's logarithmic iteration from
/// 1024 ns doubling each step (`hdr_iter_log_init(&iter, h, 1024, 2)`), each step reporting
/// the highest equivalent value of the bucket the iteration stands on, divided by 1000, and
/// only the steps where the cumulative count grew. The C iterator is emulated over the
/// histogram's buckets (same layout as the C library's for the same bounds and precision).
pub fn cdf(h: &hdrhistogram::Histogram<u64>) -> Vec<(u64, u64)> {
    let total = h.len();
    let nbuckets = h.distinct_values();
    let mut out = Vec::new();
    // Iterator state (hdr_iter): the bucket index, its lowest value and highest equivalent
    // value, the cumulative count through it.
    let mut index: isize = -1;
    let mut value: u64 = 0;
    let mut heq: u64 = 0;
    let mut next_value: u64 = 0; // value of bucket index+1
    let mut cumulative: u64 = 0;
    let mut level: u64 = 1024;
    let mut level_leq = h.lowest_equivalent(level);
    let mut previous: u64 = 0;
    loop {
        // log_iter_next
        if !(cumulative < total || next_value > level_leq) {
            break;
        }
        loop {
            if index >= 0 && value >= level_leq {
                level = level.saturating_mul(2);
                level_leq = h.lowest_equivalent(level);
                break;
            }
            // move_next
            if (index + 1) as usize >= nbuckets {
                break;
            }
            index += 1;
            value = next_value;
            heq = h.highest_equivalent(value);
            next_value = heq + 1;
            cumulative += h.count_at(value);
        }
        if cumulative > previous {
            out.push((heq / 1000, cumulative));
        }
        previous = cumulative;
        if (index + 1) as usize >= nbuckets && value < level_leq && cumulative >= total {
            break;
        }
    }
    out
}

/// One command's entry of LATENCY HISTOGRAM: a 2-field map, `calls` and `histogram_usec`
/// (a map of bucket upper bound in µs → cumulative calls).
fn reply_cdf(c: &mut Ctx, h: &hdrhistogram::Histogram<u64>) {
    c.out.map(2);
    c.out.bulk(b"calls");
    c.out.int(h.len() as i64);
    c.out.bulk(b"histogram_usec");
    let pairs = cdf(h);
    c.out.map(pairs.len());
    for (us, n) in pairs {
        c.out.int(us as i64);
        c.out.int(n as i64);
    }
}

// ------------------------------------------------------------------------------------------
// The LATENCY command
// ------------------------------------------------------------------------------------------

/// LATENCY LATEST: per event `[name, last sample time, last sample latency, max]`.
fn latency_latest(c: &mut Ctx) {
    let lat = &c.srv.latency;
    c.out.array(lat.events.len());
    for (e, ts) in &lat.events {
        let last = ts.samples[(ts.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN];
        c.out.array(4);
        c.out.bulk(e.as_bytes());
        c.out.int(last.time);
        c.out.int(last.latency as i64);
        c.out.int(ts.max as i64);
    }
}

/// LATENCY HISTORY <event>: `[time, latency]` pairs, oldest first; empty for an unknown
/// event.
fn latency_history(c: &mut Ctx) {
    match c.srv.latency.get(c_str(c.arg(2))) {
        None => c.out.array(0),
        Some((_, ts)) => {
            let v: Vec<Sample> = ts.ordered().collect();
            c.out.array(v.len());
            for s in v {
                c.out.array(2);
                c.out.int(s.time);
                c.out.int(s.latency as i64);
            }
        }
    }
}

/// LATENCY GRAPH <event>: the ASCII graph (verbatim string), or
/// `ERR No samples available for event '<event>'`.
fn latency_graph(c: &mut Ctx) {
    let text = match c.srv.latency.get(c_str(c.arg(2))) {
        None => {
            let mut msg = b"ERR No samples available for event '".to_vec();
            msg.extend_from_slice(c_str(c.arg(2)));
            msg.push(b'\'');
            return c.out.error_bytes(&msg);
        }
        Some((e, ts)) => graph(e, ts, unix_now_s()),
    };
    c.out.verbatim(&text);
}

/// The bytes up to the first NUL (what C's `%s` prints of an argument).
fn c_str(a: &[u8]) -> &[u8] {
    match a.iter().position(|&b| b == 0) {
        Some(p) => &a[..p],
        None => a,
    }
}

/// LATENCY DOCTOR: the human-readable report (verbatim string).
fn latency_doctor(c: &mut Ctx) {
    let r = report(c.srv);
    c.out.verbatim(r.as_bytes());
}

/// LATENCY RESET [event ...]: deletes all events, or the named ones; replies the count.
fn latency_reset(c: &mut Ctx) {
    let n = if c.argc() == 2 {
        c.srv.latency.reset(None)
    } else {
        let mut n = 0;
        for j in 2..c.argc() {
            n += c.srv.latency.reset(Some(c_str(c.arg(j))));
        }
        n
    };
    c.out.int(n as i64);
}

/// LATENCY HISTOGRAM [command ...]: a map of command full name → [`reply_cdf`], for every
/// command with a histogram, or for the named commands (a container names its
/// subcommands; unknown names are skipped).
fn latency_histogram(c: &mut Ctx) {
    let mut ids = Vec::new();
    if c.argc() == 2 {
        for id in 0..c.srv.commands.cmds.len() {
            if c.srv.commands.cmds[id].stats.latency.is_some() {
                ids.push(id);
            }
        }
    } else {
        for j in 2..c.argc() {
            let name = String::from_utf8_lossy(c.arg(j)).into_owned();
            let Some(id) = c.srv.commands.find_fullname(&name) else {
                continue;
            };
            let cmd = &c.srv.commands.cmds[id];
            if cmd.stats.latency.is_some() {
                ids.push(id);
            }
            let mut subs: Vec<usize> = cmd.subcommands.values().copied().collect();
            subs.sort_unstable();
            for s in subs {
                if c.srv.commands.cmds[s].stats.latency.is_some() {
                    ids.push(s);
                }
            }
        }
    }
    c.out.map(ids.len());
    for id in ids {
        let h = c.srv.commands.cmds[id]
            .stats
            .latency
            .take()
            .expect("checked above");
        c.out.bulk(c.srv.commands.cmds[id].fullname.as_bytes());
        reply_cdf(c, &h);
        c.srv.commands.cmds[id].stats.latency = Some(h);
    }
}

/// LATENCY HELP.
fn latency_help(c: &mut Ctx) {
    c.out.help(
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, crate::command::Handler)] = &[
    ("latency|latest", latency_latest),
    ("latency|history", latency_history),
    ("latency|graph", latency_graph),
    ("latency|doctor", latency_doctor),
    ("latency|reset", latency_reset),
    ("latency|histogram", latency_histogram),
    ("latency|help", latency_help),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_ns: &[u64]) -> hdrhistogram::Histogram<u64> {
        let mut h = hdrhistogram::Histogram::new_with_bounds(1, 1_000_000_000, 2).unwrap();
        for &v in values_ns {
            h.saturating_record(v);
        }
        h
    }

    #[test]
    fn cdf_matches_hdr_iter_log() {
        // Worked by hand from hdr_histogram.c's log iterator.
        assert_eq!(cdf(&hist(&[1])), vec![(1, 1)]);
        assert_eq!(cdf(&hist(&[1000, 2000])), vec![(1, 1), (2, 2)]);
        assert_eq!(cdf(&hist(&[50_000])), vec![(66, 1)]);
        assert_eq!(cdf(&hist(&[8000, 9000, 16000])), vec![(8, 1), (16, 3)]);
        // Past the last reporting level inside the counts array (2^30 ns): the iteration
        // runs off the end and reports the last bucket. Values seen from Redis 7.4.1 for
        // DEBUG SLEEP 0.3 and 0.6.
        assert_eq!(
            cdf(&hist(&[300_000_000, 600_000_000])),
            vec![(541065, 1), (1073741, 2)]
        );
        assert_eq!(cdf(&hist(&[1_000_000_000])), vec![(1073741, 1)]);
        // DEBUG SLEEP 0.05 in Redis 7.4.1: 67633.
        assert_eq!(cdf(&hist(&[50_100_000])), vec![(67633, 1)]);
        assert!(cdf(&hist(&[])).is_empty());
    }

    #[test]
    fn samples_merge_per_second_and_ring() {
        let mut l = Latency::default();
        l.add_sample("command", 5, 100);
        l.add_sample("command", 9, 100);
        l.add_sample("command", 3, 100);
        let (_, ts) = l.get(b"command").unwrap();
        let v: Vec<_> = ts.ordered().map(|s| (s.time, s.latency)).collect();
        assert_eq!(v, vec![(100, 9)]);
        for t in 0..200 {
            l.add_sample("command", t as u64, 1000 + t);
        }
        let (_, ts) = l.get(b"command").unwrap();
        assert_eq!(ts.ordered().count(), LATENCY_TS_LEN);
        assert_eq!(ts.ordered().next().unwrap().time, 1000 + 40);
        assert_eq!(ts.max, 199);
        assert_eq!(l.reset(Some(b"COMMAND")), 1);
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn graph_one_sample() {
        let mut l = Latency::default();
        l.add_sample("command", 50, 1000);
        let (e, ts) = l.get(b"command").unwrap();
        let g = String::from_utf8(graph(e, ts, 1000)).unwrap();
        let want = format!(
            "command - high 50 ms, low 50 ms (all time high 50 ms)\n{}\n \n \n \n_\n \n0\ns\n",
            "-".repeat(80)
        );
        assert_eq!(g, want);
    }

    #[test]
    fn graph_wraps_at_80_columns() {
        let mut l = Latency::default();
        for t in 0..100i64 {
            l.add_sample("x", (t % 7) as u64 + 1, 10_000 + t * 61);
        }
        let (e, ts) = l.get(b"x").unwrap();
        let g = String::from_utf8(graph(e, ts, 10_000 + 99 * 61)).unwrap();
        let lines: Vec<&str> = g.split('\n').collect();
        assert_eq!(lines[0], "x - high 7 ms, low 1 ms (all time high 7 ms)");
        // First chunk: 80 columns, 4 rows, a blank margin row, then the labels, one
        // character per row: the oldest sample is 6039 s old ("1h"), the 42nd 3599 s ("59m").
        assert!(lines[2..6].iter().all(|r| r.len() == 80));
        assert_eq!(lines[6], " ".repeat(80));
        assert_eq!(&lines[7][..1], "1");
        assert_eq!(&lines[8][..1], "h");
        assert_eq!(&lines[7][40..41], "5");
        assert_eq!(&lines[8][40..41], "9");
        assert_eq!(&lines[9][40..41], "m");
        // The second chunk follows a blank line and is 20 columns wide.
        let second = lines.iter().position(|r| r.is_empty()).unwrap() + 1;
        assert!(lines[second..second + 4].iter().all(|r| r.len() == 20));
        assert!(g.ends_with('\n'));
    }
}
