//! Collection internals a command script cannot compare byte for byte, checked against Redis
//! 7.4.1: DEBUG OBJECT's encoding and quicklist fields (node count, average node, the fill a
//! list was created with, listpack bytes) with the address, LRU and serialized length masked.

use pyrope_tests::*;

/// DEBUG OBJECT without the fields that differ by nature (address, LRU clock and idle time)
/// or that come with the RDB writer (serializedlength).
fn debug_object(c: &mut pyrope_common::client::Client, key: &str) -> String {
    let f = c.call(&["DEBUG", "OBJECT", key]).unwrap();
    let mut b = Vec::new();
    f.encode(&mut b);
    String::from_utf8_lossy(&b)
        .split(' ')
        .filter(|w| {
            !(w.starts_with("at:")
                || w.starts_with("lru:")
                || w.starts_with("lru_seconds_idle:")
                || w.starts_with("serializedlength:"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn debug_object_of_lists_matches_redis() {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let mut transcripts = Vec::new();
    for srv in [TestServer::redis(&args), TestServer::pyrope(&args)] {
        let mut c = srv.client();
        let mut t = Vec::new();
        let wide: Vec<String> = (0..100).map(|i| format!("{i:0>60}")).collect();
        for _ in 0..20 {
            let mut cmd = vec!["RPUSH", "wide"];
            cmd.extend(wide.iter().map(|s| s.as_str()));
            c.call(&cmd).unwrap();
        }
        let nums: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let mut cmd = vec!["RPUSH", "ints"];
        cmd.extend(nums.iter().map(|s| s.as_str()));
        c.call(&cmd).unwrap();
        // A list keeps the fill it was created with after CONFIG SET (quicklist->fill).
        c.call(&["CONFIG", "SET", "list-max-listpack-size", "5"])
            .unwrap();
        let mut cmd = vec!["RPUSH", "five"];
        cmd.extend(nums[..23].iter().map(|s| s.as_str()));
        c.call(&cmd).unwrap();
        c.call(&["CONFIG", "SET", "list-max-listpack-size", "-2"])
            .unwrap();
        let mut cmd = vec!["LPUSH", "five"];
        cmd.extend(nums[..9].iter().map(|s| s.as_str()));
        c.call(&cmd).unwrap();
        c.call(&["LINSERT", "five", "BEFORE", "10", "new"]).unwrap();
        c.call(&["RPUSH", "small", "a", "b"]).unwrap();
        for key in ["wide", "ints", "five", "small"] {
            t.push(debug_object(&mut c, key));
        }
        // Pops down to one small node convert back to a listpack.
        c.call(&["LTRIM", "ints", "0", "9"]).unwrap();
        t.push(debug_object(&mut c, "ints"));
        transcripts.push(t);
    }
    assert_eq!(
        transcripts[0], transcripts[1],
        "redis (left), pyrope (right)"
    );
    assert!(
        transcripts[1][2].contains("ql_listpack_max:5"),
        "{:?}",
        transcripts[1]
    );
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An element: small strings and integers (often equal, for pivots and LREM), strings of 9
/// to 300 bytes, so that the packed thresholds used below make some of them large, and now
/// and then one of 4 to 9 KB, large for the node limits themselves.
fn element(r: &mut Rng) -> String {
    if r.below(40) == 0 {
        // Past a node's byte limit at the default threshold (fill -1: 4 KiB, counts: 8 KiB).
        return format!("z{}", "z".repeat(4000 + r.below(5000)));
    }
    match r.below(6) {
        0 => ["a", "b", "c"][r.below(3)].to_string(),
        1 => (r.below(12) as i64 - 2).to_string(),
        2 => format!("m{:0>8}", r.below(4)),
        3 => format!("w{:0>30}", r.below(3)),
        4 => format!("x{}", "y".repeat(r.below(300))),
        _ => format!("{:0>12}", r.below(3)),
    }
}

/// Random list commands on quicklists with plain nodes (DEBUG QUICKLIST-PACKED-THRESHOLD
/// set low, as the "plain" tests of Redis's list.tcl do): every reply, DEBUG OBJECT's
/// encoding, node count, node bytes and serialized length, and DUMP's payload (container
/// PLAIN = 1 in RDB_TYPE_LIST_QUICKLIST_2) must equal Redis 7.4.1's after each command;
/// RESTORE of each payload and DEBUG RELOAD are checked too.
#[test]
fn plain_quicklist_nodes_match_redis() {
    random_quicklist_rounds("0", 0x9e37_79b9_7f4a_7c15, 25);
}

/// As [`plain_quicklist_nodes_match_redis`] with `list-compress-depth` 1 and 2: which nodes
/// Redis keeps LZF-compressed shows in DUMP (with `rdbcompression no`, only compressed nodes
/// are LZF blobs) and DEBUG OBJECT's serializedlength, compared after every command.
#[test]
fn compressed_quicklist_nodes_match_redis() {
    random_quicklist_rounds("1", 0x2545_f491_4f6c_dd1d, 1);
    random_quicklist_rounds("2", 0x5851_f42d_4c95_7f2d, 1);
}

/// 24 rounds of 400 random list commands on a fresh key, with `list-compress-depth` set to
/// `depth`, replies and DEBUG OBJECT compared after each command and DUMP (then RESTORE of
/// each side's payload) every `dump_every` commands.
fn random_quicklist_rounds(depth: &str, seed: u64, dump_every: usize) {
    require_reference();
    let args = ["--enable-debug-command", "yes"];
    let (redis, pyrope) = (TestServer::redis(&args), TestServer::pyrope(&args));
    let mut cs = [redis.client(), pyrope.client()];
    let mut r = Rng(seed);
    let mut log: Vec<String> = Vec::new();
    if depth != "0" {
        // With RDB compression off only the nodes the quicklist keeps compressed are LZF
        // blobs in DUMP: the payload shows exactly which nodes those are.
        for c in cs.iter_mut() {
            c.call(&["CONFIG", "SET", "rdbcompression", "no"]).unwrap();
        }
    }
    let run =
        |cs: &mut [pyrope_common::client::Client; 2], cmd: Vec<String>, log: &mut Vec<String>| {
            let argv: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            log.push(cmd.join(" "));
            let out: Vec<String> = cs
                .iter_mut()
                .map(|c| {
                    if argv[0] == "DEBUG" && argv[1] == "OBJECT" {
                        return debug_object(c, argv[2]);
                    }
                    let f = c.call(&argv).unwrap();
                    let mut b = Vec::new();
                    f.encode(&mut b);
                    String::from_utf8_lossy(&b).into_owned()
                })
                .collect();
            if out[0] != out[1] {
                if let Ok(path) = std::env::var("PYROPE_TEST_LOG") {
                    let _ = std::fs::write(path, log.join("\n"));
                }
            }
            assert_eq!(
                out[0],
                out[1],
                "redis (left), pyrope (right) after:\n{}",
                log[log.len().saturating_sub(40)..].join("\n")
            );
        };
    for round in 0..24 {
        let threshold = ["1b", "9", "20", "31", "100", "0"][round % 6];
        let fill = ["-1", "-2", "3", "5", "1", "0"][(round / 2) % 6];
        run(
            &mut cs,
            vec![
                "CONFIG".into(),
                "SET".into(),
                "list-max-listpack-size".into(),
                fill.into(),
            ],
            &mut log,
        );
        run(
            &mut cs,
            vec![
                "DEBUG".into(),
                "QUICKLIST-PACKED-THRESHOLD".into(),
                threshold.into(),
            ],
            &mut log,
        );
        run(
            &mut cs,
            vec![
                "CONFIG".into(),
                "SET".into(),
                "list-compress-depth".into(),
                depth.into(),
            ],
            &mut log,
        );
        let key = format!("l{round}");
        for step in 0..400 {
            let s = |x: &str| x.to_string();
            let cmd: Vec<String> = match r.below(14) {
                0 | 1 => {
                    let mut c = vec![s(["LPUSH", "RPUSH"][r.below(2)]), key.clone()];
                    for _ in 0..1 + r.below(4) {
                        c.push(element(&mut r));
                    }
                    c
                }
                2 | 3 => vec![
                    s("LINSERT"),
                    key.clone(),
                    s(["BEFORE", "AFTER"][r.below(2)]),
                    element(&mut r),
                    element(&mut r),
                ],
                4 | 5 => vec![
                    s("LSET"),
                    key.clone(),
                    (r.below(30) as i64 - 15).to_string(),
                    element(&mut r),
                ],
                6 => vec![
                    s(["LPOP", "RPOP"][r.below(2)]),
                    key.clone(),
                    (r.below(3) + 1).to_string(),
                ],
                7 => vec![
                    s("LREM"),
                    key.clone(),
                    (r.below(5) as i64 - 2).to_string(),
                    element(&mut r),
                ],
                8 if r.below(4) == 0 => vec![
                    s("LTRIM"),
                    key.clone(),
                    r.below(3).to_string(),
                    (-(r.below(3) as i64) - 1).to_string(),
                ],
                9 => vec![s("LPOS"), key.clone(), element(&mut r), s("COUNT"), s("0")],
                10 => vec![s("LRANGE"), key.clone(), s("0"), s("-1")],
                11 => vec![
                    s("LINDEX"),
                    key.clone(),
                    (r.below(30) as i64 - 15).to_string(),
                ],
                12 => vec![
                    s("LMOVE"),
                    key.clone(),
                    key.clone(),
                    s(["LEFT", "RIGHT"][r.below(2)]),
                    s(["LEFT", "RIGHT"][r.below(2)]),
                ],
                _ => vec![s("OBJECT"), s("ENCODING"), key.clone()],
            };
            run(&mut cs, cmd, &mut log);
            run(
                &mut cs,
                vec![s("DEBUG"), s("OBJECT"), key.clone()],
                &mut log,
            );
            if step % dump_every == 0 {
                run(&mut cs, vec![s("DUMP"), key.clone()], &mut log);
                // RESTORE each side's own payload into a copy and compare what it holds.
                let payloads: Vec<Option<Vec<u8>>> = cs
                    .iter_mut()
                    .map(|c| match c.call(&["DUMP", &key]).unwrap() {
                        pyrope_common::resp::Frame::Bulk(Some(b)) => Some(b),
                        _ => None,
                    })
                    .collect();
                for (c, p) in cs.iter_mut().zip(&payloads) {
                    if let Some(p) = p {
                        let f = c
                            .call(&[&b"RESTORE"[..], b"copy", b"0", p, b"REPLACE"])
                            .unwrap();
                        assert!(!matches!(f, pyrope_common::resp::Frame::Error(_)), "{f:?}");
                    }
                }
                if payloads.iter().all(|p| p.is_some()) {
                    run(&mut cs, vec![s("DEBUG"), s("OBJECT"), s("copy")], &mut log);
                    run(
                        &mut cs,
                        vec![s("LRANGE"), s("copy"), s("0"), s("-1")],
                        &mut log,
                    );
                }
            }
        }
        run(&mut cs, vec!["DEBUG".into(), "RELOAD".into()], &mut log);
        run(
            &mut cs,
            vec!["DEBUG".into(), "OBJECT".into(), key.clone()],
            &mut log,
        );
        run(
            &mut cs,
            vec!["LRANGE".into(), key.clone(), "0".into(), "-1".into()],
            &mut log,
        );
    }
}

/// A reply as its RESP bytes, for comparisons and messages.
fn resp(c: &mut pyrope_common::client::Client, args: &[&str]) -> String {
    let f = c.call(args).unwrap();
    let mut b = Vec::new();
    f.encode(&mut b);
    String::from_utf8_lossy(&b).into_owned()
}

fn used_memory(c: &mut pyrope_common::client::Client) -> i64 {
    info_field(&info(c, "memory"), "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory")
}

/// 100k compressible elements pushed in batches of 1000 at the tail of `key`.
fn push_compressible(c: &mut pyrope_common::client::Client, key: &str) {
    for b in 0..100 {
        let elems: Vec<String> = (0..1000)
            .map(|i| {
                format!(
                    "user:{:05}:session-payload-{}",
                    (b * 1000 + i) % 3000,
                    i % 7
                )
            })
            .collect();
        let mut argv = vec!["RPUSH", key];
        argv.extend(elems.iter().map(|s| s.as_str()));
        c.call(&argv).unwrap();
    }
}

/// With `list-compress-depth 1` the middle nodes of a quicklist really are LZF-compressed in
/// memory: the list takes far less memory than Redis's at depth 0, MEMORY USAGE agrees
/// with Redis's, and reads (LRANGE, LINDEX, LPOS, SORT), COPY, DUMP + RESTORE, DEBUG RELOAD
/// and BGSAVE (loaded by Redis 7.4.1) give what Redis gives. At depth 0 Pyrope compresses
/// the middle nodes out of sight (`HIDDEN_DEPTH`): at most 0.8x Redis's memory, and DUMP
/// (with and without `rdbcompression`) and DEBUG OBJECT identical to Redis's at depth 0,
/// before and after writes in the middle.
#[test]
fn compressed_lists_use_less_memory_and_round_trip() {
    require_reference();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--enable-debug-command",
        "yes",
        "--list-compress-depth",
        "1",
        "--dir",
        dir.path().to_str().unwrap(),
    ];
    let rdir = tempfile::tempdir().unwrap();
    let rargs = [
        "--enable-debug-command",
        "yes",
        "--list-compress-depth",
        "1",
        "--dir",
        rdir.path().to_str().unwrap(),
    ];
    let (redis, pyrope) = (TestServer::redis(&rargs), TestServer::pyrope(&args));
    let (mut r, mut p) = (redis.client(), pyrope.client());
    // Memory: the same list at depth 1 and at depth 0 (the depth is taken at creation),
    // after a first compressed list made the one-time allocations (LZF's hash table).
    push_compressible(&mut p, "warm");
    call(&mut p, &["DEL", "warm"]);
    let m0 = used_memory(&mut p);
    push_compressible(&mut p, "z");
    let m1 = used_memory(&mut p);
    call(&mut p, &["CONFIG", "SET", "list-compress-depth", "0"]);
    push_compressible(&mut p, "raw");
    let m2 = used_memory(&mut p);
    call(&mut p, &["CONFIG", "SET", "list-compress-depth", "1"]);
    let before = used_memory(&mut r);
    push_compressible(&mut r, "z");
    let rm0 = used_memory(&mut r) - before;
    call(&mut r, &["CONFIG", "SET", "list-compress-depth", "0"]);
    let before = used_memory(&mut r);
    push_compressible(&mut r, "raw");
    let rraw = used_memory(&mut r) - before;
    call(&mut r, &["CONFIG", "SET", "list-compress-depth", "1"]);
    let (zd, rawd) = (m1 - m0, m2 - m1);
    let usage = |c: &mut pyrope_common::client::Client, k: &str| -> i64 {
        match call(c, &["MEMORY", "USAGE", k, "SAMPLES", "0"]) {
            pyrope_common::resp::Frame::Integer(n) => n,
            f => panic!("{f:?}"),
        }
    };
    let (pu, pu0, ru) = (usage(&mut p, "z"), usage(&mut p, "raw"), usage(&mut r, "z"));
    let ru0 = usage(&mut r, "raw");
    eprintln!(
        "100k elements: used_memory delta depth 1 {zd} B ({:.2} B/elem), depth 0 {rawd} B \
         ({:.2} B/elem), Redis depth 1 {rm0} B ({:.2} B/elem), Redis depth 0 {rraw} B \
         ({:.2} B/elem); MEMORY USAGE pyrope depth 1 {pu}, depth 0 {pu0}, Redis depth 1 {ru}, \
         depth 0 {ru0}",
        zd as f64 / 1e5,
        rawd as f64 / 1e5,
        rm0 as f64 / 1e5,
        rraw as f64 / 1e5
    );
    assert!(zd * 3 < rraw, "depth 1 {zd} B vs Redis depth 0 {rraw} B");
    assert!(
        rawd * 10 <= rraw * 8,
        "depth 0 {rawd} B vs Redis depth 0 {rraw} B"
    );
    // MEMORY USAGE measures Pyrope's own layout (a node array, not 32-byte list nodes; a
    // box beside each LZF blob): within 3% of Redis's.
    assert!((pu - ru).abs() * 33 < ru, "MEMORY USAGE {pu} vs Redis {ru}");
    assert!(pu0 < ru0, "MEMORY USAGE at depth 0 {pu0} vs Redis {ru0}");
    // The hidden compression at depth 0 shows nowhere: DUMP with and without rdbcompression
    // and DEBUG OBJECT, before and after writes and reads in the middle.
    let hidden: &[&[&str]] = &[
        &["LRANGE", "raw", "50000", "50003"],
        &["LSET", "raw", "45000", "changed"],
        &[
            "LINSERT",
            "raw",
            "AFTER",
            "user:01500:session-payload-3",
            "ins",
        ],
        &["LREM", "raw", "3", "user:00100:session-payload-2"],
        &["LINDEX", "raw", "-70001"],
        &["LTRIM", "raw", "10", "-10"],
        &["DEBUG", "DIGEST-VALUE", "raw"],
    ];
    for (i, cmd) in hidden.iter().enumerate() {
        assert_eq!(resp(&mut r, cmd), resp(&mut p, cmd), "{cmd:?}");
        for c in [&mut r, &mut p] {
            let v = if i % 2 == 0 { "yes" } else { "no" };
            c.call(&["CONFIG", "SET", "rdbcompression", v]).unwrap();
        }
        assert_eq!(
            resp(&mut r, &["DUMP", "raw"]),
            resp(&mut p, &["DUMP", "raw"]),
            "DUMP after {cmd:?}"
        );
        assert_eq!(
            debug_object(&mut r, "raw"),
            debug_object(&mut p, "raw"),
            "after {cmd:?}"
        );
    }
    call(&mut r, &["DEL", "raw"]);
    call(&mut p, &["DEL", "raw"]);
    for c in [&mut r, &mut p] {
        c.call(&["CONFIG", "SET", "rdbcompression", "no"]).unwrap();
    }
    // Reads over compressed middle nodes, then what they left (DUMP shows which nodes are
    // compressed), compared with Redis after each.
    let cmds: &[&[&str]] = &[
        &["LRANGE", "z", "50000", "50020"],
        &["LRANGE", "z", "-60010", "-60000"],
        &["LINDEX", "z", "70001"],
        &[
            "LPOS",
            "z",
            "user:01234:session-payload-2",
            "RANK",
            "-3",
            "COUNT",
            "2",
        ],
        &[
            "LPOS",
            "z",
            "user:02999:session-payload-0",
            "COUNT",
            "5",
            "MAXLEN",
            "40000",
        ],
        &["SORT", "z", "BY", "nosort", "LIMIT", "40000", "5"],
        &["SORT", "z", "BY", "nosort", "LIMIT", "40000", "5", "DESC"],
        &["SORT", "z", "ALPHA", "LIMIT", "0", "3"],
        &["COPY", "z", "zc"],
        &["LRANGE", "zc", "33333", "33335"],
        &["LSET", "z", "45000", "changed"],
        &[
            "LINSERT",
            "z",
            "BEFORE",
            "user:01500:session-payload-2",
            "ins",
        ],
        &["LREM", "z", "-2", "user:00100:session-payload-2"],
        &["LTRIM", "zc", "100", "-100"],
        &["DEBUG", "DIGEST-VALUE", "z", "zc"],
    ];
    let dumps = |r: &mut pyrope_common::client::Client,
                 p: &mut pyrope_common::client::Client,
                 what: &str| {
        for k in ["z", "zc"] {
            assert_eq!(
                resp(r, &["DUMP", k]),
                resp(p, &["DUMP", k]),
                "DUMP {k} after {what}"
            );
            assert_eq!(
                debug_object(r, k),
                debug_object(p, k),
                "DEBUG OBJECT {k} after {what}"
            );
        }
    };
    for cmd in cmds {
        assert_eq!(resp(&mut r, cmd), resp(&mut p, cmd), "{cmd:?}");
        dumps(&mut r, &mut p, &cmd.join(" "));
    }
    // DUMP + RESTORE of each side's payload, into both.
    let payload = match call(&mut p, &["DUMP", "z"]) {
        pyrope_common::resp::Frame::Bulk(Some(b)) => b,
        f => panic!("{f:?}"),
    };
    for c in [&mut r, &mut p] {
        let mut cmd: Vec<&[u8]> = vec![b"RESTORE", b"zr", b"0", &payload];
        cmd.push(b"REPLACE");
        let f = c.call(&cmd).unwrap();
        assert_eq!(f, pyrope_common::resp::Frame::Simple(b"OK".to_vec()));
    }
    assert_eq!(resp(&mut r, &["DUMP", "zr"]), resp(&mut p, &["DUMP", "zr"]));
    assert_eq!(debug_object(&mut r, "zr"), debug_object(&mut p, "zr"));
    let dv = ["DEBUG", "DIGEST-VALUE", "z", "zr"];
    assert_eq!(resp(&mut r, &dv), resp(&mut p, &dv));
    // DEBUG RELOAD: save and load again, compressed nodes included.
    let digest = resp(&mut p, &["DEBUG", "DIGEST"]);
    assert_eq!(resp(&mut r, &["DEBUG", "DIGEST"]), digest);
    for c in [&mut r, &mut p] {
        assert_eq!(resp(c, &["DEBUG", "RELOAD"]), "+OK\r\n");
    }
    assert_eq!(resp(&mut p, &["DEBUG", "DIGEST"]), digest);
    assert_eq!(resp(&mut r, &["DEBUG", "DIGEST"]), digest);
    dumps(&mut r, &mut p, "DEBUG RELOAD");
    // BGSAVE in a child, loaded by Redis 7.4.1.
    assert_eq!(resp(&mut p, &["BGSAVE"]), "+Background saving started\r\n");
    poll("BGSAVE done", || {
        let i = info(&mut p, "persistence");
        info_field(&i, "rdb_bgsave_in_progress").as_deref() == Some("0")
            && info_field(&i, "rdb_last_bgsave_status").as_deref() == Some("ok")
    });
    drop(r);
    drop(redis);
    let loaded = TestServer::redis(&[
        "--enable-debug-command",
        "yes",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let mut l = loaded.client();
    assert_eq!(
        resp(&mut l, &["DEBUG", "DIGEST"]),
        digest,
        "Redis loading pyrope's BGSAVE"
    );
    let lr = ["LRANGE", "z", "49990", "50010"];
    assert_eq!(resp(&mut l, &lr), resp(&mut p, &lr));
}
