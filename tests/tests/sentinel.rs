//! pyrope-sentinel end to end: config errors, replies compared with a Redis 7.4.1 sentinel
//! watching the same primary, failovers by a group of three pyrope-sentinels, and mixed
//! groups with Redis's own sentinels (7.4.1 and Debian's 7.0.15).
//!
//! Monitored nodes are reference Redis 7.4.1 servers ([`RedisNode`]), crashed with SIGKILL.
//! Everything time-based polls with generous deadlines; every process runs under
//! `timeout(1)` and is stopped on drop.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(Some(b)) | Frame::Simple(b) | Frame::Error(b) | Frame::Verbatim(_, b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        Frame::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// A RESP2 flat `[k, v, k, v...]` reply as pairs.
fn pairs(f: &Frame) -> Vec<(String, String)> {
    let Frame::Array(Some(v)) = f else {
        panic!("not a map reply: {f:?}")
    };
    v.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect()
}

fn field(f: &Frame, k: &str) -> Option<String> {
    pairs(f).into_iter().find(|(x, _)| x == k).map(|(_, v)| v)
}

/// Sends each command to both connections and asserts byte-identical raw replies (`what`
/// names the protocol in the failure message).
fn same_raw_replies(a: &mut Client, b: &mut Client, cmds: &[&[&str]], what: &str) {
    for args in cmds {
        a.send(args).unwrap();
        b.send(args).unwrap();
        let (_, ra) = a.read_reply_raw().unwrap();
        let (_, rb) = b.read_reply_raw().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ra),
            String::from_utf8_lossy(&rb),
            "{what} reply to {args:?}"
        );
    }
}

fn cmd(c: &mut Client, args: &[&str]) -> Frame {
    c.call(args).expect("reply")
}

fn master(s: &TestSentinel, name: &str) -> Frame {
    cmd(&mut s.client(), &["SENTINEL", "MASTER", name])
}

/// The master address a sentinel gives clients.
fn master_addr(s: &TestSentinel) -> Option<u16> {
    let mut c = Client::connect(&format!("127.0.0.1:{}", s.port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    match c
        .call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
        .ok()?
    {
        Frame::Array(Some(v)) if v.len() == 2 => text(&v[1]).parse().ok(),
        _ => None,
    }
}

fn num(f: &Frame, k: &str) -> i64 {
    field(f, k).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// INFO replication field of a node.
fn repl_field(n: &RedisNode, k: &str) -> Option<String> {
    let mut c = Client::connect(&n.addr()).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let f = c.call(&["INFO", "replication"]).ok()?;
    info_field(&text(&f), k)
}

/// Collects the messages a sentinel publishes (PSUBSCRIBE *) in a thread.
struct Subscriber {
    msgs: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    th: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    fn new(port: u16) -> Subscriber {
        let mut c = Client::connect(&format!("127.0.0.1:{port}")).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        c.send(&["PSUBSCRIBE", "*"]).unwrap();
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m2, s2) = (msgs.clone(), stop.clone());
        let th = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match c.read_reply() {
                    Ok(Frame::Array(Some(v))) if v.len() == 4 => {
                        m2.lock().unwrap().push((text(&v[2]), text(&v[3])));
                    }
                    Ok(_) => {}
                    Err(pyrope_common::client::ClientError::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        });
        Subscriber {
            msgs,
            stop,
            th: Some(th),
        }
    }

    fn count(&self, channel: &str) -> usize {
        self.msgs
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == channel)
            .count()
    }

    fn messages(&self, channel: &str) -> Vec<String> {
        self.msgs
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == channel)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.th.take() {
            let _ = t.join();
        }
    }
}

fn monitor_conf(master_port: u16, quorum: u32, down_after: u32) -> String {
    format!(
        "sentinel monitor mymaster 127.0.0.1 {master_port} {quorum}\nsentinel down-after-milliseconds mymaster {down_after}\nsentinel failover-timeout mymaster 20000\n"
    )
}

/// Waits until every sentinel knows `replicas` replicas and `others` other sentinels.
fn wait_discovery(sentinels: &[&TestSentinel], replicas: i64, others: i64) {
    for s in sentinels {
        let ok = wait_for(Duration::from_secs(60), || {
            let m = master(s, "mymaster");
            num(&m, "num-slaves") == replicas && num(&m, "num-other-sentinels") == others
        });
        assert!(
            ok,
            "{:?} sentinel on {} did not discover the group: {:?}\n{}",
            s.kind,
            s.port,
            master(s, "mymaster"),
            s.log_text()
        );
    }
}

#[test]
fn config_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bin = binary("pyrope-sentinel");
    let cases = [
        (
            "sentinel foo bar",
            "Unrecognized sentinel configuration statement.",
        ),
        (
            "sentinel down-after-milliseconds nope 100",
            "No such master with specified name.",
        ),
        (
            "sentinel monitor m 127.0.0.1 6379 0",
            "Quorum must be 1 or greater.",
        ),
        ("bogus 1", "Bad directive or wrong number of arguments"),
        (
            "sentinel monitor \"m 127.0.0.1 6379 2",
            "Unbalanced quotes in configuration line",
        ),
    ];
    for (line, msg) in cases {
        let p = dir.path().join("bad.conf");
        std::fs::write(&p, format!("port 26999\n# a comment\n{line}\n")).unwrap();
        let out = std::process::Command::new("timeout")
            .args(["30"])
            .arg(&bin)
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{line}: {err}");
        assert!(
            err.contains(&format!("{}, at line 3", p.display())),
            "{line}: {err}"
        );
        assert!(err.contains(&format!(">>> '{line}'")), "{line}: {err}");
        assert!(err.contains(msg), "{line}: {err}");
        // The reason is the one Redis 7.4.1 gives for the same line.
        if reference_available() {
            let r = std::process::Command::new("timeout")
                .args(["30", REFERENCE_REDIS])
                .arg(&p)
                .arg("--sentinel")
                .output()
                .unwrap();
            let rerr = String::from_utf8_lossy(&r.stderr).to_string()
                + &String::from_utf8_lossy(&r.stdout);
            assert!(
                rerr.contains(msg),
                "redis says otherwise for {line}: {rerr}"
            );
        }
    }
    // A missing file and an argument error.
    let out = std::process::Command::new("timeout")
        .arg("30")
        .arg(&bin)
        .arg(dir.path().join("nope.conf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.conf"));
    let p = dir.path().join("ok.conf");
    std::fs::write(&p, "port 26999\n").unwrap();
    let out = std::process::Command::new("timeout")
        .arg("30")
        .arg(&bin)
        .arg(&p)
        .args(["--sentinel", "monitor", "m", "127.0.0.1", "6379", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("command line arguments") && err.contains("Quorum must be 1 or greater."),
        "{err}"
    );
}

#[test]
fn rewritten_config_is_read_by_redis_and_back() {
    let primary = RedisNode::start(&[]);
    let replica = RedisNode::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let ours = TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(primary.port, 2, 5000));
    let theirs = TestSentinel::start(SentinelKind::Redis, &monitor_conf(primary.port, 2, 5000));
    wait_discovery(&[&ours, &theirs], 1, 1);
    assert!(wait_for(Duration::from_secs(20), || ours
        .conf_text()
        .contains("known-sentinel")
        && ours.conf_text().contains("known-replica")));
    let conf = ours.conf_text();
    for l in [
        "sentinel myid ",
        "sentinel config-epoch mymaster 0",
        "sentinel leader-epoch mymaster 0",
        "sentinel current-epoch 0",
        &format!("sentinel known-replica mymaster 127.0.0.1 {}", replica.port),
        &format!(
            "sentinel known-sentinel mymaster 127.0.0.1 {} ",
            theirs.port
        ),
        "sentinel down-after-milliseconds mymaster 5000",
        "# Generated by CONFIG REWRITE",
    ] {
        assert!(conf.contains(l), "missing {l:?} in\n{conf}");
    }
    let myid = text(&cmd(&mut ours.client(), &["SENTINEL", "MYID"]));
    // Redis 7.4.1 loads the file we wrote and takes our id and what we learned.
    let body: String = conf
        .lines()
        .filter(|l| !l.starts_with("port ") && !l.starts_with("bind "))
        .map(|l| format!("{l}\n"))
        .collect();
    let redis_reads = TestSentinel::start(SentinelKind::Redis, &body);
    assert_eq!(
        text(&cmd(&mut redis_reads.client(), &["SENTINEL", "MYID"])),
        myid
    );
    let m = master(&redis_reads, "mymaster");
    assert_eq!(num(&m, "num-slaves"), 1);
    assert!(num(&m, "num-other-sentinels") >= 1);
    drop(redis_reads);
    // And we read Redis's own rewritten file.
    assert!(wait_for(Duration::from_secs(20), || theirs
        .conf_text()
        .contains("known-sentinel")));
    let rconf = theirs.conf_text();
    let body: String = rconf
        .lines()
        .filter(|l| !l.starts_with("port ") && !l.starts_with("bind "))
        .map(|l| format!("{l}\n"))
        .collect();
    let we_read = TestSentinel::start(SentinelKind::Pyrope, &body);
    let rid = text(&cmd(&mut theirs.client(), &["SENTINEL", "MYID"]));
    assert_eq!(
        text(&cmd(&mut we_read.client(), &["SENTINEL", "MYID"])),
        rid
    );
    let m = master(&we_read, "mymaster");
    assert_eq!(num(&m, "num-slaves"), 1, "{m:?}");
    assert!(num(&m, "down-after-milliseconds") == 5000);
}

/// Keys whose values legitimately differ between two sentinels (ids, ports of the sentinels
/// themselves, times, in-flight counters).
const MASKED: &[&str] = &[
    "runid",
    "last-ping-sent",
    "last-ok-ping-reply",
    "last-ping-reply",
    "info-refresh",
    "role-reported-time",
    "last-hello-message",
    "link-pending-commands",
    "slave-repl-offset",
    "master-link-down-time",
];

fn masked(f: &Frame, extra: &[&str]) -> Vec<(String, String)> {
    pairs(f)
        .into_iter()
        .map(|(k, v)| {
            if MASKED.contains(&k.as_str()) || extra.contains(&k.as_str()) {
                (k, "<masked>".into())
            } else {
                (k, v)
            }
        })
        .collect()
}

#[test]
fn differential_replies_against_redis_sentinel() {
    let primary = RedisNode::start(&[]);
    let _replica = RedisNode::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let ours = TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(primary.port, 2, 5000));
    let theirs = TestSentinel::start(SentinelKind::Redis, &monitor_conf(primary.port, 2, 5000));
    wait_discovery(&[&ours, &theirs], 1, 1);
    // Both have INFO from the replica (its master link up).
    for s in [&ours, &theirs] {
        assert!(wait_for(Duration::from_secs(30), || {
            let r = cmd(&mut s.client(), &["SENTINEL", "REPLICAS", "mymaster"]);
            let Frame::Array(Some(v)) = r else {
                return false;
            };
            v.len() == 1 && field(&v[0], "master-link-status").as_deref() == Some("ok")
        }));
    }
    // And each has its command link to the other up.
    for s in [&ours, &theirs] {
        assert!(wait_for(Duration::from_secs(30), || {
            let r = cmd(&mut s.client(), &["SENTINEL", "SENTINELS", "mymaster"]);
            let Frame::Array(Some(v)) = r else {
                return false;
            };
            v.len() == 1 && field(&v[0], "flags").as_deref() == Some("sentinel")
        }));
    }
    let (mut a, mut b) = (ours.client(), theirs.client());

    // Map replies, field for field with times and ids masked.
    let m1 = cmd(&mut a, &["SENTINEL", "MASTER", "mymaster"]);
    let m2 = cmd(&mut b, &["SENTINEL", "MASTER", "mymaster"]);
    assert_eq!(masked(&m1, &[]), masked(&m2, &[]));
    let Frame::Array(Some(l1)) = cmd(&mut a, &["SENTINEL", "MASTERS"]) else {
        panic!()
    };
    let Frame::Array(Some(l2)) = cmd(&mut b, &["SENTINEL", "MASTERS"]) else {
        panic!()
    };
    assert_eq!(l1.len(), l2.len());
    assert_eq!(masked(&l1[0], &[]), masked(&l2[0], &[]));
    for sub in ["REPLICAS", "SLAVES"] {
        let Frame::Array(Some(r1)) = cmd(&mut a, &["SENTINEL", sub, "mymaster"]) else {
            panic!()
        };
        let Frame::Array(Some(r2)) = cmd(&mut b, &["SENTINEL", sub, "mymaster"]) else {
            panic!()
        };
        assert_eq!(masked(&r1[0], &[]), masked(&r2[0], &[]), "{sub}");
    }
    let Frame::Array(Some(s1)) = cmd(&mut a, &["SENTINEL", "SENTINELS", "mymaster"]) else {
        panic!()
    };
    let Frame::Array(Some(s2)) = cmd(&mut b, &["SENTINEL", "SENTINELS", "mymaster"]) else {
        panic!()
    };
    let sentinel_mask = ["name", "port"];
    assert_eq!(
        masked(&s1[0], &sentinel_mask),
        masked(&s2[0], &sentinel_mask)
    );
    // Each names the other.
    assert_eq!(field(&s1[0], "port"), Some(theirs.port.to_string()));
    assert_eq!(field(&s2[0], "port"), Some(ours.port.to_string()));

    // Replies that must be byte-identical.
    let same: &[&[&str]] = &[
        &["PING"],
        &["PING", "hello"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"],
        &["SENTINEL", "CKQUORUM", "mymaster"],
        &["SENTINEL", "CKQUORUM", "nope"],
        &["SENTINEL", "MASTER", "nope"],
        &["SENTINEL", "REPLICAS", "nope"],
        &["SENTINEL", "foo"],
        &["SENTINEL"],
        &["SENTINEL", "MASTERS", "extra"],
        &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "1", "0"],
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            "1",
            "0",
            "*",
        ],
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            "x",
            "0",
            "*",
        ],
        &["SENTINEL", "MONITOR", "mymaster", "127.0.0.1", "6379", "2"],
        &["SENTINEL", "MONITOR", "x", "127.0.0.1", "abc", "2"],
        &["SENTINEL", "MONITOR", "x", "127.0.0.1", "70000", "2"],
        &["SENTINEL", "MONITOR", "x", "127.0.0.1", "7000", "0"],
        &["SENTINEL", "MONITOR", "x", "127.0.0.1", "7000", "q"],
        &["SENTINEL", "MONITOR", "x", "nonexist.invalid", "7000", "2"],
        &["SENTINEL", "SET", "mymaster", "quorum", "0"],
        &["SENTINEL", "SET", "mymaster", "foo", "1"],
        &["SENTINEL", "SET", "mymaster", "quorum"],
        &["SENTINEL", "SET", "nope", "quorum", "2"],
        &[
            "SENTINEL",
            "SET",
            "mymaster",
            "notification-script",
            "/bin/true",
        ],
        &["SENTINEL", "RESET", "nomatch*"],
        &["SENTINEL", "REMOVE", "nope"],
        &["SENTINEL", "FAILOVER", "nope"],
        &["SENTINEL", "HELP"],
        &["SENTINEL", "PENDING-SCRIPTS"],
        &["SENTINEL", "DEBUG"],
        &["SENTINEL", "CONFIG", "GET", "*"],
        &["SENTINEL", "CONFIG", "SET", "announce-port", "abc"],
        &["SENTINEL", "CONFIG", "SET", "foo", "1"],
        &["SENTINEL", "SIMULATE-FAILURE", "foo"],
        &["SENTINEL", "INFO-CACHE", "nope"],
        &["SENTINEL", "SIMULATE-FAILURE", "help"],
        &["ROLE"],
        &["PUBLISH", "foo", "bar"],
        &["GET", "x"],
        &["CONFIG", "GET", "port"],
        &["AUTH", "x"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "a b"],
        &["CLIENT", "SETNAME", "probe"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "NOPE"],
        &["ACL", "WHOAMI"],
        &["SUBSCRIBE", "+switch-master"],
        &["UNSUBSCRIBE"],
    ];
    same_raw_replies(&mut a, &mut b, same, "");

    // SENTINEL SET changes are visible and replied the same; then restored.
    for args in [
        &[
            "SENTINEL",
            "SET",
            "mymaster",
            "quorum",
            "1",
            "parallel-syncs",
            "2",
        ][..],
        &[
            "SENTINEL",
            "SET",
            "mymaster",
            "quorum",
            "2",
            "parallel-syncs",
            "1",
        ],
    ] {
        assert_eq!(cmd(&mut a, args), cmd(&mut b, args));
    }

    // INFO: the same sections and field names (we add pyrope_version), the same sentinel
    // section.
    let ia = text(&cmd(&mut a, &["INFO"]));
    let ib = text(&cmd(&mut b, &["INFO"]));
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .filter(|n| n != "pyrope_version")
            .collect()
    };
    assert_eq!(names(&ia), names(&ib));
    let sentinel_section = |t: &str| t.split("# Sentinel").nth(1).unwrap().to_string();
    assert_eq!(sentinel_section(&ia), sentinel_section(&ib));
    assert_eq!(
        text(&cmd(&mut a, &["INFO", "sentinel"])),
        text(&cmd(&mut b, &["INFO", "sentinel"]))
    );

    // RESP3 HELLO: the same map apart from the id and the version.
    let mut a3 = ours.client();
    let mut b3 = theirs.client();
    let h1 = cmd(&mut a3, &["HELLO", "3"]);
    let h2 = cmd(&mut b3, &["HELLO", "3"]);
    let keys = |f: &Frame| -> Vec<String> {
        let Frame::Map(m) = f else { panic!("{f:?}") };
        m.iter().map(|(k, _)| text(k)).collect()
    };
    assert_eq!(keys(&h1), keys(&h2));
    let m1 = cmd(&mut a3, &["SENTINEL", "MASTER", "mymaster"]);
    let Frame::Map(m1) = m1 else {
        panic!("RESP3 SENTINEL MASTER is a map")
    };
    assert_eq!(text(&m1[0].1), "mymaster");
    assert_eq!(
        cmd(&mut a3, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"]),
        cmd(&mut b3, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"])
    );
}

#[test]
fn garbage_and_bad_hellos_are_refused_and_the_sentinel_keeps_running() {
    let primary = RedisNode::start(&[]);
    let s = TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(primary.port, 1, 5000));
    let mut c = s.client();
    c.send_raw(b"*1\r\n$x\r\n").unwrap();
    let rest = c.read_to_close().unwrap();
    assert!(
        String::from_utf8_lossy(&rest).starts_with("-ERR Protocol error"),
        "{rest:?}"
    );
    let mut c = s.client();
    for bad in [
        "garbage",
        "1,2,3",
        "127.0.0.1,notaport,0123456789012345678901234567890123456789,1,mymaster,127.0.0.1,1,0",
        "127.0.0.1,26999,0123456789012345678901234567890123456789,99999999999999999999999,mymaster,127.0.0.1,1,0",
        "127.0.0.1,26999,short,1,mymaster,127.0.0.1,1,0",
        "127.0.0.1,26999,0123456789012345678901234567890123456789,1,unknown,127.0.0.1,1,0",
        &format!("127.0.0.1,26999,0123456789012345678901234567890123456789,99999999999,mymaster,127.0.0.1,{},0", primary.port),
    ] {
        assert_eq!(cmd(&mut c, &["PUBLISH", "__sentinel__:hello", bad]), int(1));
    }
    let m = master(&s, "mymaster");
    assert_eq!(num(&m, "num-other-sentinels"), 0);
    assert!(s
        .log_text()
        .contains("Ignoring hello message with an absurd epoch"));
    let conf = s.conf_text();
    assert!(
        wait_for(Duration::from_secs(5), || s
            .conf_text()
            .contains("sentinel current-epoch 0")),
        "{conf}"
    );
    assert_eq!(
        text(
            &cmd(&mut c, &["SENTINEL", "MASTER", "mymaster"])
                .as_array()
                .unwrap()[1]
        ),
        "mymaster"
    );
    // A negative epoch in a vote request gets no vote.
    let r = cmd(
        &mut c,
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            &primary.port.to_string(),
            "-5",
            "0123456789012345678901234567890123456789",
        ],
    );
    assert_eq!(r, Frame::Array(Some(vec![int(0), bulk("*"), int(0)])));
    assert_eq!(cmd(&mut c, &["PING"]), Frame::Simple(b"PONG".to_vec()));
}

/// Kills the primary under three sentinels of `kinds`; checks exactly one `+switch-master`
/// per sentinel, the other replica re-pointed, the old primary back as a replica, and a
/// Sentinel-aware client writing to the new primary. Returns the new primary's index.
fn crash_failover(kinds: [SentinelKind; 3]) {
    let mut primary = RedisNode::start(&[]);
    let p = primary.port.to_string();
    let replicas = [
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
    ];
    let sentinels: Vec<TestSentinel> = kinds
        .iter()
        // 2 s: a loaded 2-core machine can miss a 1 s PING deadline and start a second
        // (legitimate) failover of the new primary, in Redis's sentinels as in ours.
        .map(|k| TestSentinel::start(*k, &monitor_conf(primary.port, 2, 2000)))
        .collect();
    let refs: Vec<&TestSentinel> = sentinels.iter().collect();
    wait_discovery(&refs, 2, 2);
    let subs: Vec<Subscriber> = sentinels.iter().map(|s| Subscriber::new(s.port)).collect();
    // Some time for SUBSCRIBE to register and INFO of replicas to be fresh.
    assert!(wait_for(Duration::from_secs(30), || sentinels.iter().all(
        |s| {
            let r = cmd(&mut s.client(), &["SENTINEL", "REPLICAS", "mymaster"]);
            let Frame::Array(Some(v)) = r else {
                return false;
            };
            v.iter()
                .all(|x| field(x, "master-link-status").as_deref() == Some("ok"))
        }
    )));
    std::thread::sleep(Duration::from_millis(300));
    primary.crash();
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    let converged = wait_for(Duration::from_secs(90), || {
        let addrs: Vec<Option<u16>> = sentinels.iter().map(master_addr).collect();
        addrs[0].is_some_and(|a| ports.contains(&a)) && addrs.iter().all(|a| *a == addrs[0])
    });
    let logs: String = sentinels
        .iter()
        .map(|s| format!("=== {:?} {}\n{}", s.kind, s.port, s.log_text()))
        .collect();
    assert!(converged, "no failover:\n{logs}");
    let new_port = master_addr(&sentinels[0]).unwrap();
    let (newp, other) = if replicas[0].port == new_port {
        (&replicas[0], &replicas[1])
    } else {
        (&replicas[1], &replicas[0])
    };
    assert_eq!(repl_field(newp, "role").as_deref(), Some("master"));
    assert!(
        wait_for(Duration::from_secs(60), || repl_field(other, "master_port")
            == Some(new_port.to_string())
            && repl_field(other, "master_link_status").as_deref()
                == Some("up")),
        "the other replica was not re-pointed\n{logs}"
    );
    // Exactly one +switch-master on each sentinel, naming old and new primary.
    std::thread::sleep(Duration::from_secs(3));
    for (s, sub) in sentinels.iter().zip(&subs) {
        let m = sub.messages("+switch-master");
        let now_logs: String = sentinels
            .iter()
            .map(|s| format!("=== {:?} {}\n{}", s.kind, s.port, s.log_text()))
            .collect();
        assert_eq!(
            m.len(),
            1,
            "{:?} sentinel {}: {m:?}\n{now_logs}",
            s.kind,
            s.port
        );
        assert_eq!(
            m[0],
            format!("mymaster 127.0.0.1 {} 127.0.0.1 {new_port}", primary.port)
        );
    }
    // One leader: +elected-leader published once in the whole group.
    let elected: usize = subs.iter().map(|s| s.count("+elected-leader")).sum();
    assert_eq!(elected, 1, "{logs}");
    // The old primary comes back and is made a replica of the new one.
    primary.restart();
    assert!(
        wait_for(Duration::from_secs(90), || repl_field(&primary, "role")
            .as_deref()
            == Some("slave")
            && repl_field(&primary, "master_port")
                == Some(new_port.to_string())),
        "old primary not converted:\n{}",
        sentinels.iter().map(|s| s.log_text()).collect::<String>()
    );
    // A Sentinel-aware client (the redis crate's) finds the new primary and writes to it.
    let addrs: Vec<String> = sentinels
        .iter()
        .map(|s| format!("redis://127.0.0.1:{}/", s.port))
        .collect();
    let mut sc = redis::sentinel::Sentinel::build(addrs).unwrap();
    let client = sc.master_for("mymaster", None).unwrap();
    let mut con = client.get_connection().unwrap();
    redis::cmd("SET")
        .arg("after-failover")
        .arg("yes")
        .exec(&mut con)
        .unwrap();
    let v: String = redis::cmd("GET")
        .arg("after-failover")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, "yes");
    assert_eq!(repl_field(newp, "role").as_deref(), Some("master"));
    // The group keeps one primary: every sentinel still names the same one.
    for s in &sentinels {
        assert_eq!(master_addr(s), Some(new_port));
    }
}

#[test]
fn failover_by_three_pyrope_sentinels() {
    crash_failover([SentinelKind::Pyrope; 3]);
}

#[test]
fn failover_in_a_mixed_group_with_redis_sentinels() {
    crash_failover([
        SentinelKind::Redis,
        SentinelKind::Pyrope,
        SentinelKind::Redis,
    ]);
}

/// Waits until every sentinel names the same primary, different from `old`, that primary
/// says so, and every other node replicates from it with its link up. Returns its port.
fn wait_converged(sentinels: &[TestSentinel], nodes: &[RedisNode], old: u16) -> u16 {
    let mut newp = 0;
    let ok = wait_for(Duration::from_secs(120), || {
        let addrs: Vec<Option<u16>> = sentinels.iter().map(master_addr).collect();
        let Some(p) = addrs[0] else { return false };
        if p == old || addrs.iter().any(|a| *a != Some(p)) {
            return false;
        }
        newp = p;
        nodes.iter().all(|n| {
            if n.port == p {
                repl_field(n, "role").as_deref() == Some("master")
            } else {
                repl_field(n, "master_port") == Some(p.to_string())
                    && repl_field(n, "master_link_status").as_deref() == Some("up")
            }
        })
    });
    let logs: String = sentinels
        .iter()
        .map(|s| format!("=== {:?} {}\n{}", s.kind, s.port, s.log_text()))
        .collect();
    assert!(
        ok,
        "group did not converge after the failover from {old}:\n{logs}"
    );
    newp
}

/// Waits until `s` sees every replica of the current primary with fresh INFO and its link up,
/// so SENTINEL FAILOVER has a replica to choose.
fn wait_replicas_ready(s: &TestSentinel, n: usize) {
    assert!(
        wait_for(Duration::from_secs(60), || {
            let r = cmd(&mut s.client(), &["SENTINEL", "REPLICAS", "mymaster"]);
            let Frame::Array(Some(v)) = r else {
                return false;
            };
            v.iter()
                .filter(|x| {
                    field(x, "master-link-status").as_deref() == Some("ok")
                        && field(x, "flags").as_deref() == Some("slave")
                })
                .count()
                >= n
        }),
        "{:?} sentinel never saw {n} ready replicas",
        s.kind
    );
}

#[test]
fn mixed_group_each_kind_leads_a_failover_and_redis_70_joins() {
    let primary = RedisNode::start(&[]);
    let p = primary.port.to_string();
    let nodes = vec![
        primary,
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
    ];
    let first = nodes[0].port;
    let sentinels = vec![
        TestSentinel::start(SentinelKind::Redis, &monitor_conf(first, 2, 2000)),
        TestSentinel::start(SentinelKind::Redis, &monitor_conf(first, 2, 2000)),
        TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(first, 2, 2000)),
    ];
    let refs: Vec<&TestSentinel> = sentinels.iter().collect();
    wait_discovery(&refs, 2, 2);
    // SENTINEL SENTINELS on each side lists the two others by port.
    for s in &sentinels {
        let Frame::Array(Some(v)) = cmd(&mut s.client(), &["SENTINEL", "SENTINELS", "mymaster"])
        else {
            panic!()
        };
        let mut ports: Vec<u16> = v
            .iter()
            .map(|x| field(x, "port").unwrap().parse().unwrap())
            .collect();
        ports.sort();
        let mut want: Vec<u16> = sentinels
            .iter()
            .filter(|o| o.port != s.port)
            .map(|o| o.port)
            .collect();
        want.sort();
        assert_eq!(ports, want);
    }
    let subs: Vec<Subscriber> = sentinels.iter().map(|s| Subscriber::new(s.port)).collect();
    let mut current = first;
    // The leader of a SENTINEL FAILOVER is the sentinel asked: pyrope, then Redis, then pyrope
    // again, each run one failover followed by every sentinel.
    for (run, leader) in [2usize, 0, 2].into_iter().enumerate() {
        wait_replicas_ready(&sentinels[leader], 2);
        let before: Vec<usize> = subs.iter().map(|s| s.count("+switch-master")).collect();
        assert_eq!(
            cmd(
                &mut sentinels[leader].client(),
                &["SENTINEL", "FAILOVER", "mymaster"]
            ),
            Frame::Simple(b"OK".to_vec())
        );
        let newp = wait_converged(&sentinels, &nodes, current);
        std::thread::sleep(Duration::from_secs(2));
        for (i, sub) in subs.iter().enumerate() {
            let msgs = sub.messages("+switch-master");
            assert_eq!(
                msgs.len(),
                before[i] + 1,
                "run {run}: sentinel {i}: {msgs:?}"
            );
            assert_eq!(
                msgs.last().unwrap(),
                &format!("mymaster 127.0.0.1 {current} 127.0.0.1 {newp}")
            );
        }
        current = newp;
    }
    // Each kind led at least once: the +elected-leader events of each sentinel.
    assert_eq!(subs[2].count("+elected-leader"), 2);
    assert_eq!(subs[0].count("+elected-leader"), 1);
    // Debian's redis-sentinel 7.0.15 joins the group as a fourth sentinel and everyone sees it.
    if std::path::Path::new(REDIS_SENTINEL_70).exists() {
        let old = TestSentinel::start(SentinelKind::Redis70, &monitor_conf(current, 2, 2000));
        let mut all: Vec<&TestSentinel> = sentinels.iter().collect();
        all.push(&old);
        wait_discovery(&all, 2, 3);
        assert_eq!(master_addr(&old), Some(current));
    }
}

#[test]
fn no_failover_without_quorum_or_for_a_short_pause() {
    let mut primary = RedisNode::start(&[]);
    let p = primary.port.to_string();
    let replica = RedisNode::start(&["--replicaof", "127.0.0.1", &p]);
    // Quorum 3 with only two sentinels: SDOWN but never ODOWN, no failover.
    let sentinels = [
        TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(primary.port, 3, 1000)),
        TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(primary.port, 3, 1000)),
    ];
    let refs: Vec<&TestSentinel> = sentinels.iter().collect();
    wait_discovery(&refs, 1, 1);
    let subs: Vec<Subscriber> = sentinels.iter().map(|s| Subscriber::new(s.port)).collect();
    // A pause shorter than down-after-milliseconds is not even SDOWN.
    cmd(&mut primary.client(), &["DEBUG", "SLEEP", "0.5"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(subs.iter().map(|s| s.count("+sdown")).sum::<usize>(), 0);
    primary.crash();
    assert!(wait_for(Duration::from_secs(30), || subs
        .iter()
        .all(|s| s.count("+sdown") >= 1)));
    std::thread::sleep(Duration::from_secs(5));
    for (s, sub) in sentinels.iter().zip(&subs) {
        assert_eq!(sub.count("+odown"), 0, "{}", s.log_text());
        assert_eq!(sub.count("+try-failover"), 0);
        assert_eq!(master_addr(s), Some(primary.port));
        let m = master(s, "mymaster");
        assert_eq!(
            field(&m, "flags").as_deref(),
            Some("s_down,master,disconnected")
        );
        assert_eq!(text(&cmd(&mut s.client(), &["SENTINEL", "CKQUORUM", "mymaster"])),
            "NOQUORUM 2 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master");
    }
    assert_eq!(repl_field(&replica, "role").as_deref(), Some("slave"));
    // It comes back: -sdown, still the primary.
    primary.restart();
    assert!(wait_for(Duration::from_secs(30), || subs
        .iter()
        .all(|s| s.count("-sdown") >= 1)));
}

#[test]
fn scripts_run_with_redis_arguments_and_tilt_after_a_stall() {
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str| {
        let path = dir.path().join(name);
        let out = dir.path().join(format!("{name}.out"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (path, out)
    };
    let (notify, notify_out) = script("notify.sh");
    let (reconf, reconf_out) = script("reconf.sh");
    let mut primary = RedisNode::start(&[]);
    let replica = RedisNode::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let body = format!(
        "{}sentinel notification-script mymaster {}\nsentinel client-reconfig-script mymaster {}\n",
        monitor_conf(primary.port, 1, 1000),
        notify.display(),
        reconf.display()
    );
    let s = TestSentinel::start(SentinelKind::Pyrope, &body);
    wait_discovery(&[&s], 1, 0);
    wait_replicas_ready(&s, 1);
    let m = master(&s, "mymaster");
    assert_eq!(
        field(&m, "notification-script"),
        Some(notify.display().to_string())
    );
    primary.crash();
    assert!(
        wait_for(Duration::from_secs(60), || master_addr(&s)
            == Some(replica.port)),
        "{}",
        s.log_text()
    );
    let want_reconf = format!(
        "mymaster leader start 127.0.0.1 {} 127.0.0.1 {}",
        primary.port, replica.port
    );
    assert!(
        wait_for(Duration::from_secs(30), || std::fs::read_to_string(
            &reconf_out
        )
        .unwrap_or_default()
        .contains(&want_reconf)),
        "{:?}\n{}",
        std::fs::read_to_string(&reconf_out),
        s.log_text()
    );
    let want = [
        format!("+sdown master mymaster 127.0.0.1 {}", primary.port),
        format!(
            "+odown master mymaster 127.0.0.1 {} #quorum 1/1",
            primary.port
        ),
        format!(
            "+switch-master mymaster 127.0.0.1 {} 127.0.0.1 {}",
            primary.port, replica.port
        ),
    ];
    assert!(
        wait_for(Duration::from_secs(30), || {
            let t = std::fs::read_to_string(&notify_out).unwrap_or_default();
            want.iter().all(|w| t.lines().any(|l| l == w))
        }),
        "{:?}",
        std::fs::read_to_string(&notify_out)
    );
    // SENTINEL SET may not change script paths (deny-scripts-reconfig yes by default).
    let r = cmd(
        &mut s.client(),
        &[
            "SENTINEL",
            "SET",
            "mymaster",
            "notification-script",
            "/bin/true",
        ],
    );
    assert!(r.is_error());
    // A stalled sentinel (SIGSTOP longer than the 2 s TILT trigger) enters TILT.
    let sub = Subscriber::new(s.port);
    std::thread::sleep(Duration::from_millis(300));
    s.pause(Duration::from_secs(3));
    assert!(wait_for(Duration::from_secs(10), || sub.count("+tilt") == 1));
    assert_eq!(sub.messages("+tilt")[0], "#tilt mode entered");
    let info = text(&cmd(&mut s.client(), &["INFO", "sentinel"]));
    assert_eq!(info_field(&info, "sentinel_tilt").as_deref(), Some("1"));
}

#[test]
fn a_minority_sentinel_is_never_elected() {
    let mut primary = RedisNode::start(&[]);
    let _replica = RedisNode::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    // Quorum 1: the lone sentinel reaches ODOWN by itself, but the election needs a majority
    // of the three sentinels it knows.
    let body = format!(
        "sentinel monitor mymaster 127.0.0.1 {} 1\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 4000\n",
        primary.port
    );
    let sentinels = [
        TestSentinel::start(SentinelKind::Pyrope, &body),
        TestSentinel::start(SentinelKind::Pyrope, &body),
        TestSentinel::start(SentinelKind::Pyrope, &body),
    ];
    let refs: Vec<&TestSentinel> = sentinels.iter().collect();
    wait_discovery(&refs, 1, 2);
    wait_replicas_ready(&sentinels[0], 1);
    let sub = Subscriber::new(sentinels[0].port);
    std::thread::sleep(Duration::from_millis(300));
    std::thread::scope(|sc| {
        // The other two are partitioned away (stopped) while the primary dies.
        for s in &sentinels[1..] {
            sc.spawn(move || s.pause(Duration::from_secs(12)));
        }
        std::thread::sleep(Duration::from_millis(300));
        primary.crash();
        assert!(
            wait_for(Duration::from_secs(11), || sub
                .count("-failover-abort-not-elected")
                >= 1),
            "{}",
            sentinels[0].log_text()
        );
        assert!(sub.count("+try-failover") >= 1);
        assert_eq!(
            sub.count("+elected-leader"),
            0,
            "{}",
            sentinels[0].log_text()
        );
        assert_eq!(sub.count("+switch-master"), 0);
        assert_eq!(master_addr(&sentinels[0]), Some(primary.port));
    });
}

/// `f` with the values of map keys in [`MASKED`] (plus `extra`) replaced, recursively: RESP3
/// maps and the RESP2 flat arrays inside them compare field for field.
fn mask3(f: &Frame, extra: &[&str]) -> Frame {
    let m = |x: &Frame| mask3(x, extra);
    match f {
        Frame::Map(kv) => Frame::Map(
            kv.iter()
                .map(|(k, v)| {
                    let key = text(k);
                    if MASKED.contains(&key.as_str()) || extra.contains(&key.as_str()) {
                        (k.clone(), Frame::Simple(b"<masked>".to_vec()))
                    } else {
                        (k.clone(), m(v))
                    }
                })
                .collect(),
        ),
        Frame::Array(Some(v)) => Frame::Array(Some(v.iter().map(m).collect())),
        Frame::Set(v) => Frame::Set(v.iter().map(m).collect()),
        Frame::Push(v) => Frame::Push(v.iter().map(m).collect()),
        other => other.clone(),
    }
}

#[test]
fn resp3_replies_match_redis_sentinel() {
    let primary = RedisNode::start(&[]);
    let _replica = RedisNode::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let ours = TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(primary.port, 2, 5000));
    let theirs = TestSentinel::start(SentinelKind::Redis, &monitor_conf(primary.port, 2, 5000));
    wait_discovery(&[&ours, &theirs], 1, 1);
    for s in [&ours, &theirs] {
        assert!(wait_for(Duration::from_secs(30), || {
            let r = cmd(&mut s.client(), &["SENTINEL", "REPLICAS", "mymaster"]);
            let Frame::Array(Some(v)) = r else {
                return false;
            };
            v.len() == 1 && field(&v[0], "master-link-status").as_deref() == Some("ok")
        }));
        assert!(wait_for(Duration::from_secs(30), || {
            let r = cmd(&mut s.client(), &["SENTINEL", "SENTINELS", "mymaster"]);
            let Frame::Array(Some(v)) = r else {
                return false;
            };
            v.len() == 1 && field(&v[0], "flags").as_deref() == Some("sentinel")
        }));
    }
    let (mut a, mut b) = (ours.client(), theirs.client());
    let h1 = cmd(&mut a, &["HELLO", "3"]);
    let h2 = cmd(&mut b, &["HELLO", "3"]);
    assert_eq!(
        mask3(&h1, &["id", "version"]),
        mask3(&h2, &["id", "version"])
    );
    // Replies compared after masking ids, times and the sentinels' own addresses.
    let masked_cmds: &[(&[&str], &[&str])] = &[
        (&["SENTINEL", "MASTER", "mymaster"], &[]),
        (&["SENTINEL", "MASTERS"], &[]),
        (&["SENTINEL", "REPLICAS", "mymaster"], &[]),
        (&["SENTINEL", "SLAVES", "mymaster"], &[]),
        (&["SENTINEL", "SENTINELS", "mymaster"], &["name", "port"]),
        (&["SENTINEL", "CONFIG", "GET", "*"], &[]),
        (&["HELLO"], &["id", "version"]),
        (&["HELLO", "3"], &["id", "version"]),
    ];
    for (args, extra) in masked_cmds {
        let ra = cmd(&mut a, args);
        let rb = cmd(&mut b, args);
        assert_eq!(
            mask3(&ra, extra),
            mask3(&rb, extra),
            "RESP3 reply to {args:?}"
        );
    }
    // Replies that must be byte-identical in RESP3.
    let same: &[&[&str]] = &[
        &["PING"],
        &["PING", "hello"],
        &["ROLE"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"],
        &["SENTINEL", "CKQUORUM", "mymaster"],
        &["SENTINEL", "MASTER", "nope"],
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            "1",
            "0",
            "*",
        ],
        &["SENTINEL", "PENDING-SCRIPTS"],
        &["SENTINEL", "DEBUG"],
        &["SENTINEL", "CONFIG", "GET", "resolve-hostnames"],
        &["SENTINEL", "CONFIG", "GET", "nope"],
        &["SENTINEL", "INFO-CACHE", "nope"],
        &["SENTINEL", "SIMULATE-FAILURE", "help"],
        &["SENTINEL", "RESET", "nomatch*"],
        &["SENTINEL", "foo"],
        &["INFO", "sentinel"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "probe"],
        &["CLIENT", "GETNAME"],
        &["ACL", "WHOAMI"],
        &["SUBSCRIBE", "+switch-master"],
        &["PSUBSCRIBE", "+odown*"],
        &["PING"],
        &["UNSUBSCRIBE"],
        &["PUNSUBSCRIBE"],
        &["GET", "x"],
    ];
    same_raw_replies(&mut a, &mut b, same, "RESP3");
    // INFO (all sections): the same frame type (a bulk string in 7.4.1's sentinel, not a
    // verbatim one) with the same field names.
    let ia = cmd(&mut a, &["INFO"]);
    let ib = cmd(&mut b, &["INFO"]);
    assert_eq!(std::mem::discriminant(&ia), std::mem::discriminant(&ib));
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .filter(|n| n != "pyrope_version")
            .collect()
    };
    assert_eq!(names(&text(&ia)), names(&text(&ib)));
    // INFO-CACHE: [name, [[ms, info]...]] with the times masked and the INFO texts compared
    // by field names.
    let shape = |f: &Frame| -> Vec<String> {
        let Frame::Array(Some(v)) = f else {
            panic!("{f:?}")
        };
        let mut out = vec![text(&v[0])];
        let Frame::Array(Some(entries)) = &v[1] else {
            panic!("{f:?}")
        };
        for e in entries {
            let Frame::Array(Some(p)) = e else {
                panic!("{e:?}")
            };
            out.push(format!("{:?}", std::mem::discriminant(&p[0])));
            out.extend(names(&text(&p[1])));
        }
        out
    };
    let ca = cmd(&mut a, &["SENTINEL", "INFO-CACHE", "mymaster"]);
    let cb = cmd(&mut b, &["SENTINEL", "INFO-CACHE", "mymaster"]);
    assert_eq!(shape(&ca), shape(&cb));
}

/// Sends SIGCONT to what a test froze, on drop too (a failed assertion must not leave a
/// stopped process behind).
struct Thaw<'a> {
    nodes: Vec<&'a RedisNode>,
    sentinels: Vec<&'a TestSentinel>,
}

impl Thaw<'_> {
    fn now(&self) {
        self.nodes.iter().for_each(|n| n.resume());
        self.sentinels.iter().for_each(|s| s.resume());
    }
}

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        self.now();
    }
}

#[test]
fn after_a_partition_heals_the_sentinels_never_accept_two_primaries() {
    partition_heals([SentinelKind::Pyrope; 3]);
}

/// The same with two Redis 7.4.1 sentinels on the majority side and the frozen pyrope one
/// learning the new primary from their hellos.
#[test]
fn a_frozen_pyrope_sentinel_follows_redis_sentinels_after_the_heal() {
    partition_heals([
        SentinelKind::Redis,
        SentinelKind::Redis,
        SentinelKind::Pyrope,
    ]);
}

/// And a frozen Redis sentinel following two pyrope ones.
#[test]
fn a_frozen_redis_sentinel_follows_pyrope_sentinels_after_the_heal() {
    partition_heals([
        SentinelKind::Pyrope,
        SentinelKind::Pyrope,
        SentinelKind::Redis,
    ]);
}

/// Freezes the primary and the third sentinel (a partition), lets the two others fail over,
/// heals, and checks that no sentinel ever names a third node or goes back to the old
/// primary, that the group converges on one primary (the old one its replica), and that
/// each sentinel switched once.
fn partition_heals(kinds: [SentinelKind; 3]) {
    let primary = RedisNode::start(&[]);
    let p = primary.port.to_string();
    let nodes = [
        primary,
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
    ];
    let old = nodes[0].port;
    let sentinels: Vec<TestSentinel> = kinds
        .iter()
        .map(|k| TestSentinel::start(*k, &monitor_conf(old, 2, 2000)))
        .collect();
    let refs: Vec<&TestSentinel> = sentinels.iter().collect();
    wait_discovery(&refs, 2, 2);
    for s in &sentinels {
        wait_replicas_ready(s, 2);
    }
    let subs: Vec<Subscriber> = sentinels.iter().map(|s| Subscriber::new(s.port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let logs = || -> String {
        sentinels
            .iter()
            .map(|s| format!("=== {:?} {}\n{}", s.kind, s.port, s.log_text()))
            .collect()
    };
    // The partition: the primary and one sentinel on one side (frozen), the two other
    // sentinels and both replicas on the majority side, which fails the primary over.
    let thaw = Thaw {
        nodes: vec![&nodes[0]],
        sentinels: vec![&sentinels[2]],
    };
    nodes[0].freeze();
    sentinels[2].freeze();
    let replica_ports = [nodes[1].port, nodes[2].port];
    let mut newp = 0;
    let majority = wait_for(Duration::from_secs(90), || {
        let a = master_addr(&sentinels[0]);
        let b = master_addr(&sentinels[1]);
        match (a, b) {
            (Some(a), Some(b)) if a == b && replica_ports.contains(&a) => {
                newp = a;
                true
            }
            _ => false,
        }
    });
    assert!(majority, "the majority did not fail over:\n{}", logs());
    // The other replica follows the new primary before the partition heals.
    let other = nodes
        .iter()
        .find(|n| n.port != old && n.port != newp)
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || repl_field(other, "master_port")
            == Some(newp.to_string())),
        "the other replica was not re-pointed:\n{}",
        logs()
    );
    // Heal. From now on every sentinel names the old or the new primary, and once it has
    // named the new one it never goes back; the old primary is made a replica of the new.
    thaw.now();
    let mut seen_new = [false; 3];
    let mut history: Vec<Vec<Option<u16>>> = vec![Vec::new(); 3];
    let mut check = |history: &mut Vec<Vec<Option<u16>>>| -> Vec<Option<u16>> {
        let addrs: Vec<Option<u16>> = sentinels.iter().map(master_addr).collect();
        for (i, a) in addrs.iter().enumerate() {
            if history[i].last() != Some(a) {
                history[i].push(*a);
            }
            match a {
                Some(x) if *x == newp => seen_new[i] = true,
                Some(x) if *x == old => assert!(
                    !seen_new[i],
                    "sentinel {i} went back to the old primary: {history:?}\n{}",
                    logs()
                ),
                None => {}
                Some(x) => panic!("sentinel {i} names a third primary {x}:\n{}", logs()),
            }
        }
        addrs
    };
    let healed = wait_for(Duration::from_secs(120), || {
        let addrs = check(&mut history);
        addrs.iter().all(|a| *a == Some(newp))
            && repl_field(&nodes[0], "master_port") == Some(newp.to_string())
            && repl_field(&nodes[0], "master_link_status").as_deref() == Some("up")
    });
    assert!(
        healed,
        "the group did not converge after the heal: {history:?}\n{}",
        logs()
    );
    // Stable: for a while after, the same single primary everywhere.
    let until = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < until {
        let addrs = check(&mut history);
        assert!(addrs.iter().all(|a| *a == Some(newp)), "{history:?}");
        let masters: Vec<u16> = nodes
            .iter()
            .filter(|n| repl_field(n, "role").as_deref() == Some("master"))
            .map(|n| n.port)
            .collect();
        assert_eq!(masters, vec![newp], "{history:?}\n{}", logs());
        std::thread::sleep(Duration::from_millis(250));
    }
    // One switch per sentinel (the frozen one learns it from the others' hellos), one leader.
    for (i, sub) in subs.iter().enumerate() {
        assert_eq!(
            sub.messages("+switch-master"),
            vec![format!("mymaster 127.0.0.1 {old} 127.0.0.1 {newp}")],
            "sentinel {i}:\n{}",
            logs()
        );
    }
    let elected: usize = subs.iter().map(|s| s.count("+elected-leader")).sum();
    assert_eq!(elected, 1, "{}", logs());
    assert_eq!(subs[2].count("+elected-leader"), 0);
}

#[test]
fn redis_70_sentinel_leads_a_failover_in_a_mixed_group() {
    if !std::path::Path::new(REDIS_SENTINEL_70).exists() {
        eprintln!("skipped: no {REDIS_SENTINEL_70}");
        return;
    }
    let primary = RedisNode::start(&[]);
    let p = primary.port.to_string();
    let nodes = vec![
        primary,
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
        RedisNode::start(&["--replicaof", "127.0.0.1", &p]),
    ];
    let first = nodes[0].port;
    let sentinels = vec![
        TestSentinel::start(SentinelKind::Redis70, &monitor_conf(first, 2, 2000)),
        TestSentinel::start(SentinelKind::Pyrope, &monitor_conf(first, 2, 2000)),
        TestSentinel::start(SentinelKind::Redis, &monitor_conf(first, 2, 2000)),
    ];
    let refs: Vec<&TestSentinel> = sentinels.iter().collect();
    wait_discovery(&refs, 2, 2);
    let subs: Vec<Subscriber> = sentinels.iter().map(|s| Subscriber::new(s.port)).collect();
    let mut current = first;
    // 7.0.15 leads, then pyrope (7.0.15 follows it), each one failover seen by everyone.
    for (run, leader) in [0usize, 1].into_iter().enumerate() {
        wait_replicas_ready(&sentinels[leader], 2);
        let before: Vec<usize> = subs.iter().map(|s| s.count("+switch-master")).collect();
        assert_eq!(
            cmd(
                &mut sentinels[leader].client(),
                &["SENTINEL", "FAILOVER", "mymaster"]
            ),
            Frame::Simple(b"OK".to_vec())
        );
        let newp = wait_converged(&sentinels, &nodes, current);
        std::thread::sleep(Duration::from_secs(2));
        for (i, sub) in subs.iter().enumerate() {
            let msgs = sub.messages("+switch-master");
            assert_eq!(
                msgs.len(),
                before[i] + 1,
                "run {run}: sentinel {i}: {msgs:?}"
            );
            assert_eq!(
                msgs.last().unwrap(),
                &format!("mymaster 127.0.0.1 {current} 127.0.0.1 {newp}")
            );
        }
        assert_eq!(subs[leader].count("+elected-leader"), 1, "run {run}");
        current = newp;
    }
    // Everyone agrees on the epoch the pyrope-led failover ended in.
    let epochs: Vec<i64> = sentinels
        .iter()
        .map(|s| num(&master(s, "mymaster"), "config-epoch"))
        .collect();
    assert!(
        epochs.iter().all(|e| *e == epochs[0] && *e >= 2),
        "{epochs:?}"
    );
}

/// `f` with every array and map put in a canonical order (by the debug text of the
/// elements, recursively): for replies whose order is Redis's dict order (COMMAND, COMMAND
/// DOCS, COMMAND LIST), which a Redis process seeds at random.
fn canon(f: &Frame) -> Frame {
    let sort = |mut v: Vec<Frame>| {
        v.sort_by_key(|x| format!("{x:?}"));
        v
    };
    match f {
        Frame::Array(Some(v)) => Frame::Array(Some(sort(v.iter().map(canon).collect()))),
        Frame::Set(v) => Frame::Set(sort(v.iter().map(canon).collect())),
        Frame::Map(kv) => {
            let mut kv: Vec<(Frame, Frame)> =
                kv.iter().map(|(k, v)| (canon(k), canon(v))).collect();
            kv.sort_by_key(|(k, _)| format!("{k:?}"));
            Frame::Map(kv)
        }
        other => other.clone(),
    }
}

#[test]
fn command_introspection_matches_redis_sentinel() {
    let ours = TestSentinel::start(SentinelKind::Pyrope, "");
    let theirs = TestSentinel::start(SentinelKind::Redis, "");
    for proto in ["2", "3"] {
        let (mut a, mut b) = (ours.client(), theirs.client());
        cmd(&mut a, &["HELLO", proto]);
        cmd(&mut b, &["HELLO", proto]);
        let unordered: &[&[&str]] = &[
            &["COMMAND"],
            &["COMMAND", "INFO"],
            &["COMMAND", "DOCS"],
            &["COMMAND", "LIST"],
            &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "connection"],
            &["COMMAND", "LIST", "FILTERBY", "aclcat", "dangerous"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "p*"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "SENTINEL|*"],
            &["COMMAND", "LIST", "FILTERBY", "MODULE", "x"],
            &["COMMAND", "DOCS", "sentinel", "client|list"],
        ];
        for args in unordered {
            let ra = cmd(&mut a, args);
            let rb = cmd(&mut b, args);
            assert!(!rb.is_error(), "{args:?}: {rb:?}");
            assert_eq!(canon(&ra), canon(&rb), "RESP{proto} reply to {args:?}");
        }
        let same: &[&[&str]] = &[
            &["COMMAND", "COUNT"],
            &["COMMAND", "HELP"],
            &["COMMAND", "INFO", "ping", "SENTINEL|master", "nope", "get"],
            &["COMMAND", "DOCS", "ping", "sentinel|master", "nope"],
            &["COMMAND", "DOCS", "nope"],
            &["COMMAND", "DOCS", "SENTINEL|MASTER", "Client|Kill"],
            &["COMMAND", "GETKEYS", "ping"],
            &["COMMAND", "GETKEYS", "sentinel"],
            &["COMMAND", "GETKEYS", "sentinel", "nope"],
            &["COMMAND", "GETKEYS", "get", "x"],
            &["COMMAND", "GETKEYSANDFLAGS", "client", "list"],
            &["COMMAND", "GETKEYS"],
            &["COMMAND", "LIST", "x"],
            &["COMMAND", "LIST", "FILTERBY"],
            &["COMMAND", "LIST", "FILTERBY", "foo", "bar"],
            &["COMMAND", "LIST", "FILTERBY", "pattern", "p*", "x"],
            &["COMMAND", "COUNT", "x"],
            &["COMMAND", "HELP", "x"],
            &["COMMAND", "foo"],
        ];
        same_raw_replies(&mut a, &mut b, same, &format!("RESP{proto}"));
    }
}

/// CLIENT LIST / INFO lines as `(field, value)` with the values that legitimately differ
/// between two processes masked (ids, addresses, fds, times, memory sizes).
fn client_fields(line: &str) -> Vec<(String, String)> {
    const VARY: &[&str] = &[
        "id",
        "addr",
        "laddr",
        "fd",
        "age",
        "idle",
        "qbuf-free",
        "tot-mem",
        // The reply buffer's size and peak follow `clientsCron`'s timing.
        "rbs",
        "rbp",
    ];
    line.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = if VARY.contains(&k) { "<masked>" } else { v };
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn acl_rules_and_argument_counts_match_redis_sentinel() {
    // Redis 7.4.1's sentinel runs acl.c: these are its answers, checked by hand before
    // (they are the server's too, tests/scripts/acl.redis).
    let body = "";
    let ours = TestSentinel::start(SentinelKind::Pyrope, body);
    let theirs = TestSentinel::start(SentinelKind::Redis, body);
    let (mut a, mut b) = (ours.client(), theirs.client());
    let long = "X".repeat(200);
    let same: &[&[&str]] = &[
        // A password added again keeps its place.
        &["ACL", "SETUSER", "pw", ">p", ">q", ">p"],
        &["ACL", "GETUSER", "pw"],
        &[
            "ACL",
            "SETUSER",
            "pw",
            "#148de9c5a7a44d19e56cd9ae1a554bf67847afb0c58f6e12fa29ac7ddfca9940",
            ">q",
        ],
        &["ACL", "GETUSER", "pw"],
        // `~*` after `~*` and `&*` after `&*` are accepted; after them other key and
        // channel rules are refused, `%RW~*` included.
        &["ACL", "SETUSER", "k1", "~a", "~*", "~*", "&a", "&*", "&*"],
        &["ACL", "GETUSER", "k1"],
        &["ACL", "SETUSER", "k1", "ALLKEYS", "~*"],
        &["ACL", "SETUSER", "k1", "%RW~*"],
        &["ACL", "SETUSER", "k1", "%R~*"],
        &["ACL", "SETUSER", "k1", "%RR~*"],
        &["ACL", "SETUSER", "k1", "~b"],
        &["ACL", "SETUSER", "k1", "&b"],
        // `%RW~*` is a pattern like any other: the earlier ones stay.
        &["ACL", "SETUSER", "k2", "~a", "%R~b", "%RW~*", "~c", "%W~b"],
        &["ACL", "GETUSER", "k2"],
        &["ACL", "SETUSER", "k3", "%R~*", "%W~*", "~x"],
        &["ACL", "GETUSER", "k3"],
        &["ACL", "SETUSER", "k4", "%RR~a"],
        &["ACL", "SETUSER", "k4", "%WRW~a"],
        &["ACL", "SETUSER", "k4", "%Rx"],
        &["ACL", "SETUSER", "k4", "%~a"],
        &["ACL", "SETUSER", "k4", "%R", "%rW", "%wR~b"],
        // Selectors: kept beside the user's own rules, one of them allowing is enough; a
        // selector split over arguments is joined first.
        &[
            "ACL",
            "SETUSER",
            "s1",
            "on",
            "nopass",
            "(+ping ~x)",
            "(+info",
            "&ch)",
        ],
        &["ACL", "GETUSER", "s1"],
        &["ACL", "SETUSER", "s2", "(+ping"],
        &["ACL", "SETUSER", "s3", "(on)"],
        &["ACL", "SETUSER", "s3", "(>pass)"],
        &["ACL", "SETUSER", "s3", "(+nosuchcommand)"],
        &[
            "ACL",
            "SETUSER",
            "s3",
            "(resetkeys ~a %R~b allchannels -@all +@dangerous)",
            "()",
        ],
        &["ACL", "GETUSER", "s3"],
        &["ACL", "SETUSER", "s4", "on", "nopass", "-@all", "(+ping)"],
        &["ACL", "DRYRUN", "s4", "ping"],
        &["ACL", "DRYRUN", "s4", "info"],
        &["ACL", "LIST"],
        &["ACL", "SETUSER", "s1", "clearselectors"],
        &["ACL", "GETUSER", "s1"],
        &["ACL", "SETUSER", "s3", "reset"],
        &["ACL", "GETUSER", "s3"],
        &[
            "ACL", "DELUSER", "pw", "k1", "k2", "k3", "k4", "s1", "s3", "s4",
        ],
        // CAT, GENPASS and LOG take at most one argument.
        &["ACL", "GENPASS", "32", "extra"],
        &["acl", "GenPass", "x", "y"],
        &["ACL", "CAT", "connection", "extra"],
        &["ACL", "LOG", "1", "2"],
        &["ACL", "LOG", "RESET", "x"],
        // CAT's unknown category is cut at a NUL and to 128 bytes (`%.128s`).
        &["ACL", "CAT", &long],
        &["ACL", "CAT", "a\0b"],
    ];
    same_raw_replies(&mut a, &mut b, same, "");
    // ACL LOG: a repeat updates the entry's time, and age-seconds counts from it.
    let mut users = Vec::new();
    for c in [&mut a, &mut b] {
        cmd(c, &["ACL", "SETUSER", "lu", "on", "nopass", "-@all"]);
        cmd(c, &["ACL", "LOG", "RESET"]);
    }
    for s in [&ours, &theirs] {
        let mut c = s.client();
        assert_eq!(text(&cmd(&mut c, &["AUTH", "lu", "x"])), "OK");
        users.push(c);
    }
    let denied = "NOPERM User lu has no permissions to run the 'ping' command";
    for c in users.iter_mut() {
        assert_eq!(text(&cmd(c, &["PING"])), denied);
    }
    std::thread::sleep(Duration::from_millis(2000));
    for c in users.iter_mut() {
        assert_eq!(text(&cmd(c, &["PING"])), denied);
    }
    std::thread::sleep(Duration::from_millis(300));
    for (who, c) in [("pyrope", &mut a), ("redis", &mut b)] {
        let Frame::Array(Some(v)) = cmd(c, &["ACL", "LOG"]) else {
            panic!("ACL LOG")
        };
        assert_eq!(v.len(), 1, "{who}: {v:?}");
        let e = &v[0];
        let num = |k: &str| -> f64 { field(e, k).unwrap().parse().unwrap() };
        assert_eq!(num("count"), 2.0, "{who}");
        assert!(
            num("timestamp-last-updated") - num("timestamp-created") >= 1900.0,
            "{who}: {e:?}"
        );
        let age = num("age-seconds");
        assert!((0.2..1.5).contains(&age), "{who}: age-seconds {age}");
    }
}

#[test]
fn acl_users_and_client_subcommands_match_redis_sentinel() {
    let body = "user watcher on >w0rd -@all +ping +sentinel|get-master-addr-by-name +client|id\n";
    let ours = TestSentinel::start(SentinelKind::Pyrope, body);
    let theirs = TestSentinel::start(SentinelKind::Redis, body);
    let (mut a, mut b) = (ours.client(), theirs.client());
    let same: &[&[&str]] = &[
        &["ACL", "WHOAMI"],
        &["ACL", "USERS"],
        &["ACL", "LIST"],
        &["ACL", "GETUSER", "default"],
        &["ACL", "GETUSER", "watcher"],
        &["ACL", "GETUSER", "nope"],
        &["ACL", "SETUSER", "bob"],
        &["ACL", "GETUSER", "bob"],
        &[
            "ACL",
            "SETUSER",
            "bob",
            "+ping",
            "+ping",
            "-ping",
            "+@connection",
            "-hello",
            "~foo*",
            "&ch",
        ],
        &["ACL", "LIST"],
        &["ACL", "GETUSER", "bob"],
        &["ACL", "SETUSER", "bob", "foo"],
        &["ACL", "SETUSER", "bob", "+nope"],
        &["ACL", "SETUSER", "bob", "+@nope"],
        &["ACL", "SETUSER", "bob", "#abc"],
        &["ACL", "SETUSER", "bob", "<nopw"],
        &[
            "ACL",
            "SETUSER",
            "bob",
            "+client|list",
            "-client|kill",
            "+sentinel|masters",
        ],
        &["ACL", "GETUSER", "bob"],
        &["ACL", "SETUSER", "bob", "reset"],
        &["ACL", "LIST"],
        &[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">x",
            "+@all",
            "allkeys",
            "allchannels",
        ],
        &[
            "ACL",
            "SETUSER",
            "bob",
            "-sentinel",
            "+sentinel|myid",
            "nopass",
        ],
        &["ACL", "LIST"],
        // Rule merging as ACL LIST shows it.
        &[
            "ACL",
            "SETUSER",
            "m1",
            "+@connection",
            "+@connection",
            "-@fast",
            "+ping|x",
        ],
        &["ACL", "SETUSER", "m2", "%R~x", "~x", "%W~y", "%R~y", "%R~z"],
        &["ACL", "SETUSER", "m3", "allkeys", "%R~a"],
        &["ACL", "SETUSER", "m3", "(~x +get)"],
        &["ACL", "SETUSER", "m3", "+client|nope"],
        &["ACL", "SETUSER", "m3", "%X~a"],
        &["ACL", "LIST"],
        &["ACL", "DELUSER", "m1", "m2", "m3"],
        &["ACL", "CAT"],
        &["ACL", "CAT", "nope"],
        &["ACL", "GENPASS", "x"],
        &["ACL", "GENPASS", "0"],
        &["ACL", "DRYRUN", "default", "ping"],
        &["ACL", "DRYRUN", "nope", "ping"],
        &["ACL", "DRYRUN", "watcher", "sentinel", "masters"],
        &["ACL", "DRYRUN", "watcher", "ping"],
        &["ACL", "DRYRUN", "watcher", "nope"],
        &["ACL", "DRYRUN", "bob", "sentinel", "myid"],
        &["ACL", "DRYRUN", "bob", "sentinel", "masters"],
        &["ACL", "LOG"],
        &["ACL", "LOG", "RESET"],
        &["ACL", "SAVE"],
        &["ACL", "LOAD"],
        &["ACL", "HELP"],
        &["ACL", "SETUSER"],
        &["ACL", "WHOAMI", "x"],
        &["ACL", "foo"],
        &["ACL", "DELUSER", "default"],
        &["ACL", "DELUSER", "bob", "nope"],
        &["ACL", "USERS"],
        &["CLIENT", "SETNAME", "probe"],
        &["CLIENT", "SETINFO", "lib-name", "mylib"],
        &["CLIENT", "SETINFO", "LIB-VER", "1.0"],
        &["CLIENT", "SETINFO", "lib-name", "a b"],
        &["CLIENT", "SETINFO", "foo", "x"],
        &["CLIENT", "SETINFO", "lib-name"],
        &["CLIENT", "LIST", "TYPE", "foo"],
        &["CLIENT", "LIST", "TYPE", "master"],
        &["CLIENT", "LIST", "TYPE", "pubsub"],
        &["CLIENT", "LIST", "ID", "x"],
        &["CLIENT", "LIST", "ID", "999999"],
        &["CLIENT", "LIST", "foo"],
        &["CLIENT", "NO-EVICT", "on"],
        &["CLIENT", "NO-EVICT", "x"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "UNPAUSE"],
        &["CLIENT", "UNBLOCK", "99"],
        &["CLIENT", "UNBLOCK", "x"],
        &["CLIENT", "UNBLOCK", "99", "foo"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "KILL", "ID", "x"],
        &["CLIENT", "KILL", "foo", "bar"],
        &["CLIENT", "KILL", "ID", "999999"],
        &["CLIENT", "KILL", "LADDR", "1.2.3.4:5"],
        &["CLIENT", "KILL", "MAXAGE", "0"],
        &["CLIENT", "KILL", "TYPE", "foo"],
        &["CLIENT", "KILL", "TYPE", "pubsub"],
        &["CLIENT", "KILL", "USER", "nope"],
        &["CLIENT", "KILL", "ID", "1", "ADDR"],
        &["CLIENT", "KILL", "1.2.3.4:5"],
        &["CLIENT", "PAUSE", "x"],
        &["CLIENT", "PAUSE", "10", "foo"],
        &["CLIENT", "CACHING", "yes"],
        &["CLIENT", "HELP"],
        &["CLIENT", "ID", "x"],
        &["CLIENT", "foo"],
        &["CLIENT", "REPLY", "foo"],
        &["AUTH", "x"],
        &["AUTH", "watcher", "bad"],
        &["AUTH", "nope", "x"],
        &["AUTH", "watcher", "w0rd"],
        &["ACL", "WHOAMI"],
        &["PING"],
        &["SENTINEL", "MASTERS"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "x"],
        &["CLIENT", "LIST"],
        &["COMMAND", "COUNT"],
        &["AUTH", "default", "anything"],
        &["ACL", "WHOAMI"],
    ];
    same_raw_replies(&mut a, &mut b, same, "");
    // ACL LOG: the same entries (denied AUTHs and commands above, grouped the same way),
    // times and client details masked; INFO counts them.
    let log = |c: &mut pyrope_common::client::Client| -> Vec<Vec<(String, String)>> {
        let Frame::Array(Some(v)) = cmd(c, &["ACL", "LOG"]) else {
            panic!("ACL LOG")
        };
        v.iter()
            .map(|e| {
                pairs(e)
                    .into_iter()
                    .map(|(k, v)| match k.as_str() {
                        "age-seconds" | "timestamp-created" | "timestamp-last-updated" => {
                            (k, "<masked>".into())
                        }
                        "client-info" => (k, format!("{:?}", client_fields(&v))),
                        _ => (k, v),
                    })
                    .collect()
            })
            .collect()
    };
    let (la, lb) = (log(&mut a), log(&mut b));
    assert!(la.len() >= 3, "{la:?}");
    assert_eq!(la, lb);
    for k in ["acl_access_denied_auth", "acl_access_denied_cmd"] {
        let ia = text(&cmd(&mut a, &["INFO", "stats"]));
        let ib = text(&cmd(&mut b, &["INFO", "stats"]));
        assert_eq!(info_field(&ia, k), info_field(&ib, k), "{k}");
    }
    assert_eq!(
        cmd(&mut a, &["ACL", "LOG", "RESET"]),
        cmd(&mut b, &["ACL", "LOG", "RESET"])
    );
    assert_eq!(cmd(&mut a, &["ACL", "LOG"]), cmd(&mut b, &["ACL", "LOG"]));
    // CLIENT INFO / LIST: the same fields, values equal but for ids, addresses and sizes.
    let ia = text(&cmd(&mut a, &["CLIENT", "INFO"]));
    let ib = text(&cmd(&mut b, &["CLIENT", "INFO"]));
    assert_eq!(client_fields(ia.trim_end()), client_fields(ib.trim_end()));
    // An idle second connection as seen from the first.
    let (mut a2, mut b2) = (ours.client(), theirs.client());
    cmd(&mut a2, &["SUBSCRIBE", "x"]);
    cmd(&mut b2, &["SUBSCRIBE", "x"]);
    std::thread::sleep(Duration::from_millis(2500));
    let la = text(&cmd(&mut a, &["CLIENT", "LIST", "TYPE", "pubsub"]));
    let lb = text(&cmd(&mut b, &["CLIENT", "LIST", "TYPE", "pubsub"]));
    let strip = |l: &str| {
        client_fields(l.trim_end())
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "rbs" | "rbp"))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&la), strip(&lb));
    // CLIENT REPLY: SKIP drops the next reply, OFF all until ON.
    let script: &[&[&str]] = &[
        &["CLIENT", "REPLY", "SKIP"],
        &["PING", "skipped"],
        &["PING", "one"],
        &["CLIENT", "REPLY", "OFF"],
        &["PING", "dropped"],
        &["CLIENT", "REPLY", "ON"],
        &["PING", "end"],
    ];
    for c in [&mut a, &mut b] {
        for args in script {
            c.send(args).unwrap();
        }
    }
    let mut got = Vec::new();
    for c in [&mut a, &mut b] {
        let mut all = Vec::new();
        loop {
            let (f, raw) = c.read_reply_raw().unwrap();
            all.extend_from_slice(&raw);
            if text(&f) == "end" {
                break;
            }
        }
        got.push(String::from_utf8_lossy(&all).into_owned());
    }
    assert_eq!(got[0], got[1]);
    assert_eq!(got[0], "$3\r\none\r\n+OK\r\n$3\r\nend\r\n");
}

/// `SENTINEL <sub> <name>` on both sentinels, compared with the usual fields masked. Polled
/// for up to 30 s: each sentinel refreshes its instances on its own timers (INFO every 10 s,
/// hellos every 2 s), so right after a change one may not have seen it yet; the last
/// difference is the failure message.
fn same_instance_replies(a: &TestSentinel, b: &TestSentinel, name: &str) {
    let (mut ca, mut cb) = (a.client(), b.client());
    let mut diff = String::new();
    let mut compare = || -> Result<(), String> {
        let m1 = cmd(&mut ca, &["SENTINEL", "MASTER", name]);
        let m2 = cmd(&mut cb, &["SENTINEL", "MASTER", name]);
        let (x, y) = (masked(&m1, &[]), masked(&m2, &[]));
        if x != y {
            return Err(format!("SENTINEL MASTER {name}:\n{x:?}\n{y:?}"));
        }
        for sub in ["REPLICAS", "SENTINELS"] {
            let (Frame::Array(Some(r1)), Frame::Array(Some(r2))) = (
                cmd(&mut ca, &["SENTINEL", sub, name]),
                cmd(&mut cb, &["SENTINEL", sub, name]),
            ) else {
                return Err(format!("SENTINEL {sub} {name}: not arrays"));
            };
            if r1.len() != r2.len() {
                return Err(format!(
                    "SENTINEL {sub} {name}: {} vs {} entries",
                    r1.len(),
                    r2.len()
                ));
            }
            for (x, y) in r1.iter().zip(&r2) {
                let mask: &[&str] = if sub == "SENTINELS" {
                    &["name", "port"]
                } else {
                    &[]
                };
                let (x, y) = (masked(x, mask), masked(y, mask));
                if x != y {
                    return Err(format!("SENTINEL {sub} {name}:\n{x:?}\n{y:?}"));
                }
            }
        }
        for args in [
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name][..],
            &["SENTINEL", "CONFIG", "GET", "*"],
        ] {
            let (x, y) = (cmd(&mut ca, args), cmd(&mut cb, args));
            if x != y {
                return Err(format!("{args:?}:\n{x:?}\n{y:?}"));
            }
        }
        Ok(())
    };
    let same = wait_for(Duration::from_secs(30), || match compare() {
        Ok(()) => true,
        Err(e) => {
            diff = e;
            false
        }
    });
    assert!(same, "{diff}");
}

#[test]
fn hostnames_and_ipv6_addresses_as_redis_sentinel() {
    // A node on both loopbacks with a replica that connects over IPv6.
    let node = RedisNode::start(&["--bind", "127.0.0.1", "::1"]);
    let np = node.port.to_string();
    let _replica = RedisNode::start(&["--bind", "127.0.0.1", "::1", "--replicaof", "::1", &np]);
    // One group by host name (resolve-hostnames), one over IPv6. (Not both in one group:
    // a peer seen through two address families switches address at every hello, in Redis
    // as here.) The sentinels listen on both loopbacks: peers announce the address of their
    // link to the master.
    for (name, host) in [("byname", "localhost"), ("v6", "::1")] {
        let body = format!(
            "bind 127.0.0.1 ::1\nsentinel resolve-hostnames yes\nsentinel monitor {name} {host} {np} 2\n"
        );
        let ours = TestSentinel::start(SentinelKind::Pyrope, &body);
        let theirs = TestSentinel::start(SentinelKind::Redis, &body);
        // Both find the replica (reported by its IPv6 address) and each other.
        for s in [&ours, &theirs] {
            let ok = wait_for(Duration::from_secs(60), || {
                let m = master(s, name);
                num(&m, "num-slaves") == 1 && num(&m, "num-other-sentinels") == 1
            });
            assert!(
                ok,
                "{:?} {name}: {:?}\n{}",
                s.kind,
                master(s, name),
                s.log_text()
            );
            assert!(wait_for(Duration::from_secs(30), || {
                let r = cmd(&mut s.client(), &["SENTINEL", "REPLICAS", name]);
                let Frame::Array(Some(v)) = r else {
                    return false;
                };
                v.len() == 1 && field(&v[0], "master-link-status").as_deref() == Some("ok")
            }));
            assert!(wait_for(Duration::from_secs(30), || {
                let r = cmd(&mut s.client(), &["SENTINEL", "SENTINELS", name]);
                let Frame::Array(Some(v)) = r else {
                    return false;
                };
                v.len() == 1 && field(&v[0], "flags").as_deref() == Some("sentinel")
            }));
        }
        same_instance_replies(&ours, &theirs, name);
        let info = |s: &TestSentinel| {
            let t = text(&cmd(&mut s.client(), &["INFO", "sentinel"]));
            info_field(&t, "master0")
        };
        assert_eq!(info(&ours), info(&theirs));
        // announce-hostnames: the host name as configured instead of the address it
        // resolved to.
        for s in [&ours, &theirs] {
            assert_eq!(
                cmd(
                    &mut s.client(),
                    &["SENTINEL", "CONFIG", "SET", "announce-hostnames", "yes"]
                ),
                Frame::Simple(b"OK".to_vec())
            );
        }
        same_instance_replies(&ours, &theirs, name);
        assert_eq!(info(&ours), info(&theirs));
        // The rewritten config names the master and replica the same way.
        let monitors = |s: &TestSentinel| -> Vec<String> {
            cmd(&mut s.client(), &["SENTINEL", "FLUSHCONFIG"]);
            s.conf_text()
                .lines()
                .filter(|l| {
                    l.starts_with("sentinel monitor") || l.starts_with("sentinel known-replica")
                })
                .map(String::from)
                .collect()
        };
        let (ma, mb) = (monitors(&ours), monitors(&theirs));
        assert_eq!(ma, mb);
        assert!(ma[0].contains(host), "{ma:?}");
    }
}

#[test]
fn a_redis_pyrope_group_with_passwords_authenticates_as_the_sentinel_user() {
    let primary = RedisNode::start(&[]);
    let _replica = RedisNode::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let conf = |pass: &str| {
        format!(
            "requirepass adminpw\nuser peer on >peerpw +@all\nsentinel sentinel-user peer\nsentinel sentinel-pass {pass}\n{}",
            monitor_conf(primary.port, 2, 1500)
        )
    };
    let group = [
        TestSentinel::start(SentinelKind::Redis, &conf("peerpw")),
        TestSentinel::start(SentinelKind::Pyrope, &conf("peerpw")),
    ];
    let authed = |s: &TestSentinel| {
        let mut c = s.client();
        assert_eq!(
            cmd(&mut c, &["AUTH", "adminpw"]),
            Frame::Simple(b"OK".to_vec())
        );
        c
    };
    // Without AUTH nothing but AUTH/HELLO answers.
    assert!(cmd(&mut group[1].client(), &["SENTINEL", "MASTERS"]).is_error());
    let peer_flags = |s: &TestSentinel| -> Vec<String> {
        let Frame::Array(Some(v)) = cmd(&mut authed(s), &["SENTINEL", "SENTINELS", "mymaster"])
        else {
            panic!()
        };
        v.iter()
            .map(|x| field(x, "flags").unwrap_or_default())
            .collect()
    };
    for s in &group {
        assert!(
            wait_for(Duration::from_secs(60), || peer_flags(s) == ["sentinel"]),
            "{:?}: {:?}\n{}",
            s.kind,
            peer_flags(s),
            s.log_text()
        );
    }
    // Longer than down-after: the peers' PINGs are answered (they authenticated as `peer`).
    std::thread::sleep(Duration::from_secs(4));
    for s in &group {
        assert_eq!(
            peer_flags(s),
            ["sentinel"],
            "{:?}\n{}",
            s.kind,
            s.log_text()
        );
    }
    // The peers' connections run as `peer` on both sides.
    for s in &group {
        let Frame::Bulk(Some(list)) = cmd(&mut authed(s), &["CLIENT", "LIST"]) else {
            panic!()
        };
        let list = String::from_utf8_lossy(&list).into_owned();
        assert!(list.contains("user=peer"), "{:?}: {list}", s.kind);
    }
    // A pyrope sentinel with the wrong sentinel-pass: its PINGs to the others are refused,
    // so it sees them subjectively down, while they see it fine.
    let wrong = TestSentinel::start(SentinelKind::Pyrope, &conf("nope"));
    assert!(
        wait_for(Duration::from_secs(60), || {
            let f = peer_flags(&wrong);
            f.len() == 2 && f.iter().all(|x| x.starts_with("s_down,sentinel"))
        }),
        "{:?}\n{}",
        peer_flags(&wrong),
        wrong.log_text()
    );
    for s in &group {
        assert!(wait_for(Duration::from_secs(30), || {
            let f = peer_flags(s);
            f.len() == 2 && f.iter().all(|x| x == "sentinel")
        }));
    }
}
