//! The propagation stream — what a replica or the AOF receives — compared with Redis 7.4.1's.
//!
//! Redis's side is read as a replica would: SYNC on a raw connection (disk-based, so the RDB
//! payload has a length), then the command stream. Pyrope's side is read through its
//! `DEBUG REPL-STREAM` consumer. Absolute unix-ms times (PXAT/PEXPIREAT arguments) are masked.
//! Checked: relative expires rewritten to absolute ones, INCRBYFLOAT as SET KEEPTTL, HINCRBYFLOAT as HSET, the DEL of
//! a key that expired on lookup placed before the command that found it, the MULTI/EXEC
//! wrapping of a unit of several commands, SELECT on db changes, active expiry's DELs.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::{Duration, Instant};

/// The stream as readable commands, unix-ms times masked, Redis's replica PINGs dropped.
fn commands(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (f, used) = match pyrope_common::resp::parse_frame(rest) {
            Ok(Some(x)) => x,
            other => panic!(
                "bad stream at {:?}: {other:?}",
                String::from_utf8_lossy(rest)
            ),
        };
        rest = &rest[used..];
        let Frame::Array(Some(parts)) = f else {
            panic!("non-command in stream: {f:?}")
        };
        let words: Vec<String> = parts
            .iter()
            .map(|p| {
                let w = String::from_utf8_lossy(p.as_bytes().unwrap()).into_owned();
                if w.len() == 13 && w.bytes().all(|b| b.is_ascii_digit()) {
                    "<ms>".into()
                } else {
                    w
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

fn pyrope_stream(c: &mut Client) -> Vec<u8> {
    match c.call(&["DEBUG", "REPL-STREAM"]).unwrap() {
        Frame::Bulk(Some(b)) => b,
        other => panic!("DEBUG REPL-STREAM: {other:?}"),
    }
}

#[test]
fn propagation_matches_a_redis_replica_stream() {
    require_reference();
    let redis = replica_source(&["--enable-debug-command", "yes"]);
    let pyrope = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut rc = redis.client();
    let mut pc = pyrope.client();
    let mut replica = ReplicaLink::attach(&redis.addr());
    assert_eq!(pyrope_stream(&mut pc), b"");
    // Both sides stop active expiry where a test wants lazy expiry only.
    let steps: &[&[&str]] = &[
        &["SET", "k", "v", "EX", "100"],
        &["SET", "k2", "v", "PX", "100000", "GET"],
        &["SETEX", "k3", "100", "v"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["HSET", "h", "a", "1"],
        &["HINCRBYFLOAT", "h", "f", "1.5"],
        &["HINCRBYFLOAT", "h", "f", "notafloat"],
        &["HINCRBY", "h", "a", "2"],
        &["HSETNX", "h", "a", "9"],
        &["HSETNX", "h", "n", "9"],
        &["HDEL", "h", "a", "f", "n", "nofield"],
        &["HDEL", "h", "a"],
        &["EXPIRE", "k", "200"],
        &["GETEX", "k", "PX", "5000"],
        &["GETEX", "k", "PERSIST"],
        &["MSET", "a", "1", "b", "2"],
        &["DEL", "a", "nokey"],
        &["SADD", "s", "1", "2", "x"],
        &["SADD", "s", "x"],
        &["SREM", "s", "2", "nope"],
        &["SREM", "s", "nope"],
        &["SMOVE", "s", "s2", "x"],
        &["SINTERSTORE", "s3", "s", "s2"],
        &["SUNIONSTORE", "s3", "s", "s2"],
        &["SINTERSTORE", "s4", "s", "nokey"],
        &["SPOP", "s2"],
        &["SPOP", "s", "0"],
        &["SPOP", "s", "10"],
        &["SADD", "s", "a", "b"],
        &["RPUSH", "bl", "a", "b", "c", "d", "e"],
        &["BLPOP", "nokey", "bl", "0"],
        &["BRPOP", "bl", "0"],
        &["BLMPOP", "0", "1", "bl", "LEFT", "COUNT", "10"],
        &["RPUSH", "bl", "x", "y"],
        &["BLMOVE", "bl", "bl2", "LEFT", "RIGHT", "0"],
        &["BRPOPLPUSH", "bl", "bl2", "0"],
        &["BLPOP", "nokey", "0.01"],
        &["ZADD", "bz", "1", "a", "2", "b", "3", "c"],
        &["BZPOPMIN", "nokey", "bz", "0"],
        &["BZMPOP", "0", "1", "bz", "MAX", "COUNT", "5"],
        &["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"],
        &["SPOP", "s", "2"],
        &["CONFIG", "SET", "lazyfree-lazy-server-del", "no"],
        &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["ZADD", "z", "NX", "1", "a"],
        &["ZINCRBY", "z", "1.5", "a"],
        &["ZADD", "z", "INCR", "-inf", "a"],
        &["ZPOPMIN", "z"],
        &["ZPOPMAX", "z", "1"],
        &["ZRANDMEMBER", "z", "2"],
        &["ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "10"],
        &["ZMPOP", "1", "z", "MIN"],
        &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
        &["ZMPOP", "1", "z", "MIN"],
        &["ZREM", "z", "b", "nope"],
        &["ZREMRANGEBYSCORE", "z", "10", "20"],
        &["ZADD", "z2", "5", "x", "6", "y"],
        &["ZUNIONSTORE", "z3", "2", "z", "z2"],
        &["ZRANGESTORE", "z4", "z3", "0", "1"],
        &["ZDIFFSTORE", "z4", "1", "nokey"],
        &["ZREMRANGEBYRANK", "z3", "0", "-1"],
        // SORT ... STORE propagates as is (an empty result as is too, when it deleted).
        &["RPUSH", "sl", "3", "1", "2"],
        &["SORT", "sl", "STORE", "sd"],
        &[
            "SORT", "sl", "DESC", "LIMIT", "0", "2", "GET", "#", "STORE", "sd",
        ],
        &["SORT", "sl"],
        &["SORT_RO", "sl", "ALPHA"],
        &["SORT", "nokey", "STORE", "sd"],
        &["SORT", "nokey", "STORE", "sd"],
        &["SADD", "ss", "c", "a", "b"],
        &["SORT", "ss", "BY", "nosort", "STORE", "sd"],
        &["SORT", "sl", "BY", "nosort", "GET", "nokey*", "STORE", "sd"],
        &["SELECT", "3"],
        &["SET", "in3", "x"],
        &["SELECT", "0"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
        &["SET", "lazy", "v", "PX", "1"],
        &["!sleep"],
        &["GET", "lazy"],
        &["SET", "lazy2", "v", "PX", "1"],
        &["!sleep"],
        &["SET", "lazy2", "again"],
        &["SET", "lazy3", "v", "PX", "1"],
        &["SET", "lazy4", "v", "PX", "1"],
        &["!sleep"],
        &["MSET", "lazy3", "x", "lazy4", "y"],
        &["EXPIRE", "b", "-1"],
        &["PUBLISH", "ch", "m"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        &["SET", "active", "v", "PX", "50"],
        &["!wait"],
        // Hash field TTLs: relative times as HPEXPIREAT with only the fields set, past
        // times as HDELs, HPERSIST as is, lazy and active field expiry as HDEL per field.
        &["HSET", "ht", "a", "1", "b", "2", "c", "3", "d", "4"],
        &["HEXPIRE", "ht", "100", "FIELDS", "2", "a", "zz"],
        &["HEXPIRE", "ht", "100", "FIELDS", "1", "zz"],
        &[
            "HPEXPIRE", "ht", "100000", "nx", "FIELDS", "3", "a", "zz", "b",
        ],
        &["HEXPIREAT", "ht", "1", "fields", "2", "c", "zz"],
        &["HPERSIST", "ht", "FIELDS", "2", "a", "a"],
        &["HPERSIST", "ht", "FIELDS", "1", "a"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
        &["HSET", "hl", "a", "1", "b", "2", "c", "3"],
        &["HPEXPIRE", "hl", "1", "FIELDS", "2", "a", "b"],
        &["!sleep"],
        &["HGET", "hl", "a"],
        &["HINCRBY", "hl", "b", "1"],
        &["HSET", "hl", "a", "1", "b", "2"],
        &["HPEXPIRE", "hl", "1", "FIELDS", "2", "a", "b"],
        &["!sleep"],
        &["HMGET", "hl", "a", "b", "c"],
        &["HSET", "hl", "a", "1", "b", "2"],
        &["HPEXPIRE", "hl", "1", "FIELDS", "2", "a", "b"],
        &["!sleep"],
        &["HRANDFIELD", "hl"],
        &["HPEXPIRE", "hl", "1", "FIELDS", "1", "c"],
        &["!sleep"],
        &["HEXISTS", "hl", "c"],
        // SORT's `->` patterns expire fields lazily (HDEL), as HGET.
        &["HSET", "hs1", "a", "1", "b", "2"],
        &["HSET", "hs2", "a", "1"],
        &["HPEXPIRE", "hs1", "1", "FIELDS", "1", "a"],
        &["HPEXPIRE", "hs2", "1", "FIELDS", "1", "a"],
        &["RPUSH", "ls", "1", "2"],
        &["!sleep"],
        &["SORT", "ls", "BY", "nosort", "GET", "hs*->a"],
        &["HSET", "hs1", "a", "1"],
        &["HPEXPIRE", "hs1", "1", "FIELDS", "1", "a"],
        &["!sleep"],
        &["SORT_RO", "ls", "BY", "hs*->a"],
        &["HSET", "hs1", "a", "1"],
        &["HPEXPIRE", "hs1", "1", "FIELDS", "1", "a"],
        &["!sleep"],
        &["SORT", "ls", "BY", "hs*->a", "STORE", "lsd"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        &["HSET", "ha", "a", "1", "b", "2"],
        &["HPEXPIRE", "ha", "50", "FIELDS", "1", "a"],
        &["!wait_hlen", "ha", "1"],
        &["HPEXPIRE", "ha", "50", "FIELDS", "1", "b"],
        &["!wait"],
        // Bitmaps: only writes that changed something propagate (7.4.1's dirty rule).
        &["SETBIT", "bm", "7", "1"],
        &["SETBIT", "bm", "7", "1"],
        &["SETBIT", "bm", "7", "0"],
        &["BITFIELD", "bm", "SET", "u8", "0", "5", "GET", "u8", "0"],
        &["BITFIELD", "bm", "SET", "u8", "0", "5"],
        &[
            "BITFIELD", "bm", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "100",
        ],
        &["BITFIELD", "bm", "GET", "u8", "0"],
        &["BITFIELD_RO", "bm", "GET", "u8", "0"],
        &["BITOP", "OR", "bmo", "bm"],
        &["BITOP", "OR", "bmo", "nokey"],
        &["BITOP", "OR", "bmo", "nokey"],
        // HyperLogLog: PFCOUNT that refreshes the cached cardinality propagates itself.
        &["PFADD", "hl1", "a", "b"],
        &["PFADD", "hl1", "a"],
        &["PFCOUNT", "hl1"],
        &["PFCOUNT", "hl1"],
        &["PFMERGE", "hl2", "hl1"],
        &["PFCOUNT", "hl1", "hl2"],
        &["PFDEBUG", "TODENSE", "hl2"],
        &["PFDEBUG", "TODENSE", "hl2"],
        &["PFDEBUG", "GETREG", "hl1"],
        // Streams: generated ids and `~` trims rewritten; XREADGROUP as XCLAIM + XGROUP
        // SETID (NOACK: XGROUP CREATECONSUMER + SETID); XCLAIM/XAUTOCLAIM as idempotent
        // XCLAIMs, a deleted entry's claim included.
        &["XADD", "st", "1-0", "a", "1"],
        &["XADD", "st", "2-*", "a", "2"],
        &["CONFIG", "SET", "stream-node-max-entries", "2"],
        &["XADD", "st", "MAXLEN", "~", "1", "3-0", "a", "3"],
        &["XTRIM", "st", "MINID", "~", "5"],
        &["XTRIM", "st", "MAXLEN", "~", "5"],
        &["CONFIG", "SET", "stream-node-max-entries", "100"],
        &["XADD", "st", "4-0", "a", "4"],
        &["XADD", "st", "5-0", "a", "5"],
        &["XADD", "st", "6-0", "a", "6"],
        &["XTRIM", "st", "MAXLEN", "=", "3"],
        &["XGROUP", "CREATE", "st", "g", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "NOACK",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "st", "0"],
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "st", ">"],
        &["XCLAIM", "st", "g", "carol", "0", "4-0", "JUSTID"],
        &["XAUTOCLAIM", "st", "g", "dave", "0", "0", "JUSTID"],
        &["XACK", "st", "g", "4-0", "9-0"],
        &["XDEL", "st", "6-0"],
        &["XCLAIM", "st", "g", "erin", "0", "6-0"],
        &["XSETID", "st", "9-0"],
        &["XGROUP", "SETID", "st", "g", "$"],
        &["XGROUP", "CREATECONSUMER", "st", "g", "eve"],
        &["XGROUP", "DELCONSUMER", "st", "g", "eve"],
        &["XCLAIM", "st", "g", "x", "0", "9-9", "LASTID", "10-0"],
        &["XGROUP", "DESTROY", "st", "g"],
        &["XGROUP", "CREATE", "st2", "g", "$", "MKSTREAM"],
        &["FLUSHALL"],
    ];
    let mut transcript = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if step[0] == "!sleep" {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if step[0] == "!wait" {
            continue;
        }
        if step[0] == "!wait_hlen" {
            // Active expiry of fields: poll HLEN (it counts expired fields) on both.
            let deadline = Instant::now() + Duration::from_secs(20);
            let want = Frame::Integer(step[2].parse().unwrap());
            for c in [&mut rc, &mut pc] {
                while c.call(&["HLEN", step[1]]).unwrap() != want {
                    assert!(Instant::now() < deadline, "field expiry never happened");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let rs = commands(&replica.drain(Duration::from_millis(300)));
            let ps = commands(&pyrope_stream(&mut pc));
            transcript.push(format!("{step:?} -> {rs:?}"));
            assert_eq!(rs, ps, "active field expiry propagation differs");
            continue;
        }
        let before = rc.call(&["DBSIZE"]).unwrap();
        let r = rc.call(step).unwrap();
        let p = pc.call(step).unwrap();
        assert_eq!(r, p, "reply to {step:?}");
        if steps.get(i + 1).is_some_and(|s| s[0] == "!wait") {
            // Active expiry reclaims the key on both with nobody touching it; poll (DBSIZE
            // does not look keys up) before reading the streams.
            let deadline = Instant::now() + Duration::from_secs(20);
            for c in [&mut rc, &mut pc] {
                while c.call(&["DBSIZE"]).unwrap() != before {
                    assert!(Instant::now() < deadline, "active expiry never happened");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let rs = commands(&replica.drain(Duration::from_millis(300)));
        let ps = commands(&pyrope_stream(&mut pc));
        transcript.push(format!("{step:?} -> {rs:?}"));
        assert_eq!(
            rs,
            ps,
            "propagation of {step:?} differs (redis left, pyrope right); so far:\n{}",
            transcript.join("\n")
        );
    }
    // The stream must have carried the interesting rewrites (the test can fail).
    let all = transcript.join("\n");
    for needle in [
        "PXAT <ms>",
        "KEEPTTL",
        "\"MULTI\", \"DEL lazy2\", \"SET lazy2 again\", \"EXEC\"",
        "PEXPIREAT k <ms>",
        "SELECT 3",
        "DEL active",
        "LPOP bl 3",
        "LMOVE bl bl2 LEFT RIGHT",
        "RPOPLPUSH bl bl2",
        "ZPOPMIN bz\"",
        "ZPOPMAX bz 2",
        "ZPOPMAX z 2",
        "ZPOPMIN z 1",
        "HPEXPIREAT ht <ms> FIELDS 1 a",
        "HPEXPIREAT ht <ms> nx FIELDS 1 b",
        "HDEL ht c",
        "HPERSIST ht FIELDS 2 a a",
        "\"MULTI\", \"HDEL hl b\", \"HINCRBY hl b 1\", \"EXEC\"",
        "HDEL ha a",
        "SORT sl STORE sd",
        "SORT nokey STORE sd",
        "HDEL hs1 a",
        "HDEL ha b",
        "SETBIT bm 7 0",
        "BITOP OR bmo bm",
        "BITOP OR bmo nokey",
        "PFCOUNT hl1",
        "PFMERGE hl2 hl1",
        "PFDEBUG TODENSE hl2",
    ] {
        assert!(all.contains(needle), "no {needle} in:\n{all}");
    }
}

/// Clients served after blocking: the push that served them propagates first, then each
/// waiter's command in its non-blocking form (BLPOP as LPOP, BLMOVE as LMOVE, BLMPOP as
/// LPOP with the count popped), in the order they were served, as Redis's replica receives.
#[test]
fn served_waiters_propagate_after_the_push_in_serving_order() {
    require_reference();
    let redis = replica_source(&[]);
    let pyrope = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut replica = ReplicaLink::attach(&redis.addr());
    let mut pc = pyrope.client();
    assert_eq!(pyrope_stream(&mut pc), b"");
    let waiters: &[&[&str]] = &[
        &["BLPOP", "q", "0"],
        &["BLMOVE", "q", "dst", "RIGHT", "LEFT", "0"],
        &["BLMPOP", "0", "2", "other", "q", "LEFT", "COUNT", "5"],
        &["BRPOP", "dst", "0"],
    ];
    let mut streams = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut main = srv.client();
        let mut conns = Vec::new();
        for (i, w) in waiters.iter().enumerate() {
            let mut c = srv.client();
            c.send(w).unwrap();
            assert!(
                wait_for(Duration::from_secs(10), || {
                    info_field(&info(&mut main, "clients"), "blocked_clients")
                        == Some((i + 1).to_string())
                }),
                "waiter {w:?} never blocked"
            );
            conns.push(c);
        }
        main.call(&["RPUSH", "q", "a", "b", "c", "d", "e"]).unwrap();
        let replies: Vec<Frame> = conns.iter_mut().map(|c| c.read_reply().unwrap()).collect();
        let stream = if std::ptr::eq(srv, &redis) {
            commands(&replica.drain(Duration::from_millis(300)))
        } else {
            commands(&pyrope_stream(&mut pc))
        };
        streams.push((replies, stream));
    }
    assert_eq!(streams[0], streams[1], "redis (left), pyrope (right)");
    let joined = streams[1].1.join("|");
    assert!(
        joined.contains("RPUSH q a b c d e|LPOP q|LMOVE q dst RIGHT LEFT|LPOP q 3|RPOP dst"),
        "{joined}"
    );
}

/// XREADGROUP waiters woken by XADD (alone and inside MULTI/EXEC): the XADD first, then
/// each served read as Redis propagates it — an idempotent `XCLAIM ... LASTID` per
/// delivered entry and `XGROUP SETID ... ENTRIESREAD` (NOACK: `XGROUP CREATECONSUMER`
/// and SETID only) — in serving order; XREAD propagates nothing. What the runs that
/// blocked propagated (a NOACK consumer created while blocking) is compared as well.
#[test]
fn served_xreadgroup_waiters_propagate_as_xclaim_and_setid() {
    require_reference();
    let redis = replica_source(&[]);
    let pyrope = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut replica = ReplicaLink::attach(&redis.addr());
    let mut pc = pyrope.client();
    assert_eq!(pyrope_stream(&mut pc), b"");
    let alice: &[&str] = &[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "1",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ];
    let xread: &[&str] = &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"];
    let bob: &[&str] = &[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "NOACK",
        "COUNT",
        "1",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ];
    let carol: &[&str] = &[
        "XREADGROUP",
        "GROUP",
        "g",
        "carol",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ];
    // (waiters, the write that serves every one of them)
    type Round<'a> = (&'a [&'a [&'a str]], &'a [&'a [&'a str]]);
    let rounds: &[Round] = &[
        (&[alice, xread], &[&["XADD", "s", "1-0", "f", "1"]]),
        (
            &[alice, bob, xread, carol],
            &[
                &["MULTI"],
                &["XADD", "s", "2-0", "f", "2"],
                &["XADD", "s", "3-0", "f", "3"],
                &["XADD", "s", "4-0", "f", "4"],
                &["EXEC"],
            ],
        ),
    ];
    let mut streams = Vec::new();
    for srv in [&redis, &pyrope] {
        let is_redis = std::ptr::eq(srv, &redis);
        let mut read_stream = |pc: &mut Client| {
            if is_redis {
                commands(&replica.drain(Duration::from_millis(300)))
            } else {
                commands(&pyrope_stream(pc))
            }
        };
        let mut main = srv.client();
        let mut log = Vec::new();
        main.call(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])
            .unwrap();
        log.push(read_stream(&mut pc));
        for (waiters, write) in rounds {
            let mut conns = Vec::new();
            for (i, w) in waiters.iter().enumerate() {
                let mut c = srv.client();
                c.send(w).unwrap();
                assert!(
                    wait_for(Duration::from_secs(10), || {
                        info_field(&info(&mut main, "clients"), "blocked_clients")
                            == Some((i + 1).to_string())
                    }),
                    "waiter {w:?} never blocked"
                );
                conns.push(c);
            }
            log.push(read_stream(&mut pc));
            for cmd in write.iter() {
                main.call(cmd).unwrap();
            }
            let replies: Vec<Frame> = conns.iter_mut().map(|c| c.read_reply().unwrap()).collect();
            log.push(read_stream(&mut pc));
            log.push(replies.iter().map(|r| format!("{r:?}")).collect());
        }
        streams.push(log);
    }
    assert_eq!(streams[0], streams[1], "redis (left), pyrope (right)");
    let joined = streams[1]
        .iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("|");
    for needle in [
        "XADD s 1-0 f 1|MULTI|XCLAIM s g alice 0 1-0 TIME <ms> RETRYCOUNT 1 FORCE JUSTID \
         LASTID 1-0|XGROUP SETID s g 1-0 ENTRIESREAD 1|EXEC",
        "EXEC|XGROUP SETID s g 3-0 ENTRIESREAD 3|MULTI",
        "XGROUP CREATECONSUMER s g bob",
        "XCLAIM s g carol 0 4-0",
    ] {
        assert!(joined.contains(needle), "no {needle} in {joined}");
    }
}
