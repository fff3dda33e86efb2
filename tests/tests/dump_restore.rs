//! DUMP / RESTORE against Redis 7.4.1: payloads travel both ways with the same
//! `DEBUG DIGEST-VALUE`, encoding and TTL; the corpus's `dump_b64` payloads restore on both
//! servers alike; the propagated form (relative TTL rewritten to an absolute one + ABSTTL,
//! DEL/UNLINK of a key replaced by an already expired one) equals a Redis replica's stream;
//! IDLETIME/FREQ set the access metadata; lazy-free of a replaced value; random payloads get
//! an error, never a crash.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

fn c(cl: &mut Client, args: &[&[u8]]) -> Frame {
    cl.call(args).expect("reply")
}

fn s(cl: &mut Client, args: &[&str]) -> Frame {
    cl.call(args).expect("reply")
}

fn bytes(f: &Frame) -> Vec<u8> {
    match f {
        Frame::Bulk(Some(b)) => b.clone(),
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

/// Builds the same dataset on a server: every type and encoding, including the
/// hash-table forms whose order is random (only digests compare them) and streams with
/// consumers and pending entries.
fn fill(cl: &mut Client) {
    let big = "v".repeat(70);
    let cmds: Vec<Vec<String>> = vec![
        "SET s:int 12345",
        "SET s:shared 7",
        "SET s:emb hello",
        "SET s:empty ''",
        "RPUSH l:lp a b 1 2 -3",
        "CONFIG SET list-max-listpack-size 4",
        "RPUSH l:ql 1 2 3 4 5 6 7 8 9 10 11 x y z",
        "CONFIG SET list-max-listpack-size -2",
        "SADD set:is 1 2 3 -7 100000",
        "SADD set:lp a b c 1",
        "HSET h:lp f1 v1 f2 2",
        "HSET hx a 1 b 2 c 3",
        "HPEXPIREAT hx 4102444800000 FIELDS 2 a c",
        "ZADD z:lp 1 a 2.5 b -3 c",
        "XADD st 1-1 a 1 b 2",
        "XADD st 1-2 a 3",
        "XADD st 2-1 c 4",
        "XDEL st 1-2",
        "XGROUP CREATE st g1 0",
        "XGROUP CREATE st g2 $",
        "XREADGROUP GROUP g1 alice COUNT 1 STREAMS st >",
        "XREADGROUP GROUP g1 bob STREAMS st >",
        "XGROUP CREATECONSUMER st g2 carol",
        "PFADD hll a b c d",
    ]
    .into_iter()
    .map(|l| {
        l.split(' ')
            .map(|w| if w == "''" { String::new() } else { w.into() })
            .collect()
    })
    .collect();
    for cmd in &cmds {
        let r = cl.call(cmd).unwrap();
        assert!(!matches!(r, Frame::Error(_)), "{cmd:?}: {r:?}");
    }
    let mut raw = vec!["SET".to_string(), "s:raw".into(), "r".repeat(60)];
    cl.call(&raw).unwrap();
    raw[1] = "s:lzf".into();
    raw[2] = "abc".repeat(30);
    cl.call(&raw).unwrap();
    let mut sadd = vec!["SADD".to_string(), "set:ht".into()];
    let mut hset = vec!["HSET".to_string(), "h:ht".into()];
    let mut zadd = vec!["ZADD".to_string(), "z:sl".into()];
    for i in 0..200 {
        sadd.push(format!("member-{i}"));
        hset.push(format!("field-{i}"));
        hset.push(format!("value-{i}"));
        zadd.push(format!("{}", i as f64 / 3.0));
        zadd.push(format!("m-{i}"));
    }
    for cmd in [&sadd, &hset, &zadd] {
        cl.call(cmd).unwrap();
    }
    // A hash-table hash with field TTLs (RDB type 24 in the payload), and one with a big value.
    s(cl, &["HSET", "h:htx", "a", &big, "b", "2", "c", "3"]);
    s(
        cl,
        &[
            "HPEXPIREAT",
            "h:htx",
            "4102444800000",
            "FIELDS",
            "2",
            "a",
            "c",
        ],
    );
    s(cl, &["SET", "s:ttl", "v", "PX", "100000000"]);
}

fn keys(cl: &mut Client) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = s(cl, &["KEYS", "*"])
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_bytes().unwrap().to_vec())
        .collect();
    k.sort();
    k
}

/// DUMP every key of `from`, RESTORE it into `to` (empty), with the source's PTTL; then
/// both have the same keys, digests per value, encodings and TTL presence.
fn transfer(from: &mut Client, to: &mut Client, what: &str) {
    let ks = keys(from);
    assert!(ks.len() >= 20, "{what}: {} keys", ks.len());
    for k in &ks {
        let p = bytes(&c(from, &[b"DUMP", k]));
        let ttl = c(from, &[b"PTTL", k]).as_int().unwrap().max(0).to_string();
        let r = c(to, &[b"RESTORE", k, ttl.as_bytes(), &p]);
        assert_eq!(
            r,
            Frame::Simple("OK".into()),
            "{what}: RESTORE {}",
            String::from_utf8_lossy(k)
        );
    }
    assert_eq!(keys(to), ks, "{what}");
    for k in &ks {
        let name = String::from_utf8_lossy(k);
        assert_eq!(
            c(from, &[b"TYPE", k]),
            c(to, &[b"TYPE", k]),
            "{what}: {name}"
        );
        // The encoding a RESTORE gives (a raw HLL comes back embstr): compared with the
        // source server restoring the same payload.
        let p = bytes(&c(from, &[b"DUMP", k]));
        c(from, &[b"RESTORE", b"__tmp", b"0", &p]);
        assert_eq!(
            c(from, &[b"OBJECT", b"ENCODING", b"__tmp"]),
            c(to, &[b"OBJECT", b"ENCODING", k]),
            "{what}: encoding of {name}"
        );
        c(from, &[b"DEL", b"__tmp"]);
        let d = [&b"DEBUG"[..], b"DIGEST-VALUE", k];
        assert_eq!(c(from, &d), c(to, &d), "{what}: digest of {name}");
        let ttl_from = c(from, &[b"PTTL", k]).as_int().unwrap();
        let ttl_to = c(to, &[b"PTTL", k]).as_int().unwrap();
        assert_eq!(ttl_from < 0, ttl_to < 0, "{what}: TTL of {name}");
        assert!((ttl_from - ttl_to).abs() < 60_000, "{what}: TTL of {name}");
    }
    // Field TTLs survive.
    for cl in [from, to] {
        assert_eq!(
            s(cl, &["HPEXPIRETIME", "hx", "FIELDS", "3", "a", "b", "c"]),
            Frame::Array(Some(vec![int(4102444800000), int(-1), int(4102444800000)])),
            "{what}"
        );
    }
}

#[test]
fn payloads_round_trip_between_redis_and_pyrope() {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let redis = TestServer::redis(&args);
    let pyrope = TestServer::pyrope(&args);
    let (mut rc, mut pc) = (redis.client(), pyrope.client());
    fill(&mut rc);
    transfer(&mut rc, &mut pc, "redis -> pyrope");
    s(&mut rc, &["FLUSHALL"]);
    s(&mut pc, &["FLUSHALL"]);
    fill(&mut pc);
    transfer(&mut pc, &mut rc, "pyrope -> redis");
    // Same data and encodings, fixed order: byte-identical payloads.
    for k in [
        "s:int", "s:emb", "s:raw", "s:lzf", "l:lp", "l:ql", "set:is", "hx", "z:sl",
    ] {
        assert_eq!(
            s(&mut rc, &["DUMP", k]),
            s(&mut pc, &["DUMP", k]),
            "DUMP {k}"
        );
    }
}

/// Standard base64 (the corpus's `dump_b64`).
fn b64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for &ch in s.as_bytes().iter().filter(|&&b| b != b'=') {
        acc = (acc << 6) | val(ch) as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn corpus_dir() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("PYROPE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
        })
        .join("corpus/rdb");
    p.is_dir().then_some(p)
}

fn json_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// Every `dump_b64` of the corpus RESTOREs on Pyrope as on Redis 7.4.1: the same reply, and
/// when restored the JSON's type, a string's length, and on both sides the same encoding and
/// `DEBUG DIGEST-VALUE`.
#[test]
fn corpus_payloads_restore_as_on_redis() {
    require_reference();
    let Some(dir) = corpus_dir() else {
        eprintln!("no corpus: skipped");
        return;
    };
    let args = ["--enable-debug-command", "yes"];
    let redis = TestServer::redis(&args);
    let pyrope = TestServer::pyrope(&args);
    let (mut rc, mut pc) = (redis.client(), pyrope.client());
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();
    let (mut n, mut restored) = (0, 0);
    for f in &files {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let Some(dbs) = json["dbs"].as_object() else {
            continue;
        };
        for d in dbs.values() {
            for k in d["keys"].as_array().into_iter().flatten() {
                let Some(p) = k["dump_b64"].as_str() else {
                    continue;
                };
                let p = b64(p);
                n += 1;
                let key = format!("k{n}");
                let place = format!("{}: {}", f.display(), k["key"]);
                let rr = c(&mut rc, &[b"RESTORE", key.as_bytes(), b"0", &p]);
                let pr = c(&mut pc, &[b"RESTORE", key.as_bytes(), b"0", &p]);
                assert_eq!(rr, pr, "{place}");
                if pr != Frame::Simple("OK".into()) {
                    continue;
                }
                restored += 1;
                let ty = s(&mut pc, &["TYPE", &key]);
                if let Some(want) = k["type"].as_str() {
                    assert_eq!(ty, Frame::Simple(want.into()), "{place}");
                }
                if let (Some(len), "string") = (k["len"].as_i64(), k["type"].as_str().unwrap_or(""))
                {
                    assert_eq!(s(&mut pc, &["STRLEN", &key]), int(len), "{place}");
                }
                for args in [
                    vec!["OBJECT", "ENCODING", key.as_str()],
                    vec!["DEBUG", "DIGEST-VALUE", key.as_str()],
                ] {
                    assert_eq!(s(&mut rc, &args), s(&mut pc, &args), "{place} {args:?}");
                }
            }
        }
    }
    assert!(n > 500, "{n} payloads");
    eprintln!("{restored} of {n} corpus payloads restored, all as on Redis");
}

/// The stream as commands, 13-digit unix-ms arguments masked, payloads shown by length,
/// PINGs dropped.
fn commands(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (f, used) = pyrope_common::resp::parse_frame(rest)
            .expect("frame")
            .expect("complete frame");
        rest = &rest[used..];
        let Frame::Array(Some(parts)) = f else {
            panic!("non-command in stream: {f:?}")
        };
        let words: Vec<String> = parts
            .iter()
            .map(|p| {
                let b = p.as_bytes().unwrap();
                if b.len() == 13 && b.iter().all(u8::is_ascii_digit) {
                    "<ms>".into()
                } else if b.iter().any(|&x| !(0x20..0x7f).contains(&x)) {
                    format!("<{} bytes>", b.len())
                } else {
                    String::from_utf8_lossy(b).into_owned()
                }
            })
            .collect();
        let line = words.join(" ");
        if line != "PING" {
            out.push(line);
        }
    }
    out
}

#[test]
fn restore_propagates_as_redis() {
    require_reference();
    let redis = replica_source(&["--enable-debug-command", "yes"]);
    let pyrope = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let (mut rc, mut pc) = (redis.client(), pyrope.client());
    let mut replica = ReplicaLink::attach(&redis.addr());
    let stream = |pc: &mut Client| bytes(&s(pc, &["DEBUG", "REPL-STREAM"]));
    assert_eq!(stream(&mut pc), b"");
    s(&mut rc, &["RPUSH", "src", "a", "b", "c"]);
    let p = bytes(&s(&mut rc, &["DUMP", "src"]));
    s(&mut rc, &["DEL", "src"]);
    let _ = replica.drain(Duration::from_millis(300));
    let steps: &[&[&[u8]]] = &[
        &[b"RESTORE", b"k1", b"0", &p],
        &[b"RESTORE", b"k2", b"100000", &p],
        &[b"RESTORE", b"k3", b"100000", &p, b"IDLETIME", b"5"],
        &[b"RESTORE", b"k4", b"4102444800000", &p, b"ABSTTL"],
        &[b"RESTORE", b"k1", b"100000", &p, b"REPLACE"],
        &[b"RESTORE", b"k1", b"0", &p],
        &[b"RESTORE", b"k5", b"1", &p, b"ABSTTL"],
        &[b"RESTORE", b"k1", b"1", &p, b"ABSTTL", b"REPLACE"],
        &[b"CONFIG", b"SET", b"lazyfree-lazy-server-del", b"yes"],
        &[b"RESTORE", b"k2", b"1", &p, b"ABSTTL", b"REPLACE"],
        &[b"CONFIG", b"SET", b"lazyfree-lazy-server-del", b"no"],
        &[b"RESTORE", b"k6", b"-1", &p],
        &[b"RESTORE", b"k6", b"0", b"junk"],
        &[b"RESTORE", b"k6", b"0", &p, b"FREQ", b"1"],
        &[b"SET", b"end", b"1"],
    ];
    for step in steps {
        let r1 = c(&mut rc, step);
        let r2 = c(&mut pc, step);
        assert_eq!(r1, r2, "{:?}", commands_of(step));
    }
    let mut theirs = commands(&replica.drain(Duration::from_millis(500)));
    let mut ours = commands(&stream(&mut pc));
    // Redis selected db 0 for the commands that made the payload, drained above.
    for v in [&mut theirs, &mut ours] {
        if v.first().map(String::as_str) == Some("SELECT 0") {
            v.remove(0);
        }
    }
    assert_eq!(ours, theirs);
    assert!(ours.iter().any(|l| l.ends_with("ABSTTL")), "{ours:?}");
}

fn commands_of(step: &[&[u8]]) -> String {
    step.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// IDLETIME and FREQ as `objectSetLRUOrLFU`, on both servers; lazy-free of a big replaced
/// value under `lazyfree-lazy-server-del`.
#[test]
fn idletime_freq_and_lazy_free() {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let redis = TestServer::redis(&args);
    let pyrope = TestServer::pyrope(&args);
    for srv in [&redis, &pyrope] {
        let mut cl = srv.client();
        s(&mut cl, &["SET", "src", "v"]);
        let p = bytes(&s(&mut cl, &["DUMP", "src"]));
        assert_eq!(
            c(&mut cl, &[b"RESTORE", b"i", b"0", &p, b"IDLETIME", b"1000"]),
            Frame::Simple("OK".into())
        );
        let idle = s(&mut cl, &["OBJECT", "IDLETIME", "i"]).as_int().unwrap();
        assert!((1000..=1003).contains(&idle), "idle {idle}");
        // FREQ is ignored under an LRU policy.
        c(&mut cl, &[b"RESTORE", b"f", b"0", &p, b"FREQ", b"200"]);
        s(
            &mut cl,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        );
        assert_eq!(s(&mut cl, &["OBJECT", "FREQ", "f"]), int(0));
        c(
            &mut cl,
            &[b"RESTORE", b"f", b"0", &p, b"FREQ", b"200", b"REPLACE"],
        );
        assert_eq!(s(&mut cl, &["OBJECT", "FREQ", "f"]), int(200));
        // IDLETIME is ignored under an LFU policy: the new key's counter is LFU_INIT_VAL.
        c(&mut cl, &[b"RESTORE", b"g", b"0", &p, b"IDLETIME", b"50"]);
        assert_eq!(s(&mut cl, &["OBJECT", "FREQ", "g"]), int(5));
        s(
            &mut cl,
            &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
        );
        // A big set replaced by RESTORE ... REPLACE goes to the lazy-free thread.
        s(
            &mut cl,
            &["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"],
        );
        let mut sadd = vec!["SADD".to_string(), "big".into()];
        sadd.extend((0..300).map(|i| format!("m{i}")));
        cl.call(&sadd).unwrap();
        let before: u64 = info_field(&info(&mut cl, "memory"), "lazyfreed_objects")
            .unwrap()
            .parse()
            .unwrap();
        c(&mut cl, &[b"RESTORE", b"big", b"0", &p, b"REPLACE"]);
        assert!(
            wait_for(Duration::from_secs(10), || {
                info_field(&info(&mut cl, "memory"), "lazyfreed_objects")
                    .and_then(|v| v.parse::<u64>().ok())
                    == Some(before + 1)
            }),
            "lazy free of the replaced set"
        );
        assert_eq!(s(&mut cl, &["GET", "big"]), bulk("v"));
    }
}

/// RESTORE of random bytes, of random bodies with a valid footer, and of every prefix and
/// bit flip of real payloads answers OK or an error, never a crash (sanitization off and on).
#[test]
fn restore_of_damaged_payloads_errors() {
    let pyrope = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut cl = pyrope.client();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    fill(&mut cl);
    let mut payloads = Vec::new();
    for k in keys(&mut cl) {
        payloads.push(bytes(&c(&mut cl, &[b"DUMP", &k])));
    }
    let footer = |body: &[u8]| {
        let mut p = body.to_vec();
        p.extend_from_slice(&12u16.to_le_bytes());
        let crc = pyrope_common::rdb::crc64::crc64(0, &p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    };
    for sanitize in ["no", "yes"] {
        s(
            &mut cl,
            &["CONFIG", "SET", "sanitize-dump-payload", sanitize],
        );
        let mut tried = 0;
        for p in &payloads {
            let body = &p[..p.len() - 10];
            let mut cases = Vec::new();
            for cut in 0..body.len() {
                cases.push(footer(&body[..cut]));
            }
            for _ in 0..40 {
                let mut b = body.to_vec();
                let i = (rnd() as usize) % b.len();
                b[i] ^= 1 << (rnd() % 8);
                cases.push(footer(&b));
            }
            for case in cases {
                let r = c(&mut cl, &[b"RESTORE", b"x", b"0", &case, b"REPLACE"]);
                assert!(
                    matches!(&r, Frame::Error(_)) || r == Frame::Simple("OK".into()),
                    "{r:?}"
                );
                if r == Frame::Simple("OK".into()) {
                    // What was accepted can be walked whole.
                    c(&mut cl, &[b"DEBUG", b"DIGEST-VALUE", b"x"]);
                    c(&mut cl, &[b"DUMP", b"x"]);
                }
                tried += 1;
            }
        }
        for t in 0..=255u8 {
            for _ in 0..20 {
                let n = (rnd() % 64) as usize;
                let mut b = vec![t];
                b.extend((0..n).map(|_| rnd() as u8));
                let r = c(&mut cl, &[b"RESTORE", b"x", b"0", &footer(&b), b"REPLACE"]);
                assert!(matches!(&r, Frame::Error(_)) || r == Frame::Simple("OK".into()));
                tried += 1;
            }
        }
        assert!(tried > 1000);
    }
    assert_eq!(s(&mut cl, &["PING"]), Frame::Simple("PONG".into()));
}

/// DEBUG OBJECT's `serializedlength` (`rdbSavedObjectLen`: the RDB body, compressed per
/// `rdbcompression`) equals Redis's for every type and encoding, with compression on and off.
#[test]
fn debug_object_serializedlength_matches_redis() {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let redis = TestServer::redis(&args);
    let pyrope = TestServer::pyrope(&args);
    let (mut rc, mut pc) = (redis.client(), pyrope.client());
    fill(&mut rc);
    fill(&mut pc);
    let field = |cl: &mut Client, k: &[u8]| -> String {
        let f = c(cl, &[b"DEBUG", b"OBJECT", k]);
        let Frame::Simple(text) = f else {
            panic!("DEBUG OBJECT: {f:?}")
        };
        String::from_utf8_lossy(&text)
            .split(' ')
            .find(|w| w.starts_with("serializedlength:"))
            .unwrap()
            .to_string()
    };
    let ks = keys(&mut rc);
    assert_eq!(keys(&mut pc), ks);
    for compression in ["yes", "no"] {
        for cl in [&mut rc, &mut pc] {
            s(cl, &["CONFIG", "SET", "rdbcompression", compression]);
        }
        for k in &ks {
            assert_eq!(
                field(&mut rc, k),
                field(&mut pc, k),
                "{} (rdbcompression {compression})",
                String::from_utf8_lossy(k)
            );
        }
    }
}

/// A payload of hashes whose field TTLs have passed since the DUMP: RESTORE creates the key
/// with those fields (HLEN counts them, reads skip them), listpackex and hash-table alike.
#[test]
fn restore_keeps_hash_fields_expired_since_the_dump() {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let redis = TestServer::redis(&args);
    let pyrope = TestServer::pyrope(&args);
    let (mut rc, mut pc) = (redis.client(), pyrope.client());
    let big = "v".repeat(70);
    let mut payloads = Vec::new();
    s(&mut rc, &["HSET", "lp", "a", "1", "b", "2"]);
    s(&mut rc, &["HSET", "ht", "a", &big, "b", "2"]);
    for k in ["lp", "ht"] {
        s(&mut rc, &["HPEXPIRE", k, "100", "FIELDS", "2", "a", "b"]);
        payloads.push(bytes(&s(&mut rc, &["DUMP", k])));
    }
    s(&mut rc, &["HSET", "part", "a", "1", "b", "2"]);
    s(&mut rc, &["HPEXPIRE", "part", "100", "FIELDS", "1", "a"]);
    payloads.push(bytes(&s(&mut rc, &["DUMP", "part"])));
    std::thread::sleep(Duration::from_millis(300));
    for cl in [&mut rc, &mut pc] {
        s(cl, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    }
    for (i, p) in payloads.iter().enumerate() {
        let key = format!("r{i}");
        let mut replies = Vec::new();
        for cl in [&mut rc, &mut pc] {
            let mut r = vec![c(cl, &[b"RESTORE", key.as_bytes(), b"0", p])];
            for cmd in [
                &["EXISTS", &key][..],
                &["HLEN", &key],
                &["OBJECT", "ENCODING", &key],
                &["HGETALL", &key],
                &["HPEXPIRETIME", &key, "FIELDS", "1", "b"],
            ] {
                r.push(s(cl, cmd));
            }
            replies.push(r);
        }
        assert_eq!(replies[0], replies[1], "payload {i}");
    }
}
