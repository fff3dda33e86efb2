//! MONITOR and argument redaction, against Redis 7.4.1 run side by side with the same steps:
//! - the monitor transcript of a session (plain commands, binary arguments, MULTI/EXEC,
//!   scripts and functions with their `lua` lines, SELECT, blocking commands, AUTH/HELLO
//!   redaction, what is never shown: admin commands, rejected commands), timestamps and
//!   peer ports normalised;
//! - the monitor connection's own rules (keyspace commands refused, its own PING shown after
//!   its reply, MONITOR again silent, RESET leaves monitor mode, MONITOR inside MULTI);
//! - SLOWLOG's `(redacted)` arguments (AUTH, CONFIG SET of sensitive parameters, ACL
//!   SETUSER).

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

/// Normalises one monitor line: checks and drops the `<secs>.<6 digits>` timestamp, and
/// replaces the peer `ip:port` by `peer`.
fn normalise(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line).into_owned();
    let (ts, rest) = s.split_once(' ').unwrap_or_else(|| panic!("bad line {s}"));
    let (secs, micros) = ts.split_once('.').unwrap_or_else(|| panic!("bad ts {s}"));
    assert!(
        secs.len() >= 10 && secs.bytes().all(|b| b.is_ascii_digit()),
        "{s}"
    );
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{s}"
    );
    let mut out = String::new();
    let mut it = rest.splitn(2, "] ");
    let head = it.next().unwrap();
    let args = it.next().unwrap_or("");
    let (db, peer) = head.trim_start_matches('[').split_once(' ').unwrap();
    let peer = if peer == "lua" { "lua" } else { "peer" };
    out.push_str(&format!("[{db} {peer}] {args}"));
    out
}

/// Reads monitor lines until one containing `marker`; returns them normalised.
fn read_until(m: &mut Client, marker: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        match m.read_reply().unwrap() {
            Frame::Simple(l) => {
                let n = normalise(&l);
                let done = n.contains(marker);
                lines.push(n);
                if done {
                    return lines;
                }
            }
            other => panic!("monitor got {other:?}"),
        }
    }
}

/// Runs `script` on a client of `s` with a monitor attached; returns (the client's replies,
/// the monitor's lines).
fn transcript(s: &TestServer, script: &[Vec<&str>]) -> (Vec<Frame>, Vec<String>) {
    let mut m = s.client();
    assert_eq!(call(&mut m, &["MONITOR"]), Frame::Simple(b"OK".to_vec()));
    let mut c = s.client();
    let mut replies = Vec::new();
    for args in script {
        replies.push(c.call(args).unwrap());
    }
    c.call(&["ECHO", "end-of-transcript"]).unwrap();
    (replies, read_until(&mut m, "end-of-transcript"))
}

#[test]
fn monitor_transcript_matches_redis() {
    let (r, p) = both(&[]);
    let lib = "#!lua name=mlib\nredis.register_function('f', function(keys, args) return redis.call('ping') end)";
    let script: Vec<Vec<&str>> = vec![
        vec!["SET", "k", "12"],
        vec!["SET", "bin", "a b\n\u{1}\"q\"\\"],
        vec!["AUTH", "nosuchuser", "secret"],
        vec!["HELLO", "2", "AUTH", "default", "anything", "SETNAME", "me"],
        vec!["MULTI"],
        vec!["INCR", "k"],
        vec!["EXEC"],
        vec!["EVAL", "redis.call('get','k') return 1", "0"],
        vec!["EVALSHA", "0000000000000000000000000000000000000000", "0"],
        vec!["SELECT", "3"],
        vec![
            "EVAL",
            "redis.call('select','5') return redis.call('get','a')",
            "0",
        ],
        vec!["GET", "x"],
        vec!["NOSUCHCOMMAND"],
        vec!["GET"],
        vec!["CONFIG", "GET", "port"],
        vec!["DEBUG", "SLEEP", "0"],
        vec!["CLIENT", "LIST"],
        vec!["FUNCTION", "LOAD", lib],
        vec!["FCALL", "f", "0"],
        vec!["FCALL_RO", "f", "0"],
        vec!["BLPOP", "nolist", "0.01"],
        vec!["PUBLISH", "ch", "msg"],
        vec!["SELECT", "0"],
    ];
    let (rr, rl) = transcript(&r, &script);
    let (pr, pl) = transcript(&p, &script);
    assert_eq!(pl, rl, "monitor lines differ");
    // The replies too, except the ones that carry server identity (HELLO) or client lists.
    for (i, args) in script.iter().enumerate() {
        if matches!(args[0], "HELLO" | "CLIENT" | "CONFIG") {
            continue;
        }
        assert_eq!(pr[i], rr[i], "reply to {args:?}");
    }
}

#[test]
fn monitor_connection_rules_match_redis() {
    let (r, p) = both(&[]);
    let mut out = Vec::new();
    for s in [&r, &p] {
        let mut seen = Vec::new();
        let mut m = s.client();
        seen.push(format!("{:?}", call(&mut m, &["MONITOR"])));
        // Keyspace commands are refused; PING is answered, then shown to the monitor itself.
        seen.push(format!("{:?}", call(&mut m, &["GET", "a"])));
        seen.push(format!("{:?}", call(&mut m, &["PING"])));
        let own = m.read_reply().unwrap();
        let Frame::Simple(l) = own else {
            panic!("{own:?}")
        };
        seen.push(normalise(&l));
        let info = call(&mut m, &["CLIENT", "INFO"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
        let flags = text
            .split_whitespace()
            .find(|w| w.starts_with("flags="))
            .unwrap()
            .to_string();
        seen.push(flags);
        let Frame::Simple(l) = m.read_reply().unwrap() else {
            panic!()
        };
        seen.push(normalise(&l));
        // MONITOR again: no reply at all; the next command answers.
        m.send(&["MONITOR"]).unwrap();
        seen.push(format!("{:?}", call(&mut m, &["ECHO", "x"])));
        let Frame::Simple(l) = m.read_reply().unwrap() else {
            panic!()
        };
        seen.push(normalise(&l));
        // RESET leaves monitor mode: another client's command is not shown.
        seen.push(format!("{:?}", call(&mut m, &["RESET"])));
        let mut c = s.client();
        call(&mut c, &["SET", "after-reset", "1"]);
        seen.push(format!("{:?}", call(&mut m, &["GET", "after-reset"])));
        // MONITOR inside MULTI is queued, then refused by EXEC.
        let mut t = s.client();
        call(&mut t, &["MULTI"]);
        seen.push(format!("{:?}", call(&mut t, &["MONITOR"])));
        seen.push(format!("{:?}", call(&mut t, &["EXEC"])));
        // QUIT from a monitor is not shown to itself.
        let mut q = s.client();
        call(&mut q, &["MONITOR"]);
        seen.push(format!("{:?}", call(&mut q, &["QUIT"])));
        q.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        seen.push(format!("after QUIT: {:?}", q.read_reply().is_ok()));
        out.push(seen);
    }
    assert_eq!(out[1], out[0]);
}

#[test]
fn slowlog_redacts_passwords_as_redis() {
    let (r, p) = both(&[]);
    let mut got = Vec::new();
    for s in [&r, &p] {
        let mut c = s.client();
        call(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        call(&mut c, &["SLOWLOG", "RESET"]);
        for args in [
            vec!["AUTH", "secret"],
            vec!["AUTH", "u", "secret"],
            vec!["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "n"],
            vec!["ACL", "SETUSER", "u1", ">secret", "on", "~*"],
            vec!["CONFIG", "SET", "masterauth", "zz", "masteruser", "uu"],
            vec!["CONFIG", "SET", "requirepass", ""],
            vec!["CONFIG", "SET", "maxmemory-samples", "5"],
        ] {
            c.call(&args).unwrap();
        }
        let log = call(&mut c, &["SLOWLOG", "GET", "20"]);
        let Frame::Array(Some(entries)) = log else {
            panic!("{log:?}")
        };
        // Field 3 of each entry is its argv.
        let argvs: Vec<Frame> = entries
            .iter()
            .map(|e| match e {
                Frame::Array(Some(f)) => f[3].clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        got.push(argvs);
    }
    assert_eq!(got[1], got[0]);
    let redacted = Frame::Bulk(Some(b"(redacted)".to_vec()));
    let n = got[1]
        .iter()
        .map(|a| match a {
            Frame::Array(Some(v)) => v.iter().filter(|x| **x == redacted).count(),
            _ => 0,
        })
        .sum::<usize>();
    assert!(n >= 10, "{n} redacted arguments");
}
