//! The load generator: one mio event loop per thread, each driving its share of the
//! connections.
//!
//! - Closed loop (redis-benchmark's model): every connection keeps `-P` requests in flight,
//!   sending the next batch when the previous one is answered; a request's latency is from the
//!   write of its batch to the arrival of its reply.
//! - Open loop (`--rps`): requests are due on a fixed schedule (`t0 + k / rate`) whatever the
//!   server does, handed round-robin to the connections; a request's latency is from its
//!   *intended* send time, so a server stall shows up in every request it delayed instead of
//!   in one (no coordinated omission).
//!
//! Latencies go into a per-thread HdrHistogram (microseconds, 10 us .. 60 s); threads merge
//! them into a shared one every 100 ms for the progress line and at the end.

use crate::workload::{render, DataSize, KeyGen, KeyPattern, Test};
use hdrhistogram::Histogram;
use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};
use pyrope_common::resp::scan as reply;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Target {
    Tcp(String, u16),
    Unix(String),
}

/// When a test ends.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// After this many completed requests.
    Requests(u64),
    /// After this long (measured after any warm-up).
    Time(Duration),
}

/// Everything a run needs.
#[derive(Clone)]
pub struct RunSpec {
    pub test: Test,
    pub target: Target,
    /// Commands sent on each new connection before the test (AUTH, SELECT, HELLO...), encoded.
    pub handshake: Vec<Vec<u8>>,
    pub clients: usize,
    pub pipeline: usize,
    pub threads: usize,
    pub limit: Limit,
    pub warmup: Option<Duration>,
    pub rps: Option<u64>,
    pub keepalive: bool,
    pub data: DataSize,
    pub keyspace: Option<u64>,
    pub key_pattern: KeyPattern,
    pub seed: u64,
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
    pub hist: Histogram<u64>,
    pub requests: u64,
    pub elapsed: Duration,
    pub errors: u64,
    /// Up to 10 distinct error texts with their counts.
    pub error_samples: Vec<(String, u64)>,
}

/// Live counters shared with the progress reporter.
pub struct Shared {
    pub issued: AtomicU64,
    pub done: AtomicU64,
    pub errors: AtomicU64,
    pub stop: AtomicBool,
    pub hist: Mutex<Histogram<u64>>,
    pub error_samples: Mutex<Vec<(String, u64)>>,
    /// Set once the warm-up is over (measured requests only after that).
    pub measuring: AtomicBool,
}

/// Latency histogram with redis-benchmark's bounds (lowest 10 us) but up to 60 s.
pub fn new_histogram(precision: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(10, 60_000_000, precision.clamp(1, 5)).expect("histogram bounds")
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn open(t: &Target) -> io::Result<Conn> {
        match t {
            Target::Tcp(h, p) => {
                let addr = (h.as_str(), *p)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
                // Connect blocking (bounded), then go non-blocking: simple and errors early.
                let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
                Ok(Conn::Tcp(TcpStream::from_std(s)))
            }
            Target::Unix(p) => {
                let s = std::os::unix::net::UnixStream::connect(p)?;
                s.set_nonblocking(true)?;
                Ok(Conn::Unix(UnixStream::from_std(s)))
            }
        }
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

/// Opens (and handshakes) one blocking probe connection, returning an error message as
/// redis-benchmark prints it when the server is unreachable.
pub fn check_connect(t: &Target) -> Result<(), String> {
    Conn::open(t).map(|_| ()).map_err(|e| match t {
        Target::Tcp(h, p) => format!("Could not connect to Redis at {h}:{p}: {}", strip_os(&e)),
        Target::Unix(p) => format!("Could not connect to Redis at {p}: {}", strip_os(&e)),
    })
}

fn strip_os(e: &io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

struct Client {
    conn: Conn,
    out: Vec<u8>,
    sent: usize,
    inbuf: Vec<u8>,
    /// Handshake replies still expected.
    handshake_left: usize,
    /// Closed loop: replies still expected for the current batch and its send time.
    in_flight: usize,
    batch_sent: Instant,
    /// Open loop: intended send time of each outstanding request, oldest first.
    intended: VecDeque<Instant>,
    /// Whether each outstanding request counts (sent after warm-up).
    counted: VecDeque<bool>,
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

struct Worker {
    spec: Arc<RunSpec>,
    shared: Arc<Shared>,
    poll: Poll,
    clients: Vec<Option<Client>>,
    keys: KeyGen,
    hist: Histogram<u64>,
    data: Vec<u8>,
    rendered: Vec<u8>,
    local_done: u64,
    local_errors: u64,
    errors: Vec<(String, u64)>,
}

fn record_error(samples: &mut Vec<(String, u64)>, text: String) {
    if let Some(e) = samples.iter_mut().find(|(t, _)| *t == text) {
        e.1 += 1;
    } else if samples.len() < 10 {
        samples.push((text, 1));
    }
}

impl Worker {
    fn connect(&mut self, i: usize) -> io::Result<()> {
        let mut conn = Conn::open(self.spec.target_of(i))?;
        conn.register(&self.poll, Token(i))?;
        let mut c = Client {
            conn,
            out: Vec::with_capacity(4096),
            sent: 0,
            inbuf: Vec::with_capacity(16384),
            handshake_left: self.spec.handshake.len(),
            in_flight: 0,
            batch_sent: Instant::now(),
            intended: VecDeque::new(),
            counted: VecDeque::new(),
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
        }
    }

    /// Claims up to `want` requests from the global budget.
    fn claim(&self, want: usize) -> usize {
        match self.spec.limit {
            Limit::Time(_) => {
                if self.shared.stop.load(Ordering::Relaxed) {
                    0
                } else {
                    want
                }
            }
            Limit::Requests(n) => {
                let before = self.shared.issued.fetch_add(want as u64, Ordering::Relaxed);
                if before >= n {
                    0
                } else {
                    (n - before).min(want as u64) as usize
                }
            }
        }
    }

    /// Closed loop: sends the next batch on client `i` if the budget allows.
    fn send_batch(&mut self, i: usize) -> io::Result<()> {
        let n = self.claim(self.spec.pipeline);
        if n == 0 {
            return Ok(());
        }
        self.render_batch(i, n);
        let c = self.clients[i].as_mut().unwrap();
        c.out.extend_from_slice(&self.rendered);
        c.in_flight = n;
        c.batch_sent = Instant::now();
        c.flush()
    }

    fn on_reply(&mut self, i: usize, is_error: bool, text: Option<String>, now: Instant) {
        let measuring = self.shared.measuring.load(Ordering::Relaxed);
        let c = self.clients[i].as_mut().unwrap();
        let (latency, counted) = if self.spec.rps.is_some() {
            let t = c.intended.pop_front().unwrap_or(now);
            let counted = c.counted.pop_front().unwrap_or(true);
            (now.saturating_duration_since(t), counted)
        } else {
            c.in_flight = c.in_flight.saturating_sub(1);
            (now.saturating_duration_since(c.batch_sent), measuring)
        };
        if !counted {
            return;
        }
        self.hist
            .saturating_record((latency.as_micros() as u64).max(1));
        self.local_done += 1;
        if is_error {
            self.local_errors += 1;
            if let Some(t) = text {
                record_error(&mut self.errors, t);
            }
        }
    }

    /// Reads and scans everything available on client `i`. Returns false if it closed.
    fn read_client(&mut self, i: usize) -> Result<bool, String> {
        let mut chunk = [0u8; 65536];
        loop {
            let c = self.clients[i].as_mut().unwrap();
            match c.conn.read(&mut chunk) {
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
            let text = s
                .error
                .then(|| reply::error_text(&c.inbuf[pos..pos + s.len]));
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
        if self.local_done > 0 {
            if let Ok(mut h) = self.shared.hist.lock() {
                let _ = h.add(&self.hist);
            }
            self.shared
                .done
                .fetch_add(self.local_done, Ordering::Relaxed);
            self.shared
                .errors
                .fetch_add(self.local_errors, Ordering::Relaxed);
            if !self.errors.is_empty() {
                if let Ok(mut e) = self.shared.error_samples.lock() {
                    for (t, n) in self.errors.drain(..) {
                        match e.iter().position(|(x, _)| *x == t) {
                            Some(i) => e[i].1 += n,
                            None if e.len() < 10 => e.push((t, n)),
                            None => {}
                        }
                    }
                }
            }
            self.hist.reset();
            self.local_done = 0;
            self.local_errors = 0;
        }
    }

    /// True once no more requests may be issued (budget spent, time over, or an error).
    fn finished(&self) -> bool {
        let s = &self.shared;
        if s.stop.load(Ordering::Relaxed) {
            return true;
        }
        match self.spec.limit {
            Limit::Requests(n) => s.issued.load(Ordering::Relaxed) >= n,
            Limit::Time(_) => false,
        }
    }

    fn idle(&self) -> bool {
        self.clients
            .iter()
            .flatten()
            .all(|c| c.in_flight == 0 && c.intended.is_empty())
    }

    fn run(&mut self, first: usize, count: usize) -> Result<(), String> {
        for i in first..first + count {
            self.connect(i)
                .map_err(|e| format!("Could not connect: {}", strip_os(&e)))?;
        }
        let open_loop = self.spec.rps;
        let mut events = Events::with_capacity(1024);
        let mut last_flush = Instant::now();
        // Open loop: this thread's share of the rate, and its schedule.
        let rate = open_loop.map(|r| (r as f64 / self.spec.threads as f64).max(0.001));
        let t0 = Instant::now();
        let mut sent_k: u64 = 0;
        let mut rr = first;
        if open_loop.is_none() {
            for i in first..first + count {
                if self.clients[i].as_ref().unwrap().handshake_left == 0 {
                    self.send_batch(i).map_err(|e| e.to_string())?;
                }
            }
        }
        loop {
            // Done when nothing more may be sent and every reply is in (a time limit or an
            // error stops at once; open-loop stragglers are awaited below).
            if self.shared.stop.load(Ordering::Relaxed) || (self.finished() && self.idle()) {
                break;
            }
            let timeout = match rate {
                Some(r) => {
                    // epoll waits in whole milliseconds: sleep through it only when the next
                    // send is far away, and close in with short sleeps, so the generator's own
                    // lateness (which counts as latency in open loop) stays ~0.1 ms.
                    let next = t0 + Duration::from_secs_f64(sent_k as f64 / r);
                    let wait = next.saturating_duration_since(Instant::now());
                    if wait > Duration::from_micros(1500) {
                        (wait - Duration::from_millis(1)).min(Duration::from_millis(50))
                    } else {
                        Duration::ZERO
                    }
                }
                None => Duration::from_millis(50),
            };
            self.poll
                .poll(&mut events, Some(timeout))
                .map_err(|e| e.to_string())?;
            if let Some(r) = rate {
                if events.is_empty() {
                    let next = t0 + Duration::from_secs_f64(sent_k as f64 / r);
                    let wait = next.saturating_duration_since(Instant::now());
                    if !wait.is_zero() && wait <= Duration::from_micros(1500) {
                        std::thread::sleep(wait.min(Duration::from_micros(100)));
                    }
                }
            }
            for ev in events.iter() {
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
                        if self.finished() {
                            self.clients[i] = None;
                            continue;
                        }
                        return Err("Server closed the connection".into());
                    }
                    if open_loop.is_none() {
                        let c = self.clients[i].as_ref().unwrap();
                        let ready = c.handshake_left == 0 && c.in_flight == 0;
                        if ready && !self.finished() {
                            if !self.spec.keepalive && !was_handshaking {
                                // -k 0: a new connection for every batch.
                                let mut old = self.clients[i].take().unwrap();
                                old.conn.deregister(&self.poll);
                                drop(old);
                                self.connect(i)
                                    .map_err(|e| format!("Could not connect: {}", strip_os(&e)))?;
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
            if let Some(r) = rate {
                // Issue every request whose time has come, round-robin over the connections.
                let now = Instant::now();
                let measuring = self.shared.measuring.load(Ordering::Relaxed);
                loop {
                    let due = t0 + Duration::from_secs_f64(sent_k as f64 / r);
                    if due > now || self.claim(1) == 0 {
                        break;
                    }
                    self.render_batch(rr, 1);
                    let c = self.clients[rr].as_mut().unwrap();
                    c.out.extend_from_slice(&self.rendered);
                    c.intended.push_back(due);
                    c.counted.push_back(measuring);
                    c.flush().map_err(|e| e.to_string())?;
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
        // Open loop with a time limit: wait (bounded) for the answers still in flight.
        if open_loop.is_some() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !self.idle() && Instant::now() < deadline {
                self.poll
                    .poll(&mut events, Some(Duration::from_millis(20)))
                    .map_err(|e| e.to_string())?;
                for ev in events.iter() {
                    let i = ev.token().0;
                    if self.clients.get(i).is_some_and(|c| c.is_some())
                        && ev.is_readable()
                        && !self.read_client(i)?
                    {
                        self.clients[i] = None;
                    }
                }
            }
        }
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
    shared
        .measuring
        .store(spec.warmup.is_none(), Ordering::Relaxed);
    for t in 0..threads {
        let count = per + usize::from(t < extra);
        let (spec, shared) = (spec.clone(), shared.clone());
        let f = first;
        first += count;
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let keyspace = spec.keyspace.unwrap_or(1);
            let data = match spec.data {
                DataSize::Fixed(n) => vec![b'x'; n],
                DataSize::Range(lo, _) => vec![b'x'; lo],
            };
            let mut w = Worker {
                keys: KeyGen::new(
                    spec.key_pattern.clone(),
                    keyspace,
                    spec.seed.wrapping_add(t as u64 * 0x9e37_79b9),
                ),
                hist: new_histogram(spec.precision),
                poll: Poll::new().map_err(|e| e.to_string())?,
                clients: (0..spec.clients).map(|_| None).collect(),
                data,
                rendered: Vec::with_capacity(4096),
                local_done: 0,
                local_errors: 0,
                errors: Vec::new(),
                spec,
                shared,
            };
            let r = w.run(f, count);
            if r.is_err() {
                w.shared.stop.store(true, Ordering::Relaxed);
            }
            r
        }));
    }
    // Warm-up, then the measured period.
    let mut measure_start = start;
    if let Some(w) = spec.warmup {
        while start.elapsed() < w && !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Discard what the warm-up recorded.
        if let Ok(mut h) = shared.hist.lock() {
            h.reset();
        }
        shared.done.store(0, Ordering::Relaxed);
        shared.errors.store(0, Ordering::Relaxed);
        if let Limit::Requests(_) = spec.limit {
            shared.issued.store(0, Ordering::Relaxed);
        }
        shared.measuring.store(true, Ordering::Relaxed);
        measure_start = Instant::now();
    }
    if let Limit::Time(d) = spec.limit {
        while measure_start.elapsed() < d && !shared.stop.load(Ordering::Relaxed) {
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
    let error_samples = shared
        .error_samples
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    Ok(RunResult {
        requests: hist.len(),
        hist,
        elapsed,
        errors,
        error_samples,
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
            hist: Mutex::new(new_histogram(precision)),
            error_samples: Mutex::new(Vec::new()),
            measuring: AtomicBool::new(true),
        })
    }
}

/// Opens `n` connections and keeps them idle until interrupted (`-I`).
pub fn idle(target: &Target, n: usize) -> Result<(), String> {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(Conn::open(target).map_err(|e| format!("Could not connect: {}", strip_os(&e)))?);
    }
    println!("Creating {n} idle connections and waiting forever (Ctrl+C when done)");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
