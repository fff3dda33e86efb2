//! CLIENT LIST / CLIENT INFO buffer fields, measured, against Redis 7.4.1 run side by side
//! with the same steps:
//! - the running client's own command counts in its `qbuf` and `argv-mem`;
//! - a command half received: only its unparsed bytes are `qbuf`, its complete arguments
//!   `argv-mem`; a blocked command's arguments are `argv-mem`, not `qbuf`;
//! - MULTI's queued arguments are `multi-mem`;
//! - the cron gives back an idle client's query buffer (`qbuf-free=0`) and shrinks its reply
//!   buffer to 1 KiB after a big reply (`rbs=1024`), and `tot-mem` then agrees within 15%;
//! - CLIENT LIST TYPE pubsub/normal and CLIENT KILL TYPE/USER select the same clients.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

fn parse_line(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// CLIENT LIST lines, parsed.
fn list(c: &mut Client, args: &[&str]) -> Vec<HashMap<String, String>> {
    let mut a = vec!["CLIENT", "LIST"];
    a.extend_from_slice(args);
    let f = call(c, &a);
    let text = String::from_utf8_lossy(f.as_bytes().expect("CLIENT LIST text")).into_owned();
    text.lines().map(parse_line).collect()
}

fn client_id(c: &mut Client) -> String {
    match call(c, &["CLIENT", "ID"]) {
        Frame::Integer(n) => n.to_string(),
        other => panic!("{other:?}"),
    }
}

fn line_of(c: &mut Client, id: &str) -> HashMap<String, String> {
    list(c, &[])
        .into_iter()
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("no client {id}"))
}

/// What the steps show on one server: fields that must be equal.
fn observe(s: &TestServer) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let mut put = |what: &str, l: &HashMap<String, String>, fields: &[&str]| {
        for f in fields {
            seen.push((format!("{what} {f}"), l[*f].clone()));
        }
    };
    let mut a = s.client();
    let own = call(&mut a, &["CLIENT", "INFO"]);
    let own = parse_line(&String::from_utf8_lossy(own.as_bytes().unwrap()));
    put(
        "self",
        &own,
        &["qbuf", "argv-mem", "multi-mem", "obl", "oll", "omem"],
    );

    // Half a command: SET k <10 bytes> with 5 of them sent.
    let mut b = std::net::TcpStream::connect(s.addr()).unwrap();
    b.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n01234")
        .unwrap();
    let mut partial = None;
    assert!(wait_for(Duration::from_secs(10), || {
        partial = list(&mut a, &[])
            .into_iter()
            .find(|l| l["cmd"] == "NULL" && l["qbuf"] != "0");
        partial.is_some()
    }));
    put("partial", &partial.unwrap(), &["qbuf", "argv-mem"]);
    drop(b);

    // A blocked BLPOP.
    let mut bl = s.client();
    let bl_id = client_id(&mut bl);
    bl.send(&["BLPOP", "nolist", "0"]).unwrap();
    assert!(wait_for(Duration::from_secs(10), || line_of(
        &mut a, &bl_id
    )["flags"]
        == "b"));
    put("blocked", &line_of(&mut a, &bl_id), &["qbuf", "argv-mem"]);

    // A MULTI with two queued commands.
    let mut m = s.client();
    let m_id = client_id(&mut m);
    call(&mut m, &["MULTI"]);
    call(&mut m, &["SET", "abc", "defgh"]);
    call(&mut m, &["GET", "abc"]);
    put(
        "multi",
        &line_of(&mut a, &m_id),
        &["multi", "multi-mem", "argv-mem"],
    );

    // A big reply, read; then idle: the cron gives the buffers back.
    let mut big = s.client();
    let big_id = client_id(&mut big);
    let value = "x".repeat(200_000);
    call(&mut big, &["SET", "big", &value]);
    assert_eq!(call(&mut big, &["GET", "big"]), bulk(&value));
    let mut idle = HashMap::new();
    let t0 = std::time::Instant::now();
    let shrunk = wait_for(Duration::from_secs(30), || {
        idle = line_of(&mut a, &big_id);
        idle["qbuf-free"] == "0" && idle["rbs"] == "1024"
    });
    assert!(shrunk, "buffers not given back: {idle:?}");
    eprintln!("{}: buffers given back after {:?}", s.addr(), t0.elapsed());
    put(
        "idle",
        &idle,
        &["qbuf", "qbuf-free", "rbs", "obl", "oll", "omem"],
    );
    seen.push(("idle tot-mem".into(), idle["tot-mem"].clone()));

    // TYPE filters.
    let mut sub = s.client();
    call(&mut sub, &["SUBSCRIBE", "ch"]);
    let pubsub: Vec<_> = list(&mut a, &["TYPE", "pubsub"]);
    seen.push(("pubsub count".into(), pubsub.len().to_string()));
    seen.push(("pubsub flags".into(), pubsub[0]["flags"].clone()));
    let normal = list(&mut a, &["TYPE", "normal"]);
    seen.push(("normal count".into(), normal.len().to_string()));
    seen.push((
        "replica count".into(),
        list(&mut a, &["TYPE", "replica"]).len().to_string(),
    ));
    seen.push((
        "kill pubsub".into(),
        format!("{:?}", call(&mut a, &["CLIENT", "KILL", "TYPE", "pubsub"])),
    ));
    seen.push((
        "kill no user".into(),
        format!("{:?}", call(&mut a, &["CLIENT", "KILL", "USER", "nobody"])),
    ));
    call(
        &mut a,
        &["ACL", "SETUSER", "worker", "on", "nopass", "+@all", "~*"],
    );
    let mut w = s.client();
    call(&mut w, &["AUTH", "worker", "x"]);
    seen.push((
        "kill user".into(),
        format!("{:?}", call(&mut a, &["CLIENT", "KILL", "USER", "worker"])),
    ));
    seen
}

#[test]
fn client_list_buffer_fields_match_redis() {
    let (r, p) = both(&[]);
    let rv = observe(&r);
    let pv = observe(&p);
    assert_eq!(rv.len(), pv.len());
    for ((name, rval), (_, pval)) in rv.iter().zip(&pv) {
        if name == "idle tot-mem" {
            // Allocation sizes differ a little; the memory a client holds must agree.
            let (rn, pn): (f64, f64) = (rval.parse().unwrap(), pval.parse().unwrap());
            assert!(
                (pn / rn - 1.0).abs() <= 0.15,
                "tot-mem of an idle client: pyrope {pn}, redis {rn}"
            );
        } else {
            assert_eq!(pval, rval, "{name}");
        }
    }
}

/// True once the server closed `s` (a read returns EOF or an error), polled up to 30 s.
fn closed_by_server(s: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    wait_for(Duration::from_secs(30), || match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    })
}

/// `maxmemory-clients`: a client whose query buffer grows past the limit is evicted (INFO
/// `evicted_clients`), the CLIENT NO-EVICT ones survive over the limit and finish their
/// command; the same on both servers.
#[test]
fn maxmemory_clients_evicts_the_big_client_as_redis() {
    let (r, p) = both(&[]);
    let mut out = Vec::new();
    for s in [&r, &p] {
        let mut seen = Vec::new();
        let mut ctl = s.client();
        call(&mut ctl, &["CLIENT", "NO-EVICT", "on"]);
        call(&mut ctl, &["CONFIG", "SET", "maxmemory-clients", "10mb"]);
        // 12 MB of a 20 MB argument: the query buffer alone is over the limit.
        let head = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$20000000\r\n";
        let chunk = vec![b'x'; 12_000_000];
        let mut big = std::net::TcpStream::connect(s.addr()).unwrap();
        big.write_all(head).unwrap();
        let _ = big.write_all(&chunk);
        seen.push(format!("big evicted: {}", closed_by_server(&mut big)));
        seen.push(format!(
            "evicted_clients: {}",
            info_field(&info(&mut ctl, "stats"), "evicted_clients").unwrap()
        ));
        // A NO-EVICT client may go over the limit and complete its command.
        let mut keep = s.client();
        call(&mut keep, &["CLIENT", "NO-EVICT", "on"]);
        keep.send_raw(head).unwrap();
        keep.send_raw(&chunk).unwrap();
        keep.send_raw(&vec![b'y'; 8_000_000]).unwrap();
        keep.send_raw(b"\r\n").unwrap();
        seen.push(format!("no-evict reply: {:?}", keep.read_reply().unwrap()));
        seen.push(format!("strlen: {:?}", call(&mut ctl, &["STRLEN", "big"])));
        seen.push(format!(
            "evicted_clients after: {}",
            info_field(&info(&mut ctl, "stats"), "evicted_clients").unwrap()
        ));
        out.push(seen);
    }
    assert_eq!(out[1], out[0]);
    assert_eq!(out[0][0], "big evicted: true");
}
