//! RDB persistence end to end: SAVE / BGSAVE / SHUTDOWN SAVE write a file that pyrope-server
//! and Redis 7.4.1 load with the same `DEBUG DIGEST`; a file written by Redis 6.2 (ziplist
//! encodings) loads into pyrope with Redis's digest; a damaged file stops the start-up with a
//! message naming the offset.

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use pyrope_tests::*;
use std::time::Duration;

fn digest(c: &mut Client) -> Frame {
    call(c, &["DEBUG", "DIGEST"])
}

fn start_in(kind: Kind, dir: &std::path::Path) -> TestServer {
    TestServer::start(
        kind,
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--enable-debug-command",
            "yes",
        ],
    )
}

#[test]
fn save_restart_and_redis_load_keep_the_digest() {
    require_reference();
    let dir = tempfile::tempdir().unwrap();
    let d0;
    {
        let s = start_in(Kind::Pyrope, dir.path());
        let mut c = s.client();
        fill_dataset(&mut c);
        d0 = digest(&mut c);
        assert_eq!(call(&mut c, &["SAVE"]), Frame::Simple("OK".into()));
        let info = info(&mut c, "persistence");
        assert_eq!(
            info_field(&info, "rdb_changes_since_last_save").as_deref(),
            Some("0")
        );
        assert_eq!(info_field(&info, "rdb_saves").as_deref(), Some("1"));
    }
    let s = start_in(Kind::Pyrope, dir.path());
    let mut c = s.client();
    assert_eq!(digest(&mut c), d0, "pyrope reloading its own file");
    assert_eq!(
        call(&mut c, &["OBJECT", "ENCODING", "bz"]),
        bulk("skiplist")
    );
    assert_eq!(
        call(&mut c, &["OBJECT", "ENCODING", "h"]),
        bulk("listpackex")
    );
    assert!(s
        .log_text()
        .contains("Done loading RDB, keys loaded: 16, keys expired: 0."));
    drop(c);
    drop(s);
    let r = start_in(Kind::Redis, dir.path());
    let mut rc = r.client();
    assert_eq!(digest(&mut rc), d0, "Redis 7.4.1 loading pyrope's file");
}

#[test]
fn bgsave_writes_a_snapshot_in_a_child() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_in(Kind::Pyrope, dir.path());
    let mut c = s.client();
    fill_dataset(&mut c);
    let d0 = digest(&mut c);
    assert_eq!(
        call(&mut c, &["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    assert!(wait_for(Duration::from_secs(60), || {
        let i = info(&mut c, "persistence");
        info_field(&i, "rdb_bgsave_in_progress").as_deref() == Some("0")
            && info_field(&i, "rdb_saves").as_deref() == Some("1")
    }));
    let i = info(&mut c, "persistence");
    assert_eq!(
        info_field(&i, "rdb_last_bgsave_status").as_deref(),
        Some("ok")
    );
    assert_eq!(
        info_field(&info(&mut c, "stats"), "total_forks").as_deref(),
        Some("1")
    );
    // Written after the fork: not in the snapshot.
    call(&mut c, &["SET", "after", "fork"]);
    let _ = c.call(&["SHUTDOWN", "NOSAVE"]);
    drop(c);
    drop(s);
    let s = start_in(Kind::Pyrope, dir.path());
    let mut c = s.client();
    assert_eq!(digest(&mut c), d0);
    assert_eq!(call(&mut c, &["EXISTS", "after"]), int(0));
}

#[test]
fn shutdown_save_and_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start_in(Kind::Pyrope, dir.path());
    let mut c = s.client();
    call(&mut c, &["SET", "k", "v"]);
    assert!(matches!(call(&mut c, &["BGSAVE", "x"]), Frame::Error(_)));
    let _ = c.call(&["SHUTDOWN", "SAVE"]);
    assert!(s.wait_exit(Duration::from_secs(30)).is_some());
    assert!(dir.path().join("dump.rdb").exists());
    let s = start_in(Kind::Pyrope, dir.path());
    let mut c = s.client();
    assert_eq!(call(&mut c, &["GET", "k"]), bulk("v"));
}

#[test]
fn loads_a_redis_6_2_ziplist_file_with_redis_digest() {
    require_reference();
    let src = std::env::var_os("PYROPE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
        })
        .join("corpus/rdb/redis-6.2.14-default.rdb");
    if !src.exists() {
        eprintln!("corpus not found: {}", src.display());
        return;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::copy(&src, a.path().join("dump.rdb")).unwrap();
    std::fs::copy(&src, b.path().join("dump.rdb")).unwrap();
    let p = start_in(Kind::Pyrope, a.path());
    let r = start_in(Kind::Redis, b.path());
    let (mut pc, mut rc) = (p.client(), r.client());
    assert_eq!(digest(&mut pc), digest(&mut rc));
    assert!(!matches!(digest(&mut pc), Frame::Bulk(Some(ref d)) if d.iter().all(|&x| x == b'0')));
}

#[test]
fn a_damaged_file_stops_startup_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = start_in(Kind::Pyrope, dir.path());
        let mut c = s.client();
        fill_dataset(&mut c);
        assert_eq!(call(&mut c, &["SAVE"]), Frame::Simple("OK".into()));
    }
    let path = dir.path().join("dump.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&path, &bytes).unwrap();
    let bin = binary("pyrope-server");
    let out = std::process::Command::new("timeout")
        .arg("60")
        .arg(bin)
        .args(["--port", &free_port().to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("Internal error in RDB reading offset"),
        "{log}"
    );
    assert!(log.contains("Unexpected EOF"), "{log}");
    // The damaged file is left as it was.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn debug_reload_keeps_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_in(Kind::Pyrope, dir.path());
    let mut c = s.client();
    fill_dataset(&mut c);
    let d0 = digest(&mut c);
    assert_eq!(
        call(&mut c, &["DEBUG", "RELOAD"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(digest(&mut c), d0);
    assert_eq!(call(&mut c, &["DBSIZE"]), int(15));
    // NOSAVE reloads the file as it is: a write made since is gone.
    call(&mut c, &["SET", "later", "x"]);
    assert_eq!(
        call(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(call(&mut c, &["EXISTS", "later"]), int(0));
    assert_eq!(digest(&mut c), d0);
    assert!(matches!(
        call(&mut c, &["DEBUG", "RELOAD", "BOGUS"]),
        Frame::Error(e) if e.starts_with(b"ERR DEBUG RELOAD only supports")
    ));
}

/// LRU idle times and LFU counters travel in RDB files (IDLE / FREQ opcodes) both ways: Redis
/// 7.4.1 sets them (RESTORE IDLETIME, repeated reads), pyrope loads them and saves them again,
/// Redis reads pyrope's file back with the same values.
#[test]
fn lru_and_lfu_metadata_survive_save_and_load() {
    require_reference();
    for (policy, field) in [("allkeys-lru", "IDLETIME"), ("allkeys-lfu", "FREQ")] {
        let dir = tempfile::tempdir().unwrap();
        let extra = ["--maxmemory-policy", policy];
        let mut args = vec![
            "--dir",
            dir.path().to_str().unwrap(),
            "--enable-debug-command",
            "yes",
        ];
        args.extend_from_slice(&extra);
        let want: Vec<Frame>;
        {
            let r = TestServer::start(Kind::Redis, &args);
            let mut c = r.client();
            call(&mut c, &["SET", "src", "v"]);
            let Frame::Bulk(Some(payload)) = call(&mut c, &["DUMP", "src"]) else {
                panic!("DUMP")
            };
            for (i, n) in [(0, 1000u32), (1, 5000), (2, 77777)] {
                let k = format!("k{i}");
                let n = n.to_string();
                let args: [&[u8]; 6] = [
                    b"RESTORE",
                    k.as_bytes(),
                    b"0",
                    &payload,
                    b"IDLETIME",
                    n.as_bytes(),
                ];
                let r = c.call(&args).unwrap();
                assert_eq!(r, Frame::Simple(b"OK".to_vec()));
                if policy.ends_with("lfu") {
                    for _ in 0..(i * 40) {
                        call(&mut c, &["GET", &k]);
                    }
                }
            }
            want = (0..3)
                .map(|i| call(&mut c, &["OBJECT", field, &format!("k{i}")]))
                .collect();
            assert_eq!(call(&mut c, &["SAVE"]), Frame::Simple("OK".into()));
        }
        let close = |a: &Frame, b: &Frame| match (a, b) {
            // Idle seconds may tick once between two servers' reads.
            (Frame::Integer(x), Frame::Integer(y)) => (x - y).abs() <= 2,
            _ => false,
        };
        {
            let s = TestServer::start(Kind::Pyrope, &args);
            let mut c = s.client();
            for (i, w) in want.iter().enumerate() {
                let got = call(&mut c, &["OBJECT", field, &format!("k{i}")]);
                assert!(close(&got, w), "{policy} k{i}: pyrope {got:?}, redis {w:?}");
            }
            assert_eq!(call(&mut c, &["SAVE"]), Frame::Simple("OK".into()));
        }
        let r = TestServer::start(Kind::Redis, &args);
        let mut c = r.client();
        for (i, w) in want.iter().enumerate() {
            let got = call(&mut c, &["OBJECT", field, &format!("k{i}")]);
            assert!(
                close(&got, w),
                "{policy} k{i} after pyrope's save: {got:?}, want {w:?}"
            );
        }
    }
}
