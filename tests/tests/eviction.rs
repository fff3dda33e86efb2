//! maxmemory and eviction, against Redis 7.4.1 run side by side with the same steps.
//!
//! Covered: the OOM refusal (text, which commands, inside MULTI: denyoom commands refused
//! while queueing and EXEC aborting, reads still served; errorstats), volatile-* never
//! evicting keys without a TTL, volatile-ttl evicting the shortest TTLs first, INFO
//! `evicted_keys` and the eviction-exceeded timers, `evicted` keyspace notifications, WATCH
//! invalidated by an eviction, evictions propagated as DEL / UNLINK (compared with what a
//! Redis replica receives), and the eviction quality of allkeys-lru and allkeys-lfu
//! (Redis's LRU test: fill to maxmemory, keep touching a hot half, add keys; the fraction of
//! hot keys kept must be at least the reference's, less a margin).

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::{Duration, Instant};

fn int_of(f: Frame) -> i64 {
    match f {
        Frame::Integer(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn info_u64(c: &mut Client, section: &str, field: &str) -> u64 {
    info_field(&info(c, section), field)
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .parse()
        .unwrap()
}

/// Sends every command, then reads every reply (one round trip per batch of 1000).
fn pipeline(c: &mut Client, cmds: &[Vec<String>]) -> Vec<Frame> {
    let mut out = Vec::with_capacity(cmds.len());
    for chunk in cmds.chunks(1000) {
        for cmd in chunk {
            c.send(cmd).unwrap();
        }
        for _ in chunk {
            out.push(c.read_reply().unwrap());
        }
    }
    out
}

/// The server's clock (TIME) in unix ms.
fn server_ms(c: &mut Client) -> u64 {
    let Frame::Array(Some(t)) = c.call(&["TIME"]).unwrap() else {
        panic!("TIME")
    };
    let n = |f: &Frame| -> u64 {
        std::str::from_utf8(f.as_bytes().unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    n(&t[0]) * 1000 + n(&t[1]) / 1000
}

fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The OOM refusal as a transcript: which commands are refused under noeviction, inside
/// MULTI (queued denyoom commands refused, EXEC aborted; reads queued and executed), an EXEC
/// whose write was queued before memory ran out, volatile-lru with nothing to evict,
/// allkeys-lru evicting everything and still refusing, and the OOM/EXECABORT errorstats.
fn oom_transcript(srv: &TestServer) -> Vec<String> {
    let mut c = srv.client();
    let mut o = srv.client();
    let mut t = Vec::new();
    let run = |c: &mut Client, t: &mut Vec<String>, args: &[&str]| {
        let r = show(&c.call(args).unwrap());
        t.push(format!("{args:?} -> {r}"));
    };
    run(&mut c, &mut t, &["SET", "a", "1"]);
    run(&mut c, &mut t, &["RPUSH", "l", "x"]);
    // A write queued while memory is fine, executed after it ran out.
    run(&mut o, &mut t, &["MULTI"]);
    run(&mut o, &mut t, &["SET", "queued", "1"]);
    run(&mut c, &mut t, &["CONFIG", "SET", "maxmemory", "1"]);
    for args in [
        &["SET", "b", "1"][..],
        &["GET", "a"],
        &["INCR", "a"],
        &["APPEND", "a", "x"],
        &["LPUSH", "l", "y"],
        &["LPOP", "l"],
        &["EXISTS", "a"],
        &["DBSIZE"],
        &["PING"],
        &["MULTI"],
        &["GET", "a"],
        &["SET", "b", "1"],
        &["PING"],
        &["EXEC"],
        &["MULTI"],
        &["GET", "a"],
        &["EXISTS", "b"],
        &["EXEC"],
        &["MULTI"],
        &["INCR", "a"],
        &["DISCARD"],
    ] {
        run(&mut c, &mut t, args);
    }
    run(&mut o, &mut t, &["EXEC"]);
    // volatile-lru with no key that has a TTL: nothing can be evicted.
    run(
        &mut c,
        &mut t,
        &["CONFIG", "SET", "maxmemory-policy", "volatile-lru"],
    );
    run(&mut c, &mut t, &["SET", "c", "1"]);
    run(&mut c, &mut t, &["DBSIZE"]);
    // allkeys-lru: every key goes, the write is still refused.
    run(
        &mut c,
        &mut t,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    run(&mut c, &mut t, &["SET", "c", "1"]);
    run(&mut c, &mut t, &["DBSIZE"]);
    // DEL is not denyoom.
    run(&mut c, &mut t, &["DEL", "a"]);
    run(&mut c, &mut t, &["CONFIG", "SET", "maxmemory", "0"]);
    run(&mut c, &mut t, &["SET", "c", "1"]);
    let stats = info(&mut c, "errorstats");
    for l in stats.lines().filter(|l| l.starts_with("errorstat_")) {
        t.push(l.to_string());
    }
    t
}

#[test]
fn oom_refusal_and_multi_match_redis() {
    let (redis, pyrope) = both(&["--maxmemory-eviction-tenacity", "100"]);
    let want = oom_transcript(&redis);
    assert!(
        want.iter()
            .any(|l| l.contains("-OOM command not allowed when used memory > 'maxmemory'.")),
        "{want:#?}"
    );
    assert!(want.iter().any(|l| l.contains("EXECABORT")), "{want:#?}");
    let got = oom_transcript(&pyrope);
    assert_eq!(got, want);
    // RESP3 gives the same errors.
    let mut c = pyrope.client();
    let mut r = redis.client();
    for c in [&mut c, &mut r] {
        c.call(&["HELLO", "3"]).unwrap();
        c.call(&["CONFIG", "SET", "maxmemory", "1"]).unwrap();
    }
    assert_eq!(
        show(&c.call(&["SET", "z", "1"]).unwrap()),
        show(&r.call(&["SET", "z", "1"]).unwrap())
    );
}

/// The eviction-exceeded timers: running while memory stays over the limit, folded into
/// the total once it is under again.
#[test]
fn eviction_exceeded_time_is_tracked() {
    let (redis, pyrope) = both(&[]);
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let st = info(&mut c, "stats");
        assert_eq!(info_field(&st, "evicted_scripts").as_deref(), Some("0"));
        assert_eq!(
            info_field(&st, "current_eviction_exceeded_time").as_deref(),
            Some("0")
        );
        assert!(info_field(&info(&mut c, "memory"), "mem_not_counted_for_evict").is_some());
        c.call(&["CONFIG", "SET", "maxmemory", "1"]).unwrap();
        poll("current_eviction_exceeded_time", || {
            info_u64(&mut c, "stats", "current_eviction_exceeded_time") >= 20
        });
        c.call(&["CONFIG", "SET", "maxmemory", "0"]).unwrap();
        c.call(&["CONFIG", "SET", "maxmemory", "1000000000"])
            .unwrap();
        c.call(&["PING"]).unwrap();
        assert_eq!(
            info_u64(&mut c, "stats", "current_eviction_exceeded_time"),
            0
        );
        assert!(info_u64(&mut c, "stats", "total_eviction_exceeded_time") >= 20);
    }
}

/// Sets maxmemory to `frac` of the dataset above the empty server's memory, so that about
/// `1 - frac` of the keys must go; returns the limit.
fn shrink_to(c: &mut Client, base: u64, frac: f64) -> u64 {
    let used = info_u64(c, "memory", "used_memory");
    let limit = base + ((used - base) as f64 * frac) as u64;
    c.call(&["CONFIG", "SET", "maxmemory", &limit.to_string()])
        .unwrap();
    // Every command evicts first; the eviction timer works in between.
    let start = Instant::now();
    loop {
        c.call(&["PING"]).unwrap();
        // What eviction counts: used memory minus what it leaves out (AOF and replica
        // buffers, `mem_not_counted_for_evict`).
        let used = info_u64(c, "memory", "used_memory").saturating_sub(info_u64(
            c,
            "memory",
            "mem_not_counted_for_evict",
        ));
        if used <= limit && info_u64(c, "stats", "current_eviction_exceeded_time") == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "eviction did not get down to {limit}: used {used}, {} keys left, {}",
            int_of(c.call(&["DBSIZE"]).unwrap()),
            show(&c.call(&["CLIENT", "LIST"]).unwrap())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    limit
}

fn empty_base(c: &mut Client) -> u64 {
    c.call(&["FLUSHALL"]).unwrap();
    c.call(&["CONFIG", "SET", "maxmemory", "0"]).unwrap();
    info_u64(c, "memory", "used_memory")
}

/// volatile-lru, -lfu, -random and -ttl only ever evict keys with a TTL: with half the keys
/// persistent and memory cut well below the dataset, every persistent key is still there
/// (the writes are refused once no volatile key is left).
#[test]
fn volatile_policies_never_evict_persistent_keys() {
    let (redis, pyrope) = both(&[]);
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        for srv in [&redis, &pyrope] {
            let mut c = srv.client();
            let base = empty_base(&mut c);
            c.call(&["CONFIG", "SET", "maxmemory-policy", policy])
                .unwrap();
            let v = "x".repeat(100);
            let mut cmds = Vec::new();
            for i in 0..2000 {
                cmds.push(cmd(&["SET", &format!("p:{i}"), &v]));
                cmds.push(cmd(&["SET", &format!("v:{i}"), &v, "EX", "100000"]));
            }
            pipeline(&mut c, &cmds);
            let used = info_u64(&mut c, "memory", "used_memory");
            let limit = base + (used - base) * 3 / 4;
            c.call(&["CONFIG", "SET", "maxmemory", &limit.to_string()])
                .unwrap();
            // More volatile keys than can fit: they push the other volatile keys out.
            let mut cmds = Vec::new();
            for i in 0..3000 {
                cmds.push(cmd(&["SET", &format!("w:{i}"), &v, "EX", "100000"]));
            }
            let replies = pipeline(&mut c, &cmds);
            let refused = replies
                .iter()
                .filter(|r| matches!(r, Frame::Error(e) if e.starts_with(b"OOM")))
                .count();
            let mut keys: Vec<String> = (0..2000).map(|i| format!("p:{i}")).collect();
            keys.insert(0, "EXISTS".into());
            let kept = int_of(c.call(&keys).unwrap());
            let evicted = info_u64(&mut c, "stats", "evicted_keys");
            eprintln!(
                "{policy} {:?}: persistent kept {kept}/2000, evicted {evicted}, refused {refused}",
                srv.kind
            );
            assert_eq!(
                kept, 2000,
                "{policy} {:?} evicted a persistent key",
                srv.kind
            );
            assert!(evicted > 0, "{policy} {:?} evicted nothing", srv.kind);
            c.call(&["CONFIG", "RESETSTAT"]).unwrap();
        }
    }
}

/// volatile-ttl evicts the keys that expire soonest first (approximately: sampled, with the
/// pool): of 3000 keys with TTLs in increasing order, cutting memory by a third must take
/// far more from the shortest third than from the longest, on both servers, and pyrope's
/// order must be about as good as Redis's.
#[test]
fn volatile_ttl_evicts_shortest_ttl_first() {
    let (redis, pyrope) = both(&["--maxmemory-policy", "volatile-ttl"]);
    let mut scores = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let base = empty_base(&mut c);
        let n = 3000;
        let v = "x".repeat(100);
        let cmds: Vec<Vec<String>> = (0..n)
            .map(|i| {
                let ttl = (10_000 + i * 10).to_string();
                cmd(&["SET", &format!("t:{i}"), &v, "EX", &ttl])
            })
            .collect();
        pipeline(&mut c, &cmds);
        shrink_to(&mut c, base, 0.66);
        let exists: Vec<Vec<String>> = (0..n)
            .map(|i| cmd(&["EXISTS", &format!("t:{i}")]))
            .collect();
        let present: Vec<bool> = pipeline(&mut c, &exists)
            .into_iter()
            .map(|f| int_of(f) == 1)
            .collect();
        let third = n as usize / 3;
        let gone = |r: std::ops::Range<usize>| {
            present[r.clone()].iter().filter(|p| !**p).count() as f64 / r.len() as f64
        };
        let (short, long) = (gone(0..third), gone(2 * third..n as usize));
        eprintln!(
            "volatile-ttl {:?}: evicted {:.3} of the shortest third, {:.3} of the longest",
            srv.kind, short, long
        );
        assert!(
            short > 0.5,
            "{:?}: only {short} of the shortest TTLs evicted",
            srv.kind
        );
        assert!(
            long < short / 3.0,
            "{:?}: {long} of the longest TTLs evicted",
            srv.kind
        );
        scores.push(short - long);
    }
    assert!(
        scores[1] >= scores[0] - 0.15,
        "pyrope's TTL order {} vs Redis's {}",
        scores[1],
        scores[0]
    );
}

/// INFO evicted_keys counts every eviction, and each one is published as an `evicted`
/// keyspace event (keyevent and keyspace channels) naming a key that is gone; a WATCHed key
/// evicted aborts the EXEC.
#[test]
fn evicted_keys_events_and_watch() {
    // No time limit on an eviction run: everything goes within the one command.
    let (redis, pyrope) = both(&[
        "--notify-keyspace-events",
        "KEe",
        "--maxmemory-eviction-tenacity",
        "100",
    ]);
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let mut sub = srv.client();
        let mut w = srv.client();
        c.call(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"])
            .unwrap();
        let cmds: Vec<Vec<String>> = (0..300)
            .map(|i| cmd(&["SET", &format!("k:{i}"), "value"]))
            .collect();
        pipeline(&mut c, &cmds);
        sub.call(&["SUBSCRIBE", "__keyevent@0__:evicted"]).unwrap();
        sub.call(&["PSUBSCRIBE", "__keyspace@0__:k:1*"]).unwrap();
        w.call(&["WATCH", "k:7"]).unwrap();
        // maxmemory 1: everything goes.
        c.call(&["CONFIG", "SET", "maxmemory", "1"]).unwrap();
        let r = c.call(&["SET", "new", "1"]).unwrap();
        assert!(
            matches!(&r, Frame::Error(e) if e.starts_with(b"OOM")),
            "{:?}: {r:?}",
            srv.kind
        );
        assert_eq!(int_of(c.call(&["DBSIZE"]).unwrap()), 0, "{:?}", srv.kind);
        assert_eq!(
            info_u64(&mut c, "stats", "evicted_keys"),
            300,
            "{:?}",
            srv.kind
        );
        w.call(&["MULTI"]).unwrap();
        w.call(&["PING"]).unwrap();
        assert_eq!(
            w.call(&["EXEC"]).unwrap(),
            Frame::Array(None),
            "{:?}: the evicted WATCHed key must abort EXEC",
            srv.kind
        );
        // 300 keyevent messages, one per key, and 111 keyspace ones for k:1*.
        let mut keyevent = std::collections::BTreeSet::new();
        let mut keyspace = 0;
        while keyevent.len() < 300 || keyspace < 111 {
            let Frame::Array(Some(m)) = sub.read_reply().unwrap() else {
                panic!("not a message")
            };
            let kind = m[0].as_bytes().unwrap().to_vec();
            if kind == b"message" {
                assert_eq!(m[1].as_bytes().unwrap(), b"__keyevent@0__:evicted");
                let key = String::from_utf8_lossy(m[2].as_bytes().unwrap()).into_owned();
                assert!(keyevent.insert(key), "{:?}: a key evicted twice", srv.kind);
            } else {
                assert_eq!(kind, b"pmessage");
                assert_eq!(m[3].as_bytes().unwrap(), b"evicted");
                keyspace += 1;
            }
        }
        assert_eq!(keyspace, 111);
        c.call(&["CONFIG", "SET", "maxmemory", "0"]).unwrap();
    }
}

/// The commands of a replication stream, `SELECT` and replica `PING`s dropped.
fn stream_commands(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (f, used) = pyrope_common::resp::parse_frame(rest).unwrap().unwrap();
        rest = &rest[used..];
        let Frame::Array(Some(parts)) = f else {
            panic!("non-command in stream: {f:?}")
        };
        let words: Vec<String> = parts
            .iter()
            .map(|p| String::from_utf8_lossy(p.as_bytes().unwrap()).into_owned())
            .collect();
        if words[0] != "PING" && words[0] != "SELECT" {
            out.push(words.join(" "));
        }
    }
    out
}

/// Evictions reach replicas and the AOF as one `DEL key` per key (`UNLINK` under
/// lazyfree-lazy-eviction), as in a Redis replica's stream.
#[test]
fn evictions_propagate_as_del_or_unlink() {
    let (redis, pyrope) = both(&[
        "--maxmemory-policy",
        "allkeys-lru",
        "--maxmemory-eviction-tenacity",
        "100",
    ]);
    let mut replica = ReplicaLink::attach(&redis.addr());
    let mut r = redis.client();
    let mut p = pyrope.client();
    assert_eq!(
        p.call(&["DEBUG", "REPL-STREAM"]).unwrap(),
        Frame::Bulk(Some(vec![]))
    );
    for lazy in ["no", "yes"] {
        let mut streams = Vec::new();
        for c in [&mut r, &mut p] {
            c.call(&["CONFIG", "SET", "lazyfree-lazy-eviction", lazy])
                .unwrap();
            let cmds: Vec<Vec<String>> = (0..50)
                .map(|i| cmd(&["SET", &format!("k:{i}"), "v"]))
                .collect();
            pipeline(c, &cmds);
            c.call(&["CONFIG", "SET", "maxmemory", "1"]).unwrap();
            c.call(&["GET", "k:1"]).unwrap();
            assert_eq!(int_of(c.call(&["DBSIZE"]).unwrap()), 0);
            c.call(&["CONFIG", "SET", "maxmemory", "0"]).unwrap();
        }
        streams.push(stream_commands(&replica.drain(Duration::from_millis(300))));
        let s = match p.call(&["DEBUG", "REPL-STREAM"]).unwrap() {
            Frame::Bulk(Some(b)) => b,
            other => panic!("DEBUG REPL-STREAM: {other:?}"),
        };
        streams.push(stream_commands(&s));
        for s in &mut streams {
            // Eviction order is random: compare the sets, keep the writes first.
            s.sort();
        }
        let verb = if lazy == "yes" { "UNLINK" } else { "DEL" };
        assert!(
            streams[0].iter().filter(|l| l.starts_with(verb)).count() == 50,
            "lazy {lazy}: {:?}",
            streams[0]
        );
        assert_eq!(streams[1], streams[0], "lazy {lazy}");
    }
}

/// One server's run of Redis's LRU/LFU quality test: fill to maxmemory, then in rounds touch
/// the hot half (for LRU after the 1-second LRU clock ticks) and add new keys (as many as
/// were filled, in all: the cold half and the earlier rounds' keys must go, the hot half
/// stay); returns the fraction of hot keys still present.
fn quality_run(srv: &TestServer, policy: &str) -> f64 {
    let mut c = srv.client();
    let base = empty_base(&mut c);
    let limit = base + 3 * 1024 * 1024;
    c.call(&["CONFIG", "SET", "maxmemory-policy", policy])
        .unwrap();
    c.call(&["CONFIG", "SET", "maxmemory", &limit.to_string()])
        .unwrap();
    let v = "x".repeat(40);
    // Fill up to 95% of the limit, before any eviction.
    let mut n = 0;
    while info_u64(&mut c, "memory", "used_memory") < limit / 100 * 95 {
        let cmds: Vec<Vec<String>> = (n..n + 500)
            .map(|i| cmd(&["SET", &format!("key:{i}"), &v]))
            .collect();
        pipeline(&mut c, &cmds);
        n += 500;
    }
    // A table resize near the limit may already have evicted a few keys (same LRU second,
    // same LFU counter: no key is better than another yet): the hot half is what is left of
    // the first half.
    let first: Vec<Vec<String>> = (0..n / 2)
        .map(|i| cmd(&["EXISTS", &format!("key:{i}")]))
        .collect();
    let hot: Vec<String> = pipeline(&mut c, &first)
        .into_iter()
        .zip(first)
        .filter(|(r, _)| *r == Frame::Integer(1))
        .map(|(_, k)| k[1].clone())
        .collect();
    let early = info_u64(&mut c, "stats", "evicted_keys");
    let rounds = 4;
    let mut next = n;
    for _ in 0..rounds {
        if policy.ends_with("lru") {
            // Let the LRU clock (1 s resolution, cached by Redis's cron at 10 hz) tick past
            // the previous writes: poll the server's clock.
            let t0 = server_ms(&mut c);
            let tick = (t0 / 1000 + 1) * 1000 + 200;
            poll("the LRU clock", || server_ms(&mut c) >= tick);
        }
        let touch: Vec<Vec<String>> = hot.iter().map(|k| cmd(&["GET", k])).collect();
        for _ in 0..if policy.ends_with("lfu") { 3 } else { 1 } {
            pipeline(&mut c, &touch);
        }
        let add: Vec<Vec<String>> = (next..next + n / rounds)
            .map(|i| cmd(&["SET", &format!("key:{i}"), &v]))
            .collect();
        for r in pipeline(&mut c, &add) {
            assert_eq!(r, Frame::Simple(b"OK".to_vec()));
        }
        next += n / rounds;
    }
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    let mut exists = vec!["EXISTS".to_string()];
    exists.extend(hot.iter().cloned());
    let kept = int_of(c.call(&exists).unwrap());
    let frac = kept as f64 / hot.len() as f64;
    eprintln!(
        "{policy} {:?}: {n} keys filled ({early} evicted then), {} added, {evicted} evicted, hot keys kept {kept}/{} = {frac:.3}",
        srv.kind,
        next - n,
        hot.len()
    );
    assert!(evicted > 0, "{:?}: nothing was evicted", srv.kind);
    frac
}

#[test]
fn eviction_quality_allkeys_lru() {
    let (redis, pyrope) = both(&[]);
    let want = quality_run(&redis, "allkeys-lru");
    let got = quality_run(&pyrope, "allkeys-lru");
    assert!(
        got >= want - 0.05,
        "allkeys-lru: pyrope kept {got:.3} of the hot keys, Redis {want:.3}"
    );
}

#[test]
fn eviction_quality_allkeys_lfu() {
    let (redis, pyrope) = both(&[]);
    let want = quality_run(&redis, "allkeys-lfu");
    let got = quality_run(&pyrope, "allkeys-lfu");
    assert!(
        got >= want - 0.05,
        "allkeys-lfu: pyrope kept {got:.3} of the hot keys, Redis {want:.3}"
    );
}

/// The LFU field as Redis keeps it, made deterministic (`lfu-log-factor 0`: every access
/// increments; `lfu-decay-time 0`: no decay): new keys start at 5, reads and writes count as
/// accesses, an overwrite keeps the counter (`dbSetValue`), EXISTS/TYPE/OBJECT do not touch,
/// TOUCH does, RENAME keeps it, COPY's destination is a new object at 5.
#[test]
fn lfu_counter_follows_redis() {
    let (redis, pyrope) = both(&[
        "--maxmemory-policy",
        "allkeys-lfu",
        "--lfu-log-factor",
        "0",
        "--lfu-decay-time",
        "0",
    ]);
    let script: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["OBJECT", "FREQ", "k"],
        &["GET", "k"],
        &["GET", "k"],
        &["OBJECT", "FREQ", "k"],
        &["SET", "k", "v2"],
        &["OBJECT", "FREQ", "k"],
        &["SET", "k", "12"],
        &["INCR", "k"],
        &["OBJECT", "FREQ", "k"],
        &["APPEND", "k", "x"],
        &["GETSET", "k", "1"],
        &["OBJECT", "FREQ", "k"],
        &["EXISTS", "k"],
        &["TYPE", "k"],
        &["OBJECT", "FREQ", "k"],
        &["TOUCH", "k"],
        &["OBJECT", "FREQ", "k"],
        &["RENAME", "k", "k2"],
        &["OBJECT", "FREQ", "k2"],
        &["SETEX", "k2", "100", "v"],
        &["OBJECT", "FREQ", "k2"],
        &["SET", "k3", "v"],
        &["COPY", "k2", "k3", "REPLACE"],
        &["OBJECT", "FREQ", "k3"],
        &["OBJECT", "FREQ", "k2"],
        &["RPUSH", "l", "a"],
        &["RPUSH", "l", "b"],
        &["LPOP", "l"],
        &["OBJECT", "FREQ", "l"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        &["OBJECT", "FREQ", "l"],
    ];
    let run = |srv: &TestServer| -> Vec<String> {
        let mut c = srv.client();
        script
            .iter()
            .map(|a| format!("{a:?} -> {}", show(&c.call(a).unwrap())))
            .collect()
    };
    let want = run(&redis);
    assert!(
        want.contains(&"[\"OBJECT\", \"FREQ\", \"k\"] -> :8 ".to_string()),
        "{want:#?}"
    );
    assert_eq!(run(&pyrope), want);
}

/// With `maxmemory-eviction-tenacity 0` a run stops after 16 keys; the eviction timer keeps
/// going without any command (a subscriber sees every key's `evicted` event while nobody
/// sends anything), and keys of every db are evicted.
#[test]
fn the_eviction_timer_finishes_the_work_in_every_db() {
    let (redis, pyrope) = both(&[
        "--notify-keyspace-events",
        "Ee",
        "--maxmemory-policy",
        "allkeys-random",
        "--maxmemory-eviction-tenacity",
        "0",
    ]);
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let mut sub = srv.client();
        for db in ["0", "5"] {
            c.call(&["SELECT", db]).unwrap();
            let cmds: Vec<Vec<String>> = (0..2000)
                .map(|i| cmd(&["SET", &format!("k:{i}"), "value"]))
                .collect();
            pipeline(&mut c, &cmds);
        }
        sub.call(&["PSUBSCRIBE", "__keyevent@*__:evicted"]).unwrap();
        c.call(&["CONFIG", "SET", "maxmemory", "1"]).unwrap();
        let mut per_db = std::collections::BTreeMap::new();
        for _ in 0..4000 {
            let Frame::Array(Some(m)) = sub.read_reply().unwrap() else {
                panic!("not a message")
            };
            let ch = String::from_utf8_lossy(m[2].as_bytes().unwrap()).into_owned();
            *per_db.entry(ch).or_insert(0) += 1;
        }
        assert_eq!(
            per_db.into_iter().collect::<Vec<_>>(),
            [
                ("__keyevent@0__:evicted".to_string(), 2000),
                ("__keyevent@5__:evicted".to_string(), 2000)
            ],
            "{:?}",
            srv.kind
        );
        assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 4000);
    }
}
