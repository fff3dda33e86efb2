//! Output: redis-benchmark 7's report layout, `-q` line and `--csv` line (same formats, so
//! the scripts that parse redis-benchmark parse these), our extra percentile block, the
//! HdrHistogram percentile-distribution log and the JSON document.

use crate::engine::RunResult;
use hdrhistogram::Histogram;
use std::fmt::Write;

/// Static facts printed in the report header.
pub struct Header {
    /// Connections (`-c`).
    pub clients: usize,
    /// Payload as printed: `3`, or `10-20` for a size range.
    pub payload: String,
    /// `-k`.
    pub keepalive: bool,
    /// CONFIG GET save / appendonly of the server, when it answered.
    pub save: Option<String>,
    pub appendonly: Option<String>,
    /// `--threads` (0 = not multi-threaded).
    pub threads: usize,
    /// `--rps`.
    pub rps: Option<u64>,
    /// Cluster mode: CONFIG GET save / appendonly of each master.
    pub cluster_nodes: Option<Vec<(Option<String>, Option<String>)>>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Requests per second of a run.
pub fn throughput(r: &RunResult) -> f64 {
    let secs = r.elapsed.as_secs_f64();
    if secs > 0.0 {
        r.requests as f64 / secs
    } else {
        0.0
    }
}

/// The CSV header line redis-benchmark prints before the first `--csv` row.
pub const CSV_HEADER: &str =
    "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"";

/// The latency figures of a histogram in milliseconds: `(avg, min, p(q)...)`, all 0 when
/// nothing was measured.
fn figure(h: &Histogram<u64>, what: Fig) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    match what {
        Fig::Avg => h.mean() / 1000.0,
        Fig::Min => ms(h.min()),
        Fig::Max => ms(h.max()),
        Fig::Q(q) => ms(h.value_at_quantile(q)),
    }
}

#[derive(Clone, Copy)]
enum Fig {
    Avg,
    Min,
    Max,
    Q(f64),
}

/// One `--csv` row.
pub fn csv_line(title: &str, r: &RunResult) -> String {
    let h = &r.hist;
    format!(
        "\"{}\",\"{:.2}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\"",
        title,
        throughput(r),
        figure(h, Fig::Avg),
        figure(h, Fig::Min),
        figure(h, Fig::Q(0.50)),
        figure(h, Fig::Q(0.95)),
        figure(h, Fig::Q(0.99)),
        figure(h, Fig::Max)
    )
}

/// The `-q` line.
pub fn quiet_line(title: &str, r: &RunResult) -> String {
    format!(
        "{}: {:.2} requests per second, p50={:.3} msec",
        title,
        throughput(r),
        figure(&r.hist, Fig::Q(0.5))
    )
}

/// The full report of one test, as redis-benchmark prints it, followed by our percentile
/// block (p50 p90 p99 p99.9 p99.99 max), the error count when there were errors and the
/// requests left unanswered at the end, if any.
pub fn full_report(title: &str, r: &RunResult, hd: &Header) -> String {
    let h = &r.hist;
    let mut o = String::new();
    let _ = writeln!(o, "====== {title} ======");
    let _ = writeln!(
        o,
        "  {} requests completed in {:.2} seconds",
        r.requests,
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(o, "  {} parallel clients", hd.clients);
    let _ = writeln!(o, "  {} bytes payload", hd.payload);
    let _ = writeln!(o, "  keep alive: {}", hd.keepalive as u8);
    if let Some(nodes) = &hd.cluster_nodes {
        let _ = writeln!(o, "  cluster mode: yes ({} masters)", nodes.len());
        for (m, (save, aof)) in nodes.iter().enumerate() {
            let (Some(save), Some(aof)) = (save, aof) else {
                continue;
            };
            let _ = writeln!(o, "  node [{m}] configuration:");
            let _ = writeln!(
                o,
                "    save: {}",
                if save.is_empty() { "NONE" } else { save }
            );
            let _ = writeln!(o, "    appendonly: {aof}");
        }
    } else if let (Some(s), Some(a)) = (&hd.save, &hd.appendonly) {
        let _ = writeln!(o, "  host configuration \"save\": {s}");
        let _ = writeln!(o, "  host configuration \"appendonly\": {a}");
    }
    let _ = writeln!(
        o,
        "  multi-thread: {}",
        if hd.threads > 0 { "yes" } else { "no" }
    );
    if hd.threads > 0 {
        let _ = writeln!(o, "  threads: {}", hd.threads);
    }
    if let Some(rps) = hd.rps {
        let _ = writeln!(
            o,
            "  open loop: {rps} requests per second (latency from the intended send time)"
        );
    }
    o.push('\n');
    o.push_str("Latency by percentile distribution:\n");
    o.push_str(&percentile_distribution(h));
    o.push('\n');
    o.push_str("Cumulative distribution of latencies:\n");
    o.push_str(&cumulative_distribution(h));
    o.push('\n');
    o.push_str("Summary:\n");
    let _ = writeln!(
        o,
        "  throughput summary: {:.2} requests per second",
        throughput(r)
    );
    o.push_str("  latency summary (msec):\n");
    let _ = writeln!(
        o,
        "    {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "avg", "min", "p50", "p95", "p99", "max"
    );
    let _ = writeln!(
        o,
        "    {:9.3} {:9.3} {:9.3} {:9.3} {:9.3} {:9.3}",
        figure(h, Fig::Avg),
        figure(h, Fig::Min),
        figure(h, Fig::Q(0.50)),
        figure(h, Fig::Q(0.95)),
        figure(h, Fig::Q(0.99)),
        figure(h, Fig::Max)
    );
    o.push_str("  latency percentiles (msec):\n");
    let _ = writeln!(
        o,
        "    {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "p50", "p90", "p99", "p99.9", "p99.99", "max"
    );
    let _ = writeln!(
        o,
        "    {:9.3} {:9.3} {:9.3} {:9.3} {:9.3} {:9.3}",
        figure(h, Fig::Q(0.50)),
        figure(h, Fig::Q(0.90)),
        figure(h, Fig::Q(0.99)),
        figure(h, Fig::Q(0.999)),
        figure(h, Fig::Q(0.9999)),
        figure(h, Fig::Max)
    );
    if h.is_empty() {
        o.push_str("  no request was measured\n");
    }
    if r.errors > 0 {
        let _ = writeln!(o, "  errors: {} of {} replies", r.errors, r.requests);
        for (t, n) in &r.error_samples {
            let _ = writeln!(o, "    {n} x {t}");
        }
    }
    if r.unanswered > 0 {
        let _ = writeln!(o, "  {}", unanswered_note(r));
    }
    o.push_str(&cluster_summary(r));
    o
}

/// Cluster mode: the redirections followed and, per node, the requests it answered, its
/// share of the throughput and its latency (empty outside cluster mode).
pub fn cluster_summary(r: &RunResult) -> String {
    if r.nodes.is_empty() {
        return String::new();
    }
    let mut o = String::new();
    let _ = writeln!(o, "  redirections (MOVED/ASK followed): {}", r.redirects);
    o.push_str("  per node:\n");
    let _ = writeln!(
        o,
        "    {:<22} {:>10} {:>14} {:>9} {:>9} {:>9}",
        "node", "requests", "requests/s", "avg", "p50", "p99"
    );
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    for n in &r.nodes {
        let _ = writeln!(
            o,
            "    {:<22} {:>10} {:>14.2} {:9.3} {:9.3} {:9.3}",
            n.addr,
            n.requests,
            n.requests as f64 / secs,
            figure(&n.hist, Fig::Avg),
            figure(&n.hist, Fig::Q(0.50)),
            figure(&n.hist, Fig::Q(0.99))
        );
    }
    o
}

/// "N requests unanswered at the end ...": the requests still outstanding when the run ended
/// (after waiting for them), which are in the percentiles with their latency so far.
pub fn unanswered_note(r: &RunResult) -> String {
    format!(
        "{} requests unanswered at the end (after waiting {} s; counted in the latencies with \
         their wait so far, a lower bound)",
        r.unanswered,
        crate::engine::DRAIN.as_secs()
    )
}

/// "Latency by percentile distribution": HdrHistogram's percentile iteration with one tick per
/// half distance, printed when the cumulative count changes (redis-benchmark's loop).
fn percentile_distribution(h: &Histogram<u64>) -> String {
    let mut o = String::new();
    let total = h.len();
    if total == 0 {
        return o;
    }
    let mut cumulative = 0u64;
    let mut previous: Option<u64> = None;
    for v in h.iter_quantiles(1) {
        cumulative += v.count_since_last_iteration();
        if previous != Some(cumulative) || cumulative == total {
            let _ = writeln!(
                o,
                "{:.3}% <= {:.3} milliseconds (cumulative count {})",
                v.quantile_iterated_to() * 100.0,
                ms(v.value_iterated_to()),
                cumulative
            );
        }
        previous = Some(cumulative);
    }
    o
}

/// "Cumulative distribution of latencies": 0.1 ms steps up to 2 ms, then 1 ms steps, each line
/// when the count changed, until every request is counted.
fn cumulative_distribution(h: &Histogram<u64>) -> String {
    let mut o = String::new();
    let total = h.len();
    if total == 0 {
        return o;
    }
    let mut step: u64 = 100;
    let mut level: u64 = 100;
    let mut previous: Option<u64> = None;
    loop {
        let upto = h.highest_equivalent(level);
        let cumulative = h.count_between(0, upto);
        if previous != Some(cumulative) {
            let _ = writeln!(
                o,
                "{:.3}% <= {:.3} milliseconds (cumulative count {})",
                cumulative as f64 / total as f64 * 100.0,
                ms(upto),
                cumulative
            );
        }
        previous = Some(cumulative);
        if cumulative >= total || level >= h.high() {
            break;
        }
        if level >= 2000 {
            step = 1000;
        }
        level += step;
    }
    o
}

/// HdrHistogram's sub-bucket count (`subBucketCount` in the Java implementation): the counts
/// array holds `(buckets + 1) * subBucketCount / 2` entries.
pub fn sub_bucket_count(h: &Histogram<u64>) -> usize {
    2 * h.distinct_values() / (h.buckets() as usize + 1)
}

/// The HdrHistogram percentile distribution of one test, byte for byte in the format of the
/// Java `AbstractHistogram.outputPercentileDistribution(out, 5, 1000.0)` (values in
/// milliseconds), which HdrHistogram's plotter and HistogramLogAnalyzer read: one
/// distribution per file.
pub fn hdr_log(h: &Histogram<u64>) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut cumulative = 0u64;
    for v in h.iter_quantiles(5) {
        cumulative += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            let _ = writeln!(
                o,
                "{:12.3} {:2.12} {:10} {:14.2}",
                ms(v.value_iterated_to()),
                q,
                cumulative,
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(
                o,
                "{:12.3} {:2.12} {:10}",
                ms(v.value_iterated_to()),
                q,
                cumulative
            );
        }
    }
    let _ = writeln!(
        o,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        o,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        figure(h, Fig::Max),
        h.len()
    );
    let _ = writeln!(
        o,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count(h)
    );
    o
}

/// Everything about one test as JSON: throughput, errors, unanswered requests, RESP3 pushes,
/// latency percentiles (ms), every histogram bucket (us) and, in open loop, the send lag.
pub fn json_test(title: &str, r: &RunResult) -> serde_json::Value {
    let h = &r.hist;
    let p = |q: f64| figure(h, Fig::Q(q));
    let buckets: Vec<serde_json::Value> = h
        .iter_recorded()
        .map(
            |v| serde_json::json!({"value_us": v.value_iterated_to(), "count": v.count_at_value()}),
        )
        .collect();
    serde_json::json!({
        "test": title,
        "requests": r.requests,
        "seconds": r.elapsed.as_secs_f64(),
        "rps": throughput(r),
        "errors": r.errors,
        "error_samples": r.error_samples.iter().map(|(t, n)| serde_json::json!({"error": t, "count": n})).collect::<Vec<_>>(),
        "unanswered": r.unanswered,
        "pushes": r.pushes,
        "redirects": r.redirects,
        "nodes": r.nodes.iter().map(|n| serde_json::json!({
            "node": n.addr, "requests": n.requests,
            "rps": n.requests as f64 / r.elapsed.as_secs_f64().max(1e-9),
            "latency_ms": {"avg": figure(&n.hist, Fig::Avg), "p50": figure(&n.hist, Fig::Q(0.5)),
                "p99": figure(&n.hist, Fig::Q(0.99)), "max": figure(&n.hist, Fig::Max)},
        })).collect::<Vec<_>>(),
        "latency_ms": {
            "avg": figure(h, Fig::Avg), "min": figure(h, Fig::Min), "p50": p(0.5), "p90": p(0.9), "p95": p(0.95),
            "p99": p(0.99), "p99.9": p(0.999), "p99.99": p(0.9999), "max": figure(h, Fig::Max),
        },
        "histogram_us": buckets,
        "send_lag_us": r.send_lag.as_ref().map(|l| if l.is_empty() {
            serde_json::json!({"samples": 0})
        } else {
            serde_json::json!({
                "samples": l.len(), "p50": l.value_at_quantile(0.5), "p99": l.value_at_quantile(0.99),
                "p99.9": l.value_at_quantile(0.999), "max": l.max(),
            })
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(values: &[u64]) -> RunResult {
        let mut h = crate::engine::new_histogram(3);
        for &v in values {
            h.record(v).unwrap();
        }
        RunResult {
            requests: h.len(),
            hist: h,
            elapsed: Duration::from_secs(2),
            errors: 0,
            error_samples: vec![],
            unanswered: 0,
            pushes: 0,
            send_lag: None,
            redirects: 0,
            nodes: vec![],
        }
    }

    #[test]
    fn lines_parse_with_redis_benchmark_regexes() {
        let r = result(&[100, 200, 300, 400, 5000]);
        let q = quiet_line("SET", &r);
        assert_eq!(q, "SET: 2.50 requests per second, p50=0.300 msec");
        let c = csv_line("GET", &r);
        assert!(c.starts_with("\"GET\",\"2.50\",\""), "{c}");
        assert_eq!(c.matches("\",\"").count(), 7);
    }

    #[test]
    fn report_sections_are_complete() {
        let values: Vec<u64> = (1..=1000).map(|i| i * 7).collect();
        let r = result(&values);
        let hd = Header {
            clients: 50,
            payload: "3".into(),
            keepalive: true,
            save: Some(String::new()),
            appendonly: Some("no".into()),
            threads: 0,
            rps: None,
            cluster_nodes: None,
        };
        let text = full_report("SET", &r, &hd);
        for needle in [
            "====== SET ======",
            "  1000 requests completed in 2.00 seconds",
            "  50 parallel clients",
            "  3 bytes payload",
            "  keep alive: 1",
            "  multi-thread: no",
            "Latency by percentile distribution:\n0.000% <= ",
            "100.000% <= 7.003 milliseconds (cumulative count 1000)",
            "Cumulative distribution of latencies:",
            "  throughput summary: 500.00 requests per second",
            "p99.99",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let cum = text
            .split("Cumulative distribution of latencies:\n")
            .nth(1)
            .unwrap();
        assert!(
            cum.lines()
                .next()
                .unwrap()
                .contains("<= 0.100 milliseconds (cumulative count 14)"),
            "{cum}"
        );
    }

    #[test]
    fn empty_results_print_zeros() {
        let r = result(&[]);
        assert_eq!(
            quiet_line("GET", &r),
            "GET: 0.00 requests per second, p50=0.000 msec"
        );
        assert!(csv_line("GET", &r).ends_with(",\"0.000\""));
        let hd = Header {
            clients: 1,
            payload: "3".into(),
            keepalive: true,
            save: None,
            appendonly: None,
            threads: 0,
            rps: None,
            cluster_nodes: None,
        };
        let text = full_report("GET", &r, &hd);
        assert!(text.contains("  no request was measured\n"), "{text}");
        assert!(!text.contains("0.007"), "{text}");
    }

    #[test]
    fn hdr_log_has_the_java_layout() {
        let values: Vec<u64> = (1..=100).map(|i| i * 10).collect();
        let r = result(&values);
        let text = hdr_log(&r.hist);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        assert_eq!(
            lines.next(),
            Some("       0.010 0.000000000000          1           1.00")
        );
        assert!(
            text.ends_with(
                "#[Max     =        1.000, Total count    =          100]\n\
             #[Buckets =           16, SubBuckets     =         2048]\n"
            ),
            "{text}"
        );
        assert_eq!(sub_bucket_count(&crate::engine::new_histogram(1)), 32);
        assert_eq!(sub_bucket_count(&crate::engine::new_histogram(5)), 262144);
    }
}
