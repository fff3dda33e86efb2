//! pyrope-benchmark against pyrope-server and the reference Redis 7.4.1: the default tests,
//! output formats that parse with redis-benchmark's regexes, placeholders, open-loop rate,
//! stalls and server errors showing up in the numbers.

use pyrope_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bench(port: u16, args: &[&str]) -> (i32, String, String) {
    let p = port.to_string();
    let mut all = vec!["-p", p.as_str()];
    all.extend_from_slice(args);
    run_tool(&binary("pyrope-benchmark"), &all)
}

/// Runs a load generator (ours or Debian's redis-benchmark) under a 300 s bound.
fn run_tool(bin: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("timeout")
        .arg("300")
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Debian's redis-benchmark 7.0 (from redis-tools), the format oracle.
const REDIS_BENCHMARK: &str = "/usr/bin/redis-benchmark";

/// The CSV header both tools print.
const CSV_HEADER: &str = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"";

/// The lines of a redis-benchmark-style output as a terminal shows them: each line is what
/// follows its last carriage return (redis-benchmark overwrites its progress line with
/// `\r`), blank lines dropped.
fn screen_lines(out: &str) -> Vec<&str> {
    out.split('\n')
        .map(|l| l.rsplit('\r').next().unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// `"TITLE","rps","avg","min","p50","p95","p99","max"` -> (title, rps, p50, max).
fn parse_csv(line: &str) -> Option<(String, f64, f64, f64)> {
    let f: Vec<&str> = line.trim().trim_matches('"').split("\",\"").collect();
    if f.len() != 8 {
        return None;
    }
    let n: Vec<f64> = f[1..]
        .iter()
        .map(|x| x.parse().ok())
        .collect::<Option<Vec<_>>>()?;
    Some((f[0].to_string(), n[0], n[3], n[6]))
}

/// A whole `--csv` output: the header, then one parsed row per test.
fn parse_csv_output(out: &str) -> (String, Vec<(String, f64, f64, f64)>) {
    let lines = screen_lines(out);
    let header = lines.first().map(|l| l.to_string()).unwrap_or_default();
    let rows = lines[1..]
        .iter()
        .map(|l| parse_csv(l).unwrap_or_else(|| panic!("bad csv line {l:?} in {out:?}")))
        .collect();
    (header, rows)
}

/// `TITLE: 1234.56 requests per second, p50=0.123 msec` (redis-benchmark -q).
fn parse_quiet(line: &str) -> Option<(String, f64, f64)> {
    let (title, rest) = line.trim().rsplit_once(": ")?;
    let rest = rest.strip_suffix(" msec")?;
    let (rps, p50) = rest.split_once(" requests per second, p50=")?;
    Some((title.to_string(), rps.parse().ok()?, p50.parse().ok()?))
}

/// A whole `-q` output, one parsed line per test.
fn parse_quiet_output(out: &str) -> Vec<(String, f64, f64)> {
    screen_lines(out)
        .iter()
        .map(|l| parse_quiet(l).unwrap_or_else(|| panic!("bad -q line {l:?} in {out:?}")))
        .collect()
}

/// Runs with `--json` into a temporary file and returns the exit code, stdout, stderr and
/// the parsed document.
fn bench_json(port: u16, args: &[&str]) -> (i32, String, String, serde_json::Value) {
    let json = tempfile::NamedTempFile::new().unwrap();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--json", json.path().to_str().unwrap()]);
    let (rc, out, err) = bench(port, &all);
    let text = std::fs::read_to_string(json.path()).unwrap_or_default();
    let doc = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("--json is not JSON ({e}): {text:?}\n{out}\n{err}"));
    (rc, out, err, doc)
}

/// `calls` of `cmdstat_<cmd>` in INFO commandstats (0 if absent).
fn calls(c: &mut pyrope_common::client::Client, cmd: &str) -> u64 {
    info(c, "commandstats")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const DEFAULT_TITLES: [&str; 21] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
    "XADD",
];

#[test]
fn default_tests_against_redis_and_pyrope() {
    require_reference();
    let redis = TestServer::redis(&[]);
    let pyrope = TestServer::pyrope(&[]);
    let (rc, out, err) = bench(redis.port, &["-n", "2000", "-c", "10", "--csv"]);
    assert_eq!(rc, 0, "{err}");
    let (header, rows) = parse_csv_output(&out);
    assert_eq!(header, CSV_HEADER);
    let titles: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(titles, DEFAULT_TITLES);
    for (t, rps, p50, max) in &rows {
        assert!(
            *rps > 100.0 && *p50 > 0.0 && max >= p50 && *max < 5000.0,
            "{t}: rps {rps} p50 {p50} max {max}"
        );
    }
    assert!(
        err.is_empty(),
        "Redis answers every default test without errors: {err}"
    );
    // Against Pyrope every default test runs. A test may only fail with errors while its
    // command is still missing from Pyrope's COMMAND table (pending server work, listed
    // below); once the command exists, the test must run cleanly.
    let (rc, out, err) = bench(pyrope.port, &["-n", "500", "-c", "10", "-q"]);
    assert_eq!(rc, 0, "{err}");
    let parsed = parse_quiet_output(&out);
    assert_eq!(
        parsed.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        DEFAULT_TITLES
    );
    assert!(parsed.iter().all(|(_, rps, p50)| *rps > 50.0 && *p50 > 0.0));
    let mut c = pyrope.client();
    let mut pending = Vec::new();
    for title in DEFAULT_TITLES {
        let command = match title {
            "PING_INLINE" | "PING_MBULK" => "ping",
            t if t.starts_with("LRANGE") => "lrange",
            t => t.split([' ', '_']).next().unwrap(),
        }
        .to_ascii_lowercase();
        let info = call(&mut c, &["COMMAND", "INFO", &command]);
        let known = matches!(
            info.as_array().unwrap()[0],
            pyrope_common::resp::Frame::Array(Some(_))
        );
        let failed = err
            .lines()
            .any(|l| l.starts_with(&format!("{title}: 500 of 500 replies were errors")));
        if known {
            assert!(
                !failed,
                "{title}: Pyrope has {command} but the test failed: {err}"
            );
        } else {
            assert!(
                failed && err.contains(&format!("(first: ERR unknown command '{}'", command.to_uppercase())),
                "{title}: {command} is not in Pyrope's COMMAND table, so its errors must be reported: {err}"
            );
            pending.push(title);
        }
    }
    eprintln!("default tests pending server support in pyrope-server: {pending:?}");
    assert!(pending.len() < DEFAULT_TITLES.len() - 5, "{pending:?}");
}

/// The `-q` and `--csv` outputs of Debian's redis-benchmark and ours parse with the same
/// parser, and look the same apart from the numbers.
#[test]
fn quiet_and_csv_outputs_parse_like_redis_benchmarks() {
    require_reference();
    assert!(
        std::path::Path::new(REDIS_BENCHMARK).exists(),
        "{REDIS_BENCHMARK} is missing (apt-get install redis-tools)"
    );
    let s = TestServer::redis(&[]);
    let p = s.port.to_string();
    let common = ["-p", &p, "-n", "2000", "-c", "10", "-t", "set,get,incr"];
    let (rc, theirs_q, _) = run_tool(REDIS_BENCHMARK.as_ref(), &[&common[..], &["-q"]].concat());
    assert_eq!(rc, 0);
    let (rc, ours_q, err) = bench(s.port, &[&common[2..], &["-q"]].concat());
    assert_eq!(rc, 0, "{err}");
    let (theirs, ours) = (parse_quiet_output(&theirs_q), parse_quiet_output(&ours_q));
    let names = |v: &[(String, f64, f64)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&theirs), ["SET", "GET", "INCR"], "{theirs_q:?}");
    assert_eq!(names(&ours), names(&theirs));
    assert!(ours
        .iter()
        .chain(&theirs)
        .all(|(_, rps, p50)| *rps > 100.0 && *p50 > 0.0));
    // Both end with an empty line.
    assert!(
        theirs_q.ends_with("msec\n\n") && ours_q.ends_with("msec\n\n"),
        "{ours_q:?}"
    );
    let (rc, theirs_c, _) = run_tool(
        REDIS_BENCHMARK.as_ref(),
        &[&common[..], &["--csv"]].concat(),
    );
    assert_eq!(rc, 0);
    let (rc, ours_c, err) = bench(s.port, &[&common[2..], &["--csv"]].concat());
    assert_eq!(rc, 0, "{err}");
    let (th, tr) = parse_csv_output(&theirs_c);
    let (oh, or) = parse_csv_output(&ours_c);
    assert_eq!((th.as_str(), oh.as_str()), (CSV_HEADER, CSV_HEADER));
    assert_eq!(
        tr.iter().map(|r| &r.0).collect::<Vec<_>>(),
        or.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    assert!(ours_c.ends_with("\"\n") && theirs_c.ends_with("\"\n"));
    // A -t that selects nothing runs nothing and succeeds, as redis-benchmark does.
    let (rc_t, out_t, _) = run_tool(REDIS_BENCHMARK.as_ref(), &["-p", &p, "-t", "nosuch"]);
    let (rc_o, out_o, err) = bench(s.port, &["-t", "nosuch"]);
    assert_eq!((rc_o, out_o.as_str()), (rc_t, out_t.as_str()), "{err}");
    let (rc, out, _) = bench(s.port, &["-t", "nosuch", "--csv"]);
    assert_eq!((rc, out.trim_end()), (0, CSV_HEADER));
}

#[test]
fn full_report_layout() {
    let s = TestServer::pyrope(&[]);
    let (rc, out, _) = bench(s.port, &["-n", "3000", "-c", "5", "-t", "get", "-P", "4"]);
    assert_eq!(rc, 0);
    for needle in [
        "====== GET ======\n  3000 requests completed in ",
        "  5 parallel clients\n  3 bytes payload\n  keep alive: 1\n  host configuration \"save\": \n  host configuration \"appendonly\": no\n  multi-thread: no\n",
        "\nLatency by percentile distribution:\n0.000% <= ",
        "100.000% <= ",
        "(cumulative count 3000)\n",
        "\nCumulative distribution of latencies:\n",
        "\nSummary:\n  throughput summary: ",
        "  latency summary (msec):\n          avg       min       p50       p95       p99       max\n",
        "  latency percentiles (msec):\n          p50       p90       p99     p99.9    p99.99       max\n",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn custom_commands_with_placeholders_hit_the_keyspace() {
    let s = TestServer::pyrope(&[]);
    let mut c = s.client();
    let before: u64 = info_field(&info(&mut c, "stats"), "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    let (rc, out, err) = bench(
        s.port,
        &[
            "-n",
            "5000",
            "-c",
            "8",
            "-r",
            "100",
            "-d",
            "7",
            "-q",
            "set",
            "key:__rand_int__",
            "v__data__",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out.starts_with("set key:__rand_int__ v__data__: "), "{out}");
    let keys = call(&mut c, &["KEYS", "*"]);
    let keys = keys.as_array().unwrap();
    assert!(keys.len() > 60 && keys.len() <= 100, "{} keys", keys.len());
    for k in keys {
        let k = String::from_utf8(k.as_bytes().unwrap().to_vec()).unwrap();
        let n = k.strip_prefix("key:").unwrap();
        assert!(
            n.len() == 12
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u64>().unwrap() < 100,
            "{k}"
        );
    }
    assert_eq!(
        call(
            &mut c,
            &[
                "GET",
                &keys[0]
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap()
            ]
        ),
        bulk("vxxxxxxx")
    );
    // Exactly -n requests reached the server (plus its two CONFIG GETs, and our first INFO,
    // KEYS and GET).
    let after: u64 = info_field(&info(&mut c, "stats"), "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        after - before,
        5000 + 2 + 3,
        "server saw {} commands",
        after - before
    );
    // Without -r the placeholder stays literal: one key.
    call(&mut c, &["FLUSHALL"]);
    bench(s.port, &["-n", "500", "-q", "set", "k:__rand_int__", "x"]);
    assert_eq!(
        call(&mut c, &["KEYS", "*"]).as_array().unwrap().to_vec(),
        vec![bulk("k:__rand_int__")]
    );
    // Sequential keys fill the keyspace exactly.
    call(&mut c, &["FLUSHALL"]);
    bench(
        s.port,
        &[
            "-n",
            "1000",
            "-c",
            "4",
            "-r",
            "250",
            "--key-pattern",
            "sequential",
            "-q",
            "set",
            "s:__rand_int__",
            "x",
        ],
    );
    assert_eq!(call(&mut c, &["DBSIZE"]), int(250));
}

/// `--rps` holds its rate within 5%, also when the threads outnumber the connections (only
/// `min(threads, clients)` start) or split them unevenly.
#[test]
fn open_loop_rate_holds_within_five_percent() {
    let s = TestServer::pyrope(&[]);
    for extra in [
        &["-c", "10"][..],
        &["--threads", "4", "-c", "2"],
        &["--threads", "3", "-c", "10"],
    ] {
        let mut args = vec!["--rps", "2000", "--test-time", "3", "-t", "get", "--csv"];
        args.extend_from_slice(extra);
        let (rc, out, err) = bench(s.port, &args);
        assert_eq!(rc, 0, "{extra:?}: {err}");
        let (_, rows) = parse_csv_output(&out);
        let rps = rows[0].1;
        assert!(
            (1900.0..=2100.0).contains(&rps),
            "{extra:?}: asked 2000/s, got {rps}"
        );
        assert!(!err.contains("below 95%"), "{err}");
    }
    // A rate the server cannot reach is warned about.
    let (rc, _, err) = bench(
        s.port,
        &[
            "--rps",
            "5000000",
            "--test-time",
            "1",
            "-c",
            "2",
            "-t",
            "ping",
            "-q",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains("PING_INLINE: achieved ") && err.contains("below 95% of --rps 5000000"),
        "{err}"
    );
}

/// The open-loop scheduler adds no latency of its own: at a low rate, the median latency
/// measured from the intended send time stays close to the closed-loop median (a scheduler
/// that sleeps while replies wait, or sends late, shows here), and the sends leave on time.
#[test]
fn open_loop_scheduler_adds_no_latency() {
    require_reference();
    let s = TestServer::redis(&[]);
    let mut last = String::new();
    // Up to three attempts: the machine is shared, a regression fails all of them.
    for _ in 0..3 {
        let (rc, out, err) = bench(s.port, &["-c", "1", "-n", "3000", "-t", "get", "--csv"]);
        assert_eq!(rc, 0, "{err}");
        let closed_p50 = parse_csv_output(&out).1[0].2;
        let (rc, _, err, doc) = bench_json(
            s.port,
            &[
                "-c",
                "1",
                "--rps",
                "1000",
                "--test-time",
                "3",
                "-t",
                "get",
                "-q",
            ],
        );
        assert_eq!(rc, 0, "{err}");
        let t = &doc["tests"][0];
        let open_p50 = t["latency_ms"]["p50"].as_f64().unwrap();
        let lag_p50 = t["send_lag_us"]["p50"].as_u64().unwrap();
        assert!(t["send_lag_us"]["samples"].as_u64().unwrap() >= 2900, "{t}");
        last = format!(
            "closed p50 {closed_p50} ms, open p50 {open_p50} ms, send lag p50 {lag_p50} us"
        );
        if open_p50 <= closed_p50 + 0.1 && lag_p50 <= 50 {
            return;
        }
    }
    panic!("the open loop adds latency: {last}");
}

/// `--warmup` with `-n`: the warm-up does not use the request budget, and exactly `-n`
/// requests are measured after it.
#[test]
fn warmup_with_a_request_budget_measures_the_budget() {
    let s = TestServer::pyrope(&[]);
    let mut c = s.client();
    for extra in [&[][..], &["--rps", "2000"]] {
        call(&mut c, &["CONFIG", "RESETSTAT"]);
        let mut args = vec![
            "-n", "3000", "-c", "5", "-t", "get", "--warmup", "0.7", "-q",
        ];
        args.extend_from_slice(extra);
        let (rc, out, err, doc) = bench_json(s.port, &args);
        assert_eq!(rc, 0, "{err}");
        let t = &doc["tests"][0];
        assert_eq!(t["requests"], 3000, "{extra:?}: {out}");
        assert!(t["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{t}");
        let (_, rps, _) = parse_quiet_output(&out)[0];
        assert!(rps > 100.0, "{out}");
        // The warm-up sent requests of its own on top of the budget.
        let gets = calls(&mut c, "get");
        assert!(gets > 3000 + 100, "{extra:?}: server saw {gets} GETs");
    }
}

/// A server stall (DEBUG SLEEP) must show up in max and p99.99; in open loop it also shows in
/// every request it delayed.
#[test]
fn server_stall_shows_in_tail_latency() {
    let s = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let addr = s.addr();
    let staller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        let mut c = pyrope_common::client::Client::connect(&addr).unwrap();
        c.call(&["DEBUG", "SLEEP", "0.6"]).unwrap();
    });
    let json = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let (rc, _, err) = bench(
        s.port,
        &[
            "--rps",
            "1000",
            "--test-time",
            "3",
            "-c",
            "4",
            "-t",
            "get",
            "-q",
            "--json",
            json.path().to_str().unwrap(),
        ],
    );
    staller.join().unwrap();
    assert_eq!(rc, 0, "{err}");
    assert!(started.elapsed() >= Duration::from_secs(3));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap();
    let lat = &doc["tests"][0]["latency_ms"];
    let (max, p9999, p99) = (
        lat["max"].as_f64().unwrap(),
        lat["p99.99"].as_f64().unwrap(),
        lat["p99"].as_f64().unwrap(),
    );
    assert!(max >= 550.0, "max {max} ms does not show the 600 ms stall");
    assert!(p9999 >= 400.0, "p99.99 {p9999} ms does not show the stall");
    // ~600 requests were due during the stall out of ~3000: corrected p99 sees it too.
    assert!(
        p99 >= 300.0,
        "open-loop p99 {p99} ms should include the requests the stall delayed"
    );
    assert!(doc["tests"][0]["histogram_us"].as_array().unwrap().len() > 10);
}

/// Starts a thread that waits until the server has executed `gets` GETs (the benchmark is
/// under way) plus `after`, then stalls the server with DEBUG SLEEP `secs`.
fn stall_after(
    s: &TestServer,
    gets: u64,
    after: Duration,
    secs: &'static str,
) -> std::thread::JoinHandle<()> {
    let addr = s.addr();
    std::thread::spawn(move || {
        let mut c = pyrope_common::client::Client::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        assert!(
            wait_for(Duration::from_secs(60), || calls(&mut c, "get") >= gets),
            "the benchmark never got going"
        );
        std::thread::sleep(after);
        c.call(&["DEBUG", "SLEEP", secs]).unwrap();
    })
}

/// Requests still outstanding when a run ends (a stall that outlasts the run and the drain)
/// are recorded with their latency so far, reported in the report, the JSON and on stderr,
/// and make the exit code non-zero; in closed loop too. A closed-loop stall shorter than
/// the drain shows in max as its real length.
#[test]
fn requests_unanswered_at_the_end_are_reported() {
    require_reference();
    let debug = ["--enable-debug-command", "yes"];
    let (a, b, c) = (
        TestServer::redis(&debug),
        TestServer::redis(&debug),
        TestServer::redis(&debug),
    );
    std::thread::scope(|scope| {
        // Open loop: the stall starts ~1.2 s into a 3 s run and outlasts the 5 s drain.
        scope.spawn(|| {
            let staller = stall_after(&a, 600, Duration::ZERO, "10");
            let (rc, out, err, doc) = bench_json(
                a.port,
                &[
                    "--rps",
                    "500",
                    "--test-time",
                    "3",
                    "-c",
                    "4",
                    "-t",
                    "get",
                    "-q",
                ],
            );
            staller.join().unwrap();
            let t = &doc["tests"][0];
            let unanswered = t["unanswered"].as_u64().unwrap();
            assert_eq!(rc, 1, "{out}{err}");
            assert!(unanswered > 0, "{t}");
            assert!(
                err.contains(&format!("GET: {unanswered} requests unanswered at the end")),
                "{err}"
            );
            let max = t["latency_ms"]["max"].as_f64().unwrap();
            assert!(
                max >= 5000.0,
                "censored latencies are at least the drain: {max} ms"
            );
            assert_eq!(
                t["requests"].as_u64().unwrap() + unanswered,
                t["histogram_us"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["count"].as_u64().unwrap())
                    .sum::<u64>()
            );
        });
        // Closed loop: each of the 4 connections has its one request in flight.
        scope.spawn(|| {
            let staller = stall_after(&b, 2000, Duration::from_millis(800), "10");
            let (rc, out, err, doc) =
                bench_json(b.port, &["--test-time", "3", "-c", "4", "-t", "get"]);
            staller.join().unwrap();
            let t = &doc["tests"][0];
            assert_eq!(rc, 1, "{out}{err}");
            assert_eq!(t["unanswered"], 4, "{t}");
            assert!(
                out.contains("  4 requests unanswered at the end (after waiting 5 s;"),
                "{out}"
            );
            assert!(t["latency_ms"]["max"].as_f64().unwrap() >= 5000.0, "{t}");
        });
        // Closed loop, a 2 s stall near the end: answered during the drain, so it shows in
        // max and nothing is lost.
        scope.spawn(|| {
            let staller = stall_after(&c, 2000, Duration::from_millis(800), "2");
            let (rc, _, err, doc) =
                bench_json(c.port, &["--test-time", "3", "-c", "4", "-t", "get", "-q"]);
            staller.join().unwrap();
            let t = &doc["tests"][0];
            assert_eq!(rc, 0, "{err}");
            assert_eq!(t["unanswered"], 0);
            let max = t["latency_ms"]["max"].as_f64().unwrap();
            assert!(max >= 1500.0, "the 2 s stall is missing from max {max} ms");
        });
    });
}

/// With RESP3 and client-side caching, the server pushes invalidations between replies: they
/// must not be counted as replies (the server's commandstats are the truth).
#[test]
fn resp3_invalidation_pushes_are_not_replies() {
    require_reference();
    let s = TestServer::redis(&[]);
    let (rc, _, err, doc) = bench_json(
        s.port,
        &[
            "-3",
            "--enable-tracking",
            "-n",
            "20000",
            "-c",
            "5",
            "-r",
            "10",
            "--ratio",
            "1:1",
            "-q",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let t = &doc["tests"][0];
    assert_eq!(t["requests"], 20000, "{t}");
    assert!(
        t["pushes"].as_u64().unwrap() > 100,
        "SETs on tracked keys must have caused invalidations: {}",
        t["pushes"]
    );
    let mut c = s.client();
    assert_eq!(calls(&mut c, "get") + calls(&mut c, "set"), 20000);
    assert_eq!(doc["config"]["enable_tracking"], true);
    assert_eq!(doc["config"]["resp3"], true);
}

#[test]
fn server_errors_are_counted_and_shown() {
    let s = TestServer::pyrope(&[]);
    let (rc, out, err) = bench(
        s.port,
        &["-n", "1000", "-c", "5", "incrby", "counter", "notanumber"],
    );
    assert_eq!(rc, 0);
    assert!(out.contains("  errors: 1000 of 1000 replies\n    1000 x ERR value is not an integer or out of range"), "{out}{err}");
    let (rc, _, err) = bench(s.port, &["-n", "100", "-q", "nosuchcommand"]);
    assert_eq!(rc, 0);
    assert!(
        err.contains("100 of 100 replies were errors (first: ERR unknown command 'nosuchcommand'"),
        "{err}"
    );
}

#[test]
fn bad_options_and_unreachable_servers() {
    let (rc, _, err) = bench(free_port(), &["-n", "10"]);
    assert_eq!(rc, 1);
    assert!(
        err.contains("Could not connect to Redis at 127.0.0.1:")
            && err.contains("Connection refused"),
        "{err}"
    );
    let s = TestServer::pyrope(&[]);
    let (rc, _, err) = bench(s.port, &["--no-such-flag"]);
    assert_eq!(rc, 2);
    assert!(
        err.contains("unexpected argument '--no-such-flag'"),
        "{err}"
    );
    let (rc, _, err) = bench(s.port, &["-d", "9-3"]);
    assert_eq!(rc, 1);
    assert!(err.contains("-d: range 9-3 is empty"), "{err}");
}

#[test]
fn threads_mixes_and_slo_search() {
    let s = TestServer::pyrope(&[]);
    let mut c = s.client();
    let (rc, out, _) = bench(
        s.port,
        &[
            "--threads",
            "2",
            "-c",
            "8",
            "-n",
            "4000",
            "--ratio",
            "1:3",
            "-r",
            "50",
            "-q",
        ],
    );
    assert_eq!(rc, 0);
    let (title, rps, _) = parse_quiet(out.lines().next().unwrap()).unwrap();
    assert_eq!(title, "SET:GET 1:3");
    assert!(rps > 100.0);
    let (sets, gets) = (calls(&mut c, "set"), calls(&mut c, "get"));
    assert_eq!(sets + gets, 4000);
    assert!(
        (600..1400).contains(&sets),
        "1:3 mix gave {sets} SETs / {gets} GETs"
    );
    let (rc, out, err) = bench(
        s.port,
        &[
            "--slo",
            "p99=50ms",
            "-t",
            "get",
            "--test-time",
            "0.3",
            "-c",
            "4",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let (last, best) = slo_result(&out);
    assert!(
        last.starts_with("GET: p99 <= 50.000 ms held up to ") && best >= 1000,
        "{out}"
    );
}

/// The last line of an `--slo` run and the rate it reports (`... held up to N requests ...`).
fn slo_result(out: &str) -> (&str, u64) {
    let last = out.lines().rfind(|l| !l.is_empty()).unwrap();
    let best = last
        .rsplit("held up to ")
        .next()
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {last:?}"));
    (last, best)
}

/// When 1000/s already breaks the SLO, the search goes below the start rate; every step
/// prints its sample count; -q prints only the result and --csv has its own header.
#[test]
fn slo_search_below_the_start_rate_and_its_output_formats() {
    require_reference();
    let s = TestServer::redis(&["--enable-debug-command", "yes"]);
    // Each request keeps the server busy 2 ms: it holds about 400/s at best.
    let (rc, out, err) = bench(
        s.port,
        &[
            "--slo",
            "p90=20ms",
            "--test-time",
            "0.5",
            "-c",
            "4",
            "debug",
            "sleep",
            "0.002",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let (last, best) = slo_result(&out);
    assert!(
        last.starts_with("debug sleep 0.002: p90 <= 20.000 ms held up to ")
            && (100..1000).contains(&best),
        "{out}"
    );
    assert!(
        out.contains("  rate      1000/s for 0.5 s: achieved "),
        "{out}"
    );
    assert!(out.contains("broken, running it again"), "{out}");
    assert!(out.contains("  rate       500/s for "), "{out}");
    let step = out
        .lines()
        .find(|l| l.starts_with("  rate ") && l.contains(" held"))
        .unwrap_or_else(|| panic!("no step held: {out}"));
    let samples: u64 = step
        .split(" over ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no sample count in {step:?}"));
    assert!(samples >= 100, "{step}");
    // Output formats, on a search that is quick: a generous bound.
    let slo = [
        "--slo",
        "p50=1s",
        "--test-time",
        "0.2",
        "-c",
        "8",
        "-t",
        "ping_mbulk",
    ];
    let (rc, out, err) = bench(s.port, &[&slo[..], &["-q"]].concat());
    assert_eq!(rc, 0, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("PING_MBULK: p50 <= 1000.000 ms held up to "),
        "{out}"
    );
    let (rc, out, err) = bench(s.port, &[&slo[..], &["--csv"]].concat());
    assert_eq!(rc, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "\"test\",\"max_rps_within_slo\"");
    let row: Vec<&str> = lines[1].trim_matches('"').split("\",\"").collect();
    assert_eq!(row[0], "PING_MBULK");
    assert!(row[1].parse::<u64>().unwrap() >= 1000, "{out}");
}

/// `--hdr-log`: one file per test in HdrHistogram's Java layout (FILE for a single test,
/// FILE.<test>.hgrm otherwise); `--precision` sets the sub-bucket count; latencies have
/// 1 us resolution.
#[test]
fn hdr_logs_precision_and_resolution() {
    let s = TestServer::pyrope(&[]);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("lat");
    let base_s = base.to_str().unwrap();
    let (rc, _, err) = bench(
        s.port,
        &["-n", "2000", "-t", "set,get", "-q", "--hdr-log", base_s],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(!base.exists(), "several tests, several files");
    for name in ["set", "get"] {
        let text = std::fs::read_to_string(format!("{base_s}.{name}.hgrm")).unwrap();
        assert!(
            text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"),
            "{text}"
        );
        assert!(text.contains("Total count    =         2000]\n"), "{text}");
        assert!(
            text.ends_with(", SubBuckets     =         2048]\n"),
            "{text}"
        );
    }
    let single = dir.path().join("one.hgrm");
    let (rc, _, err, doc) = bench_json(
        s.port,
        &[
            "-n",
            "2000",
            "-c",
            "1",
            "-t",
            "get",
            "-q",
            "--precision",
            "1",
            "--hdr-log",
            single.to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let text = std::fs::read_to_string(&single).unwrap();
    assert!(
        text.ends_with(", SubBuckets     =           32]\n"),
        "{text}"
    );
    assert_eq!(doc["config"]["precision"], 1);
    // Default precision: values below 2 ms are exact microseconds (not 8 us buckets).
    let (rc, _, err, doc) = bench_json(s.port, &["-n", "3000", "-c", "1", "-t", "get", "-q"]);
    assert_eq!(rc, 0, "{err}");
    let small: Vec<u64> = doc["tests"][0]["histogram_us"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["value_us"].as_u64().unwrap())
        .filter(|v| *v < 2000)
        .collect();
    assert!(small.len() >= 10, "{small:?}");
    assert!(small.iter().any(|v| v % 8 != 7), "8 us buckets: {small:?}");
}

/// `--json` has the complete configuration (every option, the resolved seed, the selected
/// tests) and is written after each test, so `-l` runs and failed runs leave one too.
#[test]
fn json_config_is_complete_and_written_on_loop_and_error() {
    let s = TestServer::pyrope(&[]);
    let (rc, _, err, doc) = bench_json(
        s.port,
        &[
            "-n", "300", "-t", "set,get", "--dbnum", "3", "-3", "-k", "1", "-q", "-r", "10",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let cfg = &doc["config"];
    for (k, v) in [
        ("dbnum", serde_json::json!(3)),
        ("resp3", serde_json::json!(true)),
        ("cluster", serde_json::json!(false)),
        ("keepalive", serde_json::json!(1)),
        ("tests", serde_json::json!("set,get")),
        ("selected_tests", serde_json::json!(["SET", "GET"])),
        ("host", serde_json::json!("127.0.0.1")),
        ("port", serde_json::json!(s.port)),
        ("target", serde_json::json!(s.addr())),
        ("socket", serde_json::Value::Null),
        ("slo", serde_json::Value::Null),
        ("ratio", serde_json::Value::Null),
        ("key_pattern", serde_json::json!("uniform")),
    ] {
        assert_eq!(cfg[k], v, "config.{k} in {cfg}");
    }
    assert!(cfg["seed"].as_u64().is_some(), "the resolved seed: {cfg}");
    assert_eq!(doc["tests"].as_array().unwrap().len(), 2);
    // -l: the file exists (and grows) while the loop runs.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.json");
    let looping = Command::new("timeout")
        .args(["60", binary("pyrope-benchmark").to_str().unwrap()])
        .args([
            "-p",
            &s.port.to_string(),
            "-l",
            "-n",
            "200",
            "-t",
            "get",
            "-q",
        ])
        .args(["--json", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let read = || -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()
    };
    assert!(
        wait_for(Duration::from_secs(30), || read()
            .is_some_and(|d| d["tests"][0]["requests"] == 200)),
        "-l writes --json after each test"
    );
    terminate(&looping);
    let _ = looping.wait_with_output();
    assert_eq!(read().unwrap()["config"]["loop_forever"], true);
    // A failed run still writes what it knows, with the error.
    let (rc, _, err, doc) = bench_json(s.port, &["-a", "wrong", "-n", "100", "-t", "set,get"]);
    assert_eq!(rc, 1);
    let e = doc["error"].as_str().unwrap();
    assert!(e.starts_with("Error from server during setup: "), "{e}");
    assert!(err.contains(e), "{err}");
    assert_eq!(doc["config"]["password"], "(set)");
    assert!(!doc.to_string().contains("wrong"));
}

/// `-s` talks over the unix socket (the port points nowhere); `-d MIN-MAX` spreads value
/// sizes over the range and prints it as the payload.
#[test]
fn unix_socket_and_value_size_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let s = TestServer::pyrope(&["--unixsocket", sock.to_str().unwrap()]);
    let mut c = s.client();
    let (rc, out, err) = run_tool(
        &binary("pyrope-benchmark"),
        &[
            "-s",
            sock.to_str().unwrap(),
            "-p",
            &free_port().to_string(),
            "-n",
            "1000",
            "-t",
            "set",
            "-q",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert_eq!(parse_quiet_output(&out)[0].0, "SET");
    assert_eq!(calls(&mut c, "set"), 1000);
    call(&mut c, &["FLUSHALL"]);
    let (rc, _, err) = bench(
        s.port,
        &[
            "-d",
            "10-20",
            "-r",
            "1000",
            "-n",
            "3000",
            "-c",
            "4",
            "-q",
            "set",
            "k:__rand_int__",
            "__data__",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let keys = call(&mut c, &["KEYS", "*"]);
    let mut sizes = std::collections::BTreeSet::new();
    for k in keys.as_array().unwrap() {
        let k = String::from_utf8(k.as_bytes().unwrap().to_vec()).unwrap();
        sizes.insert(call(&mut c, &["STRLEN", &k]).as_int().unwrap());
    }
    assert_eq!(
        sizes.into_iter().collect::<Vec<_>>(),
        (10..=20).collect::<Vec<i64>>(),
        "every size of the range, and only those"
    );
    let (rc, out, _) = bench(s.port, &["-d", "10-20", "-n", "100", "-t", "get"]);
    assert_eq!(rc, 0);
    assert!(out.contains("\n  10-20 bytes payload\n"), "{out}");
}

/// Key patterns end to end: zipf makes key 0 hot, gaussian concentrates on the middle third,
/// sequential restarts from key 0 for every test; options that would be ignored are warned
/// about.
#[test]
fn key_patterns_end_to_end_and_ignored_option_warnings() {
    let s = TestServer::pyrope(&[]);
    let mut c = s.client();
    let counts = |c: &mut pyrope_common::client::Client| -> Vec<i64> {
        (0..100)
            .map(|k| match call(c, &["GET", &format!("k:{k:012}")]) {
                pyrope_common::resp::Frame::Bulk(Some(v)) => {
                    String::from_utf8(v).unwrap().parse().unwrap()
                }
                _ => 0,
            })
            .collect()
    };
    let incr = |pattern: &str| {
        let (rc, _, err) = bench(
            s.port,
            &[
                "-n",
                "5000",
                "-c",
                "4",
                "-r",
                "100",
                "--key-pattern",
                pattern,
                "-q",
                "incr",
                "k:__rand_int__",
            ],
        );
        assert_eq!(rc, 0, "{err}");
        assert!(err.is_empty(), "{err}");
    };
    incr("zipf:1.2");
    let z = counts(&mut c);
    assert_eq!(z.iter().sum::<i64>(), 5000);
    assert!(z[0] > 500 && z[0] > 5 * z[50].max(1), "zipf: {z:?}");
    call(&mut c, &["FLUSHALL"]);
    incr("gaussian");
    let g = counts(&mut c);
    let middle: i64 = g[33..67].iter().sum();
    assert!(
        middle > 3000,
        "gaussian: {middle} of 5000 in the middle third: {g:?}"
    );
    call(&mut c, &["FLUSHALL"]);
    let (rc, _, err) = bench(
        s.port,
        &[
            "-n",
            "50",
            "-c",
            "1",
            "-r",
            "100",
            "--key-pattern",
            "sequential",
            "-t",
            "set,incr",
            "-q",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        call(&mut c, &["EXISTS", "key:000000000000", "key:000000000049"]),
        int(2)
    );
    assert_eq!(
        call(
            &mut c,
            &["EXISTS", "counter:000000000000", "counter:000000000049"]
        ),
        int(2),
        "the second test starts its sequence from 0 again"
    );
    assert_eq!(call(&mut c, &["EXISTS", "counter:000000000050"]), int(0));
    for (args, warning) in [
        (
            &["--key-pattern", "zipf", "-n", "10", "-t", "get", "-q"][..],
            "--key-pattern has no effect without -r",
        ),
        (
            &["--rps", "100", "-P", "4", "-n", "10", "-t", "get", "-q"],
            "-P has no effect with --rps",
        ),
        (
            &["--ratio", "1:1", "-n", "10", "-q", "get", "x"],
            "--ratio is ignored with a custom command",
        ),
    ] {
        let (rc, _, err) = bench(s.port, args);
        assert_eq!(rc, 0, "{err}");
        assert!(err.contains(warning), "{args:?}: {err}");
    }
}

/// An IPv6 literal host works for the load and for the report's CONFIG GET lines.
#[test]
fn ipv6_host() {
    require_reference();
    let s = TestServer::redis(&["--bind", "127.0.0.1", "::1"]);
    let (rc, out, err, doc) = {
        let json = tempfile::NamedTempFile::new().unwrap();
        let (rc, out, err) = run_tool(
            &binary("pyrope-benchmark"),
            &[
                "-h",
                "::1",
                "-p",
                &s.port.to_string(),
                "-n",
                "500",
                "-t",
                "get",
                "--json",
                json.path().to_str().unwrap(),
            ],
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap();
        (rc, out, err, doc)
    };
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains("  host configuration \"appendonly\": no\n"),
        "{out}"
    );
    assert_eq!(doc["config"]["target"], format!("[::1]:{}", s.port));
    assert_eq!(doc["tests"][0]["requests"], 500);
}

/// On a terminal a live progress line shows the test, the current and overall rate, p50/p99
/// so far and requests done; it is cleared before the report.
#[test]
fn progress_line_on_a_terminal() {
    let s = TestServer::pyrope(&[]);
    let mut pty = pyrope_tests::pty::Pty::spawn(
        &binary("pyrope-benchmark"),
        &[
            "-p",
            &s.port.to_string(),
            "--rps",
            "2000",
            "--test-time",
            "2",
            "-c",
            "2",
            "-t",
            "get",
            "-q",
        ],
        &[],
    );
    assert!(
        pty.wait_text("GET: rps=", Duration::from_secs(30)),
        "no progress line: {:?}",
        pyrope_tests::pty::strip_ansi(&pty.raw())
    );
    assert!(pty.wait_text(" requests per second, p50=", Duration::from_secs(30)));
    assert_eq!(pty.wait_exit(Duration::from_secs(30)), Some(0));
    let screen = pyrope_tests::pty::strip_ansi(&pty.raw());
    let progress = screen
        .split(['\r', '\n'])
        .find(|l| l.contains("GET: rps="))
        .unwrap();
    assert!(
        progress.contains("(overall: ")
            && progress.contains(" p50=")
            && progress.contains(" p99=")
            && progress.contains(" msec "),
        "{progress:?}"
    );
    assert!(screen.contains(" requests per second, p50="), "{screen:?}");
}

/// `--cluster` against a real three-master Redis 7.4.1 cluster: clients are spread over the
/// masters, each with a hash tag of its own slots, so no request is redirected.
#[test]
fn cluster_mode_spreads_over_masters() {
    require_reference();
    let args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ];
    let nodes: Vec<TestServer> = (0..3).map(|_| TestServer::redis(&args)).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
    let out = Command::new("timeout")
        .arg("60")
        .arg("/usr/bin/redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in &nodes {
        let mut c = n.client();
        assert!(
            wait_for(Duration::from_secs(30), || info_field(
                &String::from_utf8_lossy(call(&mut c, &["CLUSTER", "INFO"]).as_bytes().unwrap()),
                "cluster_state"
            )
            .as_deref()
                == Some("ok")),
            "cluster did not converge"
        );
    }
    let (rc, out, err) = bench(
        nodes[0].port,
        &[
            "--cluster",
            "-t",
            "set,get",
            "-n",
            "3000",
            "-c",
            "6",
            "-r",
            "1000",
            "-q",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(err.is_empty(), "no MOVED or other errors expected: {err}");
    assert_eq!(screen_lines(&out).len(), 2, "{out}");
    let mut total = 0;
    for n in &nodes {
        let mut c = n.client();
        let k = call(&mut c, &["DBSIZE"]).as_int().unwrap();
        assert!(k > 0, "a master got no keys");
        total += k;
    }
    assert!(total <= 3000, "{total}");
    let (rc, full, _) = bench(
        nodes[1].port,
        &["--cluster", "-t", "get", "-n", "500", "-c", "3"],
    );
    assert_eq!(rc, 0);
    assert!(full.contains("  cluster mode: yes (3 masters)\n  node [0] configuration:\n    save: NONE\n    appendonly: no\n"), "{full}");
}

#[test]
fn connection_options_stdin_loop_idle_and_reconnect() {
    let s = TestServer::pyrope(&["--requirepass", "pw"]);
    let mut c = s.client();
    call(&mut c, &["AUTH", "pw"]);
    // -a, --user, --dbnum and -3 are applied on every connection.
    let (rc, out, err) = bench(
        s.port,
        &[
            "-a", "pw", "--user", "default", "--dbnum", "2", "-3", "-n", "300", "-r", "20", "-t",
            "set", "-q",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out.starts_with("SET: "), "{out}");
    call(&mut c, &["SELECT", "2"]);
    assert!(call(&mut c, &["DBSIZE"]).as_int().unwrap() > 0);
    // -x: the last argument comes from stdin.
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(binary("pyrope-benchmark"))
        .args([
            "-p",
            &s.port.to_string(),
            "-a",
            "pw",
            "-n",
            "10",
            "-q",
            "-x",
            "set",
            "fromstdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"the payload").unwrap();
    assert!(child.wait().unwrap().success());
    call(&mut c, &["SELECT", "0"]);
    assert_eq!(call(&mut c, &["GET", "fromstdin"]), bulk("the payload"));
    // -k 0: a new connection for every request.
    let conns = |c: &mut pyrope_common::client::Client| -> u64 {
        info_field(&info(c, "stats"), "total_connections_received")
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = conns(&mut c);
    let (rc, _, err) = bench(
        s.port,
        &[
            "-a", "pw", "-k", "0", "-n", "200", "-c", "4", "-t", "ping", "-q",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(
        conns(&mut c) - before >= 400,
        "two ping tests of 200 requests each reconnect every time"
    );
    // -l loops and -I idles until stopped; both are stopped by us.
    let looping = Command::new("timeout")
        .args(["60", binary("pyrope-benchmark").to_str().unwrap()])
        .args([
            "-p",
            &s.port.to_string(),
            "-a",
            "pw",
            "-l",
            "-n",
            "200",
            "-t",
            "get",
            "-q",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut idle = Command::new("timeout")
        .args(["60", binary("pyrope-benchmark").to_str().unwrap()])
        .args(["-p", &s.port.to_string(), "-I", "-c", "7"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let clients = || {
        let mut d = s.client();
        call(&mut d, &["AUTH", "pw"]);
        let l = call(&mut d, &["CLIENT", "LIST"]);
        String::from_utf8_lossy(l.as_bytes().unwrap())
            .lines()
            .count()
    };
    assert!(
        wait_for(Duration::from_secs(20), || clients() >= 9),
        "idle connections stay open"
    );
    std::thread::sleep(Duration::from_millis(1500));
    terminate(&looping);
    terminate(&idle);
    let out = looping.wait_with_output().unwrap();
    let _ = idle.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().filter(|l| l.starts_with("GET: ")).count() >= 2,
        "-l repeats the tests: {text}"
    );
}

#[test]
fn warmup_is_excluded_seed_is_reproducible_and_hdr_log_is_written() {
    let s = TestServer::pyrope(&[]);
    let mut c = s.client();
    let (rc, out, err) = bench(
        s.port,
        &[
            "--rps",
            "1000",
            "--warmup",
            "1",
            "--test-time",
            "1",
            "-t",
            "get",
            "--csv",
            "-c",
            "4",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let (_, rps, _, _) = parse_csv(out.lines().nth(1).unwrap()).unwrap();
    assert!(
        (900.0..=1100.0).contains(&rps),
        "the warm-up second must not count: {rps}/s"
    );
    let keys = |c: &mut pyrope_common::client::Client| {
        let mut k: Vec<Vec<u8>> = call(c, &["KEYS", "*"])
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_bytes().unwrap().to_vec())
            .collect();
        k.sort();
        k
    };
    let seeded = [
        "--seed",
        "7",
        "-c",
        "1",
        "-n",
        "40",
        "-r",
        "1000000",
        "-q",
        "set",
        "s:__rand_int__",
        "x",
    ];
    bench(s.port, &seeded);
    let first = keys(&mut c);
    call(&mut c, &["FLUSHALL"]);
    bench(s.port, &seeded);
    assert_eq!(keys(&mut c), first, "same seed, same keys");
    assert_eq!(first.len(), 40);
    let log = tempfile::NamedTempFile::new().unwrap();
    let (rc, _, _) = bench(
        s.port,
        &[
            "-n",
            "2000",
            "-t",
            "get",
            "-q",
            "--hdr-log",
            log.path().to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0);
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"),
        "{text}"
    );
    assert!(
        text.contains("#[Max     = ") && text.contains("Total count    =         2000]"),
        "{text}"
    );
}
