//! The append-only file end to end: pyrope-server writes a multi-part AOF dir (base + incr +
//! manifest) that it and Redis 7.4.1 load with the same `DEBUG DIGEST`; a dir written by
//! Redis 7.4.1 (with and without the RDB preamble, with `#TS:` annotations) loads into pyrope
//! with Redis's digest; BGREWRITEAOF rotates the files as Redis does; a truncated tail is
//! cut back under `aof-load-truncated` and refused without it; acknowledged writes survive a
//! SIGKILL under `appendfsync always`; `CONFIG SET appendonly yes` starts an AOF at run time.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::path::Path;
use std::time::Duration;

fn digest(c: &mut Client) -> Frame {
    call(c, &["DEBUG", "DIGEST"])
}

fn start_aof(kind: Kind, dir: &Path, extra: &[&str]) -> TestServer {
    let mut args = vec![
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
        "--appendonly",
        "yes",
    ];
    args.extend_from_slice(extra);
    TestServer::start(kind, &args)
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap()
}

/// Waits until no rewrite runs and `aof_rewrites` reached `n`.
fn wait_rewrites(c: &mut Client, n: u64) {
    assert!(
        wait_for(Duration::from_secs(60), || {
            let i = info(c, "persistence");
            info_field(&i, "aof_rewrite_in_progress").as_deref() == Some("0")
                && info_field(&i, "aof_rewrites").and_then(|v| v.parse::<u64>().ok()) >= Some(n)
                && info_field(&i, "aof_rewrite_scheduled").as_deref() == Some("0")
        }),
        "rewrite did not finish"
    );
}

/// Writes after the rewrite point: commands whose propagated forms the AOF must hold
/// (relative expires rewritten to absolute ones, a multi-command unit, another db).
fn more_writes(c: &mut Client) {
    for args in [
        vec!["SET", "after", "rewrite", "EX", "100000"],
        vec!["INCR", "i"],
        vec!["LPOP", "bl"],
        vec!["SPOP", "bs", "3"],
        vec!["ZINCRBY", "bz", "2.5", "m7"],
        vec!["HDEL", "bh", "m1"],
        vec!["XADD", "st", "3-1", "f", "x"],
        vec!["SELECT", "7"],
        vec!["RPUSH", "db7", "a", "b"],
        vec!["SELECT", "0"],
        vec!["PEXPIRE", "raw", "5000000"],
    ] {
        let r = call(c, &args);
        assert!(!matches!(r, Frame::Error(_)), "{args:?}: {r:?}");
    }
}

fn both_kinds_load(dir: &Path, want: &Frame, extra: &[&str]) {
    for kind in [Kind::Pyrope, Kind::Redis] {
        let s = start_aof(kind, dir, extra);
        let mut c = s.client();
        assert_eq!(&digest(&mut c), want, "{kind:?} loading the AOF dir");
    }
}

#[test]
fn pyrope_aof_restarts_and_loads_into_redis_with_the_same_digest() {
    require_reference();
    for preamble in ["yes", "no"] {
        let dir = tempfile::tempdir().unwrap();
        let extra = ["--aof-use-rdb-preamble", preamble];
        let d0;
        {
            let s = start_aof(Kind::Pyrope, dir.path(), &extra);
            let mut c = s.client();
            fill_dataset(&mut c);
            assert_eq!(
                call(&mut c, &["BGREWRITEAOF"]),
                Frame::Simple("Background append only file rewriting started".into())
            );
            wait_rewrites(&mut c, 1);
            more_writes(&mut c);
            d0 = digest(&mut c);
            let m = manifest(dir.path());
            let base = if preamble == "yes" { "rdb" } else { "aof" };
            assert_eq!(
                m,
                format!("file appendonly.aof.2.base.{base} seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"),
                "the first base and incr became history and were deleted"
            );
            assert!(!dir
                .path()
                .join("appendonlydir/appendonly.aof.1.incr.aof")
                .exists());
            let i = info(&mut c, "persistence");
            assert_eq!(info_field(&i, "aof_enabled").as_deref(), Some("1"));
            assert_eq!(
                info_field(&i, "aof_last_bgrewrite_status").as_deref(),
                Some("ok")
            );
            assert_eq!(
                call(&mut c, &["DEBUG", "LOADAOF"]),
                Frame::Simple("OK".into())
            );
            assert_eq!(digest(&mut c), d0, "DEBUG LOADAOF");
            let _ = c.call(&["SHUTDOWN", "NOSAVE"]);
        }
        let incr =
            std::fs::read(dir.path().join("appendonlydir/appendonly.aof.2.incr.aof")).unwrap();
        let text = String::from_utf8_lossy(&incr);
        assert!(
            text.contains("PXAT") || text.contains("PEXPIREAT"),
            "{text}"
        );
        assert!(text.contains("MULTI") || text.contains("SREM"), "{text}");
        both_kinds_load(dir.path(), &d0, &extra);
    }
}

#[test]
fn redis_aof_dirs_load_into_pyrope_with_the_same_digest() {
    require_reference();
    for extra in [
        &["--aof-use-rdb-preamble", "yes"][..],
        &[
            "--aof-use-rdb-preamble",
            "no",
            "--aof-timestamp-enabled",
            "yes",
        ][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d0;
        {
            let r = start_aof(Kind::Redis, dir.path(), extra);
            let mut c = r.client();
            fill_dataset(&mut c);
            call(&mut c, &["BGREWRITEAOF"]);
            wait_rewrites(&mut c, 1);
            more_writes(&mut c);
            d0 = digest(&mut c);
            let _ = c.call(&["SHUTDOWN", "NOSAVE"]);
        }
        let s = start_aof(Kind::Pyrope, dir.path(), extra);
        let mut c = s.client();
        assert_eq!(digest(&mut c), d0, "pyrope loading Redis's AOF ({extra:?})");
        // And it appends to Redis's incr file from there.
        call(&mut c, &["SET", "from", "pyrope"]);
        let d1 = digest(&mut c);
        let _ = c.call(&["SHUTDOWN", "NOSAVE"]);
        drop(c);
        drop(s);
        both_kinds_load(dir.path(), &d1, extra);
    }
}

#[test]
fn a_truncated_tail_is_cut_under_aof_load_truncated_and_fatal_without() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = start_aof(Kind::Pyrope, dir.path(), &["--appendfsync", "always"]);
        let mut c = s.client();
        call(&mut c, &["SET", "a", "1"]);
        call(&mut c, &["SET", "b", "2"]);
        let _ = c.call(&["SHUTDOWN", "NOSAVE"]);
    }
    let incr = dir.path().join("appendonlydir/appendonly.aof.1.incr.aof");
    let full = std::fs::read(&incr).unwrap();
    // Cut inside the last command (`SET b 2`).
    let cut = full.len() - 4;
    std::fs::write(&incr, &full[..cut]).unwrap();
    // Without aof-load-truncated: the server refuses to start and leaves the file alone.
    let out = std::process::Command::new("timeout")
        .arg("60")
        .arg(binary("pyrope-server"))
        .args(["--port", &free_port().to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", dir.path().to_str().unwrap()])
        .args(["--appendonly", "yes", "--aof-load-truncated", "no"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(
            "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"
        ),
        "{log}"
    );
    assert_eq!(std::fs::read(&incr).unwrap().len(), cut);
    // With it (the default): the tail is cut back to the last complete command.
    let s = start_aof(Kind::Pyrope, dir.path(), &[]);
    let mut c = s.client();
    assert_eq!(call(&mut c, &["GET", "a"]), bulk("1"));
    assert_eq!(call(&mut c, &["EXISTS", "b"]), int(0));
    assert!(s.log_text().contains(
        "!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!"
    ));
    let now = std::fs::read(&incr).unwrap();
    assert!(now.len() < cut && full.starts_with(&now));
    // Writes go on after the cut point.
    call(&mut c, &["SET", "c", "3"]);
    assert_eq!(
        call(&mut c, &["DEBUG", "LOADAOF"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(call(&mut c, &["GET", "c"]), bulk("3"));
}

#[test]
fn acknowledged_writes_survive_sigkill_under_appendfsync_always() {
    let dir = tempfile::tempdir().unwrap();
    let acked: Vec<Vec<String>>;
    {
        let mut s = start_aof(Kind::Pyrope, dir.path(), &["--appendfsync", "always"]);
        let addr = s.addr();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let mut c = Client::connect(&addr).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut ok = Vec::new();
                    for i in 0..100_000 {
                        let k = format!("t{t}:{i}");
                        match c.call(&["SET", &k, &i.to_string()]) {
                            Ok(Frame::Simple(_)) => ok.push(k),
                            _ => break,
                        }
                    }
                    ok
                })
            })
            .collect();
        // Kill mid-load once some writes are in.
        let mut probe = s.client();
        assert!(wait_for(Duration::from_secs(60), || {
            matches!(call(&mut probe, &["DBSIZE"]), Frame::Integer(n) if n > 2000)
        }));
        s.kill9();
        acked = handles.into_iter().map(|h| h.join().unwrap()).collect();
    }
    let total: usize = acked.iter().map(|v| v.len()).sum();
    assert!(total > 2000);
    let s = start_aof(Kind::Pyrope, dir.path(), &[]);
    let mut c = s.client();
    for keys in &acked {
        // Each client's writes are in order: checking the last acknowledged one and a sample
        // covers the rest.
        for k in keys.iter().rev().take(50).chain(keys.iter().step_by(97)) {
            let want = k.split(':').nth(1).unwrap();
            assert_eq!(
                call(&mut c, &["GET", k]),
                bulk(want),
                "acknowledged {k} lost"
            );
        }
    }
}

#[test]
fn config_set_appendonly_starts_an_aof_with_a_first_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let d0;
    {
        let s = TestServer::start(
            Kind::Pyrope,
            &[
                "--dir",
                dir.path().to_str().unwrap(),
                "--enable-debug-command",
                "yes",
            ],
        );
        let mut c = s.client();
        fill_dataset(&mut c);
        assert_eq!(
            call(&mut c, &["CONFIG", "SET", "appendonly", "yes"]),
            Frame::Simple("OK".into())
        );
        wait_rewrites(&mut c, 1);
        call(&mut c, &["SET", "later", "x"]);
        d0 = digest(&mut c);
        assert_eq!(
            manifest(dir.path()),
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        // Off again: the file stays, nothing more is appended.
        assert_eq!(
            call(&mut c, &["CONFIG", "SET", "appendonly", "no"]),
            Frame::Simple("OK".into())
        );
        call(&mut c, &["SET", "not-in-aof", "x"]);
        let _ = c.call(&["SHUTDOWN", "NOSAVE"]);
    }
    let s = start_aof(Kind::Pyrope, dir.path(), &[]);
    let mut c = s.client();
    assert_eq!(digest(&mut c), d0);
}

#[test]
fn growth_triggers_an_automatic_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(
        Kind::Pyrope,
        dir.path(),
        &[
            "--auto-aof-rewrite-min-size",
            "1kb",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let mut c = s.client();
    for i in 0..200 {
        call(&mut c, &["SET", &format!("k{i}"), &"v".repeat(20)]);
    }
    wait_rewrites(&mut c, 1);
    assert!(s
        .log_text()
        .contains("Starting automatic rewriting of AOF on"));
}

/// The replies of BGSAVE, BGSAVE SCHEDULE, SAVE and BGREWRITEAOF while another child runs
/// (`rdb-key-save-delay` keeps each child busy for seconds), the same on both servers:
/// a rewrite asked for during a BGSAVE is scheduled and starts when the save ends; during
/// the rewrite, BGREWRITEAOF and BGSAVE are refused with Redis's texts and BGSAVE SCHEDULE is
/// scheduled.
#[test]
fn child_conflict_replies_match_redis() {
    require_reference();
    let run = |kind: Kind| -> Vec<Frame> {
        let s = TestServer::start(kind, &["--enable-debug-command", "yes"]);
        let mut c = s.client();
        let mut seen = Vec::new();
        call(&mut c, &["DEBUG", "POPULATE", "3000"]);
        call(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
        for args in [
            &["BGSAVE"][..],
            &["BGSAVE"],
            &["SAVE"],
            &["BGREWRITEAOF"],
            &["BGREWRITEAOF"],
            &["BGSAVE", "SCHEDULE"],
        ] {
            seen.push(call(&mut c, args));
        }
        let field = |c: &mut Client, f: &str| info_field(&info(c, "persistence"), f).unwrap();
        // The save ends (3000 keys x 1 ms), then the scheduled rewrite starts.
        assert!(
            wait_for(Duration::from_secs(60), || {
                field(&mut c, "rdb_bgsave_in_progress") == "0"
                    && field(&mut c, "aof_rewrite_in_progress") == "1"
            }),
            "{kind:?}: the scheduled rewrite did not start"
        );
        for args in [&["BGREWRITEAOF"][..], &["BGSAVE"], &["BGSAVE", "SCHEDULE"]] {
            seen.push(call(&mut c, args));
        }
        // The rewrite ends, then the scheduled BGSAVE runs and ends.
        call(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        assert!(
            wait_for(Duration::from_secs(60), || {
                field(&mut c, "aof_rewrite_in_progress") == "0"
                    && field(&mut c, "rdb_bgsave_in_progress") == "0"
                    && field(&mut c, "aof_rewrites") == "1"
                    && field(&mut c, "rdb_last_bgsave_status") == "ok"
                    && field(&mut c, "rdb_changes_since_last_save") == "0"
            }),
            "{kind:?}: the children did not finish"
        );
        seen
    };
    let r = run(Kind::Redis);
    let p = run(Kind::Pyrope);
    assert_eq!(p, r);
}

/// Hash fields whose TTL passed between the write and the load: while the AOF replays,
/// Redis lets them read as missing (HINCRBY counts from 0, HSETNX sets) but deletes none of
/// them and keeps the stale TTL (`hashTypeGetValue` under `server.loading`), so a later
/// HPERSIST finds nothing to persist and the replayed values expire after the load. Both
/// servers load the same Redis-written dir and must then hold the same hashes.
#[test]
fn hash_fields_expired_by_load_time_replay_as_redis() {
    require_reference();
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--aof-use-rdb-preamble", "no"];
    let expires_at;
    {
        let r = start_aof(Kind::Redis, dir.path(), &extra);
        let mut c = r.client();
        call(&mut c, &["HSET", "h", "f", "5", "k", "old", "live", "1"]);
        call(&mut c, &["HSET", "only", "x", "1"]);
        call(&mut c, &["HPEXPIRE", "h", "1500", "FIELDS", "2", "f", "k"]);
        call(&mut c, &["HPEXPIRE", "only", "1500", "FIELDS", "1", "x"]);
        expires_at = std::time::Instant::now() + Duration::from_millis(1500);
        // While the fields live: f becomes 15, k keeps "old", x becomes 2.5.
        assert_eq!(call(&mut c, &["HINCRBY", "h", "f", "10"]), int(15));
        assert_eq!(call(&mut c, &["HSETNX", "h", "k", "new"]), int(0));
        call(&mut c, &["HINCRBYFLOAT", "only", "x", "1.5"]);
        // Made persistent while live; at replay time the TTL has passed, so Redis's HPERSIST
        // finds no live field and the stale TTL stays: the replayed values then expire.
        call(&mut c, &["HPERSIST", "h", "FIELDS", "1", "f"]);
        call(&mut c, &["HPERSIST", "only", "FIELDS", "1", "x"]);
        let _ = c.call(&["SHUTDOWN", "NOSAVE"]);
    }
    // Load only once every TTL is in the past (plus a margin for a slow machine).
    while std::time::Instant::now() < expires_at + Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let probe = |kind: Kind| -> Vec<Frame> {
        let s = start_aof(kind, dir.path(), &extra);
        let mut c = s.client();
        let mut out = Vec::new();
        for args in [
            &["DEBUG", "DIGEST"][..],
            &["HLEN", "h"],
            &["HLEN", "only"],
            &["HPEXPIRETIME", "h", "FIELDS", "3", "f", "k", "live"],
            &["HGETALL", "h"],
            &["HLEN", "h"],
            &["EXISTS", "only"],
        ] {
            out.push(call(&mut c, args));
        }
        out
    };
    let r = probe(Kind::Redis);
    let p = probe(Kind::Pyrope);
    assert_eq!(p, r, "after replaying an AOF whose field TTLs passed");
}
