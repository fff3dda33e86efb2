//! Debian's own redis-cli and redis-benchmark (7.0.15) against pyrope-server: the tools
//! operators already run must work unchanged. Output is compared with what the same tool
//! prints against the reference Redis 7.4.1.

use pyrope_tests::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn tool(name: &str) -> &'static str {
    let path = match name {
        "redis-cli" => "/usr/bin/redis-cli",
        _ => "/usr/bin/redis-benchmark",
    };
    assert!(
        std::path::Path::new(path).exists(),
        "\n*** {path} is missing: install Debian's redis-tools (../shared/tools/install-references.sh) ***\n"
    );
    path
}

fn cli(port: u16, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(tool("redis-cli"))
        .args(["-p", &port.to_string()])
        .args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn redis_cli_argv_and_stdin_output_matches() {
    require_reference();
    let redis = TestServer::redis(&[]);
    let pyrope = TestServer::pyrope(&[]);
    let argv_cases: &[&[&str]] = &[
        &["PING"],
        &["SET", "k", "hello world"],
        &["GET", "k"],
        &["GET", "missing"],
        &["INCR", "n"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["MGET", "k", "missing", "n"],
        &["--no-raw", "MGET", "k", "missing", "n"],
        &["--raw", "GET", "k"],
        &["--csv", "MGET", "k", "n"],
        &["-3", "GET", "k"],
        &["-3", "--no-raw", "CONFIG", "GET", "maxmemory"],
        &["--no-raw", "CONFIG", "GET", "maxmemory"],
        &["SET"],
        &["NOSUCHCOMMAND", "x"],
        &["--no-raw", "GET"],
        &["-n", "2", "SET", "in2", "x"],
        &["-n", "2", "DBSIZE"],
        &["-r", "3", "INCR", "rep"],
        &["--no-raw", "LCS", "k", "k", "IDX"],
        &["EXISTS", "k", "n", "nope"],
    ];
    for args in argv_cases {
        let r = cli(redis.port, args, None);
        let p = cli(pyrope.port, args, None);
        assert_eq!(p, r, "redis-cli {args:?}");
    }
    let script = "SET a 1\nINCR a\nGET a\nSET b \"with space\"\nGET b\nDEL a b\nDBSIZE\nPING\n";
    assert_eq!(
        cli(pyrope.port, &[], Some(script)),
        cli(redis.port, &[], Some(script))
    );
    // -x: last argument from stdin.
    assert_eq!(
        cli(pyrope.port, &["-x", "SET", "fromstdin"], Some("payload")),
        "OK\n"
    );
    assert_eq!(cli(pyrope.port, &["GET", "fromstdin"], None), "payload\n");
}

#[test]
fn redis_cli_scan_and_pipe_modes() {
    require_reference();
    let redis = TestServer::redis(&[]);
    let pyrope = TestServer::pyrope(&[]);
    let mut mass = String::new();
    for i in 0..5000 {
        mass.push_str(&format!(
            "*3\r\n$3\r\nSET\r\n${}\r\nkey{i}\r\n$1\r\nv\r\n",
            3 + i.to_string().len()
        ));
    }
    let r = cli(redis.port, &["--pipe"], Some(&mass));
    let p = cli(pyrope.port, &["--pipe"], Some(&mass));
    assert!(p.contains("errors: 0, replies: 5000"), "{p}");
    assert_eq!(p.lines().last(), r.lines().last());
    let mut rs: Vec<String> = cli(redis.port, &["--scan", "--pattern", "key1*"], None)
        .lines()
        .map(String::from)
        .collect();
    let mut ps: Vec<String> = cli(pyrope.port, &["--scan", "--pattern", "key1*"], None)
        .lines()
        .map(String::from)
        .collect();
    rs.sort();
    ps.sort();
    assert_eq!(ps.len(), 1111);
    assert_eq!(ps, rs);
    let info = cli(pyrope.port, &["INFO", "server"], None);
    assert!(info.contains("redis_version:7.4.0"), "{info}");
}

#[test]
fn redis_benchmark_completes() {
    let s = TestServer::pyrope(&[]);
    let out = Command::new("timeout")
        .arg("300")
        .arg(tool("redis-benchmark"))
        .args([
            "-p",
            &s.port.to_string(),
            "-t",
            "ping,set,get,incr,mset",
            "-n",
            "20000",
            "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for t in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        let line = text
            .split('\r')
            .flat_map(|l| l.split('\n'))
            .filter(|l| l.starts_with(&format!("{t}:")))
            .last();
        let line = line.unwrap_or_else(|| panic!("no final line for {t} in:\n{text}"));
        assert!(line.contains("requests per second"), "{line}");
    }
    let mut c = s.client();
    let st = info(&mut c, "stats");
    let n: u64 = info_field(&st, "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 120_000, "server saw {n} commands");
}
