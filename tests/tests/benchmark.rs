//! pyrope-benchmark against pyrope-server and the reference Redis 7.4.1: the default tests,
//! output formats that parse with redis-benchmark's regexes, placeholders, open-loop rate,
//! stalls and server errors showing up in the numbers.

use pyrope_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bench(port: u16, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("timeout")
        .arg("300")
        .arg(binary("pyrope-benchmark"))
        .args(["-p", &port.to_string()])
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

/// `TITLE: 1234.56 requests per second, p50=0.123 msec` (redis-benchmark -q).
fn parse_quiet(line: &str) -> Option<(String, f64, f64)> {
    let (title, rest) = line.rsplit_once(": ")?;
    let rest = rest.strip_suffix(" msec")?;
    let (rps, p50) = rest.split_once(" requests per second, p50=")?;
    Some((title.to_string(), rps.parse().ok()?, p50.parse().ok()?))
}

#[test]
fn default_tests_against_redis_and_pyrope() {
    require_reference();
    let redis = TestServer::redis(&[]);
    let pyrope = TestServer::pyrope(&[]);
    let (rc, out, err) = bench(redis.port, &["-n", "2000", "-c", "10", "--csv"]);
    assert_eq!(rc, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\""));
    let rows: Vec<_> = lines
        .map(|l| parse_csv(l).unwrap_or_else(|| panic!("bad csv line {l:?}")))
        .collect();
    let titles: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        titles,
        [
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
            "XADD"
        ]
    );
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
    // Against Pyrope the string tests run; list/set/... commands come back as errors, which
    // are reported, not hidden.
    let (rc, out, err) = bench(
        pyrope.port,
        &[
            "-n",
            "2000",
            "-c",
            "10",
            "-q",
            "-t",
            "ping,set,get,incr,mset,lpush",
        ],
    );
    assert_eq!(rc, 0);
    let parsed: Vec<_> = out
        .lines()
        .map(|l| parse_quiet(l).unwrap_or_else(|| panic!("bad -q line {l:?}")))
        .collect();
    assert_eq!(parsed.len(), 7);
    assert!(parsed
        .iter()
        .all(|(_, rps, p50)| *rps > 100.0 && *p50 > 0.0));
    assert!(
        err.contains("LPUSH: 2000 of 2000 replies were errors (first: ERR unknown command 'LPUSH'"),
        "{err}"
    );
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

#[test]
fn open_loop_rate_holds_within_five_percent() {
    let s = TestServer::pyrope(&[]);
    let (rc, out, err) = bench(
        s.port,
        &[
            "--rps",
            "2000",
            "--test-time",
            "3",
            "-c",
            "10",
            "-t",
            "get",
            "--csv",
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let (_, rps, _, _) = parse_csv(out.lines().nth(1).unwrap()).unwrap();
    assert!((1900.0..=2100.0).contains(&rps), "asked 2000/s, got {rps}");
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
    let st = info(&mut c, "commandstats");
    let calls = |cmd: &str| -> u64 {
        st.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (sets, gets) = (calls("set"), calls("get"));
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
    let last = out.lines().last().unwrap();
    let best: u64 = last
        .rsplit("held up to ")
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        last.starts_with("GET: p99 <= 50.000 ms held up to ") && best >= 1000,
        "{out}"
    );
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
    assert_eq!(out.lines().count(), 2, "{out}");
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
        text.starts_with("# GET\n       Value     Percentile TotalCount 1/(1-Percentile)\n"),
        "{text}"
    );
    assert!(
        text.contains("#[Max     = ") && text.contains("Total count    =         2000]"),
        "{text}"
    );
}
