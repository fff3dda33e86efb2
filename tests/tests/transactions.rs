//! Transactions across clients (MULTI EXEC WATCH), each case run against Redis 7.4.1 and
//! Pyrope with the same steps and the transcripts compared; the cases also assert what Redis
//! does, so a test cannot pass by both sides agreeing on nothing.
//!
//! Covered: WATCH invalidated by another client's writes of every kind (strings, lists,
//! hashes, sets, zsets, streams, EXPIRE/PERSIST, DEL/UNLINK, RENAME both ways, MOVE, COPY,
//! FLUSHDB, FLUSHALL, SWAPDB, a blocked pop taking the key's last element, lazy and active
//! expiry, a hash deleted by its last field's TTL), a watched key expiring between WATCH and
//! EXEC, blocked clients served after the whole EXEC, EXECABORT and the statistics of EXEC'd
//! commands, CLIENT LIST's `flags`/`multi`/`watch`/`multi-mem` and INFO's
//! `watching_clients`/`total_watched_keys`, unwatch on disconnect, and the propagation of a
//! transaction (one MULTI ... EXEC unit, a single write alone, nothing for reads or aborts).

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

fn dbsize(c: &mut Client) -> i64 {
    match c.call(&["DBSIZE"]).unwrap() {
        Frame::Integer(n) => n,
        other => panic!("DBSIZE: {other:?}"),
    }
}

/// One WATCH race: `setup` by the watcher, WATCH `key`, `touch` (each step `@w` runs on the
/// watcher, `@b` sends without reading on a third client, `!dbsize N` polls until the db
/// holds N keys — active expiry — , `!sleep MS`; anything else runs on the other client),
/// then MULTI / SET / EXEC on the watcher. Returns the transcript.
fn race(srv: &TestServer, setup: &[&[&str]], key: &str, touch: &[&[&str]]) -> Vec<String> {
    let mut w = srv.client();
    let mut o = srv.client();
    let mut b = srv.client();
    let mut t = Vec::new();
    w.call(&["FLUSHALL"]).unwrap();
    for s in setup {
        if s[0] == "!sleep" {
            std::thread::sleep(Duration::from_millis(s[1].parse().unwrap()));
            continue;
        }
        t.push(format!("setup {s:?} -> {}", show(&w.call(s).unwrap())));
    }
    t.push(show(&w.call(&["WATCH", key]).unwrap()));
    for s in touch {
        match s[0] {
            "@w" => t.push(format!("w {s:?} -> {}", show(&w.call(&s[1..]).unwrap()))),
            "@b" => b.send(&s[1..]).unwrap(),
            "!sleep" => std::thread::sleep(Duration::from_millis(s[1].parse().unwrap())),
            "!dbsize" => {
                let n: i64 = s[1].parse().unwrap();
                poll("active expiry", || dbsize(&mut o) == n);
            }
            _ => t.push(format!("{s:?} -> {}", show(&o.call(s).unwrap()))),
        }
    }
    t.push(show(&w.call(&["MULTI"]).unwrap()));
    t.push(show(&w.call(&["SET", "side-effect", "1"]).unwrap()));
    let exec = w.call(&["EXEC"]).unwrap();
    t.push(format!("EXEC -> {}", show(&exec)));
    t.push(format!(
        "side-effect -> {}",
        show(&w.call(&["EXISTS", "side-effect"]).unwrap())
    ));
    w.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]).unwrap();
    t
}

/// Every kind of modification by another client makes EXEC fail with a null array, on both
/// servers.
#[test]
fn watch_is_invalidated_by_every_kind_of_write() {
    let (redis, pyrope) = both(&[]);
    type Case<'a> = (&'a str, &'a [&'a [&'a str]], &'a str, &'a [&'a [&'a str]]);
    let cases: &[Case] = &[
        ("set", &[], "k", &[&["SET", "k", "v"]]),
        (
            "set same value",
            &[&["SET", "k", "v"]],
            "k",
            &[&["SET", "k", "v"]],
        ),
        ("del", &[&["SET", "k", "v"]], "k", &[&["DEL", "k"]]),
        ("unlink", &[&["SET", "k", "v"]], "k", &[&["UNLINK", "k"]]),
        (
            "expire",
            &[&["SET", "k", "v"]],
            "k",
            &[&["EXPIRE", "k", "100"]],
        ),
        (
            "persist",
            &[&["SET", "k", "v", "EX", "100"]],
            "k",
            &[&["PERSIST", "k"]],
        ),
        ("incr", &[&["SET", "k", "1"]], "k", &[&["INCR", "k"]]),
        (
            "append",
            &[&["SET", "k", "1"]],
            "k",
            &[&["APPEND", "k", "x"]],
        ),
        (
            "setrange",
            &[&["SET", "k", "1"]],
            "k",
            &[&["SETRANGE", "k", "3", "x"]],
        ),
        ("setbit", &[], "k", &[&["SETBIT", "k", "3", "1"]]),
        ("lpush", &[], "k", &[&["LPUSH", "k", "a"]]),
        ("hset", &[], "k", &[&["HSET", "k", "f", "v"]]),
        ("sadd", &[], "k", &[&["SADD", "k", "m"]]),
        ("zadd", &[], "k", &[&["ZADD", "k", "1", "m"]]),
        ("xadd", &[], "k", &[&["XADD", "k", "1-1", "f", "v"]]),
        ("pfadd", &[], "k", &[&["PFADD", "k", "a"]]),
        (
            "rename from",
            &[&["SET", "k", "v"]],
            "k",
            &[&["RENAME", "k", "other"]],
        ),
        (
            "rename to",
            &[&["SET", "src", "v"]],
            "k",
            &[&["RENAME", "src", "k"]],
        ),
        ("move", &[&["SET", "k", "v"]], "k", &[&["MOVE", "k", "2"]]),
        (
            "copy",
            &[&["SET", "src", "v"]],
            "k",
            &[&["COPY", "src", "k"]],
        ),
        (
            "smove into",
            &[&["SADD", "src", "m"]],
            "k",
            &[&["SMOVE", "src", "k", "m"]],
        ),
        ("flushdb", &[&["SET", "k", "v"]], "k", &[&["FLUSHDB"]]),
        ("flushall", &[&["SET", "k", "v"]], "k", &[&["FLUSHALL"]]),
        (
            "flushall async",
            &[&["SET", "k", "v"]],
            "k",
            &[&["FLUSHALL", "ASYNC"]],
        ),
        (
            "swapdb, key here",
            &[&["SET", "k", "v"]],
            "k",
            &[&["SWAPDB", "0", "1"]],
        ),
        (
            "swapdb, key there",
            &[&["SELECT", "1"], &["SET", "k", "v"], &["SELECT", "0"]],
            "k",
            &[&["SWAPDB", "0", "1"]],
        ),
        (
            "blocked move served into the key",
            &[],
            "k",
            &[
                &["@b", "BLMOVE", "src", "k", "LEFT", "RIGHT", "0"],
                &["!sleep", "100"],
                &["RPUSH", "src", "only"],
                &["!sleep", "100"],
            ],
        ),
        (
            "blocked pop served from the key",
            &[],
            "k",
            &[
                &["@b", "BLPOP", "k", "0"],
                &["!sleep", "100"],
                &["MULTI"],
                &["RPUSH", "src", "x"],
                &["RPUSH", "k", "only"],
                &["EXEC"],
                &["!sleep", "100"],
            ],
        ),
        (
            "lazy expiry by another client",
            &[
                &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
                &["SET", "k", "v", "PX", "300"],
            ],
            "k",
            &[&["!sleep", "500"], &["GET", "k"]],
        ),
        (
            "active expiry",
            &[&["SET", "k", "v", "PX", "300"]],
            "k",
            &[&["!dbsize", "0"]],
        ),
        (
            "hash deleted by its last field's TTL",
            &[
                &["HSET", "k", "f", "v"],
                &["HPEXPIRE", "k", "300", "FIELDS", "1", "f"],
            ],
            "k",
            &[&["!dbsize", "0"]],
        ),
        (
            "the watcher's own write",
            &[],
            "k",
            &[&["@w", "SET", "k", "mine"]],
        ),
    ];
    let mut failures = Vec::new();
    for (name, setup, key, touch) in cases {
        let r = race(&redis, setup, key, touch);
        let p = race(&pyrope, setup, key, touch);
        let exec = r.iter().find(|l| l.starts_with("EXEC")).unwrap();
        assert_eq!(exec, "EXEC -> *-1 ", "{name}: Redis did not abort: {r:#?}");
        if r != p {
            failures.push(format!("{name}:\n  redis : {r:?}\n  pyrope: {p:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What is not a change: a read, a write to another db or key, a failed write, FLUSHALL
/// and SWAPDB when the key is in neither db, the deletion by expiry of a key that had
/// already expired when it was watched. EXEC runs on both.
#[test]
fn watch_is_kept_when_nothing_changed() {
    let (redis, pyrope) = both(&[]);
    type Case<'a> = (&'a str, &'a [&'a [&'a str]], &'a str, &'a [&'a [&'a str]]);
    let cases: &[Case] = &[
        ("read", &[&["SET", "k", "v"]], "k", &[&["GET", "k"]]),
        ("other key", &[], "k", &[&["SET", "k2", "v"]]),
        (
            "other db",
            &[],
            "k",
            &[&["SELECT", "3"], &["SET", "k", "v"], &["SELECT", "0"]],
        ),
        ("del of a missing key", &[], "k", &[&["DEL", "k"]]),
        ("wrongtype", &[&["LPUSH", "k", "a"]], "k", &[&["INCR", "k"]]),
        (
            "flushall, key nowhere",
            &[&["SET", "x", "1"]],
            "k",
            &[&["FLUSHALL"]],
        ),
        (
            "swapdb, key nowhere",
            &[&["SET", "x", "1"]],
            "k",
            &[&["SWAPDB", "0", "1"]],
        ),
        (
            "flush of another db",
            &[&["SET", "k", "v"]],
            "k",
            &[&["SELECT", "4"], &["FLUSHDB"], &["SELECT", "0"]],
        ),
        (
            "expired at WATCH, then deleted by expiry",
            &[
                &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
                &["SET", "k", "v", "PX", "10"],
                &["!sleep", "30"],
            ],
            "k",
            &[&["GET", "k"]],
        ),
    ];
    let mut failures = Vec::new();
    for (name, setup, key, touch) in cases {
        let r = race(&redis, setup, key, touch);
        let p = race(&pyrope, setup, key, touch);
        let exec = r.iter().find(|l| l.starts_with("EXEC")).unwrap();
        assert_eq!(exec, "EXEC -> *1 +OK ", "{name}: Redis aborted: {r:#?}");
        if r != p {
            failures.push(format!("{name}:\n  redis : {r:?}\n  pyrope: {p:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A key watched while live that expires before EXEC aborts it even when nothing deleted it
/// (EXEC's `isWatchedKeyExpired`), and when the active expiry did.
#[test]
fn a_watched_key_expiring_before_exec_aborts() {
    let (redis, pyrope) = both(&[]);
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).unwrap();
        c.call(&["SET", "k", "v", "PX", "300"]).unwrap();
        assert_eq!(call(&mut c, &["WATCH", "k"]), Frame::Simple("OK".into()));
        std::thread::sleep(Duration::from_millis(500));
        // Still in the db (nothing looked it up), but logically expired.
        assert_eq!(dbsize(&mut c), 1, "{:?}", srv.addr());
        call(&mut c, &["MULTI"]);
        call(&mut c, &["PING"]);
        assert_eq!(
            call(&mut c, &["EXEC"]),
            Frame::Array(None),
            "{:?}",
            srv.addr()
        );
        c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]).unwrap();
        c.call(&["SET", "k2", "v", "PX", "300"]).unwrap();
        call(&mut c, &["WATCH", "k2"]);
        let mut other = srv.client();
        poll("active expiry of k2", || dbsize(&mut other) == 0);
        call(&mut c, &["MULTI"]);
        call(&mut c, &["PING"]);
        assert_eq!(
            call(&mut c, &["EXEC"]),
            Frame::Array(None),
            "{:?}",
            srv.addr()
        );
    }
}

/// Clients blocked on a key the transaction fills are served after the whole EXEC: the
/// waiter sees the final state, not the first push.
#[test]
fn blocked_clients_are_served_after_the_whole_exec() {
    let (redis, pyrope) = both(&[]);
    let mut got = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut waiter = srv.client();
        let mut c = srv.client();
        waiter.send(&["BLPOP", "q", "0"]).unwrap();
        let mut probe = srv.client();
        poll("blocked waiter", || {
            info_field(&info(&mut probe, "clients"), "blocked_clients").as_deref() == Some("1")
        });
        call(&mut c, &["MULTI"]);
        call(&mut c, &["RPUSH", "q", "first"]);
        call(&mut c, &["RPUSH", "q", "second"]);
        call(&mut c, &["LPOP", "q"]);
        let exec = call(&mut c, &["EXEC"]);
        let served = waiter.read_reply().unwrap();
        let left = call(&mut c, &["LLEN", "q"]);
        got.push((show(&exec), show(&served), show(&left)));
    }
    assert_eq!(
        got[0].1, "*2 $1 q $6 second ",
        "Redis served the waiter mid-transaction?"
    );
    assert_eq!(got[0], got[1]);
}

fn cmdstat(info_text: &str, cmd: &str) -> String {
    // calls, rejected_calls, failed_calls (usec left out).
    let line = info_text
        .lines()
        .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
        .unwrap_or("")
        .to_string();
    line.split(',')
        .filter(|p| !p.contains("usec"))
        .collect::<Vec<_>>()
        .join(",")
}

/// EXECABORT after queue-time errors, runtime errors kept inside the EXEC array, and the
/// statistics: EXEC'd commands are counted as calls, queue-time rejections as rejected
/// calls, EXECABORT as a failed EXEC; INFO errorstats.
#[test]
fn execabort_and_statistics_match_redis() {
    let (redis, pyrope) = both(&[]);
    let mut seen = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let mut t = Vec::new();
        c.call(&["CONFIG", "RESETSTAT"]).unwrap();
        for step in [
            &["MULTI"][..],
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["LPUSH", "a", "x"],
            &["EXEC"],
            &["MULTI"],
            &["SET", "a", "2"],
            &["GET"],
            &["NOSUCH"],
            &["EXEC"],
            &["MULTI"],
            &["SET", "a", "3"],
            &["EXEC", "extra"],
            &["GET", "a"],
            &["MULTI"],
            &["SAVE"],
            &["DISCARD"],
        ] {
            t.push(format!("{step:?} -> {}", show(&c.call(step).unwrap())));
        }
        let stats = info(&mut c, "commandstats");
        for cmd in [
            "set", "incr", "lpush", "get", "exec", "multi", "discard", "save",
        ] {
            t.push(cmdstat(&stats, cmd));
        }
        let errs = info(&mut c, "errorstats");
        t.extend(
            errs.lines()
                .filter(|l| l.starts_with("errorstat"))
                .map(String::from),
        );
        let st = info(&mut c, "stats");
        for f in ["total_error_replies", "total_commands_processed"] {
            t.push(format!("{f}:{:?}", info_field(&st, f)));
        }
        seen.push(t);
    }
    assert!(
        seen[0]
            .iter()
            .any(|l| l.contains("EXECABORT Transaction discarded because of previous errors")),
        "{:#?}",
        seen[0]
    );
    assert_eq!(seen[0], seen[1]);
}

/// The CLIENT LIST line of a client in MULTI and of a watching client, and INFO's WATCH
/// counters; closing a connection unwatches its keys.
#[test]
fn client_list_and_info_show_transactions() {
    let (redis, pyrope) = both(&[]);
    let mut seen = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let mut o = srv.client();
        let mut t = Vec::new();
        call(&mut c, &["CLIENT", "SETNAME", "tx"]);
        let line = |o: &mut Client, t: &mut Vec<String>, at: &str| {
            let list = match o.call(&["CLIENT", "LIST"]).unwrap() {
                Frame::Bulk(Some(b)) | Frame::Verbatim(_, b) => {
                    String::from_utf8_lossy(&b).into_owned()
                }
                other => panic!("{other:?}"),
            };
            let l = list
                .lines()
                .find(|l| l.contains(" name=tx "))
                .unwrap_or("")
                .to_string();
            let fields: Vec<&str> = l
                .split(' ')
                .filter(|f| {
                    ["flags=", "multi=", "watch=", "multi-mem="]
                        .iter()
                        .any(|p| f.starts_with(p))
                })
                .collect();
            let inf = info(o, "clients");
            t.push(format!(
                "{at}: {} watching_clients={:?} total_watched_keys={:?}",
                fields.join(" "),
                info_field(&inf, "watching_clients"),
                info_field(&inf, "total_watched_keys")
            ));
        };
        line(&mut o, &mut t, "idle");
        call(&mut c, &["WATCH", "a", "b", "a"]);
        call(&mut o, &["WATCH", "a"]);
        line(&mut o, &mut t, "watching");
        call(&mut c, &["MULTI"]);
        call(&mut c, &["SET", "a", "b"]);
        call(&mut c, &["INCR", "abc"]);
        line(&mut o, &mut t, "queued");
        call(&mut o, &["UNWATCH"]);
        call(&mut o, &["SET", "b", "x"]);
        line(&mut o, &mut t, "touched");
        call(&mut c, &["GET", "a"]);
        line(&mut o, &mut t, "doomed");
        t.push(show(&call(&mut c, &["EXEC"])));
        line(&mut o, &mut t, "after");
        call(&mut c, &["WATCH", "z"]);
        line(&mut o, &mut t, "watch z");
        drop(c);
        poll("unwatch on close", || {
            let inf = info(&mut o, "clients");
            info_field(&inf, "watching_clients").as_deref() == Some("0")
        });
        let inf = info(&mut o, "clients");
        t.push(format!(
            "closed: {:?}",
            info_field(&inf, "total_watched_keys")
        ));
        seen.push(t);
    }
    assert!(
        seen[0].iter().any(|l| l.contains("flags=xd")),
        "{:#?}",
        seen[0]
    );
    assert_eq!(seen[0], seen[1]);
}

/// The stream as command lines, Redis's replica PINGs dropped.
fn commands(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (f, used) = pyrope_common::resp::parse_frame(rest).unwrap().unwrap();
        rest = &rest[used..];
        let Frame::Array(Some(parts)) = f else {
            panic!("non-command in stream: {f:?}")
        };
        let line = parts
            .iter()
            .map(|p| String::from_utf8_lossy(p.as_bytes().unwrap()).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        if line != "PING" {
            out.push(line);
        }
    }
    out
}

/// EXEC of several writes is one MULTI ... EXEC unit (with the SELECTs of the commands
/// inside), of a single write that command alone, of reads nothing; aborted transactions
/// propagate nothing. Compared with what a Redis replica receives.
/// EXPIRE propagates as PEXPIREAT with an absolute unix-ms time, taken when each server ran
/// the command: the two streams' times differ by the moments the commands reached them. Where
/// both have a PEXPIREAT of the same key at the same place with times within 5 s, Pyrope's
/// time is replaced by Redis's, so the comparison is of everything else.
fn same_expire_times(rs: &mut [String], ps: &mut [String]) {
    let at = |c: &str| -> Option<(String, i64)> {
        let mut w = c.split(' ');
        (w.next()? == "PEXPIREAT").then_some(())?;
        let key = w.next()?.to_string();
        Some((key, w.next()?.parse().ok()?))
    };
    for (r, p) in rs.iter().zip(ps.iter_mut()) {
        if let (Some((rk, rt)), Some((pk, pt))) = (at(r), at(p)) {
            if rk == pk && (rt - pt).abs() <= 5000 {
                *p = r.clone();
            }
        }
    }
}

#[test]
fn exec_propagates_as_one_unit() {
    require_reference();
    let redis = replica_source(&[]);
    let pyrope = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut replica = ReplicaLink::attach(&redis.addr());
    let mut rc = redis.client();
    let mut pc = pyrope.client();
    let mut ro = redis.client();
    let mut po = pyrope.client();
    let stream = |pc: &mut Client| match pc.call(&["DEBUG", "REPL-STREAM"]).unwrap() {
        Frame::Bulk(Some(b)) => b,
        other => panic!("DEBUG REPL-STREAM: {other:?}"),
    };
    stream(&mut pc);
    let units: &[&[&[&str]]] = &[
        &[&["MULTI"], &["SET", "a", "1"], &["INCR", "a"], &["EXEC"]],
        &[&["MULTI"], &["SET", "b", "1"], &["GET", "b"], &["EXEC"]],
        &[&["MULTI"], &["GET", "a"], &["EXISTS", "b"], &["EXEC"]],
        &[
            &["MULTI"],
            &["SET", "c", "1"],
            &["SELECT", "2"],
            &["SET", "c", "2"],
            &["SELECT", "0"],
            &["DEL", "c"],
            &["EXEC"],
        ],
        &[&["MULTI"], &["SET", "d", "1"], &["NOSUCH"], &["EXEC"]],
        &[
            &["WATCH", "a"],
            &["@o", "GET", "a"],
            &["MULTI"],
            &["INCR", "a"],
            &["INCR", "a"],
            &["EXEC"],
        ],
        &[
            &["WATCH", "a"],
            &["@o", "SET", "a", "9"],
            &["MULTI"],
            &["INCR", "a"],
            &["EXEC"],
        ],
        &[
            &["MULTI"],
            &["INCR", "a"],
            &["LPUSH", "a", "x"],
            &["INCR", "a"],
            &["EXEC"],
        ],
        &[&["MULTI"], &["LPUSH", "a", "x"], &["DISCARD"]],
        &[
            &["MULTI"],
            &["SET", "e", "1"],
            &["EXPIRE", "e", "100"],
            &["PERSIST", "e"],
            &["EXEC"],
        ],
    ];
    for unit in units {
        let mut replies = (Vec::new(), Vec::new());
        for step in unit.iter() {
            let (who, args) = if step[0] == "@o" {
                (1, &step[1..])
            } else {
                (0, &step[..])
            };
            let (r, p) = if who == 1 {
                (ro.call(args).unwrap(), po.call(args).unwrap())
            } else {
                (rc.call(args).unwrap(), pc.call(args).unwrap())
            };
            replies.0.push(show(&r));
            replies.1.push(show(&p));
        }
        assert_eq!(replies.0, replies.1, "replies of {unit:?}");
        let mut rs = commands(&replica.drain(Duration::from_millis(300)));
        let mut ps = commands(&stream(&mut pc));
        same_expire_times(&mut rs, &mut ps);
        assert_eq!(rs, ps, "propagation of {unit:?} (redis left)");
    }
    // The test can fail: Redis wrapped the first unit.
    rc.call(&["MULTI"]).unwrap();
    rc.call(&["SET", "x", "1"]).unwrap();
    rc.call(&["SET", "y", "1"]).unwrap();
    rc.call(&["EXEC"]).unwrap();
    let rs = commands(&replica.drain(Duration::from_millis(300)));
    assert_eq!(rs, ["MULTI", "SET x 1", "SET y 1", "EXEC"]);
}

/// `stop-writes-on-bgsave-error` after a failed BGSAVE: writes (and PING) are refused while
/// queueing, which dooms the transaction, and EXEC of writes queued before the failure is
/// refused with the reason (`-EXECABORT Transaction discarded because of: MISCONF ...`);
/// a transaction of reads still runs.
#[test]
fn exec_rechecks_misconf() {
    require_reference();
    let args = ["--enable-protected-configs", "yes", "--save", "3600 1"];
    let (redis, pyrope) = (TestServer::redis(&args), TestServer::pyrope(&args));
    let mut seen = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let mut o = srv.client();
        let mut t = Vec::new();
        let run = |c: &mut Client, t: &mut Vec<String>, args: &[&str]| {
            let r = c.call(args).unwrap();
            t.push(format!("{args:?} -> {}", show(&r)));
        };
        run(&mut c, &mut t, &["SET", "a", "1"]);
        run(&mut c, &mut t, &["MULTI"]);
        run(&mut c, &mut t, &["INCR", "a"]);
        // Make the next BGSAVE fail: its directory is gone.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        call(&mut o, &["CONFIG", "SET", "dir", &path]);
        drop(dir);
        let bg = o.call(&["BGSAVE"]).unwrap();
        poll("failed bgsave", || {
            let p = info(&mut o, "persistence");
            info_field(&p, "rdb_bgsave_in_progress").as_deref() == Some("0")
                && info_field(&p, "rdb_last_bgsave_status").as_deref() == Some("err")
        });
        t.push(format!("bgsave -> {}", matches!(bg, Frame::Simple(_))));
        run(&mut c, &mut t, &["EXEC"]);
        run(&mut c, &mut t, &["GET", "a"]);
        run(&mut c, &mut t, &["MULTI"]);
        run(&mut c, &mut t, &["GET", "a"]);
        run(&mut c, &mut t, &["EXEC"]);
        run(&mut c, &mut t, &["MULTI"]);
        run(&mut c, &mut t, &["SET", "a", "2"]);
        run(&mut c, &mut t, &["PING"]);
        run(&mut c, &mut t, &["GET", "a"]);
        run(&mut c, &mut t, &["EXEC"]);
        let errs = info(&mut c, "errorstats");
        t.extend(
            errs.lines()
                .filter(|l| l.starts_with("errorstat"))
                .map(String::from),
        );
        seen.push(t);
    }
    assert!(
        seen[0]
            .iter()
            .any(|l| l.contains("EXECABORT Transaction discarded because of: MISCONF")),
        "{:#?}",
        seen[0]
    );
    assert_eq!(seen[0], seen[1]);
}

/// A protected command (DEBUG without `enable-debug-command`) is rejected while queueing,
/// as every `processCommand` rejection: counted as rejected, and the transaction is doomed.
#[test]
fn a_protected_command_dooms_the_transaction() {
    require_reference();
    let (redis, pyrope) = (TestServer::redis(&[]), TestServer::pyrope(&[]));
    let mut seen = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let mut t = Vec::new();
        c.call(&["CONFIG", "RESETSTAT"]).unwrap();
        for step in [
            &["DEBUG", "HELP"][..],
            &["MULTI"],
            &["SET", "a", "1"],
            &["DEBUG", "HELP"],
            &["EXEC"],
            &["GET", "a"],
        ] {
            t.push(format!("{step:?} -> {}", show(&c.call(step).unwrap())));
        }
        let stats = info(&mut c, "commandstats");
        t.push(cmdstat(&stats, "debug"));
        seen.push(t);
    }
    assert!(seen[0][4].contains("EXECABORT"), "{:#?}", seen[0]);
    assert_eq!(seen[0], seen[1]);
}
