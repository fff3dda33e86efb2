//! Foundation contracts that only Pyrope is asked about (no reference behaviour to compare):
//! no panic reachable from a client for absurd sizes, and output buffer limits enforced by
//! class while bytes are appended (a subscriber that never reads is cut at the limit).

use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::{Duration, Instant};

#[test]
fn debug_populate_with_an_absurd_count_answers_an_error_at_once() {
    let s = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut c = s.client();
    let t = Instant::now();
    let r = call(&mut c, &["DEBUG", "POPULATE", "9223372036854775807"]);
    assert_eq!(r, Frame::Error("ERR OOM in dictTryExpand".into()));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(call(&mut c, &["DBSIZE"]), int(0));
    // A value size that cannot be allocated (the command fuzz target's find: it aborted the
    // process, even with count 0).
    for args in [
        ["1", "k", "9223372036854775807"],
        ["0", "k", "1099511627776"],
    ] {
        let mut a = vec!["DEBUG", "POPULATE"];
        a.extend(args);
        let r = c
            .call(&a)
            .unwrap_or_else(|e| panic!("{args:?}: {e}; server log:\n{}", s.log_text()));
        assert!(
            matches!(r, Frame::Error(_) | Frame::Simple(_)),
            "{args:?}: {r:?}"
        );
    }
    // A count that fits still works, and the server is alive.
    assert_eq!(
        call(&mut c, &["DEBUG", "POPULATE", "1000"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(call(&mut c, &["DBSIZE"]), int(1000));
}

fn used_memory(c: &mut pyrope_common::client::Client) -> u64 {
    info_field(&info(c, "memory"), "used_memory")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_subscriber_that_never_reads_is_cut_at_the_pubsub_hard_limit() {
    const LIMIT: u64 = 4 * 1024 * 1024;
    let s = TestServer::pyrope(&[
        "--client-output-buffer-limit",
        &format!("pubsub {LIMIT} 0 0"),
    ]);
    let mut admin = s.client();
    // The subscriber: subscribes, then never reads again; its socket buffers fill and the
    // server must hold the rest.
    let mut sub = s.client();
    assert!(matches!(
        call(&mut sub, &["SUBSCRIBE", "flood"]),
        Frame::Array(_)
    ));
    let base = used_memory(&mut admin);
    let mut publisher = s.client();
    let msg = vec![b'x'; 64 * 1024];
    let mut peak = 0;
    let mut sent: u64 = 0;
    let mut receivers_seen_zero = false;
    // 1 GiB of messages, 4 per pipeline (the publisher's own query buffer stays small).
    while sent < 1 << 30 {
        for _ in 0..4 {
            publisher.send(&[&b"PUBLISH"[..], b"flood", &msg]).unwrap();
        }
        for _ in 0..4 {
            if publisher.read_reply().unwrap() == int(0) {
                receivers_seen_zero = true;
            }
        }
        sent += 4 * msg.len() as u64;
        if sent % (16 << 20) == 0 {
            peak = peak.max(used_memory(&mut admin).saturating_sub(base));
        }
    }
    assert!(receivers_seen_zero, "the subscriber was never disconnected");
    let st = info(&mut admin, "stats");
    assert_eq!(
        info_field(&st, "client_output_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
    assert_eq!(info_field(&st, "pubsub_channels").as_deref(), Some("0"));
    // The server never held much more than the limit for it (plus one pipeline of input).
    let allowance = LIMIT + LIMIT / 10 + 4 * msg.len() as u64 + (1 << 20);
    assert!(
        peak <= allowance,
        "memory grew by {peak} bytes (allowance {allowance})"
    );
    assert!(wait_for(Duration::from_secs(10), || {
        let l = match call(&mut admin, &["CLIENT", "LIST"]) {
            Frame::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{other:?}"),
        };
        !l.contains("flags=P")
    }));
}

#[test]
fn normal_clients_keep_the_unlimited_default_and_soft_limits_need_time() {
    // Normal class: `0 0 0` by default — a big reply is fine.
    let s = TestServer::pyrope(&["--enable-debug-command", "yes"]);
    let mut c = s.client();
    call(&mut c, &["DEBUG", "POPULATE", "20000", "key", "200"]);
    match call(&mut c, &["KEYS", "*"]) {
        Frame::Array(Some(v)) => assert_eq!(v.len(), 20000),
        other => panic!("{other:?}"),
    }
    // Soft limit 1 MB for 2 s: a flood held over the soft limit gets cut only after 2 s.
    let s = TestServer::pyrope(&["--client-output-buffer-limit", "pubsub 0 1048576 2"]);
    let mut admin = s.client();
    let mut sub = s.client();
    call(&mut sub, &["SUBSCRIBE", "slow"]);
    let mut publisher = s.client();
    let msg = vec![b'y'; 64 * 1024];
    let start = Instant::now();
    let mut cut_at = None;
    while start.elapsed() < Duration::from_secs(20) {
        let n = publisher.call(&[&b"PUBLISH"[..], b"slow", &msg]).unwrap();
        if n == int(0) {
            cut_at = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cut_at = cut_at.expect("soft limit never enforced");
    assert!(
        cut_at >= Duration::from_secs(2),
        "cut after {cut_at:?}, before the soft seconds"
    );
    let st = info(&mut admin, "stats");
    assert_eq!(
        info_field(&st, "client_output_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
}
