//! Helpers for Pyrope's end-to-end tests: build and start the real `pyrope-server` (or the
//! reference Redis 7.4.1) on a free loopback port with a bounded lifetime, and talk to it.
//!
//! Every server a test starts runs under `timeout(1)`, so even a crashed test process cannot
//! leave one behind for long; dropping the handle stops it at once.

pub mod pty;

use pyrope_common::client::Client;
use pyrope_common::resp::Frame;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Longest a test server may live, in seconds.
pub const SERVER_LIFETIME_S: u64 = 900;

/// Where the reference Redis 7.4.1 is installed by `shared/tools/install-references.sh`.
pub const REFERENCE_REDIS: &str = "/opt/redis-7.4/redis-server";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Path of a workspace binary, building it first (once per test process) with the profile
/// the tests were built with, so tests never run a stale binary.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<String>>> = OnceLock::new();
    let lock = BUILT.get_or_init(|| std::sync::Mutex::new(Vec::new()));
    let mut built = lock.lock().unwrap_or_else(|e| e.into_inner());
    let release = !cfg!(debug_assertions);
    let profile = if release { "release" } else { "debug" };
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    let path = target.join(profile).join(name);
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "--quiet", "--bin", name]);
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo build --bin {name} failed");
        built.push(name.to_string());
    }
    path
}

/// A free TCP port on 127.0.0.1 (the OS picks it; a small race with other processes is
/// handled by [`TestServer::start`] retrying).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Which server binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Our pyrope-server.
    Pyrope,
    /// The reference Redis 7.4.1.
    Redis,
}

/// A running server, stopped on drop.
pub struct TestServer {
    pub port: u16,
    pub kind: Kind,
    child: Child,
    /// Captured stdout+stderr file.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// True if the reference Redis is installed.
pub fn reference_available() -> bool {
    std::path::Path::new(REFERENCE_REDIS).exists()
}

/// Redis 7.4.1 and pyrope-server started with the same arguments (`--enable-debug-command
/// yes` plus `extra`), for tests that run the same steps on both and compare what they see.
/// Fails when the reference is not installed.
pub fn both(extra: &[&str]) -> (TestServer, TestServer) {
    require_reference();
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    (TestServer::redis(&args), TestServer::pyrope(&args))
}

/// Polls `cond` every 10 ms for up to 30 s; panics naming `what` when it never holds (time
/// conditions on a shared, sometimes slow machine: never a fixed sleep).
pub fn poll(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A reply's RESP bytes as one line (CRLFs as spaces), for transcripts and messages.
pub fn show(f: &Frame) -> String {
    let mut b = Vec::new();
    f.encode(&mut b);
    String::from_utf8_lossy(&b).replace("\r\n", " ")
}

/// Fails loudly when the reference server is missing (differential tests must not pass
/// silently without it).
pub fn require_reference() {
    assert!(
        reference_available(),
        "\n\n*** The reference Redis 7.4.1 is not installed at {REFERENCE_REDIS}. ***\n*** Run ../shared/tools/install-references.sh (CI does this in .ci/run). ***\n"
    );
}

impl TestServer {
    /// Starts pyrope-server with extra `--directive value` arguments.
    pub fn pyrope(args: &[&str]) -> TestServer {
        Self::start(Kind::Pyrope, args)
    }

    /// Starts the reference Redis 7.4.1 with extra arguments.
    pub fn redis(args: &[&str]) -> TestServer {
        require_reference();
        Self::start(Kind::Redis, args)
    }

    /// Starts a server of `kind` on a free port, waiting until it answers PING.
    pub fn start(kind: Kind, args: &[&str]) -> TestServer {
        let bin = match kind {
            Kind::Pyrope => binary("pyrope-server"),
            Kind::Redis => PathBuf::from(REFERENCE_REDIS),
        };
        for attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let log = dir.path().join("server.log");
            let logf = std::fs::File::create(&log).unwrap();
            let mut cmd = Command::new("timeout");
            cmd.arg("--kill-after=5")
                .arg(SERVER_LIFETIME_S.to_string())
                .arg(&bin);
            // A leading non-option argument is the config file, which must come first.
            let (conf, args) = match args.first() {
                Some(a) if !a.starts_with("--") => (Some(*a), &args[1..]),
                _ => (None, args),
            };
            cmd.args(conf);
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]);
            cmd.args(["--dir", dir.path().to_str().unwrap()]);
            cmd.args(args);
            cmd.current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf);
            let child = cmd.spawn().expect("spawn server");
            let mut s = TestServer {
                port,
                kind,
                child,
                log,
                _dir: dir,
            };
            if s.wait_ready(Duration::from_secs(20)) {
                return s;
            }
            let text = std::fs::read_to_string(&s.log).unwrap_or_default();
            drop(s);
            if attempt == 4 {
                panic!("{kind:?} server did not start:\n{text}");
            }
        }
        unreachable!()
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut c) = Client::connect(&self.addr()) {
                // Any reply (PONG, or NOAUTH with requirepass) means the server is serving,
                // except -LOADING: a server still loading its dataset answers some commands
                // (DEBUG DIGEST among them) on a partial dataset.
                match c.call(&["PING"]) {
                    Ok(Frame::Error(e)) if e.starts_with(b"LOADING") => {}
                    Ok(_) => return true,
                    Err(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `127.0.0.1:port`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A new raw RESP client.
    pub fn client(&self) -> Client {
        let c = Client::connect(&self.addr()).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c
    }

    /// A new client, or None if the server does not accept connections (it exited).
    pub fn client_opt(&self) -> Option<Client> {
        Client::connect(&self.addr()).ok()
    }

    /// A `redis` crate connection.
    pub fn redis_conn(&self) -> redis::Connection {
        let cl = redis::Client::open(format!("redis://{}/", self.addr())).unwrap();
        cl.get_connection().expect("redis crate connects")
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server process itself (not its `timeout(1)` wrapper) with SIGKILL, as a
    /// crash would, and waits for it to be gone. Its pid comes from INFO's `process_id`.
    pub fn kill9(&mut self) {
        let mut c = self.client();
        let pid: i32 = info_field(&info(&mut c, "server"), "process_id")
            .and_then(|p| p.parse().ok())
            .expect("process_id");
        drop(c);
        unsafe {
            libc_kill(pid, 9);
        }
        assert!(
            self.wait_exit(Duration::from_secs(30)).is_some(),
            "the killed server's wrapper did not exit"
        );
    }

    /// Waits up to `within` for the process to exit; returns its status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Surface crashes: a panic in the server would otherwise vanish with the temp dir.
        let log = self.log_text();
        if log.contains("panicked") {
            eprintln!(
                "=== {:?} server log (port {}) ===\n{log}",
                self.kind, self.port
            );
        }
        // timeout(1) forwards SIGTERM to the server.
        unsafe {
            libc_kill(self.child.id() as i32, 15);
        }
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Sends SIGTERM to a child (a `timeout(1)` wrapper forwards it to the program it runs).
pub fn terminate(child: &std::process::Child) {
    unsafe {
        libc_kill(child.id() as i32, 15);
    }
}

/// Polls `cond` every 20 ms until it holds or `within` passes; returns whether it held.
pub fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends one command with a raw client and returns the reply.
pub fn call(c: &mut Client, args: &[&str]) -> Frame {
    c.call(args).expect("reply")
}

/// A bulk-string frame.
pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(Some(s.as_bytes().to_vec()))
}

/// An integer frame.
pub fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

/// Reads `field:value` from an INFO reply text.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

/// INFO text of a server.
pub fn info(c: &mut Client, section: &str) -> String {
    match c.call(&["INFO", section]).expect("info") {
        Frame::Bulk(Some(b)) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO gave {other:?}"),
    }
}

/// A `timeout(1)` command that runs `bin` for at most [`SERVER_LIFETIME_S`] with its output
/// appended to `log`, in `dir`.
fn bounded_command(bin: &std::path::Path, dir: &std::path::Path, log: &std::path::Path) -> Command {
    let logf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = Command::new("timeout");
    cmd.arg("--kill-after=5")
        .arg(SERVER_LIFETIME_S.to_string())
        .arg(bin)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf);
    cmd
}

/// Stops a child started by [`bounded_command`]: SIGTERM (forwarded by `timeout`), up to 5 s
/// to exit, then SIGKILL.
fn stop_child(child: &mut Child) {
    terminate(child);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Debian's Redis 7.0.15 sentinel.
pub const REDIS_SENTINEL_70: &str = "/usr/bin/redis-sentinel";

/// Which sentinel a [`TestSentinel`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentinelKind {
    /// Our pyrope-sentinel.
    Pyrope,
    /// The reference Redis 7.4.1 in sentinel mode (`redis-server sentinel.conf --sentinel`).
    Redis,
    /// Debian's redis-sentinel 7.0.15.
    Redis70,
}

/// A running sentinel with its own config file in a temp dir, stopped on drop (and bounded
/// by `timeout(1)` in any case).
pub struct TestSentinel {
    pub port: u16,
    pub kind: SentinelKind,
    child: Child,
    /// The config file the sentinel reads and rewrites.
    pub conf: PathBuf,
    /// Captured stdout+stderr.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestSentinel {
    /// Starts a sentinel of `kind` on a free port with `body` as the rest of its config file
    /// (`port` and `bind 127.0.0.1` are written first), waiting until it answers PING.
    pub fn start(kind: SentinelKind, body: &str) -> TestSentinel {
        Self::start_with(kind, body, &[])
    }

    /// [`TestSentinel::start`] with extra command-line arguments after the config file.
    pub fn start_with(kind: SentinelKind, body: &str, extra: &[&str]) -> TestSentinel {
        for attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let conf = dir.path().join("sentinel.conf");
            std::fs::write(&conf, format!("port {port}\nbind 127.0.0.1\n{body}")).unwrap();
            let log = dir.path().join("sentinel.log");
            let bin = match kind {
                SentinelKind::Pyrope => binary("pyrope-sentinel"),
                SentinelKind::Redis => {
                    require_reference();
                    PathBuf::from(REFERENCE_REDIS)
                }
                SentinelKind::Redis70 => PathBuf::from(REDIS_SENTINEL_70),
            };
            let mut cmd = bounded_command(&bin, dir.path(), &log);
            cmd.arg(&conf);
            if kind == SentinelKind::Redis {
                cmd.arg("--sentinel");
            }
            cmd.args(extra);
            let child = cmd.spawn().expect("spawn sentinel");
            let mut s = TestSentinel {
                port,
                kind,
                child,
                conf,
                log,
                _dir: dir,
            };
            if s.wait_ready(Duration::from_secs(20)) {
                return s;
            }
            let text = s.log_text();
            drop(s);
            if attempt == 4 {
                panic!("{kind:?} sentinel did not start:\n{text}");
            }
        }
        unreachable!()
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut c) = Client::connect(&format!("127.0.0.1:{}", self.port)) {
                if c.call(&["PING"]).is_ok() {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A new raw RESP client.
    pub fn client(&self) -> Client {
        let c = Client::connect(&format!("127.0.0.1:{}", self.port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c
    }

    /// The sentinel's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The config file as the sentinel last rewrote it.
    pub fn conf_text(&self) -> String {
        std::fs::read_to_string(&self.conf).unwrap_or_default()
    }

    /// Stops the sentinel process (not its `timeout(1)` wrapper) with SIGSTOP for `d`, then
    /// lets it go on with SIGCONT: a stalled process, as a sentinel sees a clock jump.
    pub fn pause(&self, d: Duration) {
        let pid = self.child.id();
        let kids =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let kid: i32 = kids
            .split_whitespace()
            .next()
            .and_then(|k| k.parse().ok())
            .expect("sentinel pid");
        unsafe {
            libc_kill(kid, 19);
        }
        std::thread::sleep(d);
        unsafe {
            libc_kill(kid, 18);
        }
    }
}

impl Drop for TestSentinel {
    fn drop(&mut self) {
        let log = self.log_text();
        if log.contains("panicked") {
            eprintln!(
                "=== {:?} sentinel log (port {}) ===\n{log}",
                self.kind, self.port
            );
        }
        stop_child(&mut self.child);
    }
}

/// A reference Redis 7.4.1 node on a port chosen once, which a test can crash (SIGKILL, no
/// shutdown) and restart on the same port and directory. Runs under `timeout(1)`; stopped on
/// drop.
pub struct RedisNode {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisNode {
    /// Starts a node with extra arguments (e.g. `--replicaof 127.0.0.1 6379`).
    pub fn start(args: &[&str]) -> RedisNode {
        Self::start_fresh(|| args.iter().map(|s| s.to_string()).collect())
    }

    /// Starts a node on a free port with the arguments `args()` gives. A port picked free can
    /// be taken by another process before the node binds it (the machine is shared, and tests
    /// run in parallel), so a node that does not come up is started again on new ports
    /// (`args` is called again, so it can pick new ports too), up to 4 times.
    fn start_fresh(args: impl Fn() -> Vec<String>) -> RedisNode {
        require_reference();
        let mut last_log = String::new();
        for _ in 0..4 {
            let mut n = RedisNode {
                port: free_port(),
                args: args(),
                child: None,
                dir: tempfile::tempdir().unwrap(),
            };
            if n.try_spawn() {
                return n;
            }
            last_log = std::fs::read_to_string(n.dir.path().join("redis.log")).unwrap_or_default();
            if let Some(mut child) = n.child.take() {
                stop_child(&mut child);
            }
        }
        panic!("redis node did not start after 4 attempts; its last log:\n{last_log}");
    }

    fn spawn(&mut self) {
        assert!(
            self.try_spawn(),
            "redis node on {} did not start",
            self.port
        );
    }

    /// Spawns the node and waits (20 s at most) until it answers PING; false if it exited or
    /// never answered.
    fn try_spawn(&mut self) -> bool {
        let log = self.dir.path().join("redis.log");
        let mut cmd = bounded_command(std::path::Path::new(REFERENCE_REDIS), self.dir.path(), &log);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args);
        self.child = Some(cmd.spawn().expect("spawn redis"));
        let addr = self.addr();
        let child = self.child.as_mut().unwrap();
        let mut exited = false;
        let up = wait_for(Duration::from_secs(20), || {
            if matches!(child.try_wait(), Ok(Some(_))) {
                exited = true;
                return true;
            }
            Client::connect(&addr)
                .and_then(|mut c| c.call(&["PING"]))
                .is_ok()
        });
        up && !exited
    }

    /// `127.0.0.1:port`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A new raw RESP client.
    pub fn client(&self) -> Client {
        let c = Client::connect(&self.addr()).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c
    }

    /// Kills the server with SIGKILL (a crash: no shutdown, no final sync), and its
    /// `timeout(1)` wrapper.
    pub fn crash(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        let kids =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for k in kids
            .split_whitespace()
            .filter_map(|k| k.parse::<i32>().ok())
        {
            unsafe {
                libc_kill(k, 9);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let port = self.port;
        assert!(
            wait_for(Duration::from_secs(10), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_err()),
            "crashed node still accepts connections"
        );
    }

    /// Starts the node again on the same port, with the same arguments.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running node");
        self.spawn();
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }
}

impl RedisNode {
    /// Starts a cluster-enabled reference node (`--cluster-enabled yes`, its nodes.conf in
    /// its own dir, a bus port of its own picked free with `--cluster-port`, DEBUG enabled
    /// for DEBUG DIGEST / DIGEST-VALUE) with extra arguments.
    pub fn start_cluster(extra: &[&str]) -> RedisNode {
        Self::start_fresh(|| {
            let mut args: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                &free_port().to_string(),
                "--enable-debug-command",
                "yes",
                "--cluster-node-timeout",
                "5000",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra.iter().map(|s| s.to_string()));
            args
        })
    }

    /// The node's directory (its nodes.conf, log, RDB files).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// `n` cluster-enabled Redis 7.4.1 nodes not yet joined (each a [`RedisNode::start_cluster`]
/// under `timeout(1)`, in its own temp dir), stopped on drop.
pub struct RedisCluster {
    pub nodes: Vec<RedisNode>,
}

impl RedisCluster {
    /// Starts `n` nodes, in parallel.
    pub fn start(n: usize) -> RedisCluster {
        Self::start_with(n, &[])
    }

    /// Starts `n` nodes with extra arguments each.
    pub fn start_with(n: usize, extra: &[&str]) -> RedisCluster {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let extra = extra.clone();
                std::thread::spawn(move || {
                    let e: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
                    RedisNode::start_cluster(&e)
                })
            })
            .collect();
        RedisCluster {
            nodes: handles.into_iter().map(|h| h.join().unwrap()).collect(),
        }
    }

    /// `127.0.0.1:port` of every node, in order.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr()).collect()
    }
}

/// A dataset touching every type and encoding we keep: int/embstr/raw strings, listpack and
/// quicklist lists, intset/listpack/hashtable sets, listpack/skiplist zsets, listpack,
/// listpackex and hashtable hashes (with a field TTL), a stream with a group and a PEL, TTLs,
/// and keys in another db (5). Used by the persistence tests (RDB, AOF, DUMP).
pub fn fill_dataset(c: &mut Client) {
    let cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), "s".into(), "hello".into()],
        vec!["SET".into(), "i".into(), "12345".into()],
        vec!["SET".into(), "raw".into(), "x".repeat(100)],
        vec![
            "RPUSH".into(),
            "l".into(),
            "a".into(),
            "1".into(),
            "".into(),
        ],
        vec![
            "SADD".into(),
            "si".into(),
            "1".into(),
            "2".into(),
            "3".into(),
        ],
        vec!["SADD".into(), "ss".into(), "a".into(), "b".into()],
        vec![
            "ZADD".into(),
            "z".into(),
            "1.5".into(),
            "a".into(),
            "-inf".into(),
            "b".into(),
        ],
        vec![
            "HSET".into(),
            "h".into(),
            "f".into(),
            "v".into(),
            "g".into(),
            "w".into(),
        ],
        vec![
            "HEXPIRE".into(),
            "h".into(),
            "100000".into(),
            "FIELDS".into(),
            "1".into(),
            "f".into(),
        ],
        vec![
            "XADD".into(),
            "st".into(),
            "1-1".into(),
            "f".into(),
            "v".into(),
        ],
        vec![
            "XADD".into(),
            "st".into(),
            "2-1".into(),
            "f".into(),
            "w".into(),
        ],
        vec![
            "XGROUP".into(),
            "CREATE".into(),
            "st".into(),
            "g".into(),
            "0".into(),
        ],
        vec![
            "XREADGROUP".into(),
            "GROUP".into(),
            "g".into(),
            "c1".into(),
            "COUNT".into(),
            "1".into(),
            "STREAMS".into(),
            "st".into(),
            ">".into(),
        ],
        vec!["EXPIRE".into(), "s".into(), "100000".into()],
        vec!["SELECT".into(), "5".into()],
        vec!["SET".into(), "other".into(), "db".into()],
        vec!["SELECT".into(), "0".into()],
    ];
    for cmd in cmds {
        let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        let r = call(c, &args);
        assert!(!matches!(r, Frame::Error(_)), "{cmd:?}: {r:?}");
    }
    for i in 0..600 {
        let (m, v) = (format!("m{i}"), format!("{}", i * 7));
        for args in [
            vec!["ZADD", "bz", &v, &m],
            vec!["SADD", "bs", &m],
            vec!["SADD", "bi", &v],
            vec!["HSET", "bh", &m, &v],
            vec!["RPUSH", "bl", &m, "xxxxxxxxxxxxxxxxxxxx"],
        ] {
            call(c, &args);
        }
    }
    assert_eq!(call(c, &["HSET", "bhttl", "a", "1", "b", "2"]), int(2));
    for i in 0..600 {
        call(c, &["HSET", "bhttl", &format!("f{i}"), "v"]);
    }
    call(c, &["HEXPIRE", "bhttl", "100000", "FIELDS", "1", "f3"]);
}

/// A raw replica connection to a server (the reference, usually), past the initial RDB
/// transfer: what a replica receives of the propagation stream. Used by the propagation,
/// transactions, GEO and DUMP/RESTORE tests.
pub struct ReplicaLink {
    s: TcpStream,
    buf: Vec<u8>,
}

/// A Redis 7.4.1 server set up as the source of a [`ReplicaLink`]: disk-based full sync and
/// no replication PINGs (they would interleave with the commands a test compares), plus
/// `extra` directives.
pub fn replica_source(extra: &[&str]) -> TestServer {
    let mut args = vec![
        "--repl-diskless-sync",
        "no",
        "--repl-ping-replica-period",
        "3600",
    ];
    args.extend_from_slice(extra);
    TestServer::redis(&args)
}

impl ReplicaLink {
    /// Connects to `addr`, sends SYNC and reads past the RDB payload.
    pub fn attach(addr: &str) -> ReplicaLink {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        std::io::Write::write_all(&mut s, b"SYNC\r\n").unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        // Skip newline keepalives, then `$<len>\r\n<rdb>`.
        loop {
            while buf.first() == Some(&b'\n') {
                buf.remove(0);
            }
            if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                assert_eq!(
                    buf[0],
                    b'$',
                    "unexpected SYNC reply {:?}",
                    String::from_utf8_lossy(&buf)
                );
                let len: usize = std::str::from_utf8(&buf[1..end]).unwrap().parse().unwrap();
                if buf.len() >= end + 2 + len {
                    buf.drain(..end + 2 + len);
                    break;
                }
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "replica link closed during SYNC");
            buf.extend_from_slice(&chunk[..n]);
        }
        ReplicaLink { s, buf }
    }

    /// Everything the primary sends until `quiet` passes with nothing new.
    pub fn drain(&mut self, quiet: Duration) -> Vec<u8> {
        self.s.set_read_timeout(Some(quiet)).unwrap();
        let mut chunk = [0u8; 65536];
        while let Ok(n) = self.s.read(&mut chunk) {
            if n == 0 {
                break;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        std::mem::take(&mut self.buf)
    }
}

/// The pid of the program a `timeout(1)` wrapper runs (its only child).
fn wrapped_pid(child: &Child) -> Option<i32> {
    let pid = child.id();
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()
        .and_then(|k| k.parse().ok())
}

impl RedisNode {
    /// Freezes the node with SIGSTOP (a partition: it neither answers nor notices time pass)
    /// until [`RedisNode::resume`]. Panics if the node is not running.
    pub fn freeze(&self) {
        let pid = wrapped_pid(self.child.as_ref().expect("running node")).expect("node pid");
        unsafe {
            libc_kill(pid, 19);
        }
    }

    /// Lets a node stopped by [`RedisNode::freeze`] go on (SIGCONT).
    pub fn resume(&self) {
        let pid = wrapped_pid(self.child.as_ref().expect("running node")).expect("node pid");
        unsafe {
            libc_kill(pid, 18);
        }
    }
}

impl TestSentinel {
    /// Freezes the sentinel with SIGSTOP until [`TestSentinel::resume`] (a partitioned
    /// sentinel; [`TestSentinel::pause`] is the blocking form).
    pub fn freeze(&self) {
        unsafe {
            libc_kill(wrapped_pid(&self.child).expect("sentinel pid"), 19);
        }
    }

    /// Lets a sentinel stopped by [`TestSentinel::freeze`] go on (SIGCONT).
    pub fn resume(&self) {
        unsafe {
            libc_kill(wrapped_pid(&self.child).expect("sentinel pid"), 18);
        }
    }
}
