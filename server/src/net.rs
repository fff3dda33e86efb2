//! Networking: listeners (TCP on every `bind` address, unix socket), the mio event loop,
//! reading and parsing client input, writing replies, closing clients, and the per-client
//! parts of the cron (idle timeout, query/output buffer limits).
//!
//! One thread runs the loop: poll, accept, read+parse+execute every complete command of each
//! readable client (pipelining), then — before polling again — write every pending reply
//! directly (Redis's `handleClientsWithPendingWrites` in `beforeSleep`), so a request costs
//! one read and one write syscall and no extra wakeup. The cron runs at `hz`.

use crate::client::{flags, Client, Conn, Input, RunningIo};
use crate::command::{self, Argv};
use crate::log;
use crate::reply::Reply;
use crate::server::Server;
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token};
use pyrope_common::resp::{ArgSource, Parsed};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Redis's read size per readable event (`PROTO_IOBUF_LEN`).
const IOBUF_LEN: usize = 16 * 1024;
/// Bulk arguments at least this big get a read buffer sized for them (`PROTO_MBULK_BIG_ARG`).
const MBULK_BIG_ARG: usize = 32 * 1024;
/// Max bytes written to one client per event-loop iteration before yielding to others
/// (`NET_MAX_WRITES_PER_EVENT`).
const MAX_WRITE_PER_EVENT: usize = 64 * 1024;
/// Listener tokens count down from here; client tokens are slab keys.
const LISTENER_TOKEN_BASE: usize = usize::MAX - 64;

/// The protected-mode refusal, byte-identical to Redis 7.
pub const DENIED_PROTECTED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// The listening sockets (kept in `Server` so CONFIG SET port / bind can rebind them).
#[derive(Default)]
pub struct Listeners {
    /// One per `bind` address, on `port`.
    pub tcp: Vec<TcpListener>,
    /// The `unixsocket`, if configured.
    pub unix: Option<UnixListener>,
}

const UNIX_TOKEN: usize = LISTENER_TOKEN_BASE;

#[inline]
fn tcp_token(i: usize) -> Token {
    Token(LISTENER_TOKEN_BASE - 1 - i)
}

/// The event loop.
pub struct EventLoop {
    poll: Poll,
    /// Listener tokens that hit the per-cycle accept limit and must be drained again.
    accept_pending: Vec<usize>,
}

/// Why the listeners could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A TCP address could not be listened on; `reason` is anet's text (`bind: Address
    /// already in use`, `Name or service not known`).
    #[error("Warning: Could not create server TCP listening socket {addr}:{port}: {reason}")]
    Tcp {
        addr: String,
        port: u16,
        reason: String,
    },
    /// The unix socket could not be created (`bind: No such file or directory`).
    #[error("Failed opening Unix socket: {0}")]
    Unix(String),
    /// Neither a TCP port nor a unix socket is configured.
    #[error("Configured to not listen anywhere, exiting.")]
    Nowhere,
    #[error("{0}")]
    Poll(io::Error),
}

/// Why a listening socket failed: the OS error and anet's text for it (the failing call's
/// name, then strerror: `bind: Address already in use`).
struct AnetError {
    kind: io::ErrorKind,
    text: String,
}

impl AnetError {
    fn at(call: &'static str) -> impl Fn(io::Error) -> AnetError {
        move |e| AnetError {
            kind: e.kind(),
            text: format!("{call}: {}", crate::os_text(&e)),
        }
    }
}

/// Redis's `anetTcpServer`: a non-blocking listener on `addr` (`*`, `::*`, an IP; a leading
/// `-` marks it optional), SO_REUSEADDR, IPV6_V6ONLY for IPv6.
fn tcp_listener(addr: &str, port: u16, backlog: i32) -> Result<TcpListener, AnetError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let host = addr.trim_start_matches('-');
    let ip: std::net::IpAddr = match host {
        "*" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "::*" => std::net::Ipv6Addr::UNSPECIFIED.into(),
        h => h.parse().map_err(|_| AnetError {
            kind: io::ErrorKind::InvalidInput,
            text: "Name or service not known".into(),
        })?,
    };
    let sa = SocketAddr::new(ip, port);
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))
        .map_err(AnetError::at("socket"))?;
    if sa.is_ipv6() {
        sock.set_only_v6(true)
            .map_err(AnetError::at("setsockopt"))?;
    }
    sock.set_reuse_address(true)
        .map_err(AnetError::at("setsockopt SO_REUSEADDR"))?;
    sock.set_nonblocking(true)
        .map_err(AnetError::at("fcntl(F_SETFL,O_NONBLOCK)"))?;
    sock.bind(&sa.into()).map_err(AnetError::at("bind"))?;
    sock.listen(backlog).map_err(AnetError::at("listen"))?;
    Ok(TcpListener::from_std(sock.into()))
}

/// Opens a TCP listener on every `bind` address of the settings. An address prefixed with
/// `-` is optional (skipped when unavailable, as Redis's `-::1`).
fn open_tcp(settings: &crate::config::Settings) -> Result<Vec<TcpListener>, ListenError> {
    let mut out = Vec::new();
    if settings.port == 0 {
        return Ok(out);
    }
    for addr in &settings.bind {
        match tcp_listener(addr, settings.port, settings.tcp_backlog) {
            Ok(l) => out.push(l),
            Err(e)
                if addr.starts_with('-')
                    || (addr == "::*" && e.kind == io::ErrorKind::AddrNotAvailable) =>
            {
                log!(
                    Warning,
                    "Warning: Could not create server TCP listening socket {}:{}: {}",
                    addr.trim_start_matches('-'),
                    settings.port,
                    e.text
                );
            }
            Err(e) => {
                return Err(ListenError::Tcp {
                    addr: addr.clone(),
                    port: settings.port,
                    reason: e.text,
                })
            }
        }
    }
    Ok(out)
}

fn register_tcp(srv: &mut Server) -> io::Result<()> {
    let Some(reg) = srv.registry.as_ref() else {
        return Ok(());
    };
    for (i, l) in srv.listeners.tcp.iter_mut().enumerate() {
        reg.register(l, tcp_token(i), Interest::READABLE)?;
    }
    Ok(())
}

fn describe_listeners(srv: &mut Server) {
    let s = &srv.settings;
    srv.listeners_info.clear();
    if s.port != 0 {
        let binds: Vec<String> = s.bind.iter().map(|b| format!("bind={b}")).collect();
        srv.listeners_info
            .push(format!("name=tcp,{},port={}", binds.join(","), s.port));
    }
    if !s.unixsocket.is_empty() {
        srv.listeners_info
            .push(format!("name=unix,bind={}", s.unixsocket));
    }
}

/// Re-opens the TCP listeners after CONFIG SET port / bind (Redis `changeListener`): the old
/// sockets are closed first; if the new ones cannot be opened, the previous settings are
/// restored and the error returned.
pub fn rebind_tcp(srv: &mut Server, previous: &crate::config::Settings) -> Result<(), ListenError> {
    for l in std::mem::take(&mut srv.listeners.tcp) {
        drop(l);
    }
    match open_tcp(&srv.settings) {
        Ok(v) => {
            srv.listeners.tcp = v;
            register_tcp(srv).map_err(ListenError::Poll)?;
            describe_listeners(srv);
            Ok(())
        }
        Err(e) => {
            if let Ok(v) = open_tcp(previous) {
                srv.listeners.tcp = v;
                let _ = register_tcp(srv);
            }
            Err(e)
        }
    }
}

impl EventLoop {
    /// Opens the listeners described by the settings.
    pub fn open(srv: &mut Server) -> Result<EventLoop, ListenError> {
        let poll = Poll::new().map_err(ListenError::Poll)?;
        srv.registry = Some(poll.registry().try_clone().map_err(ListenError::Poll)?);
        let s = srv.settings.clone();
        srv.listeners.tcp = open_tcp(&s)?;
        register_tcp(srv).map_err(ListenError::Poll)?;
        if !s.unixsocket.is_empty() {
            let _ = std::fs::remove_file(&s.unixsocket);
            let mut l = UnixListener::bind(&s.unixsocket)
                .map_err(|e| ListenError::Unix(format!("bind: {}", crate::os_text(&e))))?;
            if s.unixsocketperm != 0 {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(
                    &s.unixsocket,
                    std::fs::Permissions::from_mode(s.unixsocketperm),
                );
            }
            poll.registry()
                .register(&mut l, Token(UNIX_TOKEN), Interest::READABLE)
                .map_err(ListenError::Poll)?;
            srv.listeners.unix = Some(l);
        }
        if srv.listeners.tcp.is_empty() && srv.listeners.unix.is_none() {
            return Err(ListenError::Nowhere);
        }
        describe_listeners(srv);
        Ok(EventLoop {
            poll,
            accept_pending: Vec::new(),
        })
    }

    /// Runs until SHUTDOWN (or a signal). Returns the exit code.
    pub fn run(&mut self, srv: &mut Server) -> i32 {
        EVENT_LOOP.with(|p| p.set(self as *mut EventLoop));
        let mut events = Events::with_capacity(1024);
        let mut next_cron = Instant::now();
        // The end of the previous iteration stands for "now" before polling: one clock read
        // less per iteration.
        let mut now = next_cron;
        loop {
            before_sleep(srv);
            if let Some(code) = srv.shutdown {
                return code;
            }
            if crate::signals::take_shutdown_request() {
                log!(Warning, "Received SIGTERM scheduling shutdown...");
                if let Ok(code) =
                    crate::shutdown::prepare_shutdown(srv, crate::shutdown::How::default())
                {
                    return code;
                }
            }
            let period = Duration::from_micros(1_000_000 / srv.hz.max(1) as u64);
            let timeout = if !self.accept_pending.is_empty()
                || !srv.pending_input.is_empty()
                || !srv.pending_writes.is_empty()
                || srv.evict.timer
            {
                Duration::ZERO
            } else {
                let mut t = next_cron.saturating_duration_since(now).min(period);
                // Wake for the nearest blocked client's deadline or the end of a pause, to
                // the ms (the clock is wall time; `now_ms` was read this iteration).
                let deadline = [srv.blocking.next_deadline(), Some(srv.pause.until_ms)]
                    .into_iter()
                    .flatten()
                    .filter(|&ms| ms > 0)
                    .min();
                if let Some(ms) = deadline {
                    srv.update_time();
                    let left = (ms - srv.now_ms).max(0) as u64;
                    t = t.min(Duration::from_millis(left));
                }
                t
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log!(Warning, "poll failed: {e}");
                }
            }
            let loop_start = Instant::now();
            srv.set_time(loop_start);
            srv.stats.eventloop_cycles += 1;
            self.dispatch(srv, &events, None);
            for l in std::mem::take(&mut self.accept_pending) {
                self.accept(srv, l);
            }
            for k in std::mem::take(&mut srv.reread) {
                if srv.clients.contains(k) {
                    read_from_client(srv, k, false);
                }
            }
            for k in std::mem::take(&mut srv.pending_input) {
                if srv.clients.contains(k) {
                    process_input(srv, k);
                }
            }
            // The eviction timer (`evictionTimeProc`) runs every iteration while armed.
            crate::evict::timer_proc(srv);
            now = Instant::now();
            if now >= next_cron {
                srv.cron();
                now = Instant::now();
                next_cron = now + Duration::from_micros(1_000_000 / srv.hz.max(1) as u64);
            }
            srv.stats.eventloop_duration_sum_us +=
                now.saturating_duration_since(loop_start).as_micros() as u64;
        }
    }

    /// One round of event processing while a command runs long (Redis
    /// `processEventsWhileBlocked`, called by a busy script): accept, read and process other
    /// clients' input — `process_command` answers -BUSY to all but the few commands allowed
    /// then — and write their replies. The client running the long command (`protected`) is
    /// neither read nor closed; a readable event of it is kept for the next loop iteration.
    /// Nothing else of `before_sleep` runs (no expiry, no AOF flush, no blocked clients).
    fn process_events_while_blocked(&mut self, srv: &mut Server, protected: usize) {
        let mut events = Events::with_capacity(256);
        for _ in 0..4 {
            if self.poll.poll(&mut events, Some(Duration::ZERO)).is_err() {
                return;
            }
            let any = !events.is_empty();
            self.dispatch(srv, &events, Some(protected));
            write_pending(srv);
            close_pending(srv, Some(protected));
            if !any {
                return;
            }
        }
    }

    /// Handles one poll's events: accepts on listeners, queues writes, reads (and so
    /// processes) clients. A readable event of `protected` (the client running a busy
    /// script) is not read but kept in `Server::reread` for the next loop iteration.
    fn dispatch(&mut self, srv: &mut Server, events: &Events, protected: Option<usize>) {
        for ev in events.iter() {
            let t = ev.token().0;
            if t > LISTENER_TOKEN_BASE - 64 {
                self.accept(srv, t);
                continue;
            }
            if !srv.clients.contains(t) {
                continue;
            }
            if Some(t) == protected {
                if !srv.reread.contains(&t) {
                    srv.reread.push(t);
                }
                continue;
            }
            if ev.is_writable() && srv.clients[t].pending_output() > 0 {
                queue_write(srv, t);
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                // When the peer has closed, read until EOF even after a short read: no
                // further edge will come.
                read_from_client(srv, t, ev.is_read_closed() || ev.is_error());
            }
        }
    }

    /// Accepts connections on the listener with token `t`.
    fn accept(&mut self, srv: &mut Server, t: usize) {
        let limit = srv.settings.max_new_connections_per_cycle.max(1) * 100;
        for _ in 0..limit {
            let accepted = if t == UNIX_TOKEN {
                srv.listeners.unix.as_ref().map(|l| (None, Some(l)))
            } else {
                srv.listeners
                    .tcp
                    .get(LISTENER_TOKEN_BASE - 1 - t)
                    .map(|l| (Some(l), None))
            };
            let Some((tcp, unix_l)) = accepted else {
                return;
            };
            let (conn, addr, laddr, unix) = match (tcp, unix_l) {
                (Some(l), _) => match l.accept() {
                    Ok((s, peer)) => {
                        let _ = s.set_nodelay(true);
                        if srv.settings.tcp_keepalive_s > 0 {
                            let sock = socket2::SockRef::from(&s);
                            let ka = socket2::TcpKeepalive::new()
                                .with_time(Duration::from_secs(srv.settings.tcp_keepalive_s as u64))
                                .with_interval(Duration::from_secs(
                                    (srv.settings.tcp_keepalive_s as u64 / 3).max(1),
                                ))
                                // Redis anetKeepAlive: TCP_KEEPCNT 3.
                                .with_retries(3);
                            let _ = sock.set_tcp_keepalive(&ka);
                        }
                        let local = s.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
                        (Conn::Tcp(s), fmt_addr(&peer), local, false)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) => {
                        log!(Verbose, "Accepting client connection: {e}");
                        return;
                    }
                },
                (None, Some(l)) => match l.accept() {
                    Ok((s, _)) => {
                        let path = srv.settings.unixsocket.clone();
                        (
                            Conn::Unix(s),
                            format!("{path}:0"),
                            format!("{path}:0"),
                            true,
                        )
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) => {
                        log!(Verbose, "Accepting client connection: {e}");
                        return;
                    }
                },
                (None, None) => return,
            };
            self.add_client(srv, conn, addr, laddr, unix);
        }
        self.accept_pending.push(t);
    }

    fn add_client(
        &mut self,
        srv: &mut Server,
        mut conn: Conn,
        addr: String,
        laddr: String,
        unix: bool,
    ) {
        if srv.clients.len() as u64 >= srv.settings.maxclients {
            let _ = conn.write(b"-ERR max number of clients reached\r\n");
            srv.stats.rejected_connections += 1;
            return;
        }
        if srv.settings.protected_mode
            && srv.settings.requirepass.is_empty()
            && !unix
            && !is_loopback(&addr)
        {
            let _ = conn.write(DENIED_PROTECTED.as_bytes());
            srv.stats.rejected_connections += 1;
            return;
        }
        // Refused connections are not counted (Redis counts in clientAcceptHandler).
        srv.stats.total_connections_received += 1;
        let id = srv.next_id();
        let need_auth = srv.acl.default_needs_auth();
        let entry = srv.clients.vacant_entry();
        let key = entry.key();
        let token = Token(key);
        let reg = match &mut conn {
            Conn::Tcp(s) => self.poll.registry().register(s, token, Interest::READABLE),
            Conn::Unix(s) => self.poll.registry().register(s, token, Interest::READABLE),
        };
        if let Err(e) = reg {
            log!(
                Warning,
                "Error registering fd event for the new client: {e}"
            );
            return;
        }
        let mut c = Client::new(id, Some(conn), addr, laddr, srv.now_ms, need_auth);
        if unix {
            c.flags |= flags::UNIX_SOCKET;
        }
        entry.insert(c);
    }
}

thread_local! {
    /// The running event loop, for [`process_events_while_blocked`].
    static EVENT_LOOP: std::cell::Cell<*mut EventLoop> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Processes other clients' events while client `protected` runs a long command (a busy
/// script): see [`EventLoop::process_events_while_blocked`]. Returns false, doing nothing,
/// outside the event loop (tests, the harness).
pub fn process_events_while_blocked(srv: &mut Server, protected: usize) -> bool {
    let el = EVENT_LOOP.with(|p| p.get());
    if el.is_null() {
        return false;
    }
    // SAFETY: the loop's `run` is suspended below us on this thread (it called into the
    // command that is now blocked), so nothing else uses the EventLoop meanwhile.
    unsafe { (*el).process_events_while_blocked(srv, protected) };
    true
}

/// True for a peer Redis calls local (`connSocketIsLocal`): an IPv4 address in 127.0.0.0/8
/// or exactly `::1` (an IPv4-mapped `::ffff:127.x` is not). `addr` is as [`fmt_addr`] prints.
pub fn is_loopback(addr: &str) -> bool {
    let host = match addr.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(h, _)| h).unwrap_or(rest),
        None => addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr),
    };
    host.starts_with("127.") || host == "::1"
}

/// `ip:port`, IPv6 addresses in brackets (`[::1]:6379`), as Redis 7.2+ `anetFormatAddr`.
pub fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// Puts a client in the pending-write list.
#[inline]
pub fn queue_write(srv: &mut Server, k: usize) {
    let c = &mut srv.clients[k];
    if c.flags & flags::PENDING_WRITE == 0 {
        c.flags |= flags::PENDING_WRITE;
        srv.pending_writes.push(k);
    }
}

/// Schedules a client to be closed before the loop sleeps, without writing its output.
pub fn close_async(srv: &mut Server, k: usize) {
    if let Some(c) = srv.clients.get_mut(k) {
        c.flags |= flags::CLOSE_ASAP;
        if c.flags & flags::CLOSING == 0 {
            c.flags |= flags::CLOSING;
            srv.to_close.push(k);
        }
    }
}

fn read_from_client(srv: &mut Server, k: usize, until_eof: bool) {
    loop {
        let c = &mut srv.clients[k];
        if c.flags & (flags::CLOSE_ASAP | flags::CLOSE_AFTER_REPLY) != 0 {
            return;
        }
        let mut want = IOBUF_LEN;
        if let Some(len) = c.input.parser.pending_bulk_len() {
            if len >= MBULK_BIG_ARG {
                let have = c.input.qbuf.len() - c.input.pos;
                want = (len + 2).saturating_sub(have).max(IOBUF_LEN);
            }
        }
        // Compact before growing: drop consumed bytes.
        if c.input.pos > 0 {
            c.input.qbuf.drain(..c.input.pos);
            c.input.pos = 0;
        }
        let Some(conn) = c.conn.as_mut() else { return };
        match conn.read_into(&mut c.input.qbuf, want) {
            Ok(0) => {
                log!(
                    Verbose,
                    "Client closed connection id={} addr={}",
                    c.id,
                    c.addr
                );
                close_async(srv, k);
                return;
            }
            Ok(n) => {
                c.qbuf_peak = c.qbuf_peak.max(c.input.qbuf.len());
                c.net_in += n as u64;
                c.last_interaction_ms = srv.now_ms;
                srv.stats.total_net_input_bytes += n as u64;
                srv.stats.total_reads_processed += 1;
                // As Redis: only bytes not yet parsed into arguments count against the limit.
                let unparsed = c.input.qbuf.len() - c.input.pos - c.input.parser.parsed_len();
                let over = unparsed as u64 > srv.settings.client_query_buffer_limit;
                if over {
                    log!(Warning, "Closing client that reached max query buffer length: {} (qbuf initial bytes: {:?})", c.info_line(srv.now_ms, &srv.commands, None), String::from_utf8_lossy(&c.input.qbuf[..c.input.qbuf.len().min(64)]));
                    srv.stats.client_query_buffer_limit_disconnections += 1;
                    close_async(srv, k);
                    return;
                }
                if srv.settings.maxmemory_clients != 0 && evict_clients(srv, Some(k)) {
                    return;
                }
                process_input(srv, k);
                // A short read means the socket is drained (edge-triggered: the next data
                // brings a new event).
                if (n < want && !until_eof) || !srv.clients.contains(k) {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log!(Verbose, "Reading from client: {e}");
                close_async(srv, k);
                return;
            }
        }
    }
}

/// Parses and executes every complete command buffered for client `k`.
pub fn process_input(srv: &mut Server, k: usize) {
    process_commands(srv, k, usize::MAX);
}

/// Runs again the command a client was blocked on (its key is ready: see `blocking`), and
/// only that one; the rest of its input is processed on the next loop iteration (Redis
/// `queueClientForReprocessing`), so serving waiters never nests into their pipelines.
pub fn process_blocked_command(srv: &mut Server, k: usize) {
    process_commands(srv, k, 1);
    if let Some(c) = srv.clients.get(k) {
        if c.flags & flags::BLOCKED == 0 && c.input.qbuf.len() > c.input.pos {
            srv.pending_input.push(k);
        }
    }
}

/// Parses and executes up to `max` complete commands buffered for client `k`.
fn process_commands(srv: &mut Server, k: usize, max: usize) {
    let c = &mut srv.clients[k];
    if c.flags & (flags::CLOSE_ASAP | flags::CLOSE_AFTER_REPLY | flags::BLOCKED) != 0 {
        return;
    }
    let mut input: Input = std::mem::take(&mut c.input);
    let resp = c.out.resp;
    let mut out: Reply = std::mem::replace(
        &mut c.out,
        Reply {
            resp,
            ..Default::default()
        },
    );
    let had_output = out.buf.len();
    srv.batch_clock = None;
    let mut ran = 0;
    while ran < max {
        let buf = &input.qbuf[input.pos..];
        if buf.is_empty() {
            break;
        }
        // The pre-AUTH limits follow the client's state, which the previous command (AUTH,
        // HELLO AUTH, RESET) or a CONFIG SET requirepass may just have changed.
        input.parser.unauthenticated = srv.auth_required(k);
        match input.parser.parse(buf) {
            Ok(Parsed::Incomplete) => break,
            Ok(Parsed::Command { consumed, source }) => {
                if input.parser.args().is_empty() {
                    input.pos += consumed;
                    continue;
                }
                let base: &[u8] = match source {
                    ArgSource::Query => &input.qbuf[input.pos..],
                    ArgSource::Scratch => input.parser.scratch(),
                };
                let argv = Argv::new(base, input.parser.args());
                ran += 1;
                // CLIENT LIST / INFO of this client, while its buffers are out here.
                let argv_mem = input.parser.args().iter().map(|r| r.len()).sum();
                srv.running_io = RunningIo {
                    k,
                    qbuf_len: input.qbuf.len(),
                    qbuf_cap: input.qbuf.capacity(),
                    argv_mem,
                    argc: argv.len(),
                    out_cap: out.buf.capacity(),
                    out_len: out.buf.len(),
                };
                let outcome = command::call::process_command(srv, k, argv, &mut out);
                srv.running_io.k = usize::MAX;
                match outcome {
                    command::call::Outcome::Done => input.pos += consumed,
                    outcome => {
                        // Blocked or postponed: the command stays at the head of the buffer
                        // and runs again when the client is unblocked (`blocking`).
                        let argc = input.parser.args().len();
                        input.parser.reset();
                        if let command::call::Outcome::Postponed = outcome {
                            crate::blocking::postpone(srv, k);
                        }
                        if let Some(b) = srv.clients[k].block.as_mut() {
                            b.cmd_len = consumed;
                            b.argv_mem = argv_mem;
                            b.argc = argc;
                        }
                        break;
                    }
                }
                // Messages delivered to this client while its reply buffer was out (pub/sub
                // from the waiters its command just served) follow that command's reply.
                let c = &mut srv.clients[k];
                if !c.out.buf.is_empty() {
                    out.buf.append(&mut c.out.buf);
                }
                if c.flags & (flags::CLOSE_AFTER_REPLY | flags::CLOSE_ASAP) != 0 {
                    break;
                }
            }
            Err(e) => {
                let text = e.reply_text();
                log!(
                    Verbose,
                    "Protocol error ({}) from client: id={} addr={}",
                    e,
                    srv.clients[k].id,
                    srv.clients[k].addr
                );
                out.error(&text);
                srv.count_errors(&mut out.errors);
                srv.clients[k].flags |= flags::CLOSE_AFTER_REPLY;
                input.pos = input.qbuf.len();
                input.parser.reset();
                break;
            }
        }
    }
    srv.batch_clock = None;
    let c = &mut srv.clients[k];
    if input.pos == input.qbuf.len() {
        input.qbuf.clear();
        input.pos = 0;
        if input.qbuf.capacity() > 4 * IOBUF_LEN && !input.parser.in_progress() {
            input.qbuf = Vec::with_capacity(IOBUF_LEN);
        }
    }
    c.input = input;
    let detached = std::mem::replace(&mut c.out, out);
    c.out.buf.extend_from_slice(&detached.buf);
    c.out_peak = c.out_peak.max(c.out.buf.len());
    if c.out.buf.len() != had_output || c.flags & flags::CLOSE_AFTER_REPLY != 0 {
        queue_write(srv, k);
    }
}

/// Writes as much pending output of client `k` as the socket takes. Returns false if the
/// client was closed.
fn write_to_client(srv: &mut Server, k: usize) -> bool {
    let c = &mut srv.clients[k];
    let mut written = 0;
    let Some(conn) = c.conn.as_mut() else {
        // A socketless client's replies are read by its owner from `out`.
        return true;
    };
    c.out_peak = c.out_peak.max(c.out.buf.len());
    while c.out.buf.len() > c.sent {
        match conn.write(&c.out.buf[c.sent..]) {
            Ok(0) => break,
            Ok(n) => {
                c.sent += n;
                written += n;
                if written >= MAX_WRITE_PER_EVENT && c.out.buf.len() > c.sent {
                    // Be fair: continue on the next iteration.
                    srv.stats.total_net_output_bytes += written as u64;
                    c.net_out += written as u64;
                    srv.stats.total_writes_processed += 1;
                    srv.pending_writes.push(k);
                    c.flags |= flags::PENDING_WRITE;
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !c.want_write {
                    if let Some(r) = &srv.registry {
                        let _ =
                            conn.reregister(r, Token(k), Interest::READABLE | Interest::WRITABLE);
                    }
                    c.want_write = true;
                }
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log!(Verbose, "Error writing to client: {e}");
                close_async(srv, k);
                return false;
            }
        }
    }
    srv.stats.total_net_output_bytes += written as u64;
    c.net_out += written as u64;
    if written > 0 {
        srv.stats.total_writes_processed += 1;
    }
    if c.pending_output() == 0 {
        c.out.buf.clear();
        c.sent = 0;
        if c.want_write {
            if let Some(r) = &srv.registry {
                if let Some(conn) = c.conn.as_mut() {
                    let _ = conn.reregister(r, Token(k), Interest::READABLE);
                }
            }
            c.want_write = false;
        }
        if c.out.buf.capacity() > 1024 * 1024 {
            c.out.buf = Vec::with_capacity(1024);
        }
        if c.flags & flags::CLOSE_AFTER_REPLY != 0 {
            close_async(srv, k);
            return false;
        }
    } else if c.sent > 1024 * 1024 && c.sent * 2 > c.out.buf.len() {
        c.out.buf.drain(..c.sent);
        c.sent = 0;
    }
    true
}

/// Runs before the loop sleeps: writes pending replies, closes dead clients, runs the fast
/// active-expire cycle.
fn before_sleep(srv: &mut Server) {
    // Blocked clients whose deadline passed, a pause that ended, keys made ready outside a
    // command (expiry): their replies go out with this iteration's writes.
    crate::blocking::handle_timeouts(srv);
    if srv.pause.until_ms != 0 && srv.pause.until_ms <= srv.now_ms {
        crate::client::unpause(srv);
    }
    crate::blocking::handle_ready_keys(srv);
    if srv.active_expire_enabled {
        crate::expire::active_expire_cycle(srv, crate::expire::CycleKind::Fast);
    }
    // BCAST invalidations and the tracking table's size limit (after expiry's invalidations).
    crate::tracking::before_sleep(srv);
    // The AOF is written (and under `appendfsync always` fsynced) before any reply goes
    // out: a client hears of a write only once it is in the file.
    crate::aof::flush(srv, false);
    write_pending(srv);
    close_pending(srv, None);
}

/// Writes every client queued for writing. Clients that yield for fairness re-queue
/// themselves and are served on the next iteration (the poll then does not wait).
fn write_pending(srv: &mut Server) {
    for k in std::mem::take(&mut srv.pending_writes) {
        let Some(c) = srv.clients.get_mut(k) else {
            continue;
        };
        c.flags &= !flags::PENDING_WRITE;
        if c.flags & flags::CLOSE_ASAP != 0 {
            continue;
        }
        write_to_client(srv, k);
    }
}

/// Frees the clients queued for closing, except `keep` (a client running a busy script
/// stays queued until its command ends).
fn close_pending(srv: &mut Server, keep: Option<usize>) {
    let mut kept = Vec::new();
    for k in std::mem::take(&mut srv.to_close) {
        if Some(k) == keep {
            kept.push(k);
            continue;
        }
        if srv.clients.contains(k) {
            crate::pubsub::unsubscribe_all(srv, k);
            crate::blocking::forget(srv, k);
            crate::multi::free_client(srv, k);
            crate::tracking::disable(srv, k);
            crate::monitor::stop(srv, k);
            let c = srv.clients.remove(k);
            log!(Verbose, "Client id={} addr={} closed", c.id, c.addr);
            srv.pending_writes.retain(|x| *x != k);
            drop(c);
        }
    }
    srv.to_close = kept;
}

/// Per-client cron work: idle timeouts, output buffer limits (a soft limit can expire with
/// no new output), query buffer shrinking.
pub fn clients_cron(srv: &mut Server) {
    let now = srv.now_ms;
    let timeout_ms = srv.settings.timeout_s * 1000;
    let mut idle = Vec::new();
    let mut all = Vec::with_capacity(srv.clients.len());
    let mut max_in = 0;
    let mut max_out = 0;
    for (k, c) in srv.clients.iter_mut() {
        if c.conn.is_none() {
            continue;
        }
        all.push(k);
        // As Redis's clientsCronTrackExpansiveClients: the query buffer's allocation, the
        // output beyond the static reply buffer.
        max_in = max_in.max(c.input.qbuf.capacity());
        max_out = max_out.max(obuf_usage(c.pending_output()));
        if timeout_ms > 0 && now - c.last_interaction_ms > timeout_ms && !c.subs.any() {
            idle.push(k);
            continue;
        }
        resize_query_buffer(c, now);
        let (shrunk, grown) = resize_reply_buffer(
            c,
            now,
            srv.reply_buffer_peak_reset_ms,
            srv.reply_buffer_resizing,
        );
        srv.stats.reply_buffer_shrinks += shrunk as u64;
        srv.stats.reply_buffer_expands += grown as u64;
    }
    srv.track_recent_buffers(max_in, max_out);
    if srv.settings.maxmemory_clients != 0 {
        evict_clients(srv, None);
    }
    for k in idle {
        log!(Verbose, "Closing idle client");
        close_async(srv, k);
    }
    for k in all {
        if srv.clients.contains(k) && srv.clients[k].flags & flags::CLOSE_ASAP == 0 {
            enforce_output_limits(srv, k);
        }
    }
}

/// The client memory limit of `maxmemory-clients` in bytes (Redis `getClientEvictionLimit`):
/// the bytes given, or the percentage of `maxmemory`; never under 8 MiB (1024 * 128 * 64),
/// so a bad setting cannot cut every client off; 0 when off.
pub fn client_eviction_limit(srv: &Server) -> usize {
    let v = srv.settings.maxmemory_clients;
    let limit = if v < 0 {
        (srv.settings.maxmemory as u128 * (-v) as u128 / 100) as usize
    } else {
        v as usize
    };
    if limit == 0 {
        0
    } else {
        limit.max(1024 * 128 * 64)
    }
}

/// Client eviction (Redis `evictClients`): while the memory of the connected normal and
/// pub/sub clients together reaches `maxmemory-clients`, frees the largest client that
/// allows eviction (not CLIENT NO-EVICT), logging it and counting INFO `evicted_clients`.
/// Returns true if client `me` was among them (its command must not run).
pub fn evict_clients(srv: &mut Server, me: Option<usize>) -> bool {
    let limit = client_eviction_limit(srv);
    if limit == 0 {
        return false;
    }
    let mut total = 0;
    let mut evictable: Vec<(usize, usize)> = Vec::new();
    for (k, c) in srv.clients.iter() {
        if c.conn.is_none() || c.flags & (flags::CLOSE_ASAP | flags::CLOSING) != 0 {
            continue;
        }
        let io = (srv.running_io.k == k).then_some(&srv.running_io);
        let mem = c.memory_usage(io);
        total += mem;
        if c.flags & flags::NO_EVICT == 0 {
            evictable.push((mem, k));
        }
    }
    if total < limit {
        return false;
    }
    evictable.sort_unstable_by(|a, b| b.cmp(a));
    let mut hit_me = false;
    let mut victims = evictable.into_iter();
    while total >= limit {
        let Some((mem, k)) = victims.next() else {
            log!(
                Warning,
                "Over client maxmemory after evicting all evictable clients"
            );
            break;
        };
        log!(Notice, "Evicting client: {}", srv.client_info_line(k));
        total -= mem;
        srv.stats.evicted_clients += 1;
        hit_me |= Some(k) == me;
        close_async(srv, k);
    }
    hit_me
}

/// Gives back query buffer memory a client does not use (Redis 7.4
/// `clientsCronResizeQueryBuffer`): with more than 4 KiB spare, an idle client (over 2 s)
/// loses its buffer if nothing is pending (or keeps only what is), and a buffer over 32 KiB
/// twice its recent peak shrinks to that peak (never below the pending bytes or the bulk
/// being read). The peak then restarts from the current length.
fn resize_query_buffer(c: &mut Client, now_ms: i64) {
    const RESIZE_THRESHOLD: usize = 32 * 1024;
    let input = &mut c.input;
    let cap = input.qbuf.capacity();
    if cap - input.qbuf.len() > 4 * 1024 {
        if now_ms - c.last_interaction_ms > 2000 {
            if input.qbuf.len() == input.pos {
                input.qbuf = Vec::new();
                input.pos = 0;
            } else {
                input.qbuf.shrink_to_fit();
            }
        } else if cap > RESIZE_THRESHOLD && cap / 2 > c.qbuf_peak {
            let mut want = input.qbuf.len().max(c.qbuf_peak);
            if let Some(bulk) = input.parser.pending_bulk_len() {
                want = want.max(bulk + 2);
            }
            input.qbuf.shrink_to(want);
        }
    }
    c.qbuf_peak = input.qbuf.len();
    if let Some(bulk) = input.parser.pending_bulk_len() {
        c.qbuf_peak = c.qbuf_peak.max(bulk + 2);
    }
}

/// Resizes a client's reply buffer to its recent use (Redis `clientsCronResizeOutputBuffer`):
/// shrinks it to `max(1 KiB, peak + 1)` when the peak stayed under half its capacity, grows
/// a small buffer that filled up (up to 16 KiB), and restarts the peak every `reset_ms`
/// (-1: never). Returns (shrunk, grown).
fn resize_reply_buffer(c: &mut Client, now_ms: i64, reset_ms: i64, enabled: bool) -> (bool, bool) {
    const MIN: usize = 1024;
    const CHUNK: usize = 16 * 1024;
    let cap = c.out.buf.capacity();
    let len = c.out.buf.len();
    c.out_peak = c.out_peak.max(len);
    let mut res = (false, false);
    if enabled {
        if cap / 2 >= MIN && c.out_peak < cap / 2 {
            c.out.buf.shrink_to(MIN.max(c.out_peak + 1).max(len));
            res.0 = true;
        } else if cap * 2 < CHUNK * 2 && c.out_peak == cap {
            c.out.buf.reserve_exact(CHUNK.min(cap * 2) - len);
            res.1 = true;
        }
    }
    if reset_ms >= 0 && now_ms - c.out_peak_reset_ms >= reset_ms {
        c.out_peak = len;
        c.out_peak_reset_ms = now_ms;
    }
    res
}

/// Output-buffer usage as Redis counts it for limits: only what overflows the 16 KiB static
/// reply buffer (`PROTO_REPLY_CHUNK_BYTES`) lands in the reply list, and only that counts.
fn obuf_usage(pending: usize) -> usize {
    pending.saturating_sub(16 * 1024)
}

/// The `client-output-buffer-limit` class of client `k` (Redis `getClientType`): 0 normal,
/// 1 replica, 2 pubsub (a client with any subscription).
pub fn limit_class(srv: &Server, k: usize) -> usize {
    if srv.clients[k].subs.any() {
        2
    } else {
        0
    }
}

/// Checks client `k`'s output against its class's hard limit and its soft limit held for
/// longer than the soft seconds (Redis `checkClientOutputBufferLimits`); over either, the
/// client is scheduled for closing and its pending output freed at once (Redis
/// `closeClientOnOutputBufferLimitReached` with async free). Returns true if it was closed.
/// Called whenever output is appended to a client other than the running one, after each
/// command, and from the cron.
pub fn enforce_output_limits(srv: &mut Server, k: usize) -> bool {
    let pending = srv.clients[k].pending_output();
    enforce_limits_at(srv, k, pending)
}

fn enforce_limits_at(srv: &mut Server, k: usize, pending: usize) -> bool {
    let (hard, soft, soft_s) = srv.settings.obuf_limits[limit_class(srv, k)];
    let now = srv.now_ms;
    let c = &mut srv.clients[k];
    let used = obuf_usage(pending) as u64;
    let over_hard = hard > 0 && used >= hard;
    let mut over_soft = soft > 0 && used >= soft;
    if over_soft {
        match c.obuf_soft_since {
            None => {
                c.obuf_soft_since = Some(now);
                over_soft = false;
            }
            Some(since) => over_soft = (now - since) as u64 > soft_s * 1000,
        }
    } else {
        c.obuf_soft_since = None;
    }
    if !(over_hard || over_soft) || c.flags & flags::CLOSE_ASAP != 0 {
        return false;
    }
    srv.stats.client_output_buffer_limit_disconnections += 1;
    log!(
        Warning,
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        srv.client_info_line(k)
    );
    close_async(srv, k);
    let c = &mut srv.clients[k];
    c.out.buf = Vec::new();
    c.sent = 0;
    true
}

/// Checks the limits right after a command (Redis `checkClientOutputBufferLimits` in
/// `_addReplyToBufferOrList`), so a client flooding itself is cut before memory runs away.
/// The running client's reply was outside it while the command ran: `pending` is its size.
pub fn check_output_limit(srv: &mut Server, k: usize, pending: usize) {
    if pending > 16 * 1024 {
        enforce_limits_at(srv, k, pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers() {
        for a in ["127.0.0.1:5000", "127.1.2.3:1", "[::1]:6379"] {
            assert!(is_loopback(a), "{a}");
        }
        for a in [
            "10.0.0.1:5000",
            "192.168.1.2:1",
            "[2001:db8::1]:6379",
            "[::ffff:127.0.0.1]:80",
            "garbage",
        ] {
            assert!(!is_loopback(a), "{a}");
        }
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        let a: SocketAddr = "[::1]:6379".parse().unwrap();
        assert_eq!(fmt_addr(&a), "[::1]:6379");
        let b: SocketAddr = "10.1.2.3:7".parse().unwrap();
        assert_eq!(fmt_addr(&b), "10.1.2.3:7");
    }

    #[test]
    fn protected_mode_text_is_redis_7() {
        assert!(DENIED_PROTECTED.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."));
        assert!(DENIED_PROTECTED.ends_with("NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"));
    }
}
