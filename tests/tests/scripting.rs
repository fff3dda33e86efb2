//! Scripting across clients and in the propagation stream, against Redis 7.4.1 and Pyrope
//! with the same steps: a script's writes reach a replica as one MULTI/EXEC of their effects
//! (and nothing under `redis.set_repl(redis.REPL_NONE)`), a script's write invalidates
//! another client's WATCH, EVAL inside MULTI, the EVAL script cache's LRU limit (500 scripts,
//! INFO `evicted_scripts`), and the scripting fields of INFO. Reply-level behaviour (every
//! conversion, error and sandbox rule) is in `tests/scripts/scripting.redis`.

use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

/// The words of a RESP stream (lengths and headers dropped), for comparing streams.
fn words(stream: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stream)
        .split("\r\n")
        .filter(|w| !w.is_empty() && !w.starts_with(['*', '$']))
        .map(|w| w.to_string())
        .collect()
}

/// A script's effects are propagated as one MULTI/EXEC unit, in the order they ran; with
/// REPL_NONE the following writes are not propagated at all; EVAL itself never is.
#[test]
fn scripts_propagate_their_effects_as_one_unit() {
    let (redis, pyrope) = both(&[]);
    let mut streams = Vec::new();
    let mut link = ReplicaLink::attach(&redis.addr());
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let is_redis = srv.kind == Kind::Redis;
        // Pyrope has no replication yet: its stream is DEBUG REPL-STREAM's.
        if !is_redis {
            c.call(&["DEBUG", "REPL-STREAM"]).unwrap();
        }
        let r = c
            .call(&[
                "EVAL",
                "redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', 'n') redis.call('get', 'n') return redis.call('lpush', 'l', 'x')",
                "1",
                "k",
                "v",
            ])
            .unwrap();
        assert_eq!(r, Frame::Integer(1));
        c.call(&["EVAL", "return redis.call('get', 'k')", "0"])
            .unwrap();
        c.call(&[
            "EVAL",
            "redis.set_repl(redis.REPL_NONE) redis.call('set', 'hidden', '1') redis.set_repl(redis.REPL_ALL) return redis.call('set', 'shown', '1')",
            "0",
        ])
        .unwrap();
        c.call(&["SET", "after", "1"]).unwrap();
        let raw = if is_redis {
            link.drain(Duration::from_millis(700))
        } else {
            match c.call(&["DEBUG", "REPL-STREAM"]).unwrap() {
                Frame::Bulk(Some(b)) => b,
                other => panic!("DEBUG REPL-STREAM: {other:?}"),
            }
        };
        let w: Vec<String> = words(&raw)
            .into_iter()
            .filter(|w| w != "PING" && w != "SELECT" && w != "0")
            .collect();
        streams.push(w);
    }
    assert_eq!(
        streams[0],
        [
            "MULTI", "set", "k", "v", "incr", "n", "lpush", "l", "x", "EXEC", "set", "shown", "1",
            "SET", "after", "1"
        ],
        "what Redis 7.4.1 propagates"
    );
    assert_eq!(streams[1], streams[0]);
}

/// A script writing a key another client WATCHes makes that client's EXEC fail; a script
/// queued inside MULTI runs at EXEC.
#[test]
fn scripts_touch_watched_keys_and_run_inside_multi() {
    let (redis, pyrope) = both(&[]);
    let mut transcripts = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut w = srv.client();
        let mut o = srv.client();
        let mut t = Vec::new();
        w.call(&["SET", "wk", "1"]).unwrap();
        w.call(&["WATCH", "wk"]).unwrap();
        o.call(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "wk"])
            .unwrap();
        w.call(&["MULTI"]).unwrap();
        w.call(&["SET", "wk", "mine"]).unwrap();
        t.push(format!("{:?}", w.call(&["EXEC"]).unwrap()));
        t.push(format!("{:?}", w.call(&["GET", "wk"]).unwrap()));
        // A read-only script does not touch the watched key.
        w.call(&["WATCH", "wk"]).unwrap();
        o.call(&["EVAL", "return redis.call('get', KEYS[1])", "1", "wk"])
            .unwrap();
        w.call(&["MULTI"]).unwrap();
        w.call(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "wk"])
            .unwrap();
        w.call(&["EVAL", "return redis.call('get', KEYS[1])", "1", "wk"])
            .unwrap();
        t.push(format!("{:?}", w.call(&["EXEC"]).unwrap()));
        transcripts.push(t);
    }
    assert_eq!(
        transcripts[0][0],
        format!("{:?}", Frame::Array(None)),
        "Redis aborts the EXEC"
    );
    assert_eq!(transcripts[1], transcripts[0]);
}

/// EVAL keeps at most 500 scripts it compiled; SCRIPT LOAD's scripts are never evicted;
/// INFO counts cached and evicted scripts.
#[test]
fn eval_script_cache_is_an_lru_of_500() {
    let (redis, pyrope) = both(&[]);
    let mut seen = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut c = srv.client();
        let loaded = match c.call(&["SCRIPT", "LOAD", "return 'pinned'"]).unwrap() {
            Frame::Bulk(Some(b)) => String::from_utf8(b).unwrap(),
            other => panic!("SCRIPT LOAD: {other:?}"),
        };
        let first = "return 0";
        c.call(&["EVAL", first, "0"]).unwrap();
        for i in 1..=500 {
            c.call(&["EVAL", &format!("return {i}"), "0"]).unwrap();
        }
        let stats = info(&mut c, "stats");
        let memory = info(&mut c, "memory");
        let exists = c
            .call(&[
                "SCRIPT",
                "EXISTS",
                &loaded,
                "4b8a1dc4f54a4f7a1c6e7f7e5a4c5a3d8c2f4e6a",
            ])
            .unwrap();
        let first_sha = match c
            .call(&["EVAL", "return redis.sha1hex(ARGV[1])", "0", first])
            .unwrap()
        {
            Frame::Bulk(Some(b)) => String::from_utf8(b).unwrap(),
            other => panic!("sha1hex: {other:?}"),
        };
        let first_gone = c.call(&["SCRIPT", "EXISTS", &first_sha]).unwrap();
        seen.push((
            info_field(&stats, "evicted_scripts"),
            info_field(&memory, "number_of_cached_scripts"),
            format!("{exists:?}"),
            format!("{first_gone:?}"),
        ));
    }
    assert_eq!(seen[0].0.as_deref(), Some("1"), "Redis evicted the oldest");
    assert_eq!(seen[1], seen[0]);
}

/// INFO memory's scripting fields move with the cache, and SCRIPT FLUSH empties it.
#[test]
fn info_reports_the_script_cache() {
    let pyrope = TestServer::pyrope(&[]);
    let mut c = pyrope.client();
    let before = info(&mut c, "memory");
    assert_eq!(
        info_field(&before, "number_of_cached_scripts").as_deref(),
        Some("0")
    );
    for i in 0..10 {
        c.call(&["EVAL", &format!("return {i}"), "0"]).unwrap();
    }
    let after = info(&mut c, "memory");
    assert_eq!(
        info_field(&after, "number_of_cached_scripts").as_deref(),
        Some("10")
    );
    let n = |s: &str, f: &str| -> u64 { info_field(s, f).unwrap().parse().unwrap() };
    assert!(n(&after, "used_memory_scripts_eval") > n(&before, "used_memory_scripts_eval"));
    assert!(n(&after, "used_memory_vm_eval") > 0);
    c.call(&["SCRIPT", "FLUSH"]).unwrap();
    let flushed = info(&mut c, "memory");
    assert_eq!(
        info_field(&flushed, "number_of_cached_scripts").as_deref(),
        Some("0")
    );
}

/// Runs `args` on a new client in a thread; the join handle gives its reply.
fn in_thread(srv: &TestServer, args: &[&str]) -> std::thread::JoinHandle<Option<Frame>> {
    let mut c = srv.client();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || c.call(&args).ok())
}

/// The error text of a reply ("" if not an error).
fn err_text(f: &Frame) -> String {
    match f {
        Frame::Error(e) => String::from_utf8_lossy(e).into_owned(),
        _ => String::new(),
    }
}

/// A script past `busy-reply-threshold`: other clients get -BUSY, SCRIPT KILL stops a
/// script that has not written (FUNCTION KILL is refused for it), the server then serves
/// again; FUNCTION KILL stops a function and FUNCTION STATS shows it while it runs; a script
/// that wrote is UNKILLABLE and SHUTDOWN NOSAVE still stops the server. Same transcript as
/// Redis 7.4.1.
#[test]
fn busy_scripts_answer_busy_and_can_be_killed() {
    let (redis, pyrope) = both(&[]);
    let mut transcripts = Vec::new();
    for srv in [&redis, &pyrope] {
        let mut t = Vec::new();
        let mut o = srv.client();
        o.call(&["CONFIG", "SET", "busy-reply-threshold", "100"])
            .unwrap();
        let spin = in_thread(
            srv,
            &["EVAL", "local i = 0 while true do i = i + 1 end", "0"],
        );
        poll("the BUSY state", || {
            !err_text(&o.call(&["PING"]).unwrap()).is_empty()
        });
        t.push(err_text(&o.call(&["GET", "x"]).unwrap()));
        t.push(err_text(&o.call(&["FUNCTION", "KILL"]).unwrap()));
        t.push(format!("{:?}", o.call(&["SCRIPT", "KILL"]).unwrap()));
        t.push(err_text(&spin.join().unwrap().unwrap()));
        t.push(format!("{:?}", o.call(&["PING"]).unwrap()));
        // A function.
        o.call(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=spinlib\nredis.register_function('spin', function() while true do end end)",
        ])
        .unwrap();
        let spin = in_thread(srv, &["FCALL", "spin", "0", "arg"]);
        poll("the BUSY state", || {
            !err_text(&o.call(&["PING"]).unwrap()).is_empty()
        });
        t.push(err_text(&o.call(&["PING"]).unwrap()));
        t.push(err_text(&o.call(&["SCRIPT", "KILL"]).unwrap()));
        let stats = o.call(&["FUNCTION", "STATS"]).unwrap();
        let mut raw = Vec::new();
        stats.encode(&mut raw);
        let running = String::from_utf8_lossy(&raw).into_owned();
        assert!(
            running.contains("spin") && running.contains("duration_ms"),
            "{running}"
        );
        t.push(format!("{:?}", o.call(&["FUNCTION", "KILL"]).unwrap()));
        t.push(err_text(&spin.join().unwrap().unwrap()));
        // A script that wrote.
        let stuck = in_thread(
            srv,
            &["EVAL", "redis.call('set', 'w', '1') while true do end", "0"],
        );
        poll("the BUSY state", || {
            !err_text(&o.call(&["PING"]).unwrap()).is_empty()
        });
        t.push(err_text(&o.call(&["SCRIPT", "KILL"]).unwrap()));
        let _ = o.call(&["SHUTDOWN", "NOSAVE"]);
        let _ = stuck.join();
        poll("the server to exit", || srv.client_opt().is_none());
        transcripts.push(t);
    }
    assert_eq!(
        transcripts[0][0],
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    assert_eq!(transcripts[1], transcripts[0]);
}
