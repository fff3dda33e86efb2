//! Bad input on the wire: garbage, absurd lengths, clients vanishing mid-command. Each case is
//! sent to the reference Redis 7.4.1 and to pyrope-server; the bytes each sends back before
//! closing must be identical, and other clients must not notice anything.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `bytes`, then reads until the server closes (or 10 s pass). Returns what arrived and
/// whether the connection was closed by the server.
fn exchange(addr: &str, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

const CASES: &[(&str, &[u8])] = &[
    ("invalid multibulk length", b"*abc\r\n"),
    ("2 GB multibulk count", b"*2147483648\r\n"),
    (
        "negative multibulk count is an empty command",
        b"*-5\r\nPING\r\n",
    ),
    ("600 MB bulk length", b"*1\r\n$600000000\r\n"),
    ("negative bulk length", b"*1\r\n$-3\r\n"),
    ("non-numeric bulk length", b"*2\r\n$3\r\nGET\r\n$x\r\n"),
    ("expected dollar", b"*1\r\n+PING\r\n"),
    ("unbalanced quotes inline", b"SET \"foo bar\r\n"),
    ("closing quote followed by text", b"SET \"foo\"bar x\r\n"),
    (
        "inline commands",
        b"PING\r\nset a b\nget a\r\n  echo   'x y'  \r\n\r\n",
    ),
    ("garbage inline", b"\x00\x01\x02hello\r\n"),
    (
        "commands before an error still answer",
        b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n",
    ),
    (
        "bulk without CRLF is still taken",
        b"*2\r\n$4\r\nECHO\r\n$2\r\nabXY*1\r\n$4\r\nPING\r\n",
    ),
    ("empty multibulk", b"*0\r\nPING\r\n"),
    ("QUIT closes after reply", b"PING\r\nQUIT\r\nPING\r\n"),
];

#[test]
fn protocol_errors_match_redis_and_close_only_that_connection() {
    require_reference();
    let redis = TestServer::redis(&[]);
    let pyrope = TestServer::pyrope(&[]);
    let mut bystander = pyrope.client();
    let mut failures = Vec::new();
    for (name, bytes) in CASES {
        let (r, rclosed) = exchange(&redis.addr(), bytes);
        let (p, pclosed) = exchange(&pyrope.addr(), bytes);
        if r != p || rclosed != pclosed {
            failures.push(format!(
                "{name}:\n  redis : {} (closed={rclosed})\n  pyrope: {} (closed={pclosed})",
                show(&r),
                show(&p)
            ));
        }
        assert_eq!(
            call(&mut bystander, &["PING"]),
            Frame::Simple(b"PONG".to_vec()),
            "bystander after {name}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn too_big_inline_and_header_lines() {
    require_reference();
    let redis = TestServer::redis(&[]);
    let pyrope = TestServer::pyrope(&[]);
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("inline > 64 KiB without newline", vec![b'a'; 70_000]),
        (
            "mbulk header > 64 KiB",
            [b"*".to_vec(), vec![b'1'; 70_000]].concat(),
        ),
        (
            "bulk header > 64 KiB",
            [b"*1\r\n$".to_vec(), vec![b'1'; 70_000]].concat(),
        ),
    ];
    for (name, bytes) in inputs {
        let (r, rc) = exchange(&redis.addr(), &bytes);
        let (p, pc) = exchange(&pyrope.addr(), &bytes);
        assert_eq!((show(&p), pc), (show(&r), rc), "{name}");
    }
}

#[test]
fn client_vanishing_mid_command_leaves_no_trace() {
    let s = TestServer::pyrope(&[]);
    {
        let mut raw = TcpStream::connect(s.addr()).unwrap();
        raw.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$100\r\nonly-part")
            .unwrap();
    }
    let mut c = s.client();
    assert!(wait_for(Duration::from_secs(5), || {
        let list = call(&mut c, &["CLIENT", "LIST"]);
        String::from_utf8_lossy(list.as_bytes().unwrap())
            .lines()
            .count()
            == 1
    }));
    assert_eq!(call(&mut c, &["EXISTS", "half"]), int(0));
}

#[test]
fn a_pipeline_trickled_byte_by_byte_is_parsed() {
    let s = TestServer::pyrope(&[]);
    let mut raw = TcpStream::connect(s.addr()).unwrap();
    raw.set_nodelay(true).unwrap();
    let mut cmds = Vec::new();
    for i in 0..20 {
        pyrope_common::resp::encode::command(
            &mut cmds,
            &["SET", &format!("t{i}"), &"v".repeat(i * 3)],
        );
    }
    cmds.extend_from_slice(b"PING\r\n");
    for chunk in cmds.chunks(7) {
        raw.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let want = "+OK\r\n".repeat(20) + "+PONG\r\n";
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want.len() {
        let n = raw.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn big_values_round_trip_and_query_buffer_limit_closes() {
    let s = TestServer::pyrope(&["--client-query-buffer-limit", "1mb"]);
    let mut c = s.client();
    // 900 KB fits under the 1 MB query-buffer limit.
    let big = "x".repeat(900_000);
    assert_eq!(
        call(&mut c, &["SET", "big", &big]),
        Frame::Simple(b"OK".to_vec())
    );
    assert_eq!(call(&mut c, &["STRLEN", "big"]), int(900_000));
    // A reply bigger than the socket buffer needs several writable events.
    let mut clients: Vec<Client> = (0..8).map(|_| s.client()).collect();
    for cl in clients.iter_mut() {
        cl.send(&["GET", "big"]).unwrap();
    }
    for cl in clients.iter_mut() {
        assert_eq!(cl.read_reply().unwrap(), bulk(&big));
    }
    // A 2 MB argument exceeds it: the connection is closed without a reply, as Redis does.
    let mut raw = TcpStream::connect(s.addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = raw.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    let _ = raw.write_all(&vec![b'y'; 1_500_000]);
    let mut rest = Vec::new();
    let r = raw.read_to_end(&mut rest);
    // Closing with unread input makes the kernel send RST, as it does for Redis.
    let closed = matches!(&r, Ok(_))
        || matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset);
    assert!(
        closed && rest.is_empty(),
        "expected a silent close, got {r:?} {}",
        show(&rest)
    );
    assert_eq!(call(&mut c, &["EXISTS", "k"]), int(0));
    let st = info(&mut c, "stats");
    assert_eq!(
        info_field(&st, "client_query_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
}

#[test]
fn many_clients_interleaved() {
    let s = TestServer::pyrope(&[]);
    let mut clients: Vec<Client> = (0..50).map(|_| s.client()).collect();
    for round in 0..20 {
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(&["INCR", &format!("c{i}")]).unwrap();
        }
        for c in clients.iter_mut() {
            assert_eq!(c.read_reply().unwrap(), int(round + 1));
        }
    }
}

#[test]
fn output_buffer_hard_limit_disconnects_like_redis() {
    require_reference();
    let args = [
        "--enable-debug-command",
        "yes",
        "--client-output-buffer-limit",
        "normal 100kb 0 0",
    ];
    for kind in [Kind::Redis, Kind::Pyrope] {
        let s = TestServer::start(kind, &args);
        let mut c = s.client();
        call(&mut c, &["DEBUG", "POPULATE", "20000"]);
        // Small replies stay under the limit (only what overflows the 16 KiB buffer counts).
        assert_eq!(call(&mut c, &["GET", "key:1"]), bulk("value:1"));
        // KEYS * is ~300 KB: the client is cut, the server and other clients carry on.
        c.send(&["KEYS", "*"]).unwrap();
        let got = c.read_to_close();
        assert!(
            got.is_err() || got.unwrap().len() < 300_000,
            "{kind:?} did not cut the client"
        );
        let mut d = s.client();
        let st = info(&mut d, "stats");
        assert_eq!(
            info_field(&st, "client_output_buffer_limit_disconnections").as_deref(),
            Some("1"),
            "{kind:?}"
        );
    }
}
