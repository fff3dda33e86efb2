//! The special modes of redis-cli, with its output formats: --pipe (mass insertion), --scan,
//! --stat, --latency / --latency-history / --latency-dist, --intrinsic-latency, --bigkeys /
//! --memkeys / --keystats, --hotkeys, --rdb / --functions-rdb, --replica and --eval.

use crate::conn::Conn;
use crate::format::{repr, Mode};
use crate::Ctx;
use pyrope_common::resp::{scan, Frame, Parsed, RequestParser};
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn interval(ctx: &Ctx) -> Option<Duration> {
    ctx.args
        .interval
        .filter(|i| *i > 0.0)
        .map(Duration::from_secs_f64)
}

fn request(conn: &mut Conn, args: &[&str]) -> Result<Frame, String> {
    conn.request(args).map_err(|e| match e {
        crate::conn::RequestError::Connect(m) => m,
        crate::conn::RequestError::Io(m) => format!("Error: {m}"),
    })
}

/// --pipe: streams stdin to the server as it is (it must be RESP), counts replies and errors,
/// then sends an ECHO with a random marker and waits for it: the marker's reply means every
/// command was answered. Prints `errors: N, replies: M` (stdout) as redis-cli. Unlike
/// redis-cli, a malformed input stream is caught before it reaches the server and reported
/// with its byte offset.
pub fn pipe(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect()?;
    let addr = conn.addr();
    let mut stream: Box<dyn ReadWrite> = match &conn.settings.socket {
        Some(p) => Box::new(
            std::os::unix::net::UnixStream::connect(p)
                .map_err(|e| format!("Could not connect to Redis at {p}: {e}"))?,
        ),
        None => {
            let s = std::net::TcpStream::connect(&addr)
                .map_err(|e| format!("Could not connect to Redis at {addr}: {e}"))?;
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
    };
    // Session set-up on the pipe connection itself.
    let mut setup = Vec::new();
    let mut setup_replies = 0usize;
    if let Some(p) = &conn.settings.password {
        setup.extend(match &conn.settings.user {
            Some(u) => crate::conn::encode_command(&["AUTH", u.as_str(), p.as_str()]),
            None => crate::conn::encode_command(&["AUTH", p.as_str()]),
        });
        setup_replies += 1;
    }
    if conn.settings.db != 0 {
        setup.extend(crate::conn::encode_command(&[
            "SELECT",
            &conn.settings.db.to_string(),
        ]));
        setup_replies += 1;
    }
    let marker: String = (0..20)
        .map(|_| char::from(b'a' + fastrand::u8(..26)))
        .collect();
    let mut reader = stream.try_clone_rw().map_err(|e| e.to_string())?;
    let reader_marker = marker.clone();
    let timeout = ctx.args.pipe_timeout;
    // The reader wakes every 100 ms to check the --pipe-timeout condition.
    stream
        .set_read_timeout_rw(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let eof = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_eof = eof.clone();
    // The reader counts replies until the marker's echo.
    let counter = std::thread::spawn(move || -> Result<(u64, u64), String> {
        let mut last_read = std::time::Instant::now();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut chunk = vec![0u8; 1 << 16];
        let (mut replies, mut errors) = (0u64, 0u64);
        let mut skip = setup_replies;
        // stderr is taken per line, never held: the main thread reports on it too.
        let stderr = std::io::stderr();
        loop {
            let mut pos = 0;
            while let Some(s) = scan::scan(&buf[pos..])
                .map_err(|e| format!("Protocol error from server at reply byte {}", e.0))?
            {
                let r = &buf[pos..pos + s.len];
                pos += s.len;
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                if s.error {
                    let _ = writeln!(stderr.lock(), "{}", scan::error_text(r));
                    errors += 1;
                    replies += 1;
                } else if r.len() == 20 + 7
                    && &r[..5] == b"$20\r\n"
                    && r[5..25] == *reader_marker.as_bytes()
                {
                    println!("Last reply received from server.");
                    return Ok((errors, replies));
                } else {
                    replies += 1;
                }
            }
            buf.drain(..pos);
            match reader.read(&mut chunk) {
                Ok(0) => return Err(format!("Error reading from the server: connection closed (errors: {errors}, replies: {replies})")),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    last_read = std::time::Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    // As redis-cli: only once all input is sent, and the timeout counts as
                    // an error before the summary.
                    if timeout > 0
                        && reader_eof.load(std::sync::atomic::Ordering::Acquire)
                        && last_read.elapsed() > Duration::from_secs(timeout)
                    {
                        let _ = writeln!(stderr.lock(), "No replies for {timeout} seconds: exiting.");
                        return Ok((errors + 1, replies));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("Error reading from the server: {e}")),
            }
        }
    });
    stream.write_all(&setup).map_err(|e| e.to_string())?;
    // Validate and forward stdin.
    let mut input = std::io::stdin().lock();
    let mut parser = RequestParser::new();
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut offset: u64 = 0;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        loop {
            match parser.parse(&pending[pos..]) {
                Ok(Parsed::Command { consumed, .. }) => pos += consumed,
                Ok(Parsed::Incomplete) => break,
                Err(e) => {
                    let at = offset + pos as u64;
                    stream
                        .write_all(&pending[..pos])
                        .map_err(|e| e.to_string())?;
                    return Err(format!(
                        "Protocol error in the input at byte {at}: {e} (nothing after it was sent)"
                    ));
                }
            }
        }
        stream
            .write_all(&pending[..pos])
            .map_err(|e| e.to_string())?;
        offset += pos as u64;
        pending.drain(..pos);
    }
    if !pending.is_empty() {
        return Err(format!(
            "The input ends with an incomplete command at byte {offset}"
        ));
    }
    println!("All data transferred. Waiting for the last reply...");
    eof.store(true, std::sync::atomic::Ordering::Release);
    stream
        .write_all(&crate::conn::encode_command(&["ECHO", &marker]))
        .ok();
    let _ = stream.flush();
    match counter
        .join()
        .map_err(|_| "reader thread panicked".to_string())?
    {
        Ok((errors, replies)) => {
            println!("errors: {errors}, replies: {replies}");
            Ok(i32::from(errors > 0))
        }
        Err(m) => Err(m),
    }
}

/// A socket usable from two threads (TCP or unix).
pub trait ReadWrite: Read + Write + Send {
    fn try_clone_rw(&self) -> std::io::Result<Box<dyn ReadWrite>>;
    fn set_read_timeout_rw(&self, t: Option<Duration>) -> std::io::Result<()>;
}

impl ReadWrite for std::net::TcpStream {
    fn try_clone_rw(&self) -> std::io::Result<Box<dyn ReadWrite>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn set_read_timeout_rw(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)
    }
}

impl ReadWrite for std::os::unix::net::UnixStream {
    fn try_clone_rw(&self) -> std::io::Result<Box<dyn ReadWrite>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn set_read_timeout_rw(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)
    }
}

/// The `SCAN` loop shared by --scan, --bigkeys, --memkeys, --keystats and --hotkeys.
fn scan_keys(
    ctx: &Ctx,
    conn: &mut Conn,
    mut each: impl FnMut(&mut Conn, &[Vec<u8>]) -> Result<(), String>,
) -> Result<(), String> {
    let pattern: Option<Vec<u8>> = match (&ctx.args.quoted_pattern, &ctx.args.pattern) {
        (Some(q), _) => Some(
            pyrope_common::conf::split_args(q.as_bytes())
                .ok()
                .and_then(|v| v.into_iter().next())
                .ok_or_else(|| {
                    format!("Invalid quoted string specified for --quoted-pattern: {q}")
                })?,
        ),
        (None, Some(p)) => Some(p.clone().into_bytes()),
        _ => None,
    };
    let count = ctx.args.count.unwrap_or(10).to_string();
    let mut cursor = b"0".to_vec();
    let mut rounds = 0u64;
    loop {
        let mut args: Vec<Vec<u8>> = vec![b"SCAN".to_vec(), cursor.clone()];
        if let Some(p) = &pattern {
            args.push(b"MATCH".to_vec());
            args.push(p.clone());
        }
        args.push(b"COUNT".to_vec());
        args.push(count.clone().into_bytes());
        let r = conn.request(&args).map_err(|e| match e {
            crate::conn::RequestError::Connect(m) => m,
            crate::conn::RequestError::Io(m) => format!("Error: {m}"),
        })?;
        if let Frame::Error(e) = &r {
            return Err(format!("Error: {}", String::from_utf8_lossy(e)));
        }
        let parts = r.as_array().ok_or("Error: unexpected SCAN reply")?;
        cursor = parts
            .first()
            .and_then(Frame::as_bytes)
            .unwrap_or(b"0")
            .to_vec();
        let keys: Vec<Vec<u8>> = parts
            .get(1)
            .and_then(Frame::as_array)
            .unwrap_or(&[])
            .iter()
            .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec))
            .collect();
        each(conn, &keys)?;
        rounds += 1;
        if let Some(i) = interval(ctx) {
            // --scan sleeps every round; the samplers every 100 rounds (as redis-cli).
            if ctx.args.scan || rounds % 100 == 0 {
                std::thread::sleep(i);
            }
        }
        if cursor == b"0" {
            return Ok(());
        }
    }
}

/// --scan: every key matching --pattern, one per line (quoted on a tty).
pub fn scan(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let quote = ctx.mode == Mode::Standard;
    scan_keys(ctx, conn, |_, keys| {
        for k in keys {
            if quote {
                out.write_all(repr(k).as_bytes())
                    .map_err(|e| e.to_string())?;
            } else {
                out.write_all(k).map_err(|e| e.to_string())?;
            }
            out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(0)
}

/// redis-cli's `bytesToHuman`.
fn bytes_to_human(n: i64) -> String {
    let d = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", d / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", d / 1024.0 / 1024.0)
    } else if n < 1024i64.pow(4) {
        format!("{:.2}G", d / 1024f64.powi(3))
    } else if n < 1024i64.pow(5) {
        format!("{:.2}T", d / 1024f64.powi(4))
    } else {
        format!("{:.2}P", d / 1024f64.powi(5))
    }
}

fn info_field(info: &str, field: &str) -> Option<i64> {
    info.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.trim().parse().ok())
}

fn info_text(f: &Frame) -> String {
    f.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// --stat: one line per interval (default 1 s) with keys, memory, clients, requests and
/// connections, a header every 20 lines.
pub fn stat(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect()?;
    let every = interval(ctx).unwrap_or(Duration::from_secs(1));
    let mut last_requests: Option<i64> = None;
    let mut line = 0u64;
    loop {
        let r = request(conn, &["INFO"])?;
        let info = info_text(&r);
        let mut out = String::new();
        if line % 20 == 0 {
            out.push_str(
                "------- data ------ --------------------- load -------------------- - child -\n",
            );
            out.push_str(
                "keys       mem      clients blocked requests            connections          \n",
            );
        }
        line += 1;
        let keys: i64 = (0..20)
            .filter_map(|j| info_field(&info, &format!("db{j}")))
            .sum::<i64>()
            + (0..20)
                .filter_map(|j| {
                    info.lines()
                        .find_map(|l| l.strip_prefix(&format!("db{j}:keys=")))
                        .and_then(|v| v.split(',').next())
                        .and_then(|v| v.parse::<i64>().ok())
                })
                .sum::<i64>();
        out.push_str(&format!("{:<11}", keys));
        out.push_str(&format!(
            "{:<8}",
            bytes_to_human(info_field(&info, "used_memory").unwrap_or(0))
        ));
        out.push_str(&format!(
            " {:<8}",
            info_field(&info, "connected_clients").unwrap_or(0)
        ));
        out.push_str(&format!(
            "{:<8}",
            info_field(&info, "blocked_clients").unwrap_or(0)
        ));
        let req = info_field(&info, "total_commands_processed").unwrap_or(0);
        out.push_str(&format!(
            "{:<19}",
            format!("{req} (+{})", last_requests.map_or(0, |l| req - l))
        ));
        last_requests = Some(req);
        out.push_str(&format!(
            " {:<12}",
            info_field(&info, "total_connections_received").unwrap_or(0)
        ));
        let child = info_field(&info, "rdb_bgsave_in_progress").unwrap_or(0)
            | info_field(&info, "aof_rewrite_in_progress").unwrap_or(0) << 1
            | info_field(&info, "loading").unwrap_or(0) << 2;
        out.push_str(match child {
            1 => "SAVE",
            2 => "AOF",
            3 => "SAVE+AOF",
            4 => "LOAD",
            _ => "",
        });
        out.push('\n');
        print!("{out}");
        let _ = std::io::stdout().flush();
        std::thread::sleep(every);
    }
}

fn latency_line(mode: Mode, min: i64, max: i64, avg: f64, count: u64) -> String {
    match mode {
        Mode::Standard => format!("min: {min}, max: {max}, avg: {avg:.2} ({count} samples)"),
        Mode::Csv => format!("{min},{max},{avg:.2},{count}\n"),
        Mode::Raw => format!("{min} {max} {avg:.2} {count}\n"),
        Mode::Json | Mode::QuotedJson => {
            format!("{{\"min\": {min}, \"max\": {max}, \"avg\": {avg:.2}, \"count\": {count}}}\n")
        }
    }
}

/// --latency, --latency-history, --latency-dist: PING round trips in whole ms, one every
/// 10 ms, as redis-cli's `latencyMode`. On a terminal the line is redrawn after every
/// sample; otherwise --latency prints one line after `-i` seconds (default 1) and exits,
/// and --latency-history prints every sample. History ranges last `-i` seconds (default 15).
pub fn latency(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect()?;
    if ctx.args.latency_dist {
        return latency_dist(ctx, conn);
    }
    let history_every = interval(ctx).unwrap_or(Duration::from_millis(15000));
    let single_shot = interval(ctx).unwrap_or(Duration::from_millis(1000));
    let standard = ctx.mode == Mode::Standard;
    let (mut min, mut max, mut tot, mut count) = (0i64, 0i64, 0i64, 0u64);
    let mut history_start = Instant::now();
    let mut out = std::io::stdout();
    loop {
        let t = now_ms();
        if conn.request(&["PING"]).is_err() {
            eprintln!("\nI/O error");
            return Ok(1);
        }
        let lat = now_ms() - t;
        count += 1;
        if count == 1 {
            (min, max, tot) = (lat, lat, lat);
        } else {
            min = min.min(lat);
            max = max.max(lat);
            tot += lat;
        }
        let avg = tot as f64 / count as f64;
        let line = latency_line(ctx.mode, min, max, avg, count);
        if standard {
            let _ = write!(out, "\x1b[0G\x1b[2K{line}");
        } else if ctx.args.latency_history {
            let _ = write!(out, "{line}");
        } else if history_start.elapsed() > single_shot {
            let _ = write!(out, "{line}");
            return Ok(0);
        }
        if ctx.args.latency_history && history_start.elapsed() > history_every {
            let _ = writeln!(
                out,
                " -- {:.2} seconds range",
                history_start.elapsed().as_secs_f64()
            );
            history_start = Instant::now();
            (min, max, tot, count) = (0, 0, 0, 0);
        }
        let _ = out.flush();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// --latency-dist: every interval (default 1 s) one row of colored blocks, one per latency
/// range (gray for < 1 ms, green, yellow, red as it grows), brighter where more samples fell.
fn latency_dist(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    // Upper bounds of the ranges in microseconds and their 256-color palettes.
    const RANGES: [(u64, &str); 8] = [
        (250, "0.25"),
        (500, "0.5"),
        (1000, "1"),
        (2000, "2"),
        (4000, "4"),
        (8000, "8"),
        (16000, "16"),
        (u64::MAX, "16+"),
    ];
    const SHADES: [[u8; 4]; 8] = [
        [236, 240, 245, 252],
        [236, 240, 245, 252],
        [236, 240, 245, 252],
        [22, 28, 34, 46],
        [22, 28, 34, 46],
        [58, 100, 142, 226],
        [52, 88, 124, 196],
        [52, 88, 124, 196],
    ];
    let every = interval(ctx).unwrap_or(Duration::from_secs(1));
    println!("---------------------------------------------");
    println!(". - * #          .01 .125 .25 .5 milliseconds");
    print!("1,2,3,...,9      from 1 to 9     milliseconds\n10,20,30,...,90  from 10 to 90   milliseconds\n");
    print!("legend: ");
    for (i, (_, label)) in RANGES.iter().enumerate() {
        print!("\x1b[48;5;{}m {label}ms \x1b[0m", SHADES[i][3]);
    }
    println!("\n---------------------------------------------");
    loop {
        let mut counts = [0u64; 8];
        let mut total = 0u64;
        let start = Instant::now();
        while start.elapsed() < every {
            let t = Instant::now();
            if conn.request(&["PING"]).is_err() {
                eprintln!("\nI/O error");
                return Ok(1);
            }
            let us = t.elapsed().as_micros() as u64;
            let b = RANGES.iter().position(|(hi, _)| us <= *hi).unwrap_or(7);
            counts[b] += 1;
            total += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        for (i, c) in counts.iter().enumerate() {
            let shade = if *c == 0 {
                0
            } else {
                let frac = *c as f64 / total.max(1) as f64;
                (1 + (frac * 3.0) as usize).min(3)
            };
            let color = if *c == 0 { 0 } else { SHADES[i][shade] };
            print!("\x1b[48;5;{color}m  \x1b[0m");
        }
        println!();
        let _ = std::io::stdout().flush();
    }
}

/// --intrinsic-latency: how long this machine stalls a busy loop (as redis-cli's test).
pub fn intrinsic_latency(secs: u64) -> Result<i32, String> {
    let test_end = Instant::now() + Duration::from_secs(secs);
    let mut max_latency = 0u128;
    let mut runs = 0u64;
    let start = Instant::now();
    loop {
        let t = Instant::now();
        // A small unit of busy work, as redis-cli's compute loop.
        let mut x = 0u64;
        for i in 0..100u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let lat = t.elapsed().as_micros();
        runs += 1;
        if lat > max_latency {
            max_latency = lat;
            println!("Max latency so far: {max_latency} microseconds.");
        }
        if Instant::now() > test_end {
            let total_us = start.elapsed().as_micros() as f64;
            let avg = total_us / runs as f64;
            println!("\n{runs} total runs (avg latency: {avg:.4} microseconds / {:.2} nanoseconds per run).", avg * 1000.0);
            println!(
                "Worst run took {:.0}x longer than the average latency.",
                max_latency as f64 / avg
            );
            return Ok(0);
        }
    }
}

/// Type names as redis-cli prints them in --bigkeys, with their size command and unit.
const TYPES: [(&str, &str, &str, &str); 6] = [
    ("list", "lists", "LLEN", "items"),
    ("hash", "hashs", "HLEN", "fields"),
    ("string", "strings", "STRLEN", "bytes"),
    ("stream", "streams", "XLEN", "entries"),
    ("set", "sets", "SCARD", "members"),
    ("zset", "zsets", "ZCARD", "members"),
];

#[derive(Default, Clone)]
struct TypeStats {
    keys: u64,
    total: u64,
    biggest: u64,
    biggest_key: Option<Vec<u8>>,
}

fn header(what: &str) {
    println!("\n# Scanning the entire keyspace to find {what} as well as");
    println!("# average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec");
    println!("# per 100 SCAN commands (not usually needed).\n");
}

/// --bigkeys / --memkeys / --keystats: samples every key's size (elements, or MEMORY USAGE)
/// and prints redis-cli's running finds and summary.
pub fn bigkeys(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect()?;
    let memkeys = ctx.args.memkeys || ctx.args.memkeys_samples.is_some();
    let keystats = ctx.args.keystats;
    let total_keys = request(conn, &["DBSIZE"])?.as_int().unwrap_or(0).max(0) as u64;
    header("biggest keys");
    let mut stats: Vec<TypeStats> = vec![TypeStats::default(); TYPES.len()];
    let mut sampled = 0u64;
    let mut key_len_total = 0u64;
    let mut all_sizes: Vec<(u64, Vec<u8>, usize)> = Vec::new();
    let samples = ctx.args.memkeys_samples;
    let progress = Progress::new(total_keys);
    scan_keys(ctx, conn, |conn, keys| {
        // As redis-cli: the progress shown is that of the batch's start.
        let pct = percent(sampled, total_keys);
        // As redis-cli: one pipeline of TYPE for the batch, then one of the size commands.
        let types: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| vec![b"TYPE".to_vec(), k.clone()])
            .collect();
        let types: Vec<Option<usize>> = conn
            .pipeline(&types)?
            .iter()
            .map(|t| {
                t.as_bytes()
                    .and_then(|ty| TYPES.iter().position(|x| x.0.as_bytes() == ty))
            })
            .collect();
        let size_cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .zip(&types)
            .filter_map(|(k, t)| {
                let ti = (*t)?;
                Some(if memkeys {
                    let mut a = vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), k.clone()];
                    if let Some(n) = samples {
                        a.push(b"SAMPLES".to_vec());
                        a.push(n.to_string().into_bytes());
                    }
                    a
                } else {
                    vec![TYPES[ti].2.as_bytes().to_vec(), k.clone()]
                })
            })
            .collect();
        let mut sizes = conn.pipeline(&size_cmds)?.into_iter();
        for (k, t) in keys.iter().zip(&types) {
            // Keys that vanished between SCAN and TYPE are skipped.
            let Some(ti) = *t else { continue };
            let ty = TYPES[ti].0;
            let size = sizes.next().and_then(|f| f.as_int()).unwrap_or(0).max(0) as u64;
            sampled += 1;
            key_len_total += k.len() as u64;
            let s = &mut stats[ti];
            s.keys += 1;
            s.total += size;
            if keystats {
                all_sizes.push((size, k.clone(), ti));
            }
            if s.biggest_key.is_none() || size > s.biggest {
                let unit = if memkeys { "bytes" } else { TYPES[ti].3 };
                progress.println(format!(
                    "[{pct:05.2}%] Biggest {ty:<6} found so far '{}' with {size} {unit}",
                    repr(k)
                ));
                s.biggest = size;
                s.biggest_key = Some(k.clone());
            }
            if sampled % 1_000_000 == 0 {
                progress.println(format!("[{pct:05.2}%] Sampled {sampled} keys so far"));
            }
        }
        progress.set(sampled);
        Ok(())
    })?;
    progress.finish();
    println!("\n-------- summary -------\n");
    println!("Sampled {sampled} keys in the keyspace!");
    println!(
        "Total key length in bytes is {key_len_total} (avg len {:.2})\n",
        if sampled > 0 {
            key_len_total as f64 / sampled as f64
        } else {
            0.0
        }
    );
    for (i, s) in stats.iter().enumerate() {
        if let Some(k) = &s.biggest_key {
            let unit = if memkeys { "bytes" } else { TYPES[i].3 };
            println!(
                "Biggest {:>6} found '{}' has {} {}",
                TYPES[i].0,
                repr(k),
                s.biggest,
                unit
            );
        }
    }
    println!();
    for (i, s) in stats.iter().enumerate() {
        let unit = if memkeys { "bytes" } else { TYPES[i].3 };
        println!(
            "{} {} with {} {} ({:05.2}% of keys, avg size {:.2})",
            s.keys,
            TYPES[i].1,
            s.total,
            unit,
            if sampled > 0 {
                s.keys as f64 * 100.0 / sampled as f64
            } else {
                0.0
            },
            if s.keys > 0 {
                s.total as f64 / s.keys as f64
            } else {
                0.0
            }
        );
    }
    if keystats {
        all_sizes.sort_by(|a, b| b.0.cmp(&a.0));
        println!("\n--- Top 10 key sizes ---");
        for (size, k, ti) in all_sizes.iter().take(10) {
            println!("  {:>10} {:<7} {}", size, TYPES[*ti].0, repr(k));
        }
        let mut sizes: Vec<u64> = all_sizes.iter().map(|a| a.0).collect();
        sizes.sort_unstable();
        println!(
            "\n--- Key size distribution ({}) ---",
            if memkeys { "bytes" } else { "elements" }
        );
        for p in [50.0, 75.0, 90.0, 99.0, 99.9, 100.0] {
            let v = if sizes.is_empty() {
                0
            } else {
                sizes[((p / 100.0 * sizes.len() as f64).ceil() as usize).clamp(1, sizes.len()) - 1]
            };
            println!("  p{p:<5} {v}");
        }
    }
    Ok(0)
}

/// The progress bar of the samplers: on stderr, only when it is a terminal, so stdout keeps
/// redis-cli's exact output. Lines printed through it go to stdout above the bar.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(total_keys: u64) -> Progress {
        if !std::io::stderr().is_terminal() || total_keys < 10_000 {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total_keys);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {percent:>3}% {human_pos}/{human_len} keys, {per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress(Some(bar))
    }

    fn println(&self, line: String) {
        match &self.0 {
            Some(b) => b.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn set(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.set_position(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Progress in percent, as redis-cli's `100 * (double)sampled / total_keys`.
fn percent(sampled: u64, total: u64) -> f64 {
    if total > 0 {
        100.0 * sampled as f64 / total as f64
    } else {
        0.0
    }
}

/// --hotkeys: OBJECT FREQ of every key (needs an LFU policy), the hottest ones.
pub fn hotkeys(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect()?;
    let total_keys = request(conn, &["DBSIZE"])?.as_int().unwrap_or(0).max(0) as u64;
    header("hot keys");
    // redis-cli's pool: HOTKEYS_SAMPLE counters in ascending order, index 0 the coldest.
    const HOTKEYS_SAMPLE: usize = 16;
    let progress = Progress::new(total_keys);
    let mut counters = [0i64; HOTKEYS_SAMPLE];
    let mut hot: Vec<String> = vec![String::new(); HOTKEYS_SAMPLE];
    let mut sampled = 0u64;
    let mut fatal = None;
    scan_keys(ctx, conn, |conn, keys| {
        let pct = percent(sampled, total_keys);
        let cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| vec![b"OBJECT".to_vec(), b"FREQ".to_vec(), k.clone()])
            .collect();
        for (k, f) in keys.iter().zip(conn.pipeline(&cmds)?) {
            let freq = match f {
                Frame::Integer(n) => n,
                Frame::Error(e) => {
                    fatal = Some(format!("Error: {}", String::from_utf8_lossy(&e)));
                    return Err(String::new());
                }
                _ => continue,
            };
            sampled += 1;
            if sampled % 1_000_000 == 0 {
                progress.println(format!("[{pct:05.2}%] Sampled {sampled} keys so far"));
            }
            let mut at = 0;
            while at < HOTKEYS_SAMPLE && freq > counters[at] {
                at += 1;
            }
            if at == 0 {
                continue;
            }
            at -= 1;
            if at != 0 && counters[at] != 0 {
                // Drop the coldest, shift the colder ones down.
                counters.copy_within(1..=at, 0);
                hot[..=at].rotate_left(1);
            }
            counters[at] = freq;
            hot[at] = repr(k);
            progress.println(format!(
                "[{pct:05.2}%] Hot key '{}' found so far with counter {freq}",
                hot[at]
            ));
        }
        progress.set(sampled);
        Ok(())
    })
    .or_else(|e| if fatal.is_some() { Ok(()) } else { Err(e) })?;
    progress.finish();
    if let Some(f) = fatal {
        return Err(f);
    }
    println!("\n-------- summary -------\n");
    println!("Sampled {sampled} keys in the keyspace!");
    for at in (0..HOTKEYS_SAMPLE).rev() {
        if counters[at] > 0 {
            println!(
                "hot key found with counter: {}\tkeyname: {}",
                counters[at], hot[at]
            );
        }
    }
    Ok(0)
}

/// Reads the `$<len>` or `$EOF:<40-byte mark>` preamble of a full sync (skipping the
/// newlines a master sends while it prepares the payload), calls `announce` with the length
/// (None: until the EOF mark), and streams the payload to `out`. Returns the payload bytes
/// and whether the EOF mark was used.
fn read_rdb(
    stream: &mut dyn Read,
    out: &mut dyn Write,
    announce: &dyn Fn(Option<u64>),
) -> Result<(u64, bool), String> {
    // Skip newlines the master sends as keepalives, read the bulk header.
    let mut header = Vec::new();
    let mut b = [0u8; 1];
    loop {
        stream
            .read_exact(&mut b)
            .map_err(|e| format!("I/O error reading bulk count from master: {e}"))?;
        if b[0] == b'\n' && header.is_empty() {
            continue;
        }
        header.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    let h = String::from_utf8_lossy(&header).trim_end().to_string();
    if h.starts_with('-') {
        return Err(format!("SYNC with master failed: {h}"));
    }
    let body = h
        .strip_prefix('$')
        .ok_or_else(|| format!("Bad protocol from master: {h}"))?;
    if let Some(mark) = body.strip_prefix("EOF:") {
        announce(None);
        let mark = mark.as_bytes().to_vec();
        let mut tail: Vec<u8> = Vec::new();
        let mut written = 0u64;
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let n = stream
                .read(&mut chunk)
                .map_err(|e| format!("I/O error reading RDB payload: {e}"))?;
            if n == 0 {
                return Err("Error reading RDB payload: the master closed the connection".into());
            }
            tail.extend_from_slice(&chunk[..n]);
            if tail.len() >= mark.len() && tail.ends_with(&mark) {
                let data = &tail[..tail.len() - mark.len()];
                out.write_all(data).map_err(|e| e.to_string())?;
                written += data.len() as u64;
                return Ok((written, true));
            }
            if tail.len() > mark.len() {
                let keep = tail.len() - mark.len();
                out.write_all(&tail[..keep]).map_err(|e| e.to_string())?;
                written += keep as u64;
                tail.drain(..keep);
            }
        }
    }
    let len: u64 = body
        .parse()
        .map_err(|_| format!("Bad protocol from master: {h}"))?;
    announce(Some(len));
    let mut left = len;
    let mut chunk = vec![0u8; 1 << 16];
    while left > 0 {
        let n = stream
            .read(&mut chunk[..(left as usize).min(1 << 16)])
            .map_err(|e| format!("I/O error reading RDB payload: {e}"))?;
        if n == 0 {
            return Err("Error reading RDB payload: the master closed the connection".into());
        }
        out.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    Ok((len, false))
}

fn replication_socket(conn: &mut Conn) -> Result<std::net::TcpStream, String> {
    let addr = conn.addr();
    let mut s = std::net::TcpStream::connect(&addr)
        .map_err(|e| format!("Could not connect to Redis at {addr}: {e}"))?;
    let mut send = |args: &[&str]| -> Result<(), String> {
        s.write_all(&crate::conn::encode_command(args))
            .map_err(|e| e.to_string())
    };
    if let Some(p) = conn.settings.password.clone() {
        match conn.settings.user.clone() {
            Some(u) => send(&["AUTH", &u, &p])?,
            None => send(&["AUTH", &p])?,
        }
        read_line(&mut s)?;
    }
    Ok(s)
}

fn read_line(s: &mut dyn Read) -> Result<String, String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b).map_err(|e| e.to_string())?;
        line.push(b[0]);
        if b[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
        }
    }
}

/// --rdb FILE / --functions-rdb FILE: a full sync with `REPLCONF rdb-only 1` (and
/// `rdb-filter-only functions`), payload written to FILE (or stdout with "-").
pub fn rdb(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    let functions = ctx.args.functions_rdb.is_some();
    let file = ctx
        .args
        .functions_rdb
        .clone()
        .or(ctx.args.rdb.clone())
        .unwrap();
    let mut s = replication_socket(conn)?;
    eprintln!("sending REPLCONF capa eof");
    s.write_all(&crate::conn::encode_command(&["REPLCONF", "capa", "eof"]))
        .map_err(|e| e.to_string())?;
    let r = read_line(&mut s)?;
    if r.starts_with('-') {
        eprintln!("REPLCONF capa error: {}", &r[1..]);
    }
    eprintln!("sending REPLCONF rdb-only 1");
    s.write_all(&crate::conn::encode_command(&["REPLCONF", "rdb-only", "1"]))
        .map_err(|e| e.to_string())?;
    let r = read_line(&mut s)?;
    if r.starts_with('-') {
        eprintln!("REPLCONF rdb-only error: {}", &r[1..]);
    }
    if functions {
        eprintln!("sending REPLCONF rdb-filter-only functions");
        s.write_all(&crate::conn::encode_command(&[
            "REPLCONF",
            "rdb-filter-only",
            "functions",
        ]))
        .map_err(|e| e.to_string())?;
        let r = read_line(&mut s)?;
        if r.starts_with('-') {
            eprintln!("REPLCONF rdb-filter-only error: {}", &r[1..]);
        }
    }
    s.write_all(&crate::conn::encode_command(&["SYNC"]))
        .map_err(|e| e.to_string())?;
    let name = file.clone();
    let announce = move |len: Option<u64>| match len {
        None => eprintln!(
            "SYNC sent to master, writing bytes of bulk transfer until EOF marker to '{name}'"
        ),
        Some(n) => eprintln!("SYNC sent to master, writing {n} bytes to '{name}'"),
    };
    let (n, marked) = if file == "-" {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        read_rdb(&mut s, &mut out, &announce)?
    } else {
        // Unlike redis-cli, an existing FILE is only replaced once the whole payload arrived.
        let tmp = format!("{file}.tmp-{}", std::process::id());
        let mut f =
            std::fs::File::create(&tmp).map_err(|e| format!("Error opening '{file}': {e}"))?;
        let r = read_rdb(&mut s, &mut f, &announce).and_then(|r| {
            f.sync_all()
                .map_err(|e| format!("Fail to fsync '{file}': {e}"))?;
            std::fs::rename(&tmp, &file).map_err(|e| format!("Error writing '{file}': {e}"))?;
            Ok(r)
        });
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r?
    };
    if marked {
        eprintln!("Transfer finished with success after {n} bytes");
    } else {
        eprintln!("Transfer finished with success.");
    }
    Ok(0)
}

/// --replica: full sync (payload discarded), then every command of the replication stream
/// printed as CSV, as redis-cli's replica mode.
pub fn replica(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    let _ = ctx;
    let mut s = replication_socket(conn)?;
    eprintln!("sending REPLCONF capa eof");
    s.write_all(&crate::conn::encode_command(&["REPLCONF", "capa", "eof"]))
        .map_err(|e| e.to_string())?;
    read_line(&mut s)?;
    eprintln!("sending REPLCONF rdb-filter-only ");
    s.write_all(&crate::conn::encode_command(&[
        "REPLCONF",
        "rdb-filter-only",
        "",
    ]))
    .map_err(|e| e.to_string())?;
    read_line(&mut s)?;
    s.write_all(&crate::conn::encode_command(&["SYNC"]))
        .map_err(|e| e.to_string())?;
    let announce = |len: Option<u64>| match len {
        None => {
            eprintln!("SYNC with master, discarding bytes of bulk transfer until EOF marker...")
        }
        Some(n) => eprintln!("SYNC with master, discarding {n} bytes of bulk transfer..."),
    };
    let (n, marked) = read_rdb(&mut s, &mut std::io::sink(), &announce)?;
    if marked {
        eprintln!("SYNC done after {n} bytes. Logging commands from master.");
        // A diskless (EOF-marked) transfer puts the replica online only after an ACK. The
        // master does not answer it (redis-cli waits for a reply anyway and so swallows the
        // first command of the stream; we print every command).
        eprintln!("sending REPLCONF ACK 0");
        s.write_all(&crate::conn::encode_command(&["REPLCONF", "ACK", "0"]))
            .map_err(|e| e.to_string())?;
    } else {
        eprintln!("SYNC done. Logging commands from master.");
    }
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let mut client = ReplicationReader {
        s,
        buf: Vec::new(),
        ack: marked,
    };
    loop {
        let f = client.next()?;
        println!("{}", String::from_utf8_lossy(&crate::format::csv(&f)));
        let _ = std::io::stdout().flush();
    }
}

struct ReplicationReader {
    s: std::net::TcpStream,
    buf: Vec<u8>,
    /// Send `REPLCONF ACK` on idle seconds (diskless transfers).
    ack: bool,
}

impl ReplicationReader {
    fn next(&mut self) -> Result<Frame, String> {
        loop {
            if let Some((f, n)) =
                pyrope_common::resp::parse_frame(&self.buf).map_err(|e| e.to_string())?
            {
                self.buf.drain(..n);
                return Ok(f);
            }
            let mut chunk = [0u8; 16384];
            let n = match self.s.read(&mut chunk) {
                Ok(n) => n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    // A replica ACKs every second. The first ACK is what puts a diskless
                    // replica online, and the master drops it if it arrives before the
                    // master has reaped its RDB child, so keep sending.
                    if self.ack {
                        self.s
                            .write_all(&crate::conn::encode_command(&["REPLCONF", "ACK", "0"]))
                            .map_err(|e| e.to_string())?;
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            };
            if n == 0 {
                return Err("Error: the master closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// --eval FILE keys , args: `EVAL <script> <numkeys> keys... args...`.
pub fn eval(ctx: &Ctx, conn: &mut Conn, file: &str) -> Result<i32, String> {
    let script =
        std::fs::read_to_string(file).map_err(|e| format!("Can't open file '{file}': {e}"))?;
    let mut keys = Vec::new();
    let mut argv = Vec::new();
    let mut after_comma = false;
    for w in &ctx.args.command {
        if w == "," && !after_comma {
            after_comma = true;
            continue;
        }
        if after_comma {
            argv.push(w.clone());
        } else {
            keys.push(w.clone());
        }
    }
    let mut cmd = vec!["EVAL".to_string(), script, keys.len().to_string()];
    cmd.extend(keys);
    cmd.extend(argv);
    let err = crate::send_command(ctx, conn, &cmd, 1, ctx.args.exit_on_error)?;
    Ok(i32::from(err && ctx.args.exit_on_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(1000), "1000B");
        assert_eq!(bytes_to_human(2411724), "2.30M");
    }

    #[test]
    fn rdb_payloads_with_length_and_eof_marker() {
        let seen = std::cell::RefCell::new(Vec::new());
        let announce = |len: Option<u64>| seen.borrow_mut().push(len);
        let mut out = Vec::new();
        let n = read_rdb(&mut &b"\n\n$5\r\nREDIS"[..], &mut out, &announce).unwrap();
        assert_eq!((n, out.as_slice()), ((5, false), &b"REDIS"[..]));
        let mark = "a".repeat(40);
        let wire = format!("$EOF:{mark}\r\nREDIS0011payload{mark}");
        let mut out = Vec::new();
        let n = read_rdb(&mut wire.as_bytes(), &mut out, &announce).unwrap();
        assert_eq!((n, out.as_slice()), ((16, true), &b"REDIS0011payload"[..]));
        assert_eq!(*seen.borrow(), vec![Some(5), None]);
        assert!(read_rdb(&mut &b"-ERR no\r\n"[..], &mut Vec::new(), &announce).is_err());
        // A master that closes early is an error, not a short file.
        assert!(read_rdb(&mut &b"$9\r\nREDIS"[..], &mut Vec::new(), &announce).is_err());
    }
}
