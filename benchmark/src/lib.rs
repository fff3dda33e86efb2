//! pyrope-benchmark: redis-benchmark's workloads and output, with HdrHistogram latencies,
//! an open-loop mode corrected for coordinated omission, SLO saturation search, command mixes,
//! key distributions and JSON output.
//!
//! - [`cli`]: options (redis-benchmark's plus ours).
//! - [`workload`]: default tests, custom commands, placeholders, key patterns.
//! - [`engine`]: the mio load generator (closed and open loop), one event loop per thread.
//! - [`report`]: redis-benchmark's report, `-q` and `--csv` formats, HDR log, JSON.

pub mod cli;
pub mod engine;
pub mod report;
pub mod workload;

use clap::Parser;
use engine::{Limit, RunResult, RunSpec, Shared, Target};
use pyrope_common::client::{Client, ClientError};
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

/// A `--slo` bound: the quantile (0..1) and the latency limit in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    pub quantile: f64,
    pub limit_us: u64,
}

impl Slo {
    /// Parses `p99.9=1ms` (units `us`, `ms`, `s`; bare numbers are ms).
    pub fn parse(s: &str) -> Result<Slo, String> {
        let bad = || format!("--slo takes pXX=LIMIT such as p99.9=1ms, not '{s}'");
        let (p, l) = s.split_once('=').ok_or_else(bad)?;
        let p: f64 = p
            .trim()
            .trim_start_matches(['p', 'P'])
            .parse()
            .map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(bad());
        }
        let l = l.trim().to_ascii_lowercase();
        let (num, mult) = if let Some(v) = l.strip_suffix("us") {
            (v, 1.0)
        } else if let Some(v) = l.strip_suffix("ms") {
            (v, 1000.0)
        } else if let Some(v) = l.strip_suffix('s') {
            (v, 1_000_000.0)
        } else {
            (l.as_str(), 1000.0)
        };
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        if v <= 0.0 {
            return Err(bad());
        }
        Ok(Slo {
            quantile: p / 100.0,
            limit_us: (v * mult) as u64,
        })
    }
}

struct Ctx {
    args: cli::Args,
    target: Target,
    handshake: Vec<Vec<u8>>,
    data: workload::DataSize,
    pattern: workload::KeyPattern,
    header: report::Header,
    seed: u64,
    tty: bool,
    /// Cluster mode: each master and the hash tag that lands on it.
    cluster: Vec<(Target, String)>,
}

fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut v = Vec::new();
    pyrope_common::resp::encode::command(&mut v, args);
    v
}

/// Where to connect and the first commands of every connection (AUTH, SELECT), from the
/// connection options and `-u` (as pyrope-cli reads them); `--dbnum` wins over the URI's db.
/// Errors: the URI's, as redis-cli words them.
fn connection(args: &cli::Args) -> Result<(Target, Vec<Vec<u8>>), String> {
    let server = args.conn.conn_info().map_err(|e| e.to_string())?;
    let target = match &server.socket {
        Some(s) => Target::Unix(s.clone()),
        None => Target::Tcp(server.host.clone(), server.port),
    };
    let mut handshake = Vec::new();
    if let Some(p) = &server.password {
        match &server.user {
            Some(u) => handshake.push(encode(&[&b"AUTH"[..], u, p])),
            None => handshake.push(encode(&[&b"AUTH"[..], p])),
        }
    }
    let db = if args.dbnum != 0 {
        args.dbnum
    } else {
        server.db
    };
    if db != 0 {
        handshake.push(encode(&["SELECT", &db.to_string()]));
    }
    Ok((target, handshake))
}

/// A blocking client for the set-up queries (CONFIG GET, CLUSTER SLOTS), after the
/// handshake (AUTH, SELECT, HELLO...) whose replies are skipped.
fn setup_client(target: &Target, handshake: &[Vec<u8>]) -> Result<Client, ClientError> {
    let mut c = Client::new(target.connect(None)?);
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    for h in handshake {
        c.send_raw(h)?;
        c.read_reply()?;
    }
    Ok(c)
}

/// CONFIG GET of one parameter over a short-lived connection (None if refused).
fn server_config(target: &Target, handshake: &[Vec<u8>], name: &str) -> Option<String> {
    let mut c = setup_client(target, handshake).ok()?;
    let r = c.call(&["CONFIG", "GET", name]).ok()?;
    let a = r.as_array()?;
    let v = match a.get(1)? {
        pyrope_common::resp::Frame::Bulk(Some(b)) => b.clone(),
        _ => match &r {
            pyrope_common::resp::Frame::Map(kv) => kv.first()?.1.as_bytes()?.to_vec(),
            _ => return None,
        },
    };
    Some(String::from_utf8_lossy(&v).into_owned())
}

fn spec_for(ctx: &Ctx, test: workload::Test, rps: Option<u64>, limit: Limit) -> RunSpec {
    let a = &ctx.args;
    let test_for_tags = test.clone();
    RunSpec {
        test,
        target: ctx.target.clone(),
        handshake: ctx.handshake.clone(),
        clients: a.clients.max(1),
        pipeline: a.pipeline.max(1),
        threads: a.threads.max(1),
        limit,
        warmup: a.warmup.map(Duration::from_secs_f64),
        rps,
        keepalive: a.keepalive != 0,
        data: ctx.data,
        keyspace: a.keyspacelen,
        key_pattern: ctx.pattern.clone(),
        seed: ctx.seed,
        precision: a.precision,
        nodes: ctx
            .cluster
            .iter()
            .map(|(t, tag)| (t.clone(), workload::with_tag(&test_for_tags, tag)))
            .collect(),
    }
}

/// Cluster mode: asks the seed node for CLUSTER SLOTS and returns every master with a hash
/// tag whose slot it serves (clients are spread over the masters, as redis-benchmark does).
fn fetch_cluster(seed: &Target, handshake: &[Vec<u8>]) -> Result<Vec<(Target, String)>, String> {
    use pyrope_common::resp::Frame;
    let mut c = setup_client(seed, handshake)
        .map_err(|e| format!("Cluster mode: cannot connect to the seed node: {e}"))?;
    let r = c.call(&["CLUSTER", "SLOTS"]).map_err(|e| e.to_string())?;
    if let Frame::Error(e) = &r {
        return Err(format!(
            "Cluster mode: CLUSTER SLOTS failed: {}",
            String::from_utf8_lossy(e)
        ));
    }
    let bad = || "Cluster mode: bad CLUSTER SLOTS reply".to_string();
    let mut masters: Vec<(String, u16, Vec<(u16, u16)>)> = Vec::new();
    for range in r.as_array().unwrap_or(&[]) {
        let a = range.as_array().ok_or_else(bad)?;
        let lo = a.first().and_then(Frame::as_int).ok_or_else(bad)?;
        let hi = a.get(1).and_then(Frame::as_int).ok_or_else(bad)?;
        let m = a.get(2).and_then(Frame::as_array).ok_or_else(bad)?;
        let mut ip = m
            .first()
            .and_then(Frame::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let port = m.get(1).and_then(Frame::as_int).unwrap_or(0) as u16;
        if ip.is_empty() || ip == "?" {
            ip = match seed {
                Target::Tcp(h, _) => h.clone(),
                Target::Unix(_) => "127.0.0.1".into(),
            };
        }
        match masters.iter_mut().find(|(i, p, _)| *i == ip && *p == port) {
            Some(x) => x.2.push((lo as u16, hi as u16)),
            None => masters.push((ip, port, vec![(lo as u16, hi as u16)])),
        }
    }
    if masters.is_empty() {
        return Err("Cluster mode: the cluster serves no slots (is it configured?)".into());
    }
    masters
        .into_iter()
        .map(|(ip, port, ranges)| {
            let tag = workload::tag_for_slots(&ranges)
                .ok_or("Cluster mode: no hash tag found for a node")?;
            Ok((Target::Tcp(ip, port), tag))
        })
        .collect()
}

/// Runs one test with a live progress line on a terminal.
fn run_with_progress(ctx: &Ctx, spec: RunSpec) -> Result<RunResult, String> {
    let shared = Shared::new(spec.precision);
    let title = spec.test.title.clone();
    let total = match spec.limit {
        Limit::Requests(n) => Some(n),
        Limit::Time(_) => None,
    };
    let show = ctx.tty && !ctx.args.csv;
    let progress = show.then(|| {
        let pb = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        // One line, truncated to the terminal width.
        pb.set_style(
            indicatif::ProgressStyle::with_template("{wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    let watcher = progress.clone().map(|pb| {
        let shared = shared.clone();
        let title = title.clone();
        let show_errors = ctx.args.show_errors;
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut last = (std::time::Instant::now(), 0u64);
            let mut last_err = 0u64;
            while !pb.is_finished() {
                std::thread::sleep(Duration::from_millis(250));
                let done = shared.done.load(std::sync::atomic::Ordering::Relaxed);
                let now = std::time::Instant::now();
                let rate = (done - last.1.min(done)) as f64 / (now - last.0).as_secs_f64().max(1e-6);
                last = (now, done);
                let (p50, p99) = shared
                    .hist
                    .lock()
                    .map(|h| (h.value_at_quantile(0.5) as f64 / 1000.0, h.value_at_quantile(0.99) as f64 / 1000.0))
                    .unwrap_or((0.0, 0.0));
                let errs = shared.errors.load(std::sync::atomic::Ordering::Relaxed);
                let overall = done as f64 / start.elapsed().as_secs_f64().max(1e-6);
                pb.set_position(done);
                let count = match pb.length() {
                    Some(n) => format!(" {done}/{n}"),
                    None => format!(" {done}"),
                };
                pb.set_message(format!(
                    "{title}: rps={rate:.1} (overall: {overall:.1}) p50={p50:.3} p99={p99:.3} msec{count}{}",
                    if errs > 0 { format!(" errors={errs}") } else { String::new() }
                ));
                if show_errors && errs > last_err {
                    if let Ok(e) = shared.error_samples.lock() {
                        if let Some((t, _)) = e.last() {
                            pb.println(format!("Error from server: {t}"));
                        }
                    }
                    last_err = errs;
                }
            }
        })
    });
    let r = engine::run(spec, shared);
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    if let Some(w) = watcher {
        let _ = w.join();
    }
    r
}

fn print_result(ctx: &Ctx, title: &str, r: &RunResult) {
    let a = &ctx.args;
    if a.csv {
        println!("{}", report::csv_line(title, r));
    } else if a.quiet {
        println!("{}", report::quiet_line(title, r));
    } else {
        print!("{}", report::full_report(title, r, &ctx.header));
    }
    if r.errors > 0 && (a.quiet || a.csv) {
        let first = r
            .error_samples
            .first()
            .map(|(t, _)| t.as_str())
            .unwrap_or("");
        eprintln!(
            "{title}: {} of {} replies were errors (first: {first})",
            r.errors, r.requests
        );
    }
    if r.unanswered > 0 {
        eprintln!("{title}: {}", report::unanswered_note(r));
    }
    if let Some(rps) = a.rps {
        let achieved = report::throughput(r);
        if achieved < rps as f64 * 0.95 {
            eprintln!(
                "{title}: achieved {achieved:.2} requests per second, below 95% of --rps {rps} \
                 (the server, the connections or this machine could not keep up)"
            );
        }
    }
    let _ = std::io::stdout().flush();
}

/// Minimum samples a `--slo` step needs for its quantile to rest on about 10 requests
/// beyond it: `10 / (1 - q)`.
fn slo_min_samples(q: f64) -> f64 {
    (10.0 / (1.0 - q).max(1e-9)).min(1e9)
}

/// Longest a `--slo` step runs, however few samples that gives.
const SLO_MAX_STEP: f64 = 60.0;

/// Lowest rate the `--slo` search tries when 1000/s already breaks the bound.
const SLO_MIN_RATE: u64 = 10;

/// Steps the open-loop rate from 1000/s up (doubling) until the SLO breaks, or down
/// (halving, to 10/s) until it holds, then bisects to 5%. Each step lasts long enough for
/// [`slo_min_samples`] (at least `--test-time`, at most 60 s); a broken step is run a second
/// time and counts as broken only if that breaks too (one noisy run must not decide).
/// Returns the highest rate that held (0 if none) and the per-step log.
fn saturation(
    ctx: &Ctx,
    test: &workload::Test,
    slo: Slo,
) -> Result<(u64, Vec<serde_json::Value>), String> {
    let base = ctx.args.test_time.unwrap_or(2.0);
    let verbose = !ctx.args.csv && !ctx.args.quiet;
    let mut steps = Vec::new();
    let mut run_once = |rate: u64, attempt: u32| -> Result<bool, String> {
        let secs = (slo_min_samples(slo.quantile) / rate as f64)
            .max(base)
            .min(SLO_MAX_STEP.max(base));
        let spec = spec_for(
            ctx,
            test.clone(),
            Some(rate),
            Limit::Time(Duration::from_secs_f64(secs)),
        );
        let r = engine::run(spec, Shared::new(ctx.args.precision))?;
        let got = r.hist.value_at_quantile(slo.quantile);
        let samples = r.hist.len();
        let achieved = report::throughput(&r);
        let ok = got <= slo.limit_us
            && achieved >= rate as f64 * 0.95
            && r.errors == 0
            && r.unanswered == 0;
        let few = (samples as f64) < slo_min_samples(slo.quantile);
        if verbose {
            println!(
                "  rate {rate:>9}/s for {secs:.1} s: achieved {achieved:>11.1}/s, p{}={:.3} ms over {samples} samples{} {}",
                slo.quantile * 100.0,
                got as f64 / 1000.0,
                if few { " (few)" } else { "" },
                match (ok, attempt) {
                    (true, _) => "held",
                    (false, 0) => "broken, running it again",
                    (false, _) => "broken",
                }
            );
            let _ = std::io::stdout().flush();
        }
        let mut step = report::json_test(&test.title, &r);
        step["rate"] = rate.into();
        step["achieved"] = achieved.into();
        step["attempt"] = (attempt + 1).into();
        step["held"] = ok.into();
        steps.push(step);
        Ok(ok)
    };
    let mut check =
        |rate: u64| -> Result<bool, String> { Ok(run_once(rate, 0)? || run_once(rate, 1)?) };
    let (mut lo, mut hi);
    if check(1000)? {
        lo = 1000u64;
        loop {
            let next = lo.saturating_mul(2);
            if next > 50_000_000 {
                hi = next;
                break;
            }
            if check(next)? {
                lo = next;
            } else {
                hi = next;
                break;
            }
        }
    } else {
        // Below the start rate: halve until a rate holds.
        hi = 1000;
        lo = 0;
        let mut rate = 500;
        while rate >= SLO_MIN_RATE {
            if check(rate)? {
                lo = rate;
                break;
            }
            hi = rate;
            rate /= 2;
        }
    }
    while lo > 0 && hi > lo + lo / 20 + 1 {
        let mid = lo + (hi - lo) / 2;
        if check(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((lo, steps))
}

/// The `--hdr-log` file of a test: `FILE` when the run has one test, else
/// `FILE.<title>.hgrm` with the title in lowercase and every run of characters other than
/// letters, digits, `.` and `-` as one `_` (`LRANGE_100 (first 100 elements)` gives
/// `FILE.lrange_100_first_100_elements.hgrm`).
pub fn hdr_log_path(file: &str, title: &str, tests: usize) -> String {
    if tests <= 1 {
        return file.to_string();
    }
    let mut name = String::new();
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' {
            name.push(ch.to_ascii_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_matches('_');
    let name: String = name.chars().take(64).collect();
    format!("{file}.{name}.hgrm")
}

/// The `--json` document: the complete configuration (every option, secrets redacted, with
/// the resolved seed, target and test list), the per-test results so far, and the error that
/// ended the run, if one did.
fn json_doc(
    ctx: &Ctx,
    titles: &[String],
    tests: &[serde_json::Value],
    error: Option<&str>,
) -> serde_json::Value {
    let mut config = serde_json::to_value(&ctx.args).unwrap_or_default();
    config["seed"] = ctx.seed.into();
    config["target"] = ctx.target.display().into();
    config["selected_tests"] = titles.into();
    config["cluster_masters"] = ctx
        .cluster
        .iter()
        .map(|(t, _)| t.display())
        .collect::<Vec<_>>()
        .into();
    let mut doc = serde_json::json!({
        "tool": "pyrope-benchmark",
        "version": env!("CARGO_PKG_VERSION"),
        "config": config,
        "tests": tests,
    });
    if let Some(e) = error {
        doc["error"] = e.into();
    }
    doc
}

/// Writes the `--json` document. A regular file (or a new one) is replaced atomically: the
/// text goes to `<path>.<pid>.tmp` beside it and is renamed over `path`, so a reader, or a
/// run killed mid-write (`-l` rewrites the file after every test), never sees a truncated
/// document. Anything else (`/dev/stdout`, a FIFO) is written in place.
fn write_json(ctx: &Ctx, doc: &serde_json::Value) -> Result<(), String> {
    let Some(path) = &ctx.args.json else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let err = |e: std::io::Error| format!("Cannot write --json {path}: {e}");
    let regular = match std::fs::metadata(path) {
        Ok(m) => m.is_file(),
        Err(_) => true,
    };
    if !regular {
        return std::fs::write(path, text).map_err(err);
    }
    let tmp = format!("{path}.{}.tmp", std::process::id());
    if let Err(e) = std::fs::write(&tmp, text) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Entry point; returns the exit code: 0, 1 on an error or when requests were left
/// unanswered at the end of a test, 2 for bad usage.
pub fn run(argv: Vec<String>) -> i32 {
    let mut args = match cli::Args::try_parse_from(&argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if args.version {
        println!("pyrope-benchmark {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let fail = |m: String| -> i32 {
        eprintln!("{m}");
        1
    };
    let (target, mut handshake) = match connection(&args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let data = match workload::DataSize::parse(&args.data_size) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let pattern =
        match workload::KeyPattern::parse(args.key_pattern.as_deref().unwrap_or("uniform")) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
    let slo = match args.slo.as_deref().map(Slo::parse).transpose() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // Options that would be silently ignored.
    if args.key_pattern.is_some() && args.keyspacelen.is_none() {
        eprintln!(
            "Warning: --key-pattern has no effect without -r (keys stay the literal __rand_int__)"
        );
    }
    if (args.rps.is_some() || slo.is_some()) && args.pipeline > 1 {
        eprintln!("Warning: -P has no effect with --rps or --slo (the open loop sends each request at its own time)");
    }
    if args.ratio.is_some() && !args.command.is_empty() {
        eprintln!("Warning: --ratio is ignored with a custom command");
    } else if args.ratio.is_some() && args.tests.is_some() {
        eprintln!("Warning: -t is ignored with --ratio");
    }
    if slo.is_some() && args.hdr_log.is_some() {
        eprintln!(
            "Warning: --hdr-log is not written with --slo (--json has every step's histogram)"
        );
    }
    args.key_pattern.get_or_insert_with(|| "uniform".into());
    if args.conn.resp3 {
        handshake.push(encode(&["HELLO", "3"]));
    }
    if args.tracking_bcast {
        handshake.push(encode(&["CLIENT", "TRACKING", "on", "BCAST"]));
    } else if args.enable_tracking {
        handshake.push(encode(&["CLIENT", "TRACKING", "on"]));
    }
    if let Err(e) = engine::check_connect(&target) {
        return fail(e);
    }
    if args.idle {
        return match engine::idle(&target, args.clients) {
            Ok(()) => 0,
            Err(e) => fail(e),
        };
    }
    let cluster = if args.cluster {
        match fetch_cluster(&target, &handshake) {
            Ok(n) => n,
            Err(e) => return fail(e),
        }
    } else {
        Vec::new()
    };
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let header = report::Header {
        clients: args.clients,
        payload: data.display(),
        keepalive: args.keepalive != 0,
        save: server_config(&target, &handshake, "save"),
        appendonly: server_config(&target, &handshake, "appendonly"),
        threads: args.threads,
        rps: args.rps,
        cluster_nodes: args.cluster.then(|| {
            cluster
                .iter()
                .map(|(t, _)| {
                    (
                        server_config(t, &handshake, "save"),
                        server_config(t, &handshake, "appendonly"),
                    )
                })
                .collect()
        }),
    };
    let tests = if !args.command.is_empty() {
        let mut words = args.command.clone();
        if args.last_arg_from_stdin {
            let mut s = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut s);
            words.push(String::from_utf8_lossy(&s).into_owned());
        }
        let title = words.join(" ");
        vec![workload::Test {
            title,
            templates: vec![(workload::Template::from_words(&words), 1)],
        }]
    } else if let Some(r) = &args.ratio {
        match workload::ratio_test(r) {
            Ok(t) => vec![t],
            Err(e) => return fail(e),
        }
    } else {
        let all = workload::default_tests(args.keyspacelen.is_some(), args.cluster);
        match &args.tests {
            Some(t) => workload::select_tests(all, t),
            None => all,
        }
    };
    let tty = std::io::stdout().is_terminal();
    let ctx = Ctx {
        args: args.clone(),
        target,
        handshake,
        data,
        pattern,
        header,
        seed,
        tty,
        cluster,
    };
    let limit = match args.test_time {
        Some(s) if slo.is_none() => Limit::Time(Duration::from_secs_f64(s)),
        _ => Limit::Requests(args.requests),
    };
    if args.csv {
        if slo.is_some() {
            println!("\"test\",\"max_rps_within_slo\"");
        } else {
            println!("{}", report::CSV_HEADER);
        }
    }
    let titles: Vec<String> = tests.iter().map(|t| t.title.clone()).collect();
    let mut json_tests = Vec::new();
    let mut unanswered = 0u64;
    // A failure ends the run: report it, and still write what was measured.
    let abort = |json_tests: &[serde_json::Value], e: String| -> i32 {
        let _ = write_json(&ctx, &json_doc(&ctx, &titles, json_tests, Some(&e)));
        fail(e)
    };
    loop {
        for test in &tests {
            if let Some(slo) = slo {
                if !args.csv && !args.quiet {
                    println!(
                        "====== {} : saturation search for p{} <= {:.3} ms ======",
                        test.title,
                        slo.quantile * 100.0,
                        slo.limit_us as f64 / 1000.0
                    );
                }
                match saturation(&ctx, test, slo) {
                    Ok((best, steps)) => {
                        if args.csv {
                            println!("\"{}\",\"{}\"", test.title, best);
                        } else {
                            println!(
                                "{}: p{} <= {:.3} ms held up to {} requests per second",
                                test.title,
                                slo.quantile * 100.0,
                                slo.limit_us as f64 / 1000.0,
                                best
                            );
                        }
                        json_tests.push(serde_json::json!({"test": test.title, "slo": {"quantile": slo.quantile, "limit_ms": slo.limit_us as f64 / 1000.0}, "max_rps_within_slo": best, "steps": steps}));
                    }
                    Err(e) => return abort(&json_tests, e),
                }
            } else {
                let spec = spec_for(&ctx, test.clone(), args.rps, limit);
                match run_with_progress(&ctx, spec) {
                    Ok(r) => {
                        print_result(&ctx, &test.title, &r);
                        unanswered += r.unanswered;
                        if let Some(file) = &args.hdr_log {
                            let path = hdr_log_path(file, &test.title, tests.len());
                            if let Err(e) = std::fs::write(&path, report::hdr_log(&r.hist)) {
                                return abort(
                                    &json_tests,
                                    format!("Cannot write --hdr-log {path}: {e}"),
                                );
                            }
                        }
                        json_tests.push(report::json_test(&test.title, &r));
                    }
                    Err(e) => return abort(&json_tests, e),
                }
            }
            if let Err(e) = write_json(&ctx, &json_doc(&ctx, &titles, &json_tests, None)) {
                return fail(e);
            }
        }
        // No test selected (a -t that matches nothing): like redis-benchmark, nothing runs.
        if !args.loop_forever || tests.is_empty() {
            break;
        }
        json_tests.clear();
    }
    if !args.csv {
        // redis-benchmark ends its output with an empty line.
        println!();
    }
    if unanswered > 0 {
        return fail(format!(
            "{unanswered} requests unanswered at the end of their test: the server stalled or lost them"
        ));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_parsing() {
        let s = Slo::parse("p99.9=1ms").unwrap();
        assert!(
            (s.quantile - 0.999).abs() < 1e-12 && s.limit_us == 1000,
            "{s:?}"
        );
        assert_eq!(Slo::parse("p50=250us").unwrap().limit_us, 250);
        assert_eq!(Slo::parse("99=2").unwrap().limit_us, 2000);
        assert!(Slo::parse("p101=1ms").is_err());
        assert!(Slo::parse("p99").is_err());
    }

    #[test]
    fn commands_take_hyphen_arguments_but_unknown_flags_are_refused() {
        let a = cli::Args::try_parse_from(["pyrope-benchmark", "-n", "5", "incrby", "k", "-3"])
            .unwrap();
        assert_eq!(a.command, ["incrby", "k", "-3"]);
        assert!(cli::Args::try_parse_from(["pyrope-benchmark", "--no-such-flag"]).is_err());
    }

    #[test]
    fn hdr_log_paths_and_ipv6_addresses() {
        assert_eq!(hdr_log_path("out.hgrm", "GET", 1), "out.hgrm");
        assert_eq!(
            hdr_log_path("o", "LRANGE_100 (first 100 elements)", 5),
            "o.lrange_100_first_100_elements.hgrm"
        );
        assert_eq!(hdr_log_path("o", "SET:GET 1:3", 2), "o.set_get_1_3.hgrm");
        assert_eq!(Target::Tcp("::1".into(), 6379).display(), "[::1]:6379");
        assert_eq!(Target::Tcp("localhost".into(), 1).display(), "localhost:1");
    }

    #[test]
    fn json_config_redacts_secrets() {
        let a = cli::Args::try_parse_from([
            "pyrope-benchmark",
            "-a",
            "hunter2",
            "--pass",
            "hunter2",
            "-u",
            "redis://bob:hunter2@h:1/0",
            "--ratio",
            "1:2",
        ])
        .unwrap();
        let v = serde_json::to_value(&a).unwrap();
        let text = v.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(
            (&v["password"], &v["pass"]),
            (&"(set)".into(), &"(set)".into())
        );
        assert_eq!(v["uri"], "redis://bob:(set)@h:1/0");
        assert_eq!(
            (&v["host"], &v["port"], &v["resp3"]),
            (&"127.0.0.1".into(), &6379.into(), &false.into())
        );
        assert_eq!(v["ratio"], "1:2");
        assert!(v.get("help").is_none() && v.get("conn").is_none());
    }

    #[test]
    fn slo_steps_are_long_enough() {
        assert!((slo_min_samples(0.999) - 10_000.0).abs() < 1e-6);
        assert!((slo_min_samples(0.99) - 1000.0).abs() < 1e-6);
    }

    #[test]
    fn uris_as_pyrope_cli_reads_them() {
        let parse = |extra: &[&str]| {
            let argv = ["pyrope-benchmark"].iter().chain(extra).copied();
            connection(&cli::Args::try_parse_from(argv).unwrap())
        };
        let (t, hs) = parse(&["-u", "redis://bob:p%40ss@[::1]:7000/3"]).unwrap();
        assert_eq!(t.display(), "[::1]:7000");
        assert_eq!(
            hs,
            [encode(&["AUTH", "bob", "p@ss"]), encode(&["SELECT", "3"])]
        );
        let (_, hs) = parse(&["-u", "redis://h/3", "--dbnum", "5"]).unwrap();
        assert_eq!(hs, [encode(&["SELECT", "5"])]);
        let (t, hs) = parse(&["--pass", "pw", "-s", "/tmp/x.sock", "-u", "redis://h"]).unwrap();
        assert_eq!(
            (t.display(), hs),
            ("/tmp/x.sock".into(), vec![encode(&["AUTH", "pw"])])
        );
        assert_eq!(
            parse(&["-u", "http://h"]).unwrap_err(),
            "Invalid URI scheme"
        );
        assert_eq!(
            parse(&["-u", "redis://h:70000"]).unwrap_err(),
            "Invalid server port."
        );
        assert!(parse(&["-u", "rediss://h"]).unwrap_err().contains("TLS"));
    }
}
