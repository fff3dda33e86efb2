//! Client-side caching beyond what the differential script (tests/scripts/tracking.redis)
//! can express, against Redis 7.4.1 run side by side with the same steps:
//! - `tracking-table-max-keys`: reading more keys than the limit makes the server forget
//!   (and invalidate) tracked keys until the table is back at the limit;
//! - maxmemory eviction invalidates the evicted keys a client tracks (one push per evicted
//!   key);
//! - CLIENT LIST / CLIENT INFO tracking flags (`t`, `B`, `R`) and `redir=`, a broken
//!   redirection (`tracking-redir-broken` push, TRACKINGINFO `broken_redirect`), and INFO's
//!   `tracking_clients`, `tracking_total_keys`, `tracking_total_items`,
//!   `tracking_total_prefixes`.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

/// The RESP bytes of a frame, as text.
fn show(f: &Frame) -> String {
    let mut b = Vec::new();
    f.encode(&mut b);
    String::from_utf8_lossy(&b).into_owned()
}

fn is_invalidate(f: &Frame) -> bool {
    matches!(f, Frame::Push(v) if v.first().and_then(|x| x.as_bytes()) == Some(&b"invalidate"[..]))
}

/// Sends a command and returns its reply, counting the invalidation pushes read before it.
fn call_counting(c: &mut Client, args: &[&str], pushes: &mut usize) -> Frame {
    c.send(args).unwrap();
    loop {
        let f = c.read_reply().unwrap();
        if is_invalidate(&f) {
            *pushes += 1;
            continue;
        }
        return f;
    }
}

/// Reads every frame until 500 ms of silence; returns them.
fn drain(c: &mut Client) -> Vec<Frame> {
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut v = Vec::new();
    while let Ok(f) = c.read_reply() {
        v.push(f);
    }
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    v
}

fn resp3(s: &TestServer) -> Client {
    let mut c = s.client();
    let hello = c.call(&["HELLO", "3"]).unwrap();
    assert!(matches!(hello, Frame::Map(_)), "HELLO 3: {hello:?}");
    c
}

fn info_u64(c: &mut Client, section: &str, field: &str) -> u64 {
    info_field(&info(c, section), field)
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .parse()
        .unwrap()
}

fn client_field(c: &mut Client, field: &str) -> String {
    let f = c.call(&["CLIENT", "INFO"]).unwrap();
    let text = String::from_utf8_lossy(f.as_bytes().unwrap()).into_owned();
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{field}=")))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .to_string()
}

/// Reading 100 keys with `tracking-table-max-keys 10`: the table stays at 10 keys, and the
/// 90 keys forgotten are invalidated (one push each), as Redis's `trackingLimitUsedSlots`.
#[test]
fn table_max_keys_forgets_and_invalidates_keys() {
    let (redis, pyrope) = both(&["--tracking-table-max-keys", "10"]);
    let mut seen = Vec::new();
    for s in [&redis, &pyrope] {
        let mut c = resp3(s);
        assert_eq!(
            call(&mut c, &["CLIENT", "TRACKING", "on"]),
            Frame::Simple(b"OK".to_vec())
        );
        let mut pushes = 0;
        for i in 0..100 {
            call_counting(&mut c, &["GET", &format!("key:{i}")], &mut pushes);
        }
        pushes += drain(&mut c).iter().filter(|f| is_invalidate(f)).count();
        let mut m = s.client();
        let keys = info_u64(&mut m, "stats", "tracking_total_keys");
        let items = info_u64(&mut m, "stats", "tracking_total_items");
        seen.push((pushes, keys, items));
    }
    assert_eq!(seen[0], (90, 10, 10), "redis");
    assert_eq!(seen[1], seen[0], "pyrope vs redis");
}

/// Keys evicted under maxmemory are invalidated for the client that read them: one push per
/// evicted key on both servers.
#[test]
fn eviction_invalidates_tracked_keys() {
    let (redis, pyrope) = both(&[]);
    for (name, s) in [("redis", &redis), ("pyrope", &pyrope)] {
        let mut m = s.client();
        call(&mut m, &["DEBUG", "POPULATE", "3000", "key", "1000"]);
        let mut t = resp3(s);
        call(&mut t, &["CLIENT", "TRACKING", "on"]);
        let mut pushes = 0;
        for i in 0..3000 {
            call_counting(&mut t, &["GET", &format!("key:{i}")], &mut pushes);
        }
        assert_eq!(pushes, 0);
        assert_eq!(
            info_u64(&mut m, "stats", "tracking_total_keys"),
            3000,
            "{name}"
        );
        let used = info_u64(&mut m, "memory", "used_memory");
        call(
            &mut m,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
        );
        call(
            &mut m,
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                &(used - 1_000_000).to_string(),
            ],
        );
        // A write makes the server evict (before the command runs).
        call(&mut m, &["SET", "trigger", "x"]);
        call(&mut m, &["CONFIG", "SET", "maxmemory", "0"]);
        let evicted = info_u64(&mut m, "stats", "evicted_keys") as usize;
        assert!(evicted > 0, "{name}: nothing evicted");
        pushes += drain(&mut t).iter().filter(|f| is_invalidate(f)).count();
        // The eviction timer may keep evicting after the SET, the untracked `trigger` too.
        let trigger_gone = matches!(call(&mut m, &["EXISTS", "trigger"]), Frame::Integer(0));
        let tracked_evicted = evicted - trigger_gone as usize;
        assert_eq!(
            pushes, tracked_evicted,
            "{name}: one invalidation per evicted key"
        );
        assert_eq!(
            info_u64(&mut m, "stats", "tracking_total_keys") as usize,
            3000 - tracked_evicted,
            "{name}"
        );
    }
}

/// CLIENT INFO flags and `redir=`, INFO's tracking counters, and a broken redirection.
#[test]
fn client_list_flags_info_fields_and_broken_redirect() {
    let (redis, pyrope) = both(&[]);
    let mut seen = Vec::new();
    for s in [&redis, &pyrope] {
        let mut got: Vec<String> = Vec::new();
        let mut m = s.client();
        got.push(client_field(&mut m, "flags"));
        got.push(client_field(&mut m, "redir"));
        // BCAST with two prefixes.
        let mut b = s.client();
        call(
            &mut b,
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b",
            ],
        );
        got.push(client_field(&mut b, "flags"));
        got.push(client_field(&mut b, "redir"));
        // Default mode, two keys read by two clients.
        let mut t1 = resp3(s);
        call(&mut t1, &["CLIENT", "TRACKING", "on"]);
        call(&mut t1, &["MGET", "k1", "k2"]);
        let mut t2 = resp3(s);
        call(&mut t2, &["CLIENT", "TRACKING", "on"]);
        call(&mut t2, &["GET", "k1"]);
        for f in [
            "tracking_total_keys",
            "tracking_total_items",
            "tracking_total_prefixes",
        ] {
            got.push(format!("{f}={}", info_u64(&mut m, "stats", f)));
        }
        got.push(format!(
            "tracking_clients={}",
            info_u64(&mut m, "clients", "tracking_clients")
        ));
        // A RESP3 client redirecting to a client that then disconnects.
        let mut gone = s.client();
        let gone_id = match call(&mut gone, &["CLIENT", "ID"]) {
            Frame::Integer(i) => i,
            other => panic!("{other:?}"),
        };
        let mut r = resp3(s);
        call(
            &mut r,
            &["CLIENT", "TRACKING", "on", "REDIRECT", &gone_id.to_string()],
        );
        got.push(format!(
            "redir matches: {}",
            client_field(&mut r, "redir") == gone_id.to_string()
        ));
        got.push(client_field(&mut r, "flags"));
        call(&mut r, &["GET", "rk"]);
        drop(gone);
        assert!(wait_for(Duration::from_secs(10), || {
            let list = call(&mut m, &["CLIENT", "LIST"]);
            !String::from_utf8_lossy(list.as_bytes().unwrap()).contains(&format!("id={gone_id} "))
        }));
        call(&mut m, &["SET", "rk", "1"]);
        let pushed = drain(&mut r);
        let id_int = format!(":{gone_id}\r\n");
        got.push(
            pushed
                .iter()
                .map(show)
                .collect::<String>()
                .replace(&id_int, ":ID\r\n"),
        );
        got.push(client_field(&mut r, "flags"));
        let ti = call(&mut r, &["CLIENT", "TRACKINGINFO"]);
        got.push(show(&ti).replace(&id_int, ":ID\r\n"));
        // Off again: the counters drop, the keys stay until invalidated.
        call(&mut b, &["CLIENT", "TRACKING", "off"]);
        call(&mut t1, &["CLIENT", "TRACKING", "off"]);
        got.push(client_field(&mut t1, "flags"));
        got.push(client_field(&mut t1, "redir"));
        for f in ["tracking_total_keys", "tracking_total_prefixes"] {
            got.push(format!("{f}={}", info_u64(&mut m, "stats", f)));
        }
        got.push(format!(
            "tracking_clients={}",
            info_u64(&mut m, "clients", "tracking_clients")
        ));
        seen.push(got);
    }
    assert_eq!(seen[0][2], "tB", "redis BCAST flags");
    assert_eq!(seen[1], seen[0], "pyrope vs redis");
}
