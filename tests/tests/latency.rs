//! The latency monitor and LATENCY, against Redis 7.4.1 run side by side with the same steps.
//!
//! Timed events cannot be compared byte for byte (the latencies and the sample times are
//! the machine's), so each server's replies are checked for the same properties, and
//! compared where they must agree: with `latency-monitor-threshold 1`, `DEBUG SLEEP 0.05`
//! makes a `command` event (not `fast-command`) of at least 50 ms in LATEST and HISTORY;
//! GRAPH draws its header, 80 dashes and the 4-row sparkline; DOCTOR reports the event and
//! gives the same advice on both; RESET of the event counts 1; with the threshold back at 0
//! nothing is recorded. GET of a 50 MB string makes a `fast-command` event (and DOCTOR's
//! scheduler advice); 200k keys expiring make `expire-cycle` events. LATENCY HISTOGRAM is
//! checked against the calls made (counts, cumulative buckets at HdrHistogram's
//! logarithmic bounds) in RESP2 and RESP3, and lists the same commands on both servers.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn both() -> [(&'static str, TestServer); 2] {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    [
        ("redis", TestServer::redis(&args)),
        ("pyrope", TestServer::pyrope(&args)),
    ]
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn text(f: &Frame) -> String {
    String::from_utf8_lossy(f.as_bytes().unwrap_or_else(|| panic!("not text: {f:?}"))).into_owned()
}

/// LATENCY LATEST as (event, time, latency, max).
fn latest(c: &mut Client) -> Vec<(String, i64, i64, i64)> {
    let r = call(c, &["LATENCY", "LATEST"]);
    r.as_array()
        .unwrap_or_else(|| panic!("LATEST: {r:?}"))
        .iter()
        .map(|e| {
            let e = e.as_array().expect("LATEST entry is an array");
            assert_eq!(e.len(), 4, "LATEST entry {e:?}");
            (
                text(&e[0]),
                e[1].as_int().unwrap(),
                e[2].as_int().unwrap(),
                e[3].as_int().unwrap(),
            )
        })
        .collect()
}

/// LATENCY HISTORY <event> as (time, latency) pairs.
fn history(c: &mut Client, event: &str) -> Vec<(i64, i64)> {
    let r = call(c, &["LATENCY", "HISTORY", event]);
    r.as_array()
        .unwrap_or_else(|| panic!("HISTORY: {r:?}"))
        .iter()
        .map(|p| {
            let p = p.as_array().expect("HISTORY pair");
            assert_eq!(p.len(), 2);
            (p[0].as_int().unwrap(), p[1].as_int().unwrap())
        })
        .collect()
}

#[test]
fn command_event_latest_history_graph_doctor_reset() {
    let servers = both();
    let mut names = Vec::new();
    let mut advice = Vec::new();
    let mut resets = Vec::new();
    for (who, srv) in &servers {
        let mut c = srv.client();
        assert_eq!(
            call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]),
            Frame::Simple(b"OK".to_vec())
        );
        call(&mut c, &["LATENCY", "RESET"]);
        let t0 = now_s();
        call(&mut c, &["DEBUG", "SLEEP", "0.05"]);
        let t1 = now_s();

        // LATEST: the `command` event with a sample of at least 50 ms. On a loaded machine
        // other slow commands may add events too; `command` must be there.
        let l = latest(&mut c);
        let cmd = l
            .iter()
            .find(|e| e.0 == "command")
            .unwrap_or_else(|| panic!("{who}: no command event in {l:?}"));
        assert!(cmd.1 >= t0 && cmd.1 <= t1 + 1, "{who}: sample time {cmd:?}");
        assert!(cmd.2 >= 50 && cmd.3 >= 50, "{who}: latency {cmd:?}");
        assert!(cmd.3 >= cmd.2, "{who}: max below latest {cmd:?}");
        names.push({
            let mut n: Vec<String> = l.iter().map(|e| e.0.clone()).collect();
            n.sort();
            n
        });

        // HISTORY: time-ordered pairs; one of them is the sleep.
        let h = history(&mut c, "command");
        assert!(!h.is_empty() && h.len() <= 160, "{who}: {h:?}");
        assert!(h.windows(2).all(|w| w[0].0 < w[1].0), "{who}: {h:?}");
        assert!(h.iter().any(|&(_, ms)| ms >= 50), "{who}: {h:?}");
        // Event names are case-sensitive for HISTORY.
        assert_eq!(history(&mut c, "COMMAND"), vec![], "{who}");

        // GRAPH: header, dashes, 4 sparkline rows as wide as the samples, a blank row, then
        // the age labels (one character per row).
        let g = call(&mut c, &["LATENCY", "GRAPH", "command"]);
        let g = text(&g);
        let lines: Vec<&str> = g.split('\n').collect();
        let head = lines[0];
        let rest = head
            .strip_prefix("command - high ")
            .unwrap_or_else(|| panic!("{who}: graph header {head:?}"));
        let nums: Vec<i64> = rest
            .split(|ch: char| !ch.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(nums.len(), 3, "{who}: {head:?}");
        assert!(
            nums[0] >= 50 && nums[2] >= nums[0] && nums[1] <= nums[0],
            "{who}: {head}"
        );
        assert!(
            head.ends_with(&format!(" ms (all time high {} ms)", nums[2])),
            "{who}: {head}"
        );
        assert_eq!(lines[1], "-".repeat(80), "{who}");
        let h = history(&mut c, "command");
        let width = h.len().min(80);
        for row in &lines[2..6] {
            assert_eq!(row.len(), width, "{who}: graph row {row:?} in\n{g}");
            assert!(row.chars().all(|ch| " _o#|".contains(ch)), "{who}: {row:?}");
        }
        assert_eq!(lines[6].trim(), "", "{who}: label margin in\n{g}");
        assert!(
            lines[7].chars().all(|ch| ch == ' ' || ch.is_ascii_digit()),
            "{who}: {g}"
        );
        assert!(g.ends_with('\n'), "{who}");
        // The highest sample reaches the top row (its column is '#' or '|' or 'o' or '_').
        assert!(
            lines[2].chars().any(|ch| ch != ' ') || h.len() == 1,
            "{who}\n{g}"
        );
        // With one sample, exactly Redis's single-sample drawing.
        if h.len() == 1 {
            // The age label may have ticked between GRAPH and now: try the neighbours.
            let age = now_s() - h[0].0;
            let want = |a: i64| {
                let mut w = format!("{head}\n{}\n \n \n \n_\n \n", "-".repeat(80));
                for ch in format!("{a}s").chars() {
                    w.push(ch);
                    w.push('\n');
                }
                w
            };
            assert!(
                (age - 1..=age).any(|a| g == want(a)),
                "{who}: {g:?} vs {:?}",
                want(age)
            );
        }
        let err = call(&mut c, &["LATENCY", "GRAPH", "nosuch"]);
        assert_eq!(
            err,
            Frame::Error(b"ERR No samples available for event 'nosuch'".to_vec()),
            "{who}"
        );

        // DOCTOR: mentions the event; its advice lines.
        let d = text(&call(&mut c, &["LATENCY", "DOCTOR"]));
        assert!(
            d.starts_with("Dave, I have observed latency spikes in this Redis instance."),
            "{who}: {d}"
        );
        assert!(d.contains(". command: "), "{who}: {d}");
        assert!(d.contains("latency spikes (average "), "{who}: {d}");
        assert!(d.contains("I have a few advices for you:"), "{who}: {d}");
        advice.push(
            d.lines()
                .filter(|l| l.starts_with("- "))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );

        // RESET: the event (case-insensitive), then it is gone.
        let n = call(&mut c, &["LATENCY", "RESET", "COMMAND", "nosuch"]);
        resets.push(n.clone());
        assert_eq!(n, int(1), "{who}");
        assert_eq!(history(&mut c, "command"), vec![], "{who}");

        // Threshold 0: nothing is recorded any more.
        call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
        call(&mut c, &["LATENCY", "RESET"]);
        call(&mut c, &["DEBUG", "SLEEP", "0.02"]);
        assert_eq!(latest(&mut c), vec![], "{who}");
        let d = text(&call(&mut c, &["LATENCY", "DOCTOR"]));
        assert!(
            d.starts_with("I'm sorry, Dave, I can't do that."),
            "{who}: {d}"
        );
    }
    assert_eq!(resets[0], resets[1]);
    // Same events seen: the same advice.
    if names[0] == names[1] {
        assert_eq!(
            advice[0], advice[1],
            "DOCTOR advice differs (redis, pyrope)"
        );
    }
}

/// Bucket bounds LATENCY HISTOGRAM can print: the highest value equivalent to 1024 ns << k
/// in a 2-significant-digit HdrHistogram, in µs (1, 2, 4, 8, 16, 33, 66, ...), and the
/// histogram's top (1073741).
fn bucket_bounds() -> Vec<i64> {
    let mut v = Vec::new();
    for k in 0..20 {
        let level: i64 = 1024 << k;
        let magnitude = 63 - (level as u64).leading_zeros() as i64; // floor(log2)
        let step = 1i64 << (magnitude - 7);
        v.push((level + step - 1) / 1000);
    }
    v.push(1_073_741);
    v
}

/// One command of LATENCY HISTOGRAM: (name, calls, [(bucket µs, cumulative calls)]).
type CommandHistogram = (String, i64, Vec<(i64, i64)>);

/// The entries of a LATENCY HISTOGRAM reply (RESP2 or 3).
fn histogram(f: &Frame) -> Vec<CommandHistogram> {
    fn pairs(f: &Frame) -> Vec<(Frame, Frame)> {
        match f {
            Frame::Map(kv) => kv.clone(),
            Frame::Array(Some(v)) => {
                assert!(v.len() % 2 == 0, "odd map {f:?}");
                v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
            }
            other => panic!("not a map: {other:?}"),
        }
    }
    pairs(f)
        .iter()
        .map(|(name, body)| {
            let body = pairs(body);
            assert_eq!(body.len(), 2);
            assert_eq!(text(&body[0].0), "calls");
            assert_eq!(text(&body[1].0), "histogram_usec");
            let buckets = pairs(&body[1].1)
                .iter()
                .map(|(k, v)| (k.as_int().unwrap(), v.as_int().unwrap()))
                .collect();
            (text(name), body[0].1.as_int().unwrap(), buckets)
        })
        .collect()
}

#[test]
fn histogram_counts_and_buckets() {
    let servers = both();
    let bounds = bucket_bounds();
    let mut seen = Vec::new();
    for (who, srv) in &servers {
        let mut c = srv.client();
        call(&mut c, &["CONFIG", "RESETSTAT"]);
        for _ in 0..3 {
            call(&mut c, &["SET", "k", "v"]);
        }
        call(&mut c, &["DEBUG", "SLEEP", "0.01"]);
        call(&mut c, &["CONFIG", "GET", "hz"]);
        for resp in ["2", "3"] {
            call(&mut c, &["HELLO", resp]);
            let r = call(
                &mut c,
                &["LATENCY", "HISTOGRAM", "set", "debug", "nosuch", "config"],
            );
            if resp == "3" {
                assert!(matches!(r, Frame::Map(_)), "{who}: {r:?}");
            }
            let h = histogram(&r);
            let names: Vec<&str> = h.iter().map(|e| e.0.as_str()).collect();
            // config: its subcommands with data (get, resetstat), not the container.
            let mut sorted_names = names.clone();
            sorted_names.sort();
            assert_eq!(
                sorted_names,
                ["config|get", "config|resetstat", "debug", "set"],
                "{who}"
            );
            for (name, calls, buckets) in &h {
                let want = match name.as_str() {
                    "set" => 3,
                    _ => 1,
                };
                assert_eq!(*calls, want, "{who}: {name}");
                assert!(!buckets.is_empty(), "{who}: {name}");
                assert!(buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
                assert_eq!(
                    buckets.last().unwrap().1,
                    *calls,
                    "{who}: {name} {buckets:?}"
                );
                for (b, _) in buckets {
                    assert!(
                        bounds.contains(b),
                        "{who}: {name} bucket {b} not in {bounds:?}"
                    );
                }
                if name == "debug" {
                    assert!(buckets[0].0 >= 10_000, "{who}: {buckets:?}");
                }
            }
        }
        call(&mut c, &["HELLO", "2"]);
        // Without arguments: every command with data, latency|histogram included now.
        let all = histogram(&call(&mut c, &["LATENCY", "HISTOGRAM"]));
        let mut names: Vec<String> = all.iter().map(|e| e.0.clone()).collect();
        names.sort();
        seen.push(names);
    }
    assert_eq!(seen[0], seen[1], "commands with histograms (redis, pyrope)");
}

#[test]
fn threshold_config_and_merge_per_second() {
    for (who, srv) in &both() {
        let mut c = srv.client();
        call(
            &mut c,
            &["CONFIG", "SET", "latency-monitor-threshold", "30"],
        );
        assert_eq!(
            call(&mut c, &["CONFIG", "GET", "latency-monitor-threshold"]),
            Frame::Array(Some(vec![bulk("latency-monitor-threshold"), bulk("30")])),
            "{who}"
        );
        call(&mut c, &["LATENCY", "RESET"]);
        // Below the threshold: nothing.
        call(&mut c, &["DEBUG", "SLEEP", "0.005"]);
        assert!(
            latest(&mut c).iter().all(|e| e.0 != "command"),
            "{who}: {:?}",
            latest(&mut c)
        );
        // Two slow commands: one sample per second, the larger kept.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            call(&mut c, &["LATENCY", "RESET"]);
            let t0 = now_s();
            call(&mut c, &["DEBUG", "SLEEP", "0.03"]);
            call(&mut c, &["DEBUG", "SLEEP", "0.09"]);
            if now_s() == t0 {
                let h = history(&mut c, "command");
                assert_eq!(h.len(), 1, "{who}: {h:?}");
                assert!(h[0].1 >= 90, "{who}: {h:?}");
                let l = latest(&mut c);
                let e = l.iter().find(|e| e.0 == "command").unwrap();
                assert!(e.3 >= 90, "{who}: {e:?}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{who}: no same-second pair"
            );
        }
        call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
    }
}

#[test]
fn expire_cycle_event() {
    for (who, srv) in &both() {
        let mut c = srv.client();
        call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
        call(&mut c, &["LATENCY", "RESET"]);
        call(&mut c, &["DEBUG", "POPULATE", "200000"]);
        let r = call(
            &mut c,
            &[
                "EVAL",
                "for i=0,199999 do redis.call('pexpire','key:'..i, 1) end return 1",
                "0",
            ],
        );
        assert_eq!(r, int(1), "{who}");
        // The active expire cycle (25% of each 100 ms at hz 10) takes well over 1 ms per
        // run on 200k expired keys.
        let ok = wait_for(Duration::from_secs(30), || {
            latest(&mut c).iter().any(|e| e.0 == "expire-cycle")
        });
        assert!(ok, "{who}: no expire-cycle event: {:?}", latest(&mut c));
        let h = history(&mut c, "expire-cycle");
        assert!(h.iter().all(|&(_, ms)| ms >= 1), "{who}: {h:?}");
        call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
        call(&mut c, &["FLUSHALL"]);
    }
}

#[test]
fn fast_command_event() {
    for (who, srv) in &both() {
        let mut c = srv.client();
        // A 50 MB string (SETRANGE is not fast: a `command` event, maybe), then GET (fast)
        // copies it into the reply: well over 1 ms on both servers.
        call(&mut c, &["SETRANGE", "big", "50000000", "x"]);
        call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
        call(&mut c, &["LATENCY", "RESET"]);
        let r = call(&mut c, &["GET", "big"]);
        assert_eq!(r.as_bytes().map(|b| b.len()), Some(50_000_001), "{who}");
        let l = latest(&mut c);
        let e = l
            .iter()
            .find(|e| e.0 == "fast-command")
            .unwrap_or_else(|| panic!("{who}: no fast-command event in {l:?}"));
        assert!(e.2 >= 1 && e.3 >= e.2, "{who}: {e:?}");
        let d = text(&call(&mut c, &["LATENCY", "DOCTOR"]));
        assert!(d.contains(". fast-command: "), "{who}: {d}");
        assert!(
            d.contains(
                "- The system is slow to execute Redis code paths not containing system calls."
            ),
            "{who}: {d}"
        );
        call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "0"]);
        call(&mut c, &["DEL", "big"]);
    }
}

/// With samples far from bucket edges the HISTOGRAM reply is deterministic: DEBUG SLEEP 0.3
/// lands in (268, 536] ms and 0.6 past the last reporting level, so both servers must
/// answer the same bytes (RESP2 and RESP3).
#[test]
fn histogram_identical_for_wide_buckets() {
    let mut replies = Vec::new();
    for (_, srv) in &both() {
        let mut c = srv.client();
        call(&mut c, &["CONFIG", "RESETSTAT"]);
        call(&mut c, &["DEBUG", "SLEEP", "0.3"]);
        call(&mut c, &["DEBUG", "SLEEP", "0.6"]);
        let mut got = Vec::new();
        for resp in ["2", "3"] {
            call(&mut c, &["HELLO", resp]);
            c.send(&["LATENCY", "HISTOGRAM", "debug"]).unwrap();
            got.push(c.read_reply_raw().unwrap().1);
        }
        replies.push(got);
    }
    let r2 = String::from_utf8_lossy(&replies[0][0]).into_owned();
    assert!(
        r2.contains(":541065\r\n:1\r\n:1073741\r\n:2\r\n"),
        "redis: {r2:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&replies[0][0]),
        String::from_utf8_lossy(&replies[1][0])
    );
    assert_eq!(
        String::from_utf8_lossy(&replies[0][1]),
        String::from_utf8_lossy(&replies[1][1])
    );
}
