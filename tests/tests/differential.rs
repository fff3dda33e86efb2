//! Differential tests: every script in `tests/scripts/*.redis` is run against the reference
//! Redis 7.4.1 and against pyrope-server, and the replies are compared byte for byte.
//!
//! Script format (one command per line, quoted as redis-cli / redis.conf):
//! - `COMMAND args...`        replies must be byte-identical
//! - `!sort COMMAND ...`      the reply is an array whose order is not deterministic: compare
//!                            sorted elements (flat arrays) / sorted pairs (maps)
//! - `!scan SCAN 0 ...`       iterate the cursor to the end on each server; compare the sorted
//!                            set of keys returned (also `HSCAN key 0 ...`: the set of
//!                            fields and values)
//! - `!ignore COMMAND ...`    run on both, do not compare (TIME, CLIENT ID, ...)
//! - `!shape COMMAND ...`     compare only the reply's RESP type and array lengths
//! - `!ms COMMAND ...`        byte-identical except the millisecond times in it, which may
//!                            differ by up to 1000 (same sign): the values of `seen-time`
//!                            `active-time` `idle` `inactive` `delivery-time` keys (XINFO,
//!                            maps or flat pairs), the third of a [bulk, bulk, int, int]
//!                            entry (XPENDING's extended form, XINFO STREAM FULL's group
//!                            PEL) and the second of a [bulk, int, int] entry (a consumer's
//!                            PEL in XINFO STREAM FULL)
//! - `!debugobj DEBUG OBJECT k`  byte-identical except the value's address (`at:`) and its
//!                            LRU clock fields (`lru:`, `lru_seconds_idle:`)
//! - `!sleep MS`              pause both sides
//! - `!read`                  read one more reply (a pub/sub message, a RESP3 push) on each
//!                            side and compare bytes; 5 s at most
//! - `!send COMMAND ...`      send without reading a reply (CLIENT REPLY OFF/SKIP, a
//!                            blocking command whose reply a later `!read` takes)
//! - `!blocked N`             wait until each server reports N blocked clients (INFO), so
//!                            what follows runs after the blocking commands sent before
//! - `!none`                  neither side has anything to read within 300 ms
//! - `!drain`                 read everything each side sends until 300 ms of silence and
//!                            compare the concatenation (keyspace notification sequences)
//! - `@name <line>`           run the line on connection `name` (opened on first use; the
//!                            default connection is `@main`), for pub/sub and notifications
//! - `$id:name` as an argument  the client id of connection `name` on each side (CLIENT
//!                            TRACKING ... REDIRECT $id:inv); read with CLIENT ID the first
//!                            time it is used, so before `name` enters RESP2 subscribed mode
//! - `# ...` and blank lines  ignored
//!
//! Each script starts on fresh connections after FLUSHALL, so scripts are independent. The
//! reference server must be installed; without it this test fails with instructions.
//!
//! `PYROPE_DIFF_ONLY=<substring of the script path>` runs the matching scripts only;
//! `PYROPE_DIFF_TRACE=1` prints every line's two replies (run with `-- --nocapture`): a
//! command that answers twice leaves its connection one reply behind on both servers, which
//! comparisons cannot see but a trace shows.

use pyrope_common::client::Client;
use pyrope_common::conf::split_args;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::path::PathBuf;

fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(600) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > 600 {
        s.push_str("...");
    }
    s
}

fn sorted(f: &Frame) -> Vec<Vec<u8>> {
    let mut items: Vec<Vec<u8>> = match f {
        Frame::Map(kv) => kv
            .iter()
            .map(|(k, v)| {
                let mut b = Vec::new();
                k.encode(&mut b);
                v.encode(&mut b);
                b
            })
            .collect(),
        other => other
            .as_array()
            .unwrap_or(&[])
            .iter()
            .map(|x| {
                let mut b = Vec::new();
                x.encode(&mut b);
                b
            })
            .collect(),
    };
    items.sort();
    items
}

fn shape(f: &Frame) -> String {
    match f {
        Frame::Array(Some(v)) | Frame::Set(v) | Frame::Push(v) => {
            format!("[{}]", v.iter().map(shape).collect::<Vec<_>>().join(","))
        }
        Frame::Map(kv) => format!("{{{}}}", kv.len()),
        Frame::Bulk(Some(_)) => "bulk".into(),
        Frame::Bulk(None) => "nil".into(),
        Frame::Simple(_) => "simple".into(),
        Frame::Error(_) => "error".into(),
        Frame::Integer(_) => "int".into(),
        other => format!("{other:?}").chars().take(12).collect(),
    }
}

/// Keys whose integer value is a time in ms (`!ms`).
const MS_KEYS: [&[u8]; 5] = [
    b"seen-time",
    b"active-time",
    b"idle",
    b"inactive",
    b"delivery-time",
];

/// `f` with its millisecond times (see `!ms`) replaced by 0, the times pushed to `times` in
/// reply order.
fn mask_ms(f: &Frame, times: &mut Vec<i64>) -> Frame {
    fn take(x: &Frame, times: &mut Vec<i64>) -> Frame {
        match x {
            Frame::Integer(i) => {
                times.push(*i);
                Frame::Integer(0)
            }
            other => other.clone(),
        }
    }
    let is_key = |x: &Frame| matches!(x, Frame::Bulk(Some(k)) if MS_KEYS.contains(&k.as_slice()));
    match f {
        Frame::Map(kv) => Frame::Map(
            kv.iter()
                .map(|(k, v)| {
                    let v = if is_key(k) {
                        take(v, times)
                    } else {
                        mask_ms(v, times)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Frame::Array(Some(v)) => {
            use Frame::{Bulk, Integer};
            let entry_at = match v.as_slice() {
                [Bulk(Some(_)), Bulk(Some(_)), Integer(_), Integer(_)] => Some(2),
                [Bulk(Some(_)), Integer(_), Integer(_)] => Some(1),
                _ => None,
            };
            let mut out = Vec::with_capacity(v.len());
            for (i, x) in v.iter().enumerate() {
                let after_key = i > 0 && is_key(&v[i - 1]);
                if entry_at == Some(i) || (after_key && matches!(x, Integer(_))) {
                    out.push(take(x, times));
                } else {
                    out.push(mask_ms(x, times));
                }
            }
            Frame::Array(Some(out))
        }
        other => other.clone(),
    }
}

fn scan_all(c: &mut Client, args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    let mut cursor = b"0".to_vec();
    // SCAN's cursor is argument 1; HSCAN/SSCAN/ZSCAN's is argument 2 (after the key).
    let at = if args[0].eq_ignore_ascii_case(b"scan") {
        1
    } else {
        2
    };
    for _ in 0..100_000 {
        let mut a = args.to_vec();
        a[at] = cursor.clone();
        let r = c.call(&a).expect("scan reply");
        let Some(parts) = r.as_array() else {
            return vec![format!("non-array reply {r:?}").into_bytes()];
        };
        cursor = parts[0].as_bytes().unwrap().to_vec();
        for k in parts[1].as_array().unwrap() {
            keys.push(k.as_bytes().unwrap().to_vec());
        }
        if cursor == b"0" {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

struct Mismatch {
    place: String,
    command: String,
    redis: String,
    pyrope: String,
}

fn run_script(
    path: &PathBuf,
    redis: &TestServer,
    pyrope: &TestServer,
    out: &mut Vec<Mismatch>,
) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut conns: std::collections::HashMap<String, (Client, Client)> = Default::default();
    conns.insert("main".into(), (redis.client(), pyrope.client()));
    {
        let (rc, pc) = conns.get_mut("main").unwrap();
        for c in [rc, pc] {
            c.call(&["FLUSHALL"]).unwrap();
            c.call(&["CONFIG", "RESETSTAT"]).unwrap();
        }
    }
    let mut ids: std::collections::HashMap<String, (Vec<u8>, Vec<u8>)> = Default::default();
    let mut checked = 0;
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (conn, line) = match line.strip_prefix('@') {
            Some(r) => match r.split_once(' ') {
                Some((n, rest)) => (n.to_string(), rest.trim()),
                None => (r.to_string(), ""),
            },
            None => ("main".to_string(), line),
        };
        // `$id:name` arguments: each side gets its own client id of connection `name`.
        let mut id_subst: Vec<(String, (Vec<u8>, Vec<u8>))> = Vec::new();
        for w in line.split_whitespace() {
            if let Some(n) = w.strip_prefix("$id:") {
                if !ids.contains_key(n) {
                    let (rc, pc) = conns
                        .entry(n.to_string())
                        .or_insert_with(|| (redis.client(), pyrope.client()));
                    let get = |c: &mut Client| match c.call(&["CLIENT", "ID"]).unwrap() {
                        Frame::Integer(i) => i.to_string().into_bytes(),
                        other => panic!("CLIENT ID: {other:?}"),
                    };
                    let v = (get(rc), get(pc));
                    ids.insert(n.to_string(), v);
                }
                id_subst.push((w.to_string(), ids[n].clone()));
            }
        }
        let (rc, pc) = conns
            .entry(conn)
            .or_insert_with(|| (redis.client(), pyrope.client()));
        let (mode, rest) = match line.split_once(' ') {
            Some((m, r)) if m.starts_with('!') => (m, r),
            _ if line.starts_with('!') => (line, ""),
            _ => ("", line),
        };
        let args = match split_args(rest.as_bytes()) {
            Ok(a) => a,
            Err(e) => panic!("{name}:{}: bad line ({e}): {line}", lineno + 1),
        };
        let (rargs, pargs) = if id_subst.is_empty() {
            (args.clone(), args.clone())
        } else {
            let side = |first: bool| -> Vec<Vec<u8>> {
                args.iter()
                    .map(
                        |a| match id_subst.iter().find(|(w, _)| w.as_bytes() == a.as_slice()) {
                            Some((_, (r, p))) => {
                                if first {
                                    r.clone()
                                } else {
                                    p.clone()
                                }
                            }
                            None => a.clone(),
                        },
                    )
                    .collect()
            };
            (side(true), side(false))
        };
        if mode == "!sleep" {
            let ms: u64 = rest.trim().parse().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(ms));
            continue;
        }
        let place = format!("{name}:{}", lineno + 1);
        let mut mismatch = |r: String, p: String| {
            out.push(Mismatch {
                place: place.clone(),
                command: rest.to_string(),
                redis: r,
                pyrope: p,
            });
        };
        checked += 1;
        if mode == "!blocked" {
            // Wait (10 s at most) until each server has exactly N blocked clients, so that the
            // next line runs after the blocking commands sent before it were processed.
            let want: String = rest.trim().to_string();
            let mut seen = Vec::new();
            for srv in [redis, pyrope] {
                let mut poll = srv.client();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                let got = loop {
                    let info = poll.call(&["INFO", "clients"]).unwrap();
                    let text = String::from_utf8_lossy(info.as_bytes().unwrap_or(b"")).into_owned();
                    let n = text
                        .lines()
                        .find_map(|l| l.strip_prefix("blocked_clients:"))
                        .unwrap_or("?")
                        .to_string();
                    if n == want || std::time::Instant::now() > deadline {
                        break n;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                };
                seen.push(got);
            }
            if seen[0] != want || seen[1] != want {
                mismatch(
                    format!("blocked_clients:{}", seen[0]),
                    format!("blocked_clients:{}", seen[1]),
                );
            }
            continue;
        }
        if mode == "!send" {
            rc.send(&rargs).unwrap();
            pc.send(&pargs).unwrap();
            continue;
        }
        if mode == "!drain" {
            let mut all = Vec::new();
            for c in [&mut *rc, &mut *pc] {
                c.set_read_timeout(Some(std::time::Duration::from_millis(300)))
                    .unwrap();
                let mut got = Vec::new();
                while let Ok((_, raw)) = c.read_reply_raw() {
                    got.extend_from_slice(&raw);
                }
                c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                    .unwrap();
                all.push(got);
            }
            if all[0] != all[1] {
                mismatch(escape(&all[0]), escape(&all[1]));
            }
            continue;
        }
        if mode == "!none" {
            for c in [&mut *rc, &mut *pc] {
                c.set_read_timeout(Some(std::time::Duration::from_millis(300)))
                    .unwrap();
            }
            let r = rc.read_reply_raw().map(|x| escape(&x.1));
            let p = pc.read_reply_raw().map(|x| escape(&x.1));
            for c in [&mut *rc, &mut *pc] {
                c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                    .unwrap();
            }
            if r.is_ok() || p.is_ok() {
                mismatch(
                    r.unwrap_or_else(|_| "<nothing>".into()),
                    p.unwrap_or_else(|_| "<nothing>".into()),
                );
            }
            continue;
        }
        if mode == "!scan" {
            let (r, p) = (scan_all(rc, &args), scan_all(pc, &args));
            if r != p {
                mismatch(
                    format!("{:?}", r.iter().map(|k| escape(k)).collect::<Vec<_>>()),
                    format!("{:?}", p.iter().map(|k| escape(k)).collect::<Vec<_>>()),
                );
            }
            continue;
        }
        if mode == "!read" {
            for c in [&mut *rc, &mut *pc] {
                c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
            }
        } else {
            rc.send(&rargs).unwrap();
            pc.send(&pargs).unwrap();
        }
        let (rf, rraw) = rc
            .read_reply_raw()
            .unwrap_or_else(|e| panic!("{place}: redis: {e}"));
        let (pf, praw) = match pc.read_reply_raw() {
            Ok(x) => x,
            Err(e) => {
                mismatch(escape(&rraw), format!("<no reply: {e}>"));
                *pc = pyrope.client();
                continue;
            }
        };
        if mode == "!read" {
            for c in [&mut *rc, &mut *pc] {
                c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                    .unwrap();
            }
        }
        if std::env::var_os("PYROPE_DIFF_TRACE").is_some() {
            eprintln!(
                "TRACE {place}: redis {} | pyrope {}",
                escape(&rraw),
                escape(&praw)
            );
        }
        match mode {
            "" | "!read" => {
                if rraw != praw {
                    // Show the neighbourhood of the first differing byte.
                    let at = rraw
                        .iter()
                        .zip(praw.iter())
                        .position(|(a, b)| a != b)
                        .unwrap_or(rraw.len().min(praw.len()));
                    let from = at.saturating_sub(120);
                    let note = if from > 0 {
                        format!("(from byte {from}) ")
                    } else {
                        String::new()
                    };
                    mismatch(
                        format!("{note}{}", escape(&rraw[from..])),
                        format!("{note}{}", escape(&praw[from..])),
                    );
                }
            }
            "!sort" => {
                if sorted(&rf) != sorted(&pf)
                    || std::mem::discriminant(&rf) != std::mem::discriminant(&pf)
                {
                    mismatch(escape(&rraw), escape(&praw));
                }
            }
            "!shape" => {
                if shape(&rf) != shape(&pf) {
                    mismatch(
                        format!("{} = {}", shape(&rf), escape(&rraw)),
                        format!("{} = {}", shape(&pf), escape(&praw)),
                    );
                }
            }
            "!ms" => {
                let (mut rt, mut pt) = (Vec::new(), Vec::new());
                let (rm, pm) = (mask_ms(&rf, &mut rt), mask_ms(&pf, &mut pt));
                let close = rt.len() == pt.len()
                    && rt
                        .iter()
                        .zip(&pt)
                        .all(|(a, b)| (*a < 0) == (*b < 0) && a.abs_diff(*b) <= 1000);
                if rm != pm || !close {
                    mismatch(
                        format!("times {rt:?} in {}", escape(&rraw)),
                        format!("times {pt:?} in {}", escape(&praw)),
                    );
                }
            }
            "!debugobj" => {
                if mask_debug_object(&rraw) != mask_debug_object(&praw) {
                    mismatch(escape(&rraw), escape(&praw));
                }
            }
            "!ignore" => {}
            other => panic!("{place}: unknown directive {other}"),
        }
    }
    // Nothing may be left unread: a reply left over means some line answered twice and every
    // later comparison on that connection read the reply of the line before (equal on both
    // servers, so it went unseen, but racy against the other connections).
    let mut names: Vec<_> = conns.keys().cloned().collect();
    names.sort();
    for n in names {
        let (rc, pc) = conns.get_mut(&n).unwrap();
        let mut left = Vec::new();
        for c in [&mut *rc, &mut *pc] {
            c.set_read_timeout(Some(std::time::Duration::from_millis(30)))
                .unwrap();
            left.push(c.read_reply_raw().map(|x| escape(&x.1)).ok());
        }
        if left[0].is_some() || left[1].is_some() {
            out.push(Mismatch {
                place: format!("{name}: end"),
                command: format!("@{n}: a reply left unread"),
                redis: left[0].clone().unwrap_or_default(),
                pyrope: left[1].clone().unwrap_or_default(),
            });
        }
    }
    checked
}

/// A DEBUG OBJECT reply with the fields that cannot match masked: the address and the LRU
/// clock readings.
fn mask_debug_object(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .split(' ')
        .map(|t| match t.split_once(':') {
            Some((k @ ("at" | "lru" | "lru_seconds_idle"), _)) => format!("{k}:*"),
            _ => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn replies_match_redis_7_4() {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let redis = TestServer::redis(&args);
    let pyrope = TestServer::pyrope(&args);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    let only = std::env::var("PYROPE_DIFF_ONLY").ok();
    let mut mismatches = Vec::new();
    let mut total = 0;
    for f in &files {
        if only
            .as_ref()
            .is_some_and(|o| !f.to_string_lossy().contains(o.as_str()))
        {
            continue;
        }
        total += run_script(f, &redis, &pyrope, &mut mismatches);
    }
    let mut report = String::new();
    for m in &mismatches {
        report.push_str(&format!(
            "\n{}: {}\n  redis : {}\n  pyrope: {}\n",
            m.place, m.command, m.redis, m.pyrope
        ));
    }
    assert!(
        mismatches.is_empty(),
        "{} of {total} replies differ from Redis 7.4.1:{report}",
        mismatches.len()
    );
    eprintln!(
        "differential: {total} replies identical across {} scripts",
        files.len()
    );
}
