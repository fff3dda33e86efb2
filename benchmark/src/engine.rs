//! The load generator: one mio event loop per thread, each driving its share of the
//! connections.
//!
//! - Closed loop (redis-benchmark's model): every connection keeps `-P` requests in flight,
//!   sending the next batch when the previous one is answered; a request's latency is from the
//!   write of its batch to the arrival of its reply.
//! - Open loop (`--rps`): requests are due on a fixed schedule (`t0 + phase + k / rate`)
//!   whatever the server does, handed round-robin to the connections; a request's latency is
//!   from its *intended* send time, so a server stall shows up in every request it delayed
//!   instead of in one (no coordinated omission). Each thread's rate is proportional to the
//!   connections it drives, and the threads' phases are spread so their sends interleave. The
//!   loop blocks in `epoll_wait` until just before the next send is due (a `timerfd` in the
//!   same poll set gives microsecond wake-ups) and busy-polls the last [`SPIN`], so replies are
//!   read the moment they arrive and sends leave on time; how late each send actually went
//!   out is measured too (`send_lag`).
//! - Warm-up (`--warmup`): requests sent before the measured period neither count nor use the
//!   `-n` budget.
//! - End of a run: replies still outstanding are awaited for at most [`DRAIN`]; what is still
//!   unanswered then is recorded as *censored* latency (end − intended send time in open loop,
//!   end − write time in closed loop, a lower bound of the true latency) and counted in
//!   [`RunResult::unanswered`], so a stall at the end of a run can never vanish.
//! - RESP3 out-of-band pushes (client-side caching invalidations, pub/sub messages) are not
//!   replies: they are counted apart and do not complete a request.
//!
//! - Cluster mode (`--cluster`): client `i` starts on primary `i % masters` with keys tagged
//!   for that primary. A `-MOVED` / `-ASK` reply (a reshard in progress) is not an error: it
//!   is counted as a redirection and the request is sent again to the node named (after
//!   `ASKING` for -ASK) on a blocking side connection, its latency running until that final
//!   reply; after a -MOVED the client reconnects to the new owner once its batch is answered
//!   (open loop: keeps redirecting). Every final reply is counted for the node that gave it,
//!   so the per-node counts are the nodes' own executed calls (INFO commandstats).
//!
//! Latencies go into a per-thread HdrHistogram (microseconds, 1 us .. 60 s); threads merge
//! them into a shared one every 100 ms (for the progress line) and at the end.

use crate::workload::{render, DataSize, KeyGen, KeyPattern, Test};
use hdrhistogram::Histogram;
use mio::net::{TcpStream, UnixStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use pyrope_common::client::{format_addr, os_error_text, Stream};
use pyrope_common::resp::scan as reply;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the end of a run waits for replies still outstanding before recording them as
/// unanswered.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Target {
    /// Host name or IP literal, and port.
    Tcp(String, u16),
    /// Unix socket path.
    Unix(String),
}

impl Target {
    /// `host:port` (`[v6]:port` for IPv6 literals) or the socket path.
    pub fn display(&self) -> String {
        match self {
            Target::Tcp(h, p) => format_addr(h, *p),
            Target::Unix(s) => s.clone(),
        }
    }

    /// A blocking connection (TCP: every address the name resolves to, in order, as
    /// hiredis does), each attempt bounded by `timeout` when given.
    pub fn connect(&self, timeout: Option<Duration>) -> io::Result<Stream> {
        match self {
            Target::Tcp(h, p) => Stream::tcp(h, *p, timeout),
            Target::Unix(p) => Stream::unix(p, timeout),
        }
    }
}

/// Open loop: how long before a send is due the loop stops blocking and busy-polls.
pub const SPIN: Duration = Duration::from_micros(50);

/// When a test ends.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// After this many completed requests (warm-up requests excluded).
    Requests(u64),
    /// After this long (measured after any warm-up).
    Time(Duration),
}

/// Everything a run needs.
#[derive(Clone)]
pub struct RunSpec {
    /// What each request sends.
    pub test: Test,
    /// The server.
    pub target: Target,
    /// Commands sent on each new connection before the test (AUTH, SELECT, HELLO...), encoded.
    pub handshake: Vec<Vec<u8>>,
    /// Connections (`-c`).
    pub clients: usize,
    /// Requests per batch in closed loop (`-P`).
    pub pipeline: usize,
    /// Load threads asked for (`--threads`); at most one per connection is started.
    pub threads: usize,
    /// When the test ends.
    pub limit: Limit,
    /// Warm-up period before measuring.
    pub warmup: Option<Duration>,
    /// Open loop: total requests per second.
    pub rps: Option<u64>,
    /// False for `-k 0` (a new connection per batch).
    pub keepalive: bool,
    /// Payload size of `__data__`.
    pub data: DataSize,
    /// `-r`: `__rand_int__` draws from 0..keyspace.
    pub keyspace: Option<u64>,
    /// How `__rand_int__` values are drawn.
    pub key_pattern: KeyPattern,
    /// Random seed (each thread derives its own).
    pub seed: u64,
    /// HdrHistogram significant figures.
    pub precision: u8,
    /// Cluster mode: the masters, each with the test rewritten for its hash tag; client `i`
    /// talks to node `i % nodes.len()`. Empty outside cluster mode.
    pub nodes: Vec<(Target, Test)>,
}

impl RunSpec {
    fn target_of(&self, client: usize) -> &Target {
        if self.nodes.is_empty() {
            &self.target
        } else {
            &self.nodes[client % self.nodes.len()].0
        }
    }

    fn test_of(&self, client: usize) -> &Test {
        if self.nodes.is_empty() {
            &self.test
        } else {
            &self.nodes[client % self.nodes.len()].1
        }
    }
}

/// What a run measured.
pub struct RunResult {
    /// Latency of every measured request in microseconds, censored ones included.
    pub hist: Histogram<u64>,
    /// Measured requests that were answered.
    pub requests: u64,
    /// Length of the measured period (until the last reply or the end of the drain).
    pub elapsed: Duration,
    /// Replies that were errors.
    pub errors: u64,
    /// Up to 10 distinct error texts with their counts.
    pub error_samples: Vec<(String, u64)>,
    /// Measured requests still unanswered after the drain; recorded in `hist` with their
    /// latency so far (a lower bound).
    pub unanswered: u64,
    /// RESP3 out-of-band pushes received (invalidations, pub/sub messages), not counted as
    /// replies.
    pub pushes: u64,
    /// Open loop: how late each send went out after its intended time, in microseconds (the
    /// generator's own contribution to the measured latency).
    pub send_lag: Option<Histogram<u64>>,
    /// Cluster mode: -MOVED / -ASK replies followed (not counted as errors).
    pub redirects: u64,
    /// Cluster mode: per node (`host:port`), the measured requests it answered and their
    /// latencies, in order of first answer.
    pub nodes: Vec<NodeStats>,
}

/// One node's share of a cluster-mode run.
#[derive(Clone)]
pub struct NodeStats {
    /// `host:port`.
    pub addr: String,
    /// Measured requests this node gave the final reply to.
    pub requests: u64,
    /// Their latencies (microseconds).
    pub hist: Histogram<u64>,
}

/// Adds `n`'s counts into the list entry for the same node.
fn merge_nodes(into: &mut Vec<NodeStats>, n: &NodeStats) {
    match into.iter_mut().find(|x| x.addr == n.addr) {
        Some(x) => {
            x.requests += n.requests;
            let _ = x.hist.add(&n.hist);
        }
        None => into.push(n.clone()),
    }
}

/// Live counters shared by the load threads and the progress reporter.
pub struct Shared {
    /// Requests taken from the `-n` budget.
    pub issued: AtomicU64,
    /// Measured replies so far.
    pub done: AtomicU64,
    /// Measured error replies so far.
    pub errors: AtomicU64,
    /// Set when a time-bound run is over: no more sends, drain, stop.
    pub stop: AtomicBool,
    /// Set when a load thread failed: every thread stops at once.
    pub failed: AtomicBool,
    /// Merged latency histogram.
    pub hist: Mutex<Histogram<u64>>,
    /// Up to 10 distinct error texts with their counts.
    pub error_samples: Mutex<Vec<(String, u64)>>,
    /// Set once the warm-up is over (measured requests only after that).
    pub measuring: AtomicBool,
    /// Requests recorded as unanswered.
    pub unanswered: AtomicU64,
    /// Out-of-band pushes received.
    pub pushes: AtomicU64,
    /// Merged open-loop send lag (microseconds).
    pub send_lag: Mutex<Histogram<u64>>,
    /// Next key of the sequential key pattern (shared by every thread, fresh for each test).
    pub sequence: Arc<AtomicU64>,
    /// The open-loop schedule's origin, common to every thread.
    start: OnceLock<Instant>,
    /// Cluster mode: redirections followed so far.
    pub redirects: AtomicU64,
    /// Cluster mode: merged per-node counts.
    pub nodes: Mutex<Vec<NodeStats>>,
}

/// Latency histogram: 1 us resolution (exact below 2 ms at 3 significant figures) up to 60 s.
pub fn new_histogram(precision: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, precision.clamp(1, 5)).expect("histogram bounds")
}

/// Open loop: the rate (requests per second) and schedule phase of load thread `t`, which
/// drives `count` of the `clients` connections. The rate is proportional to
/// the thread's connections (so the total is `rps` whatever the split), and thread `t` starts
/// `t / rps` seconds late, so equal threads interleave into one even schedule instead of
/// sending in bursts of `threads`.
pub fn thread_schedule(rps: u64, clients: usize, count: usize, t: usize) -> (f64, Duration) {
    let rps = (rps as f64).max(0.001);
    let rate = (rps * count as f64 / clients.max(1) as f64).max(0.001);
    (rate, Duration::from_secs_f64(t as f64 / rps))
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn open(t: &Target) -> io::Result<Conn> {
        // Connect blocking (bounded; every address of a name, which may give ::1 first while
        // the server listens on 127.0.0.1 only), then go non-blocking: simple and errors early.
        Ok(match t.connect(Some(Duration::from_secs(10)))? {
            Stream::Tcp(s) => {
                s.set_nonblocking(true)?;
                Conn::Tcp(TcpStream::from_std(s))
            }
            Stream::Unix(s) => {
                s.set_nonblocking(true)?;
                Conn::Unix(UnixStream::from_std(s))
            }
        })
    }

    fn register(&mut self, poll: &Poll, tok: Token) -> io::Result<()> {
        let i = Interest::READABLE | Interest::WRITABLE;
        match self {
            Conn::Tcp(s) => poll.registry().register(s, tok, i),
            Conn::Unix(s) => poll.registry().register(s, tok, i),
        }
    }

    fn deregister(&mut self, poll: &Poll) {
        let _ = match self {
            Conn::Tcp(s) => poll.registry().deregister(s),
            Conn::Unix(s) => poll.registry().deregister(s),
        };
    }

    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(b),
            Conn::Unix(s) => s.read(b),
        }
    }

    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(b),
            Conn::Unix(s) => s.write(b),
        }
    }
}

/// Opens one probe connection, returning an error message as redis-benchmark prints it when
/// the server is unreachable (`host:port` without brackets, as redis-benchmark).
pub fn check_connect(t: &Target) -> Result<(), String> {
    Conn::open(t).map(|_| ()).map_err(|e| match t {
        Target::Tcp(h, p) => format!(
            "Could not connect to Redis at {h}:{p}: {}",
            os_error_text(&e)
        ),
        Target::Unix(p) => format!("Could not connect to Redis at {p}: {}", os_error_text(&e)),
    })
}

/// A one-shot monotonic `timerfd` (Linux), polled with the connections so the open loop
/// wakes at the next send time with microsecond precision (epoll's own timeout has
/// millisecond granularity).
struct Timer {
    fd: OwnedFd,
}

/// The poll token of the open-loop timer (connections use their index).
const TIMER: Token = Token(usize::MAX);

impl Timer {
    fn new(poll: &Poll) -> io::Result<Timer> {
        // SAFETY: plain syscall; the returned descriptor is owned by `OwnedFd` below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        poll.registry()
            .register(&mut SourceFd(&fd.as_raw_fd()), TIMER, Interest::READABLE)?;
        Ok(Timer { fd })
    }

    /// Fires once, `after` from now (re-arming replaces the previous expiry).
    fn arm(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: valid descriptor and pointers to initialised structs.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes the expiry so the next one triggers a new edge.
    fn clear(&self) {
        let mut b = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer; EAGAIN is fine.
        unsafe {
            libc::read(self.fd.as_raw_fd(), b.as_mut_ptr().cast(), b.len());
        }
    }
}

struct Client {
    conn: Conn,
    out: Vec<u8>,
    sent: usize,
    inbuf: Vec<u8>,
    /// Handshake replies still expected.
    handshake_left: usize,
    /// Closed loop: replies still expected for the current batch, its write time, and
    /// whether it is measured (sent after the warm-up).
    in_flight: usize,
    batch_sent: Instant,
    batch_counted: bool,
    /// Open loop: intended send time of each outstanding request, oldest first, and whether
    /// it is measured.
    intended: VecDeque<(Instant, bool)>,
    /// Cluster mode: the bytes of each outstanding request, oldest first (to send again after
    /// a redirection), and the node this connection talks to.
    requests: VecDeque<Vec<u8>>,
    node: String,
}

impl Client {
    fn flush(&mut self) -> io::Result<()> {
        while self.sent < self.out.len() {
            match self.conn.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "closed")),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        Ok(())
    }
}

/// True for a RESP3 push that is not the reply to a command: client-side caching
/// invalidations and pub/sub deliveries (`invalidate`, `message`, `pmessage`, `smessage`).
/// Subscribe confirmations, which are replies, return false.
pub fn is_out_of_band_push(frame: &[u8]) -> bool {
    if frame.first() != Some(&b'>') {
        return false;
    }
    let Some(eol) = frame.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let first = &frame[eol + 1..];
    let name: &[u8] = match first.first() {
        Some(b'+') => {
            let end = first
                .iter()
                .position(|&b| b == b'\r')
                .unwrap_or(first.len());
            &first[1..end]
        }
        Some(b'$') => {
            let Some(e) = first.iter().position(|&b| b == b'\n') else {
                return false;
            };
            let len: usize = std::str::from_utf8(&first[1..e.saturating_sub(1)])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            &first[(e + 1).min(first.len())..(e + 1 + len).min(first.len())]
        }
        _ => return false,
    };
    [&b"invalidate"[..], b"message", b"pmessage", b"smessage"]
        .iter()
        .any(|k| name.eq_ignore_ascii_case(k))
}

struct Worker {
    spec: Arc<RunSpec>,
    shared: Arc<Shared>,
    poll: Poll,
    clients: Vec<Option<Client>>,
    keys: KeyGen,
    hist: Histogram<u64>,
    lag: Histogram<u64>,
    data: Vec<u8>,
    rendered: Vec<u8>,
    /// The read buffer (64 KiB), zeroed once: a fresh zeroed array per read cost 16% of the
    /// load generator's CPU at -P 1.
    chunk: Box<[u8]>,
    local_done: u64,
    local_errors: u64,
    local_unanswered: u64,
    local_pushes: u64,
    errors: Vec<(String, u64)>,
    /// Cluster mode: end offset of each request in `rendered`.
    bounds: Vec<usize>,
    /// Cluster mode: blocking connections for redirected requests, by `host:port`.
    side: std::collections::HashMap<String, pyrope_common::client::Client>,
    /// Cluster mode: where a client reconnects after a -MOVED (once its batch is answered).
    moved_to: Vec<Option<Target>>,
    /// Cluster mode: the node each client is (to be) connected to, when not its first one.
    retarget: Vec<Option<Target>>,
    local_redirects: u64,
    local_nodes: Vec<NodeStats>,
}

fn record_error(samples: &mut Vec<(String, u64)>, text: String) {
    if let Some(e) = samples.iter_mut().find(|(t, _)| *t == text) {
        e.1 += 1;
    } else if samples.len() < 10 {
        samples.push((text, 1));
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

impl Worker {
    fn connect(&mut self, i: usize) -> io::Result<()> {
        let target = match &self.retarget[i] {
            Some(t) => t.clone(),
            None => self.spec.target_of(i).clone(),
        };
        let mut conn = Conn::open(&target)?;
        conn.register(&self.poll, Token(i))?;
        let mut c = Client {
            conn,
            out: Vec::with_capacity(4096),
            sent: 0,
            inbuf: Vec::with_capacity(16384),
            handshake_left: self.spec.handshake.len(),
            in_flight: 0,
            batch_sent: Instant::now(),
            batch_counted: false,
            intended: VecDeque::new(),
            requests: VecDeque::new(),
            node: target.display(),
        };
        for h in &self.spec.handshake {
            c.out.extend_from_slice(h);
        }
        c.flush()?;
        self.clients[i] = Some(c);
        Ok(())
    }

    /// Renders `n` requests into `buf`.
    fn render_batch(&mut self, client: usize, n: usize) {
        self.rendered.clear();
        let spec = self.spec.clone();
        let test = spec.test_of(client);
        for _ in 0..n {
            let tpl = if test.templates.len() == 1 {
                &test.templates[0].0
            } else {
                let total: u32 = test.templates.iter().map(|(_, w)| *w).sum();
                let mut pick = self.keys.rng().u32(..total);
                let mut chosen = &test.templates[0].0;
                for (t, w) in &test.templates {
                    if pick < *w {
                        chosen = t;
                        break;
                    }
                    pick -= w;
                }
                chosen
            };
            if let DataSize::Range(lo, hi) = spec.data {
                let len = self.keys.rng().usize(lo..=hi);
                self.data.resize(len, b'x');
            }
            let rand = if spec.keyspace.is_some() {
                Some(&mut self.keys)
            } else {
                None
            };
            render(&mut self.rendered, tpl, rand, &self.data);
            if !spec.nodes.is_empty() {
                self.bounds.push(self.rendered.len());
            }
        }
    }

    /// Cluster mode: remembers the requests just rendered for client `i`.
    fn keep_requests(&mut self, i: usize) {
        if self.spec.nodes.is_empty() {
            return;
        }
        let c = self.clients[i].as_mut().unwrap();
        let mut start = 0;
        for &end in &self.bounds {
            c.requests.push_back(self.rendered[start..end].to_vec());
            start = end;
        }
        self.bounds.clear();
    }

    /// Cluster mode: sends `req` again where `-MOVED slot host:port` / `-ASK ...` (`text`)
    /// points, on a blocking side connection (with the session's handshake), following up
    /// to 5 more redirections. Returns the final reply's node, whether it is an error, and
    /// its error text.
    fn redirect(&mut self, mut text: String, req: &[u8]) -> (String, bool, Option<String>) {
        for _ in 0..6 {
            let mut w = text.split(' ');
            let kind = w.next().unwrap_or("");
            let addr = w.nth(1).unwrap_or("").to_string();
            self.local_redirects += 1;
            let ask = kind == "ASK";
            let r = (|| -> Result<pyrope_common::resp::Frame, String> {
                if !self.side.contains_key(&addr) {
                    let (h, p) = addr.rsplit_once(':').ok_or("bad redirection")?;
                    let h = h.trim_start_matches('[').trim_end_matches(']');
                    let s = Stream::tcp(
                        h,
                        p.parse().map_err(|_| "bad port")?,
                        Some(Duration::from_secs(10)),
                    )
                    .map_err(|e| os_error_text(&e))?;
                    let mut c = pyrope_common::client::Client::new(s);
                    for h in &self.spec.handshake {
                        c.send_raw(h).map_err(|e| e.to_string())?;
                        c.read_reply().map_err(|e| e.to_string())?;
                    }
                    self.side.insert(addr.clone(), c);
                }
                let c = self.side.get_mut(&addr).unwrap();
                if ask {
                    c.call(&["ASKING"]).map_err(|e| e.to_string())?;
                }
                c.send_raw(req).map_err(|e| e.to_string())?;
                c.read_reply().map_err(|e| e.to_string())
            })();
            match r {
                Err(e) => {
                    self.side.remove(&addr);
                    return (addr, true, Some(e));
                }
                Ok(pyrope_common::resp::Frame::Error(e)) => {
                    let t = String::from_utf8_lossy(&e).into_owned();
                    if t.starts_with("MOVED ") || t.starts_with("ASK ") {
                        text = t;
                        continue;
                    }
                    return (addr, true, Some(t));
                }
                Ok(_) => return (addr, false, None),
            }
        }
        (String::new(), true, Some("too many redirections".into()))
    }

    /// Claims up to `want` requests. Returns how many may be sent and whether they are
    /// measured: during the warm-up nothing is measured and the `-n` budget is untouched.
    fn claim(&self, want: usize) -> (usize, bool) {
        let s = &self.shared;
        if s.stop.load(Ordering::Relaxed) || s.failed.load(Ordering::Relaxed) {
            return (0, false);
        }
        if !s.measuring.load(Ordering::Acquire) {
            return (want, false);
        }
        match self.spec.limit {
            Limit::Time(_) => (want, true),
            Limit::Requests(n) => {
                let before = s.issued.fetch_add(want as u64, Ordering::Relaxed);
                if before >= n {
                    (0, true)
                } else {
                    ((n - before).min(want as u64) as usize, true)
                }
            }
        }
    }

    /// Closed loop: sends the next batch on client `i` if the budget allows.
    fn send_batch(&mut self, i: usize) -> io::Result<()> {
        let (n, counted) = self.claim(self.spec.pipeline);
        if n == 0 {
            return Ok(());
        }
        self.render_batch(i, n);
        self.keep_requests(i);
        let c = self.clients[i].as_mut().unwrap();
        c.out.extend_from_slice(&self.rendered);
        c.in_flight = n;
        c.batch_sent = Instant::now();
        c.batch_counted = counted;
        c.flush()
    }

    fn on_reply(&mut self, i: usize, is_error: bool, text: Option<String>, now: Instant) {
        let (mut is_error, mut text, mut now) = (is_error, text, now);
        let mut node = None;
        if !self.spec.nodes.is_empty() {
            let c = self.clients[i].as_mut().unwrap();
            let req = c.requests.pop_front().unwrap_or_default();
            node = Some(c.node.clone());
            if let Some(t) = text
                .as_ref()
                .filter(|t| t.starts_with("MOVED ") || t.starts_with("ASK "))
            {
                let moved = t.starts_with("MOVED ");
                let (addr, e, t2) = self.redirect(t.clone(), &req);
                if moved && !addr.is_empty() && self.spec.rps.is_none() {
                    if let Some((h, p)) = addr.rsplit_once(':') {
                        if let Ok(p) = p.parse() {
                            let h = h.trim_start_matches('[').trim_end_matches(']');
                            self.moved_to[i] = Some(Target::Tcp(h.to_string(), p));
                        }
                    }
                }
                node = Some(addr);
                is_error = e;
                text = t2;
                now = Instant::now();
            }
        }
        let c = self.clients[i].as_mut().unwrap();
        let (latency, counted) = if self.spec.rps.is_some() {
            let (t, counted) = c.intended.pop_front().unwrap_or((now, false));
            (now.saturating_duration_since(t), counted)
        } else {
            c.in_flight = c.in_flight.saturating_sub(1);
            (now.saturating_duration_since(c.batch_sent), c.batch_counted)
        };
        if !counted {
            return;
        }
        self.hist.saturating_record(micros(latency));
        self.local_done += 1;
        if let Some(addr) = node {
            let pos = match self.local_nodes.iter().position(|n| n.addr == addr) {
                Some(p) => p,
                None => {
                    self.local_nodes.push(NodeStats {
                        addr,
                        requests: 0,
                        hist: new_histogram(self.spec.precision),
                    });
                    self.local_nodes.len() - 1
                }
            };
            let n = &mut self.local_nodes[pos];
            n.requests += 1;
            n.hist.saturating_record(micros(latency));
        }
        if is_error {
            self.local_errors += 1;
            if let Some(t) = text {
                record_error(&mut self.errors, t);
            }
        }
    }

    /// Reads and scans everything available on client `i`. Returns false if it closed.
    fn read_client(&mut self, i: usize) -> Result<bool, String> {
        let chunk = &mut self.chunk[..];
        loop {
            let c = self.clients[i].as_mut().unwrap();
            match c.conn.read(chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    c.inbuf.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Ok(false),
            }
        }
        let now = Instant::now();
        let mut pos = 0;
        loop {
            let c = self.clients[i].as_mut().unwrap();
            let s = match reply::scan(&c.inbuf[pos..]) {
                Ok(Some(s)) => s,
                Ok(None) => break,
                Err(e) => return Err(format!("protocol error in reply at byte {}", pos + e.0)),
            };
            let frame = &c.inbuf[pos..pos + s.len];
            if frame[0] == b'>' && is_out_of_band_push(frame) {
                pos += s.len;
                self.local_pushes += 1;
                continue;
            }
            let text = s.error.then(|| reply::error_text(frame));
            pos += s.len;
            if c.handshake_left > 0 {
                c.handshake_left -= 1;
                if let Some(t) = text {
                    return Err(format!("Error from server during setup: {t}"));
                }
                continue;
            }
            self.on_reply(i, s.error, text, now);
        }
        let c = self.clients[i].as_mut().unwrap();
        c.inbuf.drain(..pos);
        Ok(true)
    }

    fn flush_shared(&mut self) {
        let s = &self.shared;
        if self.local_done > 0 || self.local_unanswered > 0 {
            if let Ok(mut h) = s.hist.lock() {
                let _ = h.add(&self.hist);
            }
            self.hist.reset();
        }
        if !self.lag.is_empty() {
            if let Ok(mut h) = s.send_lag.lock() {
                let _ = h.add(&self.lag);
            }
            self.lag.reset();
        }
        s.done.fetch_add(self.local_done, Ordering::Relaxed);
        s.errors.fetch_add(self.local_errors, Ordering::Relaxed);
        s.unanswered
            .fetch_add(self.local_unanswered, Ordering::Relaxed);
        s.pushes.fetch_add(self.local_pushes, Ordering::Relaxed);
        s.redirects
            .fetch_add(self.local_redirects, Ordering::Relaxed);
        self.local_redirects = 0;
        if !self.local_nodes.is_empty() {
            if let Ok(mut nodes) = s.nodes.lock() {
                for n in self.local_nodes.drain(..) {
                    merge_nodes(&mut nodes, &n);
                }
            }
        }
        if !self.errors.is_empty() {
            if let Ok(mut e) = s.error_samples.lock() {
                for (t, n) in self.errors.drain(..) {
                    match e.iter().position(|(x, _)| *x == t) {
                        Some(i) => e[i].1 += n,
                        None if e.len() < 10 => e.push((t, n)),
                        None => {}
                    }
                }
            }
        }
        self.local_done = 0;
        self.local_errors = 0;
        self.local_unanswered = 0;
        self.local_pushes = 0;
    }

    /// True once no more requests may be issued (budget spent, time over, or a failure).
    fn finished(&self) -> bool {
        let s = &self.shared;
        if s.stop.load(Ordering::Relaxed) || s.failed.load(Ordering::Relaxed) {
            return true;
        }
        match self.spec.limit {
            Limit::Requests(n) => {
                s.measuring.load(Ordering::Relaxed) && s.issued.load(Ordering::Relaxed) >= n
            }
            Limit::Time(_) => false,
        }
    }

    fn idle(&self) -> bool {
        self.clients
            .iter()
            .flatten()
            .all(|c| c.in_flight == 0 && c.intended.is_empty())
    }

    /// Handles the readiness events of one poll: writes, reads, and (closed loop) the next
    /// batch of each connection whose batch is complete.
    fn handle_events(&mut self, events: &Events, timer: Option<&Timer>) -> Result<(), String> {
        let open_loop = self.spec.rps.is_some();
        for ev in events.iter() {
            if ev.token() == TIMER {
                if let Some(t) = timer {
                    t.clear();
                }
                continue;
            }
            let i = ev.token().0;
            if self.clients.get(i).is_none_or(|c| c.is_none()) {
                continue;
            }
            if ev.is_writable() {
                if let Some(c) = self.clients[i].as_mut() {
                    c.flush().map_err(|e| e.to_string())?;
                }
            }
            if ev.is_readable() || ev.is_read_closed() {
                let was_handshaking = self.clients[i].as_ref().unwrap().handshake_left > 0;
                let alive = self.read_client(i)?;
                if !alive {
                    if self.finished()
                        && self.clients[i]
                            .as_ref()
                            .is_some_and(|c| c.in_flight == 0 && c.intended.is_empty())
                    {
                        self.clients[i] = None;
                        continue;
                    }
                    return Err("Server closed the connection".into());
                }
                if !open_loop {
                    let c = self.clients[i].as_ref().unwrap();
                    let ready = c.handshake_left == 0 && c.in_flight == 0;
                    if ready && !self.finished() {
                        if let Some(t) = self.moved_to[i].take() {
                            // Cluster mode after a -MOVED: talk to the new owner from now on.
                            let mut old = self.clients[i].take().unwrap();
                            old.conn.deregister(&self.poll);
                            drop(old);
                            self.retarget[i] = Some(t);
                            self.connect(i)
                                .map_err(|e| format!("Could not connect: {}", os_error_text(&e)))?;
                            if self.spec.handshake.is_empty() {
                                self.send_batch(i).map_err(|e| e.to_string())?;
                            }
                        } else if !self.spec.keepalive && !was_handshaking {
                            // -k 0: a new connection for every batch.
                            let mut old = self.clients[i].take().unwrap();
                            old.conn.deregister(&self.poll);
                            drop(old);
                            self.connect(i)
                                .map_err(|e| format!("Could not connect: {}", os_error_text(&e)))?;
                            if self.spec.handshake.is_empty() {
                                self.send_batch(i).map_err(|e| e.to_string())?;
                            }
                        } else {
                            self.send_batch(i).map_err(|e| e.to_string())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Records every measured request still outstanding as unanswered, with its latency so
    /// far (`end` − intended send time in open loop, `end` − write time in closed loop).
    fn censor(&mut self, end: Instant) {
        for c in self.clients.iter_mut().flatten() {
            for (t, counted) in c.intended.drain(..) {
                if counted {
                    self.hist
                        .saturating_record(micros(end.saturating_duration_since(t)));
                    self.local_unanswered += 1;
                }
            }
            if c.in_flight > 0 && c.batch_counted {
                self.hist.saturating_record_n(
                    micros(end.saturating_duration_since(c.batch_sent)),
                    c.in_flight as u64,
                );
                self.local_unanswered += c.in_flight as u64;
            }
            c.in_flight = 0;
        }
    }

    /// Drives connections `first..first + count` as load thread `t` until the run ends, then
    /// drains and censors what is still outstanding.
    fn run(
        &mut self,
        first: usize,
        count: usize,
        t: usize,
        barrier: &Barrier,
    ) -> Result<(), String> {
        let connected = (first..first + count)
            .try_for_each(|i| self.connect(i))
            .map_err(|e| format!("Could not connect: {}", os_error_text(&e)));
        // Every thread connects before the open-loop schedule starts (its origin is shared).
        barrier.wait();
        connected?;
        let schedule = self
            .spec
            .rps
            .map(|r| thread_schedule(r, self.spec.clients, count, t));
        let timer = match schedule {
            Some(_) => {
                // Wake-ups at the requested time: no timer slack for this thread.
                // SAFETY: prctl with integer arguments only.
                unsafe {
                    libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
                }
                Some(Timer::new(&self.poll).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let origin = *self.shared.start.get_or_init(Instant::now);
        let mut events = Events::with_capacity(1024);
        let mut last_flush = Instant::now();
        let mut sent_k: u64 = 0;
        let mut armed: Option<Instant> = None;
        let mut rr = first;
        // The timer wakes this thread `spin` before a send is due and it busy-polls the rest
        // (the OS's wake-up latency, tens of microseconds, would otherwise make every send
        // late): at most SPIN, and at most 10% of the time between sends.
        let spin = schedule
            .map(|(rate, _)| SPIN.min(Duration::from_secs_f64(0.1 / rate)))
            .unwrap_or_default();
        let due_at = |k: u64| -> Instant {
            let (rate, phase) = schedule.unwrap();
            origin + phase + Duration::from_secs_f64(k as f64 / rate)
        };
        if schedule.is_none() {
            for i in first..first + count {
                if self.clients[i].as_ref().unwrap().handshake_left == 0 {
                    self.send_batch(i).map_err(|e| e.to_string())?;
                }
            }
        }
        loop {
            if self.shared.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            // Done when nothing more may be sent and every reply is in; a time limit ends
            // at once (what is outstanding is drained below).
            if self.finished() && (self.idle() || self.shared.stop.load(Ordering::Relaxed)) {
                break;
            }
            let timeout = match (schedule, &timer) {
                (Some(_), Some(tm)) if !self.finished() => {
                    let next = due_at(sent_k);
                    let now = Instant::now();
                    if next <= now + spin {
                        Duration::ZERO
                    } else {
                        // Block until the next send is due or a reply arrives.
                        if armed != Some(next) {
                            tm.arm(next - now - spin).map_err(|e| e.to_string())?;
                            armed = Some(next);
                        }
                        Duration::from_millis(100)
                    }
                }
                _ => Duration::from_millis(50),
            };
            self.poll
                .poll(&mut events, Some(timeout))
                .map_err(|e| e.to_string())?;
            self.handle_events(&events, timer.as_ref())?;
            if schedule.is_some() {
                // Issue every request whose time has come, round-robin over the connections.
                loop {
                    let due = due_at(sent_k);
                    let now = Instant::now();
                    if due > now {
                        break;
                    }
                    let (n, counted) = self.claim(1);
                    if n == 0 {
                        break;
                    }
                    self.render_batch(rr, 1);
                    self.keep_requests(rr);
                    let c = self.clients[rr].as_mut().unwrap();
                    c.out.extend_from_slice(&self.rendered);
                    c.intended.push_back((due, counted));
                    c.flush().map_err(|e| e.to_string())?;
                    if counted {
                        self.lag.saturating_record(
                            now.saturating_duration_since(due).as_micros() as u64
                        );
                    }
                    sent_k += 1;
                    rr = if rr + 1 >= first + count {
                        first
                    } else {
                        rr + 1
                    };
                }
            }
            if last_flush.elapsed() >= Duration::from_millis(100) {
                self.flush_shared();
                last_flush = Instant::now();
            }
        }
        // Wait (bounded) for the answers still outstanding, then record the rest as
        // unanswered.
        let deadline = Instant::now() + DRAIN;
        while !self.idle() && Instant::now() < deadline {
            if self.shared.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            self.poll
                .poll(&mut events, Some(Duration::from_millis(20)))
                .map_err(|e| e.to_string())?;
            match self.handle_events(&events, timer.as_ref()) {
                Ok(()) => {}
                // The server went away: what it did not answer is unanswered.
                Err(_) => break,
            }
        }
        self.censor(Instant::now());
        self.flush_shared();
        Ok(())
    }
}

/// Runs one test to completion and returns its measurements.
pub fn run(spec: RunSpec, shared: Arc<Shared>) -> Result<RunResult, String> {
    let spec = Arc::new(spec);
    let threads = spec.threads.max(1).min(spec.clients.max(1));
    let mut handles = Vec::new();
    let per = spec.clients / threads;
    let extra = spec.clients % threads;
    let mut first = 0;
    let start = Instant::now();
    let barrier = Arc::new(Barrier::new(threads));
    shared
        .measuring
        .store(spec.warmup.is_none(), Ordering::Release);
    for t in 0..threads {
        let count = per + usize::from(t < extra);
        let (spec, shared, barrier) = (spec.clone(), shared.clone(), barrier.clone());
        let f = first;
        first += count;
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let keyspace = spec.keyspace.unwrap_or(1);
            let data = match spec.data {
                DataSize::Fixed(n) => vec![b'x'; n],
                DataSize::Range(lo, _) => vec![b'x'; lo],
            };
            let poll = match Poll::new() {
                Ok(p) => p,
                Err(e) => {
                    shared.failed.store(true, Ordering::Relaxed);
                    barrier.wait();
                    return Err(e.to_string());
                }
            };
            let mut w = Worker {
                keys: KeyGen::new(
                    spec.key_pattern.clone(),
                    keyspace,
                    spec.seed.wrapping_add(t as u64 * 0x9e37_79b9),
                    shared.sequence.clone(),
                ),
                hist: new_histogram(spec.precision),
                lag: new_histogram(spec.precision),
                poll,
                clients: (0..spec.clients).map(|_| None).collect(),
                data,
                rendered: Vec::with_capacity(4096),
                chunk: vec![0u8; 65536].into_boxed_slice(),
                local_done: 0,
                local_errors: 0,
                local_unanswered: 0,
                local_pushes: 0,
                errors: Vec::new(),
                bounds: Vec::new(),
                side: std::collections::HashMap::new(),
                moved_to: (0..spec.clients).map(|_| None).collect(),
                retarget: (0..spec.clients).map(|_| None).collect(),
                local_redirects: 0,
                local_nodes: Vec::new(),
                spec,
                shared,
            };
            let r = w.run(f, count, t, &barrier);
            if r.is_err() {
                w.shared.failed.store(true, Ordering::Relaxed);
            }
            r
        }));
    }
    let failed = || shared.failed.load(Ordering::Relaxed);
    // Warm-up, then the measured period.
    let mut measure_start = start;
    if let Some(w) = spec.warmup {
        while start.elapsed() < w && !failed() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Nothing sent so far is measured; clear the counters anyway, then start measuring.
        if let Ok(mut h) = shared.hist.lock() {
            h.reset();
        }
        shared.done.store(0, Ordering::Relaxed);
        shared.errors.store(0, Ordering::Relaxed);
        shared.redirects.store(0, Ordering::Relaxed);
        if let Ok(mut n) = shared.nodes.lock() {
            n.clear();
        }
        measure_start = Instant::now();
        shared.measuring.store(true, Ordering::Release);
    }
    if let Limit::Time(d) = spec.limit {
        while measure_start.elapsed() < d && !failed() {
            std::thread::sleep(Duration::from_millis(2));
        }
        shared.stop.store(true, Ordering::Relaxed);
    }
    let mut err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => err = err.or(Some(e)),
            Err(_) => err = err.or(Some("load thread panicked".to_string())),
        }
    }
    let elapsed = measure_start.elapsed();
    if let Some(e) = err {
        return Err(e);
    }
    let hist = shared
        .hist
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| new_histogram(spec.precision));
    let errors = shared.errors.load(Ordering::Relaxed);
    let unanswered = shared.unanswered.load(Ordering::Relaxed);
    let error_samples = shared
        .error_samples
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    let send_lag = spec
        .rps
        .and_then(|_| shared.send_lag.lock().ok().map(|h| h.clone()));
    Ok(RunResult {
        requests: hist.len().saturating_sub(unanswered),
        hist,
        elapsed,
        errors,
        error_samples,
        unanswered,
        pushes: shared.pushes.load(Ordering::Relaxed),
        send_lag,
        redirects: shared.redirects.load(Ordering::Relaxed),
        nodes: shared.nodes.lock().map(|n| n.clone()).unwrap_or_default(),
    })
}

impl Shared {
    /// Fresh counters for a test.
    pub fn new(precision: u8) -> Arc<Shared> {
        Arc::new(Shared {
            issued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            hist: Mutex::new(new_histogram(precision)),
            error_samples: Mutex::new(Vec::new()),
            measuring: AtomicBool::new(true),
            unanswered: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            send_lag: Mutex::new(new_histogram(precision)),
            sequence: Arc::new(AtomicU64::new(0)),
            start: OnceLock::new(),
            redirects: AtomicU64::new(0),
            nodes: Mutex::new(Vec::new()),
        })
    }
}

/// Opens `n` connections and keeps them idle until interrupted (`-I`).
pub fn idle(target: &Target, n: usize) -> Result<(), String> {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(
            Conn::open(target).map_err(|e| format!("Could not connect: {}", os_error_text(&e)))?,
        );
    }
    println!("Creating {n} idle connections and waiting forever (Ctrl+C when done)");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_schedules_add_up_and_interleave() {
        // 4 threads x 5 connections at 4000/s: each thread 1000/s, phases 0, 250, 500, 750 us,
        // so the union is one request every 250 us.
        let mut times: Vec<u64> = Vec::new();
        for t in 0..4 {
            let (rate, phase) = thread_schedule(4000, 20, 5, t);
            assert!((rate - 1000.0).abs() < 1e-9);
            for k in 0..10 {
                times.push((phase.as_secs_f64() * 1e6 + k as f64 * 1e6 / rate).round() as u64);
            }
        }
        times.sort();
        assert!(times.windows(2).all(|w| w[1] - w[0] == 250), "{times:?}");
        // Unequal split (10 connections over 3 threads): rates follow the connections and
        // sum to the total.
        let total: f64 = [4, 3, 3]
            .iter()
            .enumerate()
            .map(|(t, &c)| thread_schedule(3000, 10, c, t).0)
            .sum();
        assert!((total - 3000.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn out_of_band_pushes_are_told_from_replies() {
        assert!(is_out_of_band_push(
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n"
        ));
        assert!(is_out_of_band_push(
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"
        ));
        assert!(is_out_of_band_push(
            b">4\r\n+pmessage\r\n+p*\r\n+pc\r\n+x\r\n"
        ));
        assert!(is_out_of_band_push(
            b">3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$1\r\nx\r\n"
        ));
        // Subscribe confirmations are the replies of SUBSCRIBE.
        assert!(!is_out_of_band_push(
            b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        ));
        assert!(!is_out_of_band_push(b"*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n"));
        assert!(!is_out_of_band_push(b"+OK\r\n"));
    }

    #[test]
    fn histogram_resolution_is_one_microsecond() {
        let mut h = new_histogram(3);
        for v in [1u64, 57, 58, 103, 1999] {
            h.record(v).unwrap();
            assert_eq!(h.highest_equivalent(v), v, "{v} us is exact");
        }
        assert_eq!(h.max(), 1999);
        assert_eq!(h.min(), 1);
        assert_eq!(new_histogram(3).max(), 0, "an empty histogram has max 0");
    }
}
