//! The sentinel's own RESP server and the event loop that drives everything: one thread, one
//! mio `Poll` with the listeners, the client connections and the outbound links, and the
//! sentinel timer at a randomized `hz` of 10..19 (as Redis's `sentinelTimer` sets
//! `server.hz = CONFIG_DEFAULT_HZ + rand() % CONFIG_DEFAULT_HZ` to desynchronize sentinels).
//!
//! Requests are parsed by [`pyrope_common::resp::RequestParser`] and executed by
//! [`crate::commands`]; replies are buffered per client and written before the loop sleeps.
//! Events the sentinel publishes are delivered to subscribed clients after every step, and the
//! config file is rewritten once per step when the state changed.

use crate::log::mstime;
use crate::state::{Sentinel, LINK_TOKEN_BASE};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use pyrope_common::resp::{encode, request::ArgSource, Parsed, RequestParser};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by SIGTERM / SIGINT.
static SHUTDOWN_SIGNAL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    SHUTDOWN_SIGNAL.store(true, Ordering::SeqCst);
}

/// Installs SIGTERM/SIGINT handlers (graceful shutdown) and ignores SIGPIPE.
pub fn install_signals() {
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
}

/// One connected client of the sentinel.
pub struct Client {
    pub id: u64,
    stream: TcpStream,
    pub addr: SocketAddr,
    pub laddr: Option<SocketAddr>,
    query: Vec<u8>,
    parser: RequestParser,
    /// Pending reply bytes.
    pub out: Vec<u8>,
    /// Protocol version (2 or 3, HELLO).
    pub resp: u8,
    pub name: Option<String>,
    pub authenticated: bool,
    pub channels: Vec<String>,
    pub patterns: Vec<String>,
    /// Close once `out` is written (protocol error, QUIT).
    pub close_after_reply: bool,
    pub ctime: i64,
    pub last_interaction: i64,
    /// Full name of the last command (`client|list`; `NULL` before the first known one).
    pub last_cmd: String,
    /// While a command of this client runs: the bytes of its query buffer (the request
    /// included) and of its arguments, for CLIENT LIST's `qbuf` and `argv-mem`; 0 otherwise.
    pub running_qbuf: usize,
    pub running_argv_mem: usize,
    /// The ACL user the connection is authenticated as (`default` at first).
    pub user: String,
    /// CLIENT SETINFO LIB-NAME / LIB-VER.
    pub lib_name: String,
    pub lib_ver: String,
    /// CLIENT REPLY OFF; CLIENT REPLY SKIP (replies still to drop, this command's included).
    pub reply_off: bool,
    pub reply_skip: u8,
    /// CLIENT NO-EVICT ON (shown as flag `e`; nothing is evicted in a sentinel anyway).
    pub no_evict: bool,
}

impl Client {
    /// The socket's file descriptor (CLIENT LIST `fd=`).
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.stream.as_raw_fd()
    }

    /// Subscriptions (channels + patterns); non-zero puts a RESP2 client in subscribed mode.
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// Counters reported by INFO.
#[derive(Default)]
pub struct Stats {
    pub connections_received: u64,
    pub commands_processed: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub rejected_connections: u64,
    pub error_replies: u64,
}

/// The server: sentinel state, listeners and clients.
pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    pub clients: HashMap<Token, Client>,
    next_client_id: u64,
    pub sentinel: Sentinel,
    pub stats: Stats,
    /// Unix ms at start.
    pub start_time: i64,
    /// This process's run id (INFO `run_id`), distinct from the sentinel id as in Redis.
    pub run_id: String,
    /// SHUTDOWN was requested by a client.
    pub shutdown_asked: bool,
    pub hz: u64,
    pub executable: String,
    /// Bind addresses and port actually listened on.
    pub bind: Vec<String>,
}

const LISTENER_BASE: usize = 1 << 40;

impl Server {
    /// Binds the listeners (`bind` addresses, default 127.0.0.1... Redis binds `* -::*`; we
    /// bind what is configured, or every IPv4 address when nothing is) and builds the state.
    pub fn new(cfg: crate::config::Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let mut binds: Vec<String> = cfg
            .bind
            .iter()
            .map(|b| b.trim_start_matches('-').to_string())
            .collect();
        if binds.is_empty() {
            binds.push("0.0.0.0".to_string());
        }
        let mut listeners = Vec::new();
        for (i, b) in binds.iter().enumerate() {
            let host = if b == "*" {
                "0.0.0.0"
            } else if b == "::*" {
                "::"
            } else {
                b.as_str()
            };
            let addr = crate::link::resolve(host, cfg.port)?;
            let mut l = TcpListener::bind(addr).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "Could not create server TCP listening socket {host}:{}: {e}",
                        cfg.port
                    ),
                )
            })?;
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)?;
            listeners.push(l);
        }
        let sentinel = Sentinel::new(cfg, registry);
        Ok(Server {
            poll,
            listeners,
            clients: HashMap::new(),
            next_client_id: 1,
            sentinel,
            stats: Stats::default(),
            start_time: mstime(),
            run_id: crate::state::random_hex40(),
            shutdown_asked: false,
            hz: 10,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            bind: binds,
        })
    }

    /// Runs until SHUTDOWN or a signal; returns the exit code.
    pub fn run(&mut self) -> i32 {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = mstime();
        loop {
            let now = mstime();
            let wait = (next_tick - now).clamp(0, 100) as u64;
            if let Err(e) = self
                .poll
                .poll(&mut events, Some(Duration::from_millis(wait)))
            {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::log!(Warning, "Event loop error: {e}");
                    return 1;
                }
            }
            for ev in events.iter() {
                let t = ev.token();
                if t.0 >= LINK_TOKEN_BASE {
                    let rel = t.0 - LINK_TOKEN_BASE;
                    self.sentinel.on_link_event((rel / 2) as u64, rel % 2);
                } else if t.0 >= LISTENER_BASE {
                    self.accept(t.0 - LISTENER_BASE);
                } else {
                    self.read_client(t);
                }
            }
            if mstime() >= next_tick {
                self.sentinel.timer();
                // CONFIG_DEFAULT_HZ + rand() % CONFIG_DEFAULT_HZ
                self.hz = 10 + crate::state::rand_below(10) as u64;
                next_tick = mstime() + (1000 / self.hz) as i64;
            }
            self.after_step();
            if SHUTDOWN_SIGNAL.load(Ordering::SeqCst) {
                crate::log!(Warning, "Received SIGTERM scheduling shutdown...");
                return self.shutdown();
            }
            if self.shutdown_asked {
                return self.shutdown();
            }
        }
    }

    fn shutdown(&mut self) -> i32 {
        crate::log!(Notice, "User requested shutdown...");
        let _ = self.sentinel.flush_config();
        if let Some(p) = &self.sentinel.cfg.pidfile {
            let _ = std::fs::remove_file(p);
        }
        crate::log!(Warning, "Sentinel is now ready to exit, bye bye...");
        0
    }

    /// Publishes queued events, flushes the config if dirty, writes replies.
    fn after_step(&mut self) {
        let published = std::mem::take(&mut self.sentinel.published);
        for (ch, msg) in published {
            self.publish(&ch, msg.as_bytes());
        }
        if self.sentinel.config_dirty {
            let _ = self.sentinel.flush_config();
        }
        let tokens: Vec<Token> = self.clients.keys().copied().collect();
        for t in tokens {
            self.write_client(t);
        }
    }

    /// Delivers `msg` on `channel` to subscribers (channel and pattern), as Redis's
    /// `pubsubPublishMessage`; returns the number of receivers.
    pub fn publish(&mut self, channel: &str, msg: &[u8]) -> i64 {
        let mut n = 0;
        for c in self.clients.values_mut() {
            if c.channels.iter().any(|x| x == channel) {
                encode::push(&mut c.out, 3, c.resp);
                encode::bulk(&mut c.out, b"message");
                encode::bulk(&mut c.out, channel.as_bytes());
                encode::bulk(&mut c.out, msg);
                n += 1;
            }
            for p in c.patterns.clone() {
                if pyrope_common::glob::glob_match(p.as_bytes(), channel.as_bytes(), false) {
                    encode::push(&mut c.out, 4, c.resp);
                    encode::bulk(&mut c.out, b"pmessage");
                    encode::bulk(&mut c.out, p.as_bytes());
                    encode::bulk(&mut c.out, channel.as_bytes());
                    encode::bulk(&mut c.out, msg);
                    n += 1;
                }
            }
        }
        n
    }

    fn accept(&mut self, li: usize) {
        loop {
            let (mut stream, addr) = match self.listeners[li].accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    crate::log!(Warning, "Accepting client connection: {e}");
                    return;
                }
            };
            let id = self.next_client_id;
            self.next_client_id += 1;
            let token = Token(id as usize);
            let _ = stream.set_nodelay(true);
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            self.stats.connections_received += 1;
            let now = mstime();
            let laddr = stream.local_addr().ok();
            let mut parser = RequestParser::new();
            let authenticated = self.sentinel.acl.default_auto_auth();
            parser.unauthenticated = !authenticated;
            self.clients.insert(
                token,
                Client {
                    id,
                    stream,
                    addr,
                    laddr,
                    query: Vec::new(),
                    parser,
                    out: Vec::new(),
                    resp: 2,
                    name: None,
                    authenticated,
                    channels: Vec::new(),
                    patterns: Vec::new(),
                    close_after_reply: false,
                    ctime: now,
                    last_interaction: now,
                    last_cmd: "NULL".into(),
                    running_qbuf: 0,
                    running_argv_mem: 0,
                    user: "default".into(),
                    lib_name: String::new(),
                    lib_ver: String::new(),
                    reply_off: false,
                    reply_skip: 0,
                    no_evict: false,
                },
            );
        }
    }

    fn read_client(&mut self, t: Token) {
        let mut closed = false;
        {
            let Some(c) = self.clients.get_mut(&t) else {
                return;
            };
            let mut chunk = [0u8; 16384];
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        c.query.extend_from_slice(&chunk[..n]);
                        self.stats.net_input_bytes += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        self.process_input(t);
        if closed {
            self.close_client(t);
        }
    }

    /// Parses and executes every complete command in the query buffer.
    fn process_input(&mut self, t: Token) {
        loop {
            let Some(c) = self.clients.get_mut(&t) else {
                return;
            };
            if c.close_after_reply {
                return;
            }
            c.parser.unauthenticated = !c.authenticated;
            let parsed = c.parser.parse(&c.query);
            match parsed {
                Ok(Parsed::Incomplete) => return,
                Err(e) => {
                    crate::log!(
                        Verbose,
                        "Protocol error ({e}) from client: id={} addr={}",
                        c.id,
                        c.addr
                    );
                    encode::error(&mut c.out, e.reply_text().as_bytes());
                    c.close_after_reply = true;
                    c.query.clear();
                    c.parser.reset();
                    self.stats.error_replies += 1;
                    return;
                }
                Ok(Parsed::Command { consumed, source }) => {
                    let base: &[u8] = match source {
                        ArgSource::Query => &c.query,
                        ArgSource::Scratch => c.parser.scratch(),
                    };
                    let argv: Vec<Vec<u8>> = c
                        .parser
                        .args()
                        .iter()
                        .map(|r| base[r.clone()].to_vec())
                        .collect();
                    c.running_qbuf = c.query.len();
                    c.running_argv_mem = argv.iter().map(Vec::len).sum();
                    c.query.drain(..consumed);
                    c.last_interaction = mstime();
                    if argv.is_empty() {
                        continue;
                    }
                    self.stats.commands_processed += 1;
                    crate::commands::execute(self, t, &argv);
                    if let Some(c) = self.clients.get_mut(&t) {
                        c.running_qbuf = 0;
                        c.running_argv_mem = 0;
                    }
                }
            }
        }
    }

    fn write_client(&mut self, t: Token) {
        let mut close = false;
        if let Some(c) = self.clients.get_mut(&t) {
            while !c.out.is_empty() {
                match c.stream.write(&c.out) {
                    Ok(0) => {
                        close = true;
                        break;
                    }
                    Ok(n) => {
                        c.out.drain(..n);
                        self.stats.net_output_bytes += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
            }
            if c.out.is_empty() && c.close_after_reply {
                close = true;
            }
        }
        if close {
            self.close_client(t);
        }
    }

    /// Closes a client connection.
    pub fn close_client(&mut self, t: Token) {
        if let Some(mut c) = self.clients.remove(&t) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Number of connected clients.
    pub fn connected_clients(&self) -> usize {
        self.clients.len()
    }

    /// The TCP port we listen on.
    pub fn port(&self) -> u16 {
        self.sentinel.port
    }
}
