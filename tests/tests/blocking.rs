//! The blocking core over real connections, where a command script cannot say it: CLIENT
//! UNBLOCK (needs the client's id), CLIENT KILL of a blocked client, CLIENT PAUSE's
//! postponed clients (counted as blocked, released in order), command statistics of
//! commands that blocked, and deadline precision. Transcripts are compared with Redis
//! 7.4.1's where they are deterministic.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::{Duration, Instant};

/// Runs `f` on a reference Redis and on pyrope-server (same arguments); the transcripts must
/// be equal.
fn same_on_both<T: PartialEq + std::fmt::Debug>(args: &[&str], f: impl Fn(&TestServer) -> T) -> T {
    require_reference();
    let r = TestServer::redis(args);
    let want = f(&r);
    drop(r);
    let p = TestServer::pyrope(args);
    let got = f(&p);
    assert_eq!(got, want, "pyrope (left) differs from Redis 7.4.1 (right)");
    got
}

fn text(f: &Frame) -> String {
    let mut b = Vec::new();
    f.encode(&mut b);
    String::from_utf8_lossy(&b).into_owned()
}

fn blocked(c: &mut Client) -> String {
    info_field(&info(c, "clients"), "blocked_clients").unwrap_or_default()
}

/// Waits (10 s at most) until the server reports `n` blocked clients.
fn wait_blocked(c: &mut Client, n: usize) {
    assert!(
        wait_for(Duration::from_secs(10), || blocked(c) == n.to_string()),
        "never reached {n} blocked clients (at {})",
        blocked(c)
    );
}

fn client_id(c: &mut Client) -> String {
    match c.call(&["CLIENT", "ID"]).unwrap() {
        Frame::Integer(n) => n.to_string(),
        other => panic!("CLIENT ID: {other:?}"),
    }
}

/// `calls=..,failed_calls=..` of a command in INFO commandstats (the times differ).
fn calls(c: &mut Client, cmd: &str) -> String {
    let s = info(c, "commandstats");
    let line = s
        .lines()
        .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
        .unwrap_or("")
        .to_string();
    line.split(',')
        .filter(|f| f.contains("calls=") || f.starts_with("failed"))
        .map(|f| f.trim_start_matches(&format!("cmdstat_{cmd}:")).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn client_unblock_with_timeout_and_error_and_statistics() {
    same_on_both(&[], |s| {
        let mut t = Vec::new();
        let mut main = s.client();
        let mut w = s.client();
        let id = client_id(&mut w);
        t.push(text(&main.call(&["CLIENT", "UNBLOCK", &id]).unwrap()));
        t.push(text(
            &main.call(&["CLIENT", "UNBLOCK", &id, "later"]).unwrap(),
        ));
        t.push(text(&main.call(&["CLIENT", "UNBLOCK", "x"]).unwrap()));
        t.push(text(&main.call(&["CLIENT", "UNBLOCK", "x", "y"]).unwrap()));
        t.push(text(
            &main
                .call(&["CLIENT", "UNBLOCK", "1", "timeout", "z"])
                .unwrap(),
        ));
        w.send(&["BLPOP", "k", "0"]).unwrap();
        wait_blocked(&mut main, 1);
        t.push(info_field(&info(&mut main, "clients"), "total_blocking_keys").unwrap());
        t.push(info_field(&info(&mut main, "clients"), "clients_in_timeout_table").unwrap());
        t.push(text(&main.call(&["CLIENT", "UNBLOCK", &id]).unwrap()));
        t.push(text(&w.read_reply().unwrap()));
        w.send(&["BRPOP", "k", "k2", "100"]).unwrap();
        wait_blocked(&mut main, 1);
        t.push(info_field(&info(&mut main, "clients"), "total_blocking_keys").unwrap());
        t.push(info_field(&info(&mut main, "clients"), "clients_in_timeout_table").unwrap());
        t.push(text(
            &main.call(&["CLIENT", "UNBLOCK", &id, "ERROR"]).unwrap(),
        ));
        t.push(text(&w.read_reply().unwrap()));
        t.push(blocked(&mut main));
        t.push(info_field(&info(&mut main, "clients"), "total_blocking_keys").unwrap());
        // The unblocked client goes on with its next commands.
        t.push(text(&w.call(&["PING"]).unwrap()));
        // Counted once each, when they ended; the error in failed_calls and errorstats.
        t.push(calls(&mut main, "blpop"));
        t.push(calls(&mut main, "brpop"));
        t.push(info_field(&info(&mut main, "errorstats"), "errorstat_UNBLOCKED").unwrap());
        // A blocked then served command is counted once too.
        w.send(&["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"])
            .unwrap();
        wait_blocked(&mut main, 1);
        t.push(calls(&mut main, "blmove"));
        main.call(&["RPUSH", "src", "v"]).unwrap();
        t.push(text(&w.read_reply().unwrap()));
        t.push(calls(&mut main, "blmove"));
        t
    });
}

#[test]
fn a_killed_waiter_leaves_no_trace() {
    same_on_both(&[], |s| {
        let mut t = Vec::new();
        let mut main = s.client();
        let mut w = s.client();
        let id = client_id(&mut w);
        w.send(&["BLPOP", "k", "0"]).unwrap();
        wait_blocked(&mut main, 1);
        let list = text(&main.call(&["CLIENT", "LIST", "ID", &id]).unwrap());
        t.push(list.contains(" flags=b ") && list.contains(" cmd=blpop "));
        t.push(list.contains(" qbuf=0 "));
        t.push(text(&main.call(&["CLIENT", "KILL", "ID", &id]).unwrap()) == ":1\r\n");
        wait_blocked(&mut main, 0);
        t.push(info_field(&info(&mut main, "clients"), "total_blocking_keys") == Some("0".into()));
        // Nobody takes the element any more.
        t.push(text(&main.call(&["RPUSH", "k", "v"]).unwrap()) == ":1\r\n");
        t.push(text(&main.call(&["LLEN", "k"]).unwrap()) == ":1\r\n");
        t
    });
}

#[test]
fn paused_clients_are_blocked_clients_released_in_order() {
    same_on_both(&[], |s| {
        let mut t = Vec::new();
        let mut main = s.client();
        main.call(&["CLIENT", "PAUSE", "20000", "WRITE"]).unwrap();
        let mut a = s.client();
        let mut b = s.client();
        let mut c = s.client();
        a.send(&["RPUSH", "order", "a"]).unwrap();
        wait_blocked(&mut main, 1);
        b.send(&["RPUSH", "order", "b"]).unwrap();
        wait_blocked(&mut main, 2);
        c.send(&["RPUSH", "order", "c"]).unwrap();
        wait_blocked(&mut main, 3);
        // Reads still run; postponed clients do not wait on keys.
        t.push(text(&main.call(&["GET", "x"]).unwrap()));
        t.push(info_field(&info(&mut main, "clients"), "total_blocking_keys").unwrap());
        let id = client_id(&mut main);
        let list = text(&main.call(&["CLIENT", "LIST"]).unwrap());
        t.push(
            list.lines()
                .filter(|l| l.contains(" flags=b "))
                .count()
                .to_string(),
        );
        t.push(
            list.lines()
                .filter(|l| l.contains(&format!("id={id} ")))
                .count()
                .to_string(),
        );
        t.push(text(&main.call(&["CLIENT", "UNPAUSE"]).unwrap()));
        for x in [&mut a, &mut b, &mut c] {
            t.push(text(&x.read_reply().unwrap()));
        }
        t.push(text(&main.call(&["LRANGE", "order", "0", "-1"]).unwrap()));
        t.push(blocked(&mut main));
        // A pause that ends by its timeout releases them too.
        main.call(&["CLIENT", "PAUSE", "200", "WRITE"]).unwrap();
        a.send(&["RPUSH", "order", "late"]).unwrap();
        t.push(text(&a.read_reply().unwrap()));
        t.push(blocked(&mut main));
        t
    });
}

/// Deadlines are kept to the ms by the event loop's poll timeout, not the cron: with `hz 1`
/// (a cron tick per second) a 50 ms timeout still answers within a few ms. (Redis checks
/// timeouts in its loop too, but sleeps until the next cron tick: up to 1 s.)
#[test]
fn timeouts_are_precise_without_the_cron() {
    let s = TestServer::pyrope(&["--hz", "1"]);
    let mut c = s.client();
    for secs in ["0.05", "0.2"] {
        let want = Duration::from_secs_f64(secs.parse().unwrap());
        let t0 = Instant::now();
        let r = c.call(&["BLPOP", "nothing", secs]).unwrap();
        let took = t0.elapsed();
        assert_eq!(r, Frame::Array(None));
        // Deadlines are unix ms (as Redis's): up to 1 ms early against this monotonic clock.
        assert!(
            took + Duration::from_millis(2) >= want,
            "{secs}: answered after {took:?}"
        );
        // Generous for a loaded machine, far below the 1 s cron period.
        assert!(
            took < want + Duration::from_millis(400),
            "{secs}: took {took:?}"
        );
    }
    // A pause ends on time too, releasing the postponed client.
    let mut main = s.client();
    main.call(&["CLIENT", "PAUSE", "100", "WRITE"]).unwrap();
    let t0 = Instant::now();
    assert_eq!(
        c.call(&["SET", "k", "v"]).unwrap(),
        Frame::Simple(b"OK".to_vec())
    );
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(90), "released after {took:?}");
    assert!(took < Duration::from_millis(600), "released after {took:?}");
}

/// A waiter re-run after a push that another waiter already consumed blocks again at the tail
/// with its first deadline, so it times out when it first would have.
#[test]
fn a_waiter_that_blocks_again_keeps_its_deadline() {
    let s = TestServer::pyrope(&[]);
    let mut main = s.client();
    let mut w1 = s.client();
    let mut w2 = s.client();
    w1.send(&["BLPOP", "k", "0"]).unwrap();
    wait_blocked(&mut main, 1);
    let t0 = Instant::now();
    w2.send(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0.6"])
        .unwrap();
    wait_blocked(&mut main, 2);
    std::thread::sleep(Duration::from_millis(200));
    // One element: w1 takes it; w2 runs again, finds nothing, blocks again.
    main.call(&["RPUSH", "k", "only"]).unwrap();
    assert_eq!(
        text(&w1.read_reply().unwrap()),
        "*2\r\n$1\r\nk\r\n$4\r\nonly\r\n"
    );
    wait_blocked(&mut main, 1);
    assert_eq!(w2.read_reply().unwrap(), Frame::Array(None));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(595),
        "timed out after {took:?}"
    );
    assert!(
        took < Duration::from_millis(1300),
        "kept its deadline? {took:?}"
    );
}

/// A RESP3 client whose push serves a waiter receives the events of the waiter's command
/// (delivered while its own reply buffer is in use) after its reply, nothing lost.
#[test]
fn events_of_served_waiters_reach_the_pushing_client() {
    same_on_both(&["--notify-keyspace-events", "KEA"], |s| {
        let mut t = Vec::new();
        let mut main = s.client();
        let mut w = s.client();
        let mut a = s.client();
        a.call(&["HELLO", "3"]).unwrap();
        t.push(text(
            &a.call(&["SUBSCRIBE", "__keyevent@0__:lpop", "__keyevent@0__:del"])
                .unwrap(),
        ));
        t.push(text(&a.read_reply().unwrap()));
        w.send(&["BLPOP", "q", "0"]).unwrap();
        wait_blocked(&mut main, 1);
        a.send(&["RPUSH", "q", "x"]).unwrap();
        a.send(&["PING"]).unwrap();
        for _ in 0..4 {
            t.push(text(&a.read_reply().unwrap()));
        }
        t.push(text(&w.read_reply().unwrap()));
        t
    });
}
