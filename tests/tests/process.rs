//! The server as a process: command line, config files (including Debian's stock
//! /etc/redis/redis.conf), fatal config errors byte-identical to Redis 7.4.1, daemonizing with a
//! pid file, and log lines in Redis's format.

use pyrope_tests::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn run_capture(bin: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("timeout")
        .arg("30")
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn fatal_config_errors_match_redis() {
    require_reference();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "port 7000\n# comment\nmaxmemroy 1gb\n").unwrap();
    let quotes = dir.path().join("quotes.conf");
    std::fs::write(&quotes, "port 7000\nlogfile \"unterminated\n").unwrap();
    let badval = dir.path().join("badval.conf");
    std::fs::write(&badval, "protected-mode maybe\n").unwrap();
    let pyrope = binary("pyrope-server");
    let redis = std::path::PathBuf::from(REFERENCE_REDIS);
    let cases: Vec<Vec<&str>> = vec![
        vec![bad.to_str().unwrap()],
        vec![quotes.to_str().unwrap()],
        vec![badval.to_str().unwrap()],
        vec!["--port", "7000", "--maxmemroy", "1gb"],
        vec!["--port", "notanumber"],
        vec![bad.to_str().unwrap(), "--port", "7001"],
    ];
    for args in cases {
        let (rc_r, out_r) = run_capture(&redis, &args);
        let (rc_p, out_p) = run_capture(&pyrope, &args);
        assert_eq!((rc_p, out_p.trim()), (rc_r, out_r.trim()), "args {args:?}");
        assert_eq!(rc_p, 1);
    }
}

/// Debian's stock /etc/redis/redis.conf loads, and every parameter both servers know ends up
/// with the same value as on the reference Redis 7.4.1 given the same file and overrides.
#[test]
fn debian_stock_redis_conf_loads() {
    let conf = "/etc/redis/redis.conf";
    assert!(
        std::path::Path::new(conf).exists(),
        "\n*** {conf} is missing: install Debian's redis-server package (../shared/tools/install-references.sh) ***\n"
    );
    // The stock file daemonizes and writes under /var; override exactly those, as an operator
    // running it by hand would (the harness adds --port, --bind, --dir, --save '').
    let args = [conf, "--daemonize", "no", "--pidfile", "", "--logfile", ""];
    let config_of = |s: &TestServer| -> std::collections::BTreeMap<String, String> {
        let mut c = s.client();
        let f = call(&mut c, &["CONFIG", "GET", "*"]);
        let items: Vec<String> = match &f {
            pyrope_common::resp::Frame::Array(Some(a)) => a
                .iter()
                .map(|x| String::from_utf8_lossy(x.as_bytes().unwrap()).into_owned())
                .collect(),
            other => panic!("{other:?}"),
        };
        items
            .chunks(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect()
    };
    let r = TestServer::redis(&args);
    let want = config_of(&r);
    drop(r);
    let p = TestServer::pyrope(&args);
    let got = config_of(&p);
    let mut mismatches = Vec::new();
    for (k, v) in &got {
        // Per-run values: the port, the temp dir.
        if ["port", "dir"].contains(&k.as_str()) {
            continue;
        }
        if let Some(w) = want.get(k) {
            if w != v {
                mismatches.push(format!("{k}: pyrope {v:?} redis {w:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Values the Debian file sets away from the defaults arrived.
    assert_eq!(got["always-show-logo"], "no");
    assert_eq!(got["dbfilename"], "dump.rdb");
    let mut c = p.client();
    assert_eq!(
        call(&mut c, &["SET", "k", "v"]),
        pyrope_common::resp::Frame::Simple(b"OK".to_vec())
    );
    // Nothing in the stock file (nor `save ""`) asks for a feature Pyrope lacks.
    let log = p.log_text();
    assert!(!log.contains("accepted but not supported yet"), "{log}");
}

/// A directive of a feature not built yet is accepted and named in one warning line.
#[test]
fn unsupported_directives_are_accepted_and_logged() {
    let s = TestServer::pyrope(&[
        "--appendonly",
        "yes",
        "--save",
        "900 1",
        "--repl-diskless-sync-delay",
        "7",
    ]);
    let mut c = s.client();
    assert_eq!(
        call(&mut c, &["PING"]),
        pyrope_common::resp::Frame::Simple(b"PONG".to_vec())
    );
    let log = s.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("accepted but not supported yet"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        // RDB snapshots and the AOF are supported: only the replication directive is named.
        line.contains("repl-diskless-sync-delay")
            && !line.contains("save")
            && !line.contains("appendonly"),
        "{line}"
    );
}

/// A daemonized server outlives the launcher: stopped by pid at the end, whatever happens.
struct Daemon(Option<i32>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[test]
fn daemonize_pidfile_and_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("s.pid");
    let logfile = dir.path().join("s.log");
    let port = free_port();
    let st = Command::new("timeout")
        .arg("30")
        .arg(binary("pyrope-server"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
        ])
        .args([
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--logfile",
            logfile.to_str().unwrap(),
        ])
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--loglevel",
            "verbose",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "the launching process exits 0 after forking");
    assert!(wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.trim().parse::<i32>().is_ok())
    }));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _guard = Daemon(Some(pid));
    let mut c = None;
    assert!(wait_for(Duration::from_secs(10), || {
        c = pyrope_common::client::Client::connect(&format!("127.0.0.1:{port}")).ok();
        c.is_some()
    }));
    let mut c = c.unwrap();
    assert_eq!(
        c.call(&["PING"]).unwrap(),
        pyrope_common::resp::Frame::Simple(b"PONG".to_vec())
    );
    let _ = c.send(&["SHUTDOWN"]);
    assert!(wait_for(Duration::from_secs(10), || !std::path::Path::new(
        &format!("/proc/{pid}")
    )
    .exists()));
    assert!(!pidfile.exists(), "pid file removed at shutdown");
    let log = std::fs::read_to_string(&logfile).unwrap();
    // "<pid>:M 02 Dec 2026 15:41:02.123 * message", as redis-server writes.
    let re_ok = log.lines().filter(|l| !l.is_empty()).all(|l| {
        let (p, rest) = l.split_once(':').unwrap_or(("", ""));
        p.parse::<u32>().is_ok()
            && rest.starts_with("M ")
            && rest.len() > 28
            && rest.as_bytes()[4] == b' '
            && rest.as_bytes()[26] == b' '
            && matches!(&rest[27..28], "." | "-" | "*" | "#")
    });
    assert!(re_ok, "log lines not in Redis format:\n{log}");
    assert!(
        log.contains("Ready to accept connections") && log.contains("bye bye"),
        "{log}"
    );
}

#[test]
fn version_and_help() {
    let bin = binary("pyrope-server");
    let (rc, out) = run_capture(&bin, &["--version"]);
    assert_eq!(rc, 0);
    assert!(
        out.starts_with("Pyrope server v=") && out.contains("redis_version=7.4.0"),
        "{out}"
    );
    let (rc, out) = run_capture(&bin, &["--help"]);
    assert_eq!(rc, 0);
    assert!(
        out.contains("Usage: ./pyrope-server [/path/to/redis.conf] [options] [-]"),
        "{out}"
    );
}

/// Fatal start-up errors are logged with Redis's texts: a missing config file, an address that
/// does not parse or cannot be bound, an impossible unix socket, nothing to listen on. The
/// messages (after `pid:role date level`) and exit codes match the reference's.
#[test]
fn fatal_startup_errors_log_as_redis() {
    require_reference();
    let port = free_port().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["/nonexistent/pyrope.conf"],
        vec!["--port", &port, "--bind", "1.2.3.4.5", "--save", ""],
        vec!["--port", &port, "--bind", "203.0.113.5", "--save", ""],
        vec![
            "--port",
            "0",
            "--unixsocket",
            "/nonexistent/dir/s.sock",
            "--save",
            "",
        ],
        vec!["--port", "0", "--save", ""],
    ];
    // "1234:M 04 Dec 2026 16:31:29.994 # text" -> "# text"
    let messages = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.splitn(6, ' ').nth(5).map(str::to_string))
            .filter(|m| m.starts_with('#'))
            // Start-up notes that depend on the machine or the product, not the error.
            .filter(|m| !m.contains("no config file specified") && !m.contains("overcommit"))
            .collect()
    };
    for args in cases {
        let (rc_r, out_r) = run_capture(std::path::Path::new(REFERENCE_REDIS), &args);
        let (rc_p, out_p) = run_capture(&binary("pyrope-server"), &args);
        assert_eq!(rc_p, rc_r, "{args:?}\n{out_p}");
        assert_eq!(messages(&out_p), messages(&out_r), "{args:?}");
        assert!(!messages(&out_p).is_empty(), "{args:?}");
    }
}
