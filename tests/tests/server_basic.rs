//! End-to-end tests over the real pyrope-server binary with the `redis` crate as client.

use pyrope_tests::*;
use redis::Commands;
use std::time::Duration;

#[test]
fn strings_and_keys_through_the_redis_crate() {
    let s = TestServer::pyrope(&[]);
    let mut con = s.redis_conn();
    let _: () = con.set("greeting", "hello").unwrap();
    let v: String = con.get("greeting").unwrap();
    assert_eq!(v, "hello");
    let n: i64 = con.incr("counter", 5).unwrap();
    assert_eq!(n, 5);
    let n: i64 = con.decr("counter", 2).unwrap();
    assert_eq!(n, 3);
    let _: () = con.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let vals: Vec<Option<String>> = con.mget(&["a", "b", "missing"]).unwrap();
    assert_eq!(vals, vec![Some("1".into()), Some("2".into()), None]);
    let len: usize = con.append("greeting", " world").unwrap();
    assert_eq!(len, 11);
    let r: String = con.getrange("greeting", 0, 4).unwrap();
    assert_eq!(r, "hello");
    let removed: usize = con.del(&["a", "b", "nope"]).unwrap();
    assert_eq!(removed, 2);
    let exists: bool = con.exists("a").unwrap();
    assert!(!exists);
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 2);
    let f: f64 = con.incr("float", 1.5).unwrap();
    assert_eq!(f, 1.5);
}

#[test]
fn pipelining_many_commands_in_one_write() {
    let s = TestServer::pyrope(&[]);
    let mut con = s.redis_conn();
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.set(format!("k{i}"), i).ignore();
    }
    for i in 0..1000 {
        p.get(format!("k{i}"));
    }
    let got: Vec<i64> = p.query(&mut con).unwrap();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn ttl_expires_lazily_and_actively() {
    let s = TestServer::pyrope(&[]);
    let mut con = s.redis_conn();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(100)
        .query(&mut con)
        .unwrap();
    let ttl: i64 = con.pttl("short").unwrap();
    assert!(ttl > 0 && ttl <= 100, "{ttl}");
    assert!(wait_for(Duration::from_secs(10), || con
        .get::<_, Option<String>>("short")
        .unwrap()
        .is_none()));
    // Active expiry: nobody touches these keys, yet they go away.
    let mut c = s.client();
    for i in 0..2000 {
        c.send(&["SET", &format!("v{i}"), "x", "PX", "50"]).unwrap();
    }
    for _ in 0..2000 {
        c.read_reply().unwrap();
    }
    let gone = wait_for(Duration::from_secs(20), || {
        call(&mut c, &["DBSIZE"]) == int(0)
    });
    assert!(
        gone,
        "active expiry did not reclaim the keys: {}",
        info(&mut c, "keyspace")
    );
    let st = info(&mut c, "stats");
    assert!(
        info_field(&st, "expired_keys")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 2000
    );
}

#[test]
fn select_and_databases() {
    let s = TestServer::pyrope(&["--databases", "4"]);
    let mut c = s.client();
    assert_eq!(
        call(&mut c, &["SELECT", "3"]),
        pyrope_common::resp::Frame::Simple(b"OK".to_vec())
    );
    call(&mut c, &["SET", "k", "in3"]);
    assert!(call(&mut c, &["SELECT", "4"]).is_error());
    call(&mut c, &["SELECT", "0"]);
    assert_eq!(
        call(&mut c, &["GET", "k"]),
        pyrope_common::resp::Frame::Bulk(None)
    );
    assert_eq!(call(&mut c, &["MOVE", "nokey", "3"]), int(0));
    call(&mut c, &["SWAPDB", "0", "3"]);
    assert_eq!(call(&mut c, &["GET", "k"]), bulk("in3"));
}

#[test]
fn unix_socket_and_client_commands() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pyrope.sock");
    let s = TestServer::pyrope(&[
        "--unixsocket",
        sock.to_str().unwrap(),
        "--unixsocketperm",
        "700",
    ]);
    let mut u = pyrope_common::client::Client::connect_unix(sock.to_str().unwrap()).unwrap();
    assert_eq!(
        u.call(&["PING"]).unwrap(),
        pyrope_common::resp::Frame::Simple(b"PONG".to_vec())
    );
    u.call(&["CLIENT", "SETNAME", "via-unix"]).unwrap();
    let mut t = s.client();
    let list = call(&mut t, &["CLIENT", "LIST"]);
    let text = String::from_utf8(list.as_bytes().unwrap().to_vec()).unwrap();
    assert!(
        text.contains("name=via-unix") && text.contains("flags=U"),
        "{text}"
    );
    let id = match u.call(&["CLIENT", "ID"]).unwrap() {
        pyrope_common::resp::Frame::Integer(n) => n,
        o => panic!("{o:?}"),
    };
    assert_eq!(
        call(&mut t, &["CLIENT", "KILL", "ID", &id.to_string()]),
        int(1)
    );
    assert!(wait_for(Duration::from_secs(5), || u
        .call(&["PING"])
        .is_err()));
}

#[test]
fn maxclients_refuses_with_redis_error() {
    let s = TestServer::pyrope(&["--maxclients", "2"]);
    let _a = s.client();
    let _b = s.client();
    let mut c = pyrope_common::client::Client::connect(&s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let got = c.read_to_close().unwrap();
    assert_eq!(got, b"-ERR max number of clients reached\r\n");
}

#[test]
fn requirepass_and_auth() {
    let s = TestServer::pyrope(&["--requirepass", "s3cret"]);
    let mut c = s.client();
    assert_eq!(
        call(&mut c, &["GET", "x"]),
        pyrope_common::resp::Frame::Error(b"NOAUTH Authentication required.".to_vec())
    );
    assert!(call(&mut c, &["AUTH", "wrong"]).is_error());
    assert_eq!(
        call(&mut c, &["AUTH", "s3cret"]),
        pyrope_common::resp::Frame::Simple(b"OK".to_vec())
    );
    assert_eq!(
        call(&mut c, &["GET", "x"]),
        pyrope_common::resp::Frame::Bulk(None)
    );
}

#[test]
fn idle_timeout_closes_clients() {
    let s = TestServer::pyrope(&["--timeout", "1"]);
    let mut c = s.client();
    call(&mut c, &["PING"]);
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server closes the idle connection: the read ends with EOF, not a timeout.
    assert_eq!(c.read_to_close().expect("closed by the server"), b"");
}

#[test]
fn shutdown_exits_cleanly_and_removes_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    let pid = dir.path().join("p.pid");
    let mut s = TestServer::pyrope(&["--pidfile", pid.to_str().unwrap()]);
    assert!(wait_for(Duration::from_secs(5), || pid.exists()));
    let mut c = s.client();
    c.send(&["SHUTDOWN", "NOSAVE"]).unwrap();
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!pid.exists());
    assert!(s.log_text().contains("ready to exit, bye bye"));
}

#[test]
fn config_file_loads_and_rewrite_keeps_comments() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("redis.conf");
    std::fs::write(
        &conf,
        "# my settings\nhz 12\n\n# keep me\nmaxmemory-policy allkeys-lru\n",
    )
    .unwrap();
    let s = TestServer::pyrope(&[conf.to_str().unwrap()]);
    let mut c = s.client();
    assert_eq!(
        call(&mut c, &["CONFIG", "GET", "hz"]).as_array().unwrap()[1],
        bulk("12")
    );
    call(
        &mut c,
        &["CONFIG", "SET", "hz", "20", "slowlog-max-len", "64"],
    );
    assert_eq!(
        call(&mut c, &["CONFIG", "REWRITE"]),
        pyrope_common::resp::Frame::Simple(b"OK".to_vec())
    );
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.starts_with("# my settings\nhz 20\n\n# keep me\nmaxmemory-policy allkeys-lru\n"),
        "{text}"
    );
    assert!(text.contains("slowlog-max-len 64"), "{text}");
}

#[test]
fn client_reply_off_skip_on() {
    let s = TestServer::pyrope(&[]);
    let mut c = s.client();
    // OFF: no replies at all (not even to CLIENT REPLY OFF) until ON, which answers +OK.
    c.send_raw(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n")
        .unwrap();
    assert_eq!(
        c.read_reply().unwrap(),
        pyrope_common::resp::Frame::Simple(b"OK".to_vec())
    );
    assert_eq!(c.read_reply().unwrap(), bulk("1"));
    // SKIP: only the next command's reply is dropped.
    c.send_raw(b"CLIENT REPLY SKIP\r\nINCR a\r\nINCR a\r\n")
        .unwrap();
    assert_eq!(c.read_reply().unwrap(), int(3));
    assert_eq!(call(&mut c, &["GET", "a"]), bulk("3"));
}

#[test]
fn config_set_port_rebinds_and_rolls_back_on_failure() {
    let s = TestServer::pyrope(&[]);
    let mut c = s.client();
    // A port somebody else holds: refused with Redis's message, nothing changes.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port().to_string();
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "port", &taken]),
        pyrope_common::resp::Frame::Error(
            b"ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.".to_vec()
        )
    );
    assert_eq!(
        call(&mut c, &["CONFIG", "GET", "port"]).as_array().unwrap()[1],
        bulk(&s.port.to_string())
    );
    assert!(
        pyrope_common::client::Client::connect(&s.addr()).is_ok(),
        "still listening on the old port"
    );
    // A free port: the server moves there; existing connections stay.
    let new_port = free_port();
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "port", &new_port.to_string()]),
        pyrope_common::resp::Frame::Simple(b"OK".to_vec())
    );
    let mut moved =
        pyrope_common::client::Client::connect(&format!("127.0.0.1:{new_port}")).unwrap();
    assert_eq!(
        moved.call(&["PING"]).unwrap(),
        pyrope_common::resp::Frame::Simple(b"PONG".to_vec())
    );
    assert!(
        pyrope_common::client::Client::connect(&s.addr()).is_err(),
        "old port closed"
    );
    assert_eq!(
        call(&mut c, &["PING"]),
        pyrope_common::resp::Frame::Simple(b"PONG".to_vec())
    );
    let inf = info(&mut c, "server");
    assert_eq!(info_field(&inf, "tcp_port"), Some(new_port.to_string()));
    assert!(
        inf.contains(&format!(
            "listener0:name=tcp,bind=127.0.0.1,port={new_port}"
        )),
        "{inf}"
    );
}

/// The active-expire cycle averages the TTLs it samples: keys expiring near the end of time
/// must not overflow the sum (a debug build panicked there, killing the server).
#[test]
fn active_expire_survives_far_future_ttls() {
    let s = TestServer::pyrope(&["--hz", "100"]);
    let mut c = s.client();
    for i in 0..40 {
        let k = format!("far{i}");
        assert_eq!(
            call(&mut c, &["SET", &k, "v", "PXAT", "9223372036854775807"]),
            pyrope_common::resp::Frame::Simple(b"OK".to_vec())
        );
    }
    // Give the cycle (100 times a second here) many chances to sample them.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(call(&mut c, &["DBSIZE"]), int(40));
    let ttl = call(&mut c, &["PTTL", "far0"]);
    assert!(
        matches!(ttl, pyrope_common::resp::Frame::Integer(n) if n > 0),
        "{ttl:?}"
    );
}
