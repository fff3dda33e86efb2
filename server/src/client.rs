//! Per-connection state: [`Client`] (socket or none, query buffer with the incremental
//! parser, reply buffer, flags, subscriptions) and its CLIENT LIST line. The commands that act
//! on clients live in `connection.rs`.
//!
//! During command execution the input and reply buffers are taken out of the client (see
//! `net::process_input`), so handlers receive the reply buffer as `Ctx::out`.

use crate::reply::Reply;
use crate::server::Server;
use pyrope_common::resp::RequestParser;
use std::io::{self, Write};

/// The socket of a client.
pub enum Conn {
    /// TCP connection.
    Tcp(mio::net::TcpStream),
    /// Unix-socket connection.
    Unix(mio::net::UnixStream),
}

impl Conn {
    /// The raw fd.
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Changes the readiness interest of the socket in `registry`.
    pub fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interest: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => registry.reregister(s, token, interest),
            Conn::Unix(s) => registry.reregister(s, token, interest),
        }
    }

    /// Writes as much of `buf` as the socket takes.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    /// Reads into the spare capacity of `buf` (at most `max` bytes), appending.
    pub fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        buf.reserve(max);
        let spare = buf.capacity() - buf.len();
        let n = spare.min(max.max(1));
        // SAFETY: read(2) writes at most `n` bytes into the reserved, uninitialized tail;
        // the length is extended only by what it reports.
        let r = unsafe {
            libc::read(
                self.fd(),
                buf.as_mut_ptr().add(buf.len()) as *mut libc::c_void,
                n,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: read(2) initialised exactly `r` bytes of the reserved tail.
        unsafe { buf.set_len(buf.len() + r as usize) };
        Ok(r as usize)
    }
}

/// Client flags.
pub mod flags {
    /// Close after writing the pending replies (QUIT, protocol errors, CLIENT KILL of self).
    pub const CLOSE_AFTER_REPLY: u32 = 1 << 0;
    /// Close as soon as possible without writing (killed, buffer limits).
    pub const CLOSE_ASAP: u32 = 1 << 1;
    /// CLIENT NO-EVICT on.
    pub const NO_EVICT: u32 = 1 << 2;
    /// CLIENT NO-TOUCH on.
    pub const NO_TOUCH: u32 = 1 << 3;
    /// CLIENT REPLY OFF.
    pub const REPLY_OFF: u32 = 1 << 4;
    /// CLIENT REPLY SKIP: skip the reply of the next command.
    pub const REPLY_SKIP_NEXT: u32 = 1 << 5;
    /// Skip the reply of the command being executed.
    pub const REPLY_SKIP: u32 = 1 << 6;
    /// Queued in `Server::pending_writes`.
    pub const PENDING_WRITE: u32 = 1 << 7;
    /// Blocked (on keys, or postponed by CLIENT PAUSE): its command waits at the head of
    /// its query buffer and no input is processed (`crate::blocking`).
    pub const BLOCKED: u32 = 1 << 8;
    /// Connected over a unix socket.
    pub const UNIX_SOCKET: u32 = 1 << 9;
    /// Queued in `Server::to_close`.
    pub const CLOSING: u32 = 1 << 10;
    /// Never blocks (socketless clients: the harness, later the Lua client): blocking
    /// commands answer as if their timeout had elapsed (Redis `CLIENT_DENY_BLOCKING`).
    pub const DENY_BLOCKING: u32 = 1 << 11;
    /// Inside MULTI: commands are queued until EXEC (`crate::multi`; CLIENT LIST `x`).
    pub const MULTI: u32 = 1 << 12;
    /// A watched key was modified: the next EXEC fails with a null array (CLIENT LIST `d`).
    pub const DIRTY_CAS: u32 = 1 << 13;
    /// A command was rejected while queueing: the next EXEC fails with EXECABORT.
    pub const DIRTY_EXEC: u32 = 1 << 14;
    /// In MONITOR mode (`crate::monitor`; CLIENT LIST `O`).
    pub const MONITOR: u32 = 1 << 15;
}

/// Buffered input of a client.
#[derive(Default)]
pub struct Input {
    /// Received bytes; `pos` of them are consumed.
    pub qbuf: Vec<u8>,
    pub pos: usize,
    pub parser: RequestParser,
}

/// One connected client.
pub struct Client {
    pub id: u64,
    /// The socket; None for a socketless client (the Lua client, the AOF loader, the master
    /// link's executor, tests and fuzzing), which only has its reply buffer.
    pub conn: Option<Conn>,
    /// Channel, pattern and shard-channel subscriptions.
    pub subs: crate::pubsub::ClientSubs,
    /// Peer address `ip:port` (or `path:0` for unix sockets).
    pub addr: String,
    /// Local address.
    pub laddr: String,
    pub name: Option<Vec<u8>>,
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    pub db: usize,
    pub authenticated: bool,
    pub user: String,
    /// The ACL user's slot (`acl::Acl::slots`), `acl::DEFAULT_USER` until AUTH.
    pub acl_user: usize,
    pub flags: u32,
    pub input: Input,
    pub out: Reply,
    /// Bytes of `out.buf` already written.
    pub sent: usize,
    pub ctime_ms: i64,
    pub last_interaction_ms: i64,
    /// Id of the last command (`cmd=` in CLIENT LIST).
    pub last_cmd: Option<usize>,
    /// When the output first exceeded the soft limit (ms), if it does.
    pub obuf_soft_since: Option<i64>,
    pub net_in: u64,
    pub net_out: u64,
    pub commands_processed: u64,
    /// True while the socket is registered for writability too (only while a reply did not
    /// fit in the socket buffer, as Redis installs its write handler only then: keeping
    /// EPOLLOUT registered would wake the loop after every write).
    pub want_write: bool,
    /// Set while blocked (`crate::blocking`).
    pub block: Option<Box<crate::blocking::BlockedState>>,
    /// How the command at the head of the input resumes after unblocking.
    pub resume: crate::blocking::Resume,
    /// Execution time (us) of the runs of the current command that blocked, counted when it
    /// completes (Redis `c->duration`).
    pub blocked_us: u64,
    /// MULTI queue and watched keys (`crate::multi`).
    pub multi: crate::multi::ClientMulti,
    /// Client-side caching state (`crate::tracking`).
    pub tracking: crate::tracking::ClientTracking,
    /// Largest query buffer length (bytes) since the cron last looked (Redis
    /// `querybuf_peak`), for `clientsCronResizeQueryBuffer`.
    pub qbuf_peak: usize,
    /// Largest reply buffer length (bytes) since the last peak reset (Redis `buf_peak`,
    /// CLIENT LIST `rbp`).
    pub out_peak: usize,
    /// When `out_peak` was last reset (ms).
    pub out_peak_reset_ms: i64,
}

/// The buffers of the client whose commands are being processed, taken out of its
/// [`Client`] meanwhile: CLIENT LIST / CLIENT INFO read them here (Redis measures the
/// running command inside the query buffer, and its arguments as `argv-mem`).
#[derive(Clone, Copy, Debug)]
pub struct RunningIo {
    /// Slab key of the client (`usize::MAX`: none).
    pub k: usize,
    /// Query buffer length and capacity, bytes (the running command included).
    pub qbuf_len: usize,
    pub qbuf_cap: usize,
    /// Sum of the running command's argument lengths (Redis `argv_len_sum`) and its argc.
    pub argv_mem: usize,
    pub argc: usize,
    /// Reply buffer capacity and length, bytes.
    pub out_cap: usize,
    pub out_len: usize,
}

impl Default for RunningIo {
    fn default() -> RunningIo {
        RunningIo {
            k: usize::MAX,
            qbuf_len: 0,
            qbuf_cap: 0,
            argv_mem: 0,
            argc: 0,
            out_cap: 0,
            out_len: 0,
        }
    }
}

impl Client {
    /// True for a unix-socket client or a loopback peer (Redis `islocalClient`), which the
    /// `local` setting of `enable-debug-command` / `enable-protected-configs` admits.
    pub fn is_local(&self) -> bool {
        self.flags & flags::UNIX_SOCKET != 0 || crate::net::is_loopback(&self.addr)
    }

    /// A new client on `conn` (None: a socketless client, see [`Client::conn`]).
    pub fn new(
        id: u64,
        conn: Option<Conn>,
        addr: String,
        laddr: String,
        now_ms: i64,
        auth_needed: bool,
    ) -> Client {
        let mut input = Input {
            parser: RequestParser::new(),
            ..Default::default()
        };
        input.parser.unauthenticated = auth_needed;
        let internal = conn.is_none();
        Client {
            id,
            conn,
            subs: Default::default(),
            addr,
            laddr,
            name: None,
            lib_name: None,
            lib_ver: None,
            db: 0,
            authenticated: !auth_needed,
            user: "default".into(),
            acl_user: if internal {
                crate::acl::SUPERUSER
            } else {
                crate::acl::DEFAULT_USER
            },
            flags: 0,
            input,
            out: Reply::new(),
            sent: 0,
            ctime_ms: now_ms,
            last_interaction_ms: now_ms,
            last_cmd: None,
            obuf_soft_since: None,
            net_in: 0,
            net_out: 0,
            commands_processed: 0,
            want_write: false,
            block: None,
            resume: Default::default(),
            blocked_us: 0,
            multi: Default::default(),
            tracking: Default::default(),
            qbuf_peak: 0,
            out_peak: 0,
            out_peak_reset_ms: now_ms,
        }
    }

    /// Bytes waiting to be written.
    pub fn pending_output(&self) -> usize {
        self.out.buf.len() - self.sent
    }

    /// The flags column of CLIENT LIST.
    fn flag_string(&self) -> String {
        let mut s = String::new();
        if self.flags & flags::MONITOR != 0 {
            s.push('O');
        }
        if self.subs.any() {
            s.push('P');
        }
        if self.flags & flags::MULTI != 0 {
            s.push('x');
        }
        if self.flags & flags::BLOCKED != 0 {
            s.push('b');
        }
        s.push_str(self.tracking.list_flags());
        if self.flags & flags::DIRTY_CAS != 0 {
            s.push('d');
        }
        if self.flags & flags::CLOSE_AFTER_REPLY != 0 {
            s.push('c');
        }
        if self.flags & flags::CLOSE_ASAP != 0 {
            s.push('A');
        }
        if self.flags & flags::UNIX_SOCKET != 0 {
            s.push('U');
        }
        if self.flags & flags::NO_EVICT != 0 {
            s.push('e');
        }
        if self.flags & flags::NO_TOUCH != 0 {
            s.push('T');
        }
        if s.is_empty() {
            s.push('N');
        }
        s
    }

    /// Bytes this client holds (CLIENT LIST `tot-mem`, Redis `getClientMemoryUsage`): the
    /// struct, both buffers' capacities, the arguments of a running, blocked or
    /// half-received command, the MULTI state, subscriptions. `io` as for
    /// [`Client::info_line`].
    pub fn memory_usage(&self, io: Option<&RunningIo>) -> usize {
        match io {
            Some(io) => self.memory_parts(io.qbuf_cap, io.out_cap, io.argv_mem, io.argc),
            None => {
                let (argv_mem, argc) = match self.block.as_ref() {
                    Some(b) => (b.argv_mem, b.argc),
                    None => self.input.parser.partial_args(),
                };
                self.memory_parts(
                    self.input.qbuf.capacity(),
                    self.out.buf.capacity(),
                    argv_mem,
                    argc,
                )
            }
        }
    }

    fn memory_parts(&self, qcap: usize, rbs: usize, argv_mem: usize, argc: usize) -> usize {
        let ptr = std::mem::size_of::<usize>();
        std::mem::size_of::<Client>()
            + qcap
            + rbs
            + argv_mem
            + ptr * argc
            + self.input.parser.heap_bytes()
            + self.multi.memory()
            + (self.subs.channels.len() + self.subs.patterns.len() + self.subs.shard.len()) * ptr
            + self.addr.capacity()
            + self.laddr.capacity()
    }

    /// One CLIENT LIST line (without the newline), fields as Redis 7.4.
    ///
    /// The buffer fields are measured (Redis's `catClientInfoString` /
    /// `getClientMemoryUsage` terms): `qbuf`/`qbuf-free` the query buffer's length and spare
    /// capacity (the running command's own bytes included, a blocked command's left out);
    /// `argv-mem` the argument bytes of the running or blocked command; `rbs` the reply
    /// buffer's capacity and `rbp` its peak; `obl` the pending output up to 16 KiB (Redis's
    /// static reply buffer), `oll`/`omem` the 16 KiB blocks and bytes beyond it, which the
    /// output limits count; `tot-mem` the client struct, both buffers' capacities, argv,
    /// MULTI queue, watched keys and subscriptions. `io`: the taken-out buffers when this is
    /// the client whose commands are running ([`RunningIo`]).
    pub fn info_line(
        &self,
        now_ms: i64,
        cmds: &crate::command::CommandTable,
        io: Option<&RunningIo>,
    ) -> String {
        let last_cmd = self
            .last_cmd
            .map_or("NULL", |id| cmds.cmds[id].fullname.as_str());
        let lossy = |b: &Option<Vec<u8>>| {
            b.as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        // A blocked command is parsed into argv in Redis: not part of qbuf, but argv-mem.
        let (qbuf, qcap, argv_mem, argc, rbs, pending) = match io {
            Some(io) => (
                io.qbuf_len,
                io.qbuf_cap,
                io.argv_mem,
                io.argc,
                io.out_cap,
                io.out_len + self.pending_output(),
            ),
            None => {
                // A command being received: its complete arguments are argv in Redis.
                let (held, argv_mem, argc) = match self.block.as_ref() {
                    Some(b) => (b.cmd_len, b.argv_mem, b.argc),
                    None => {
                        let (mem, n) = self.input.parser.partial_args();
                        (self.input.pos + self.input.parser.parsed_len(), mem, n)
                    }
                };
                (
                    self.input.qbuf.len().saturating_sub(held),
                    self.input.qbuf.capacity(),
                    argv_mem,
                    argc,
                    self.out.buf.capacity(),
                    self.pending_output(),
                )
            }
        };
        let qfree = qcap.saturating_sub(qbuf);
        const STATIC_REPLY: usize = 16 * 1024;
        let obl = pending.min(STATIC_REPLY);
        let omem = pending - obl;
        let oll = omem.div_ceil(STATIC_REPLY);
        let tot_mem = self.memory_parts(qcap, rbs, argv_mem, argc);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} watch={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events=r{} cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.conn.as_ref().map_or(-1, |c| c.fd()),
            lossy(&self.name),
            (now_ms - self.ctime_ms) / 1000,
            (now_ms - self.last_interaction_ms) / 1000,
            self.flag_string(),
            self.db,
            self.subs.channels.len(),
            self.subs.patterns.len(),
            self.subs.shard.len(),
            if self.flags & flags::MULTI != 0 {
                self.multi.count as i64
            } else {
                -1
            },
            self.multi.watched.len(),
            qbuf,
            qfree,
            argv_mem,
            self.multi.argv_len_sums,
            rbs,
            self.out_peak.max(pending).min(rbs),
            obl,
            oll,
            omem,
            tot_mem,
            if self.want_write { "w" } else { "" },
            last_cmd,
            self.user,
            self.tracking.redir(),
            self.out.resp,
            lossy(&self.lib_name),
            lossy(&self.lib_ver),
        )
    }
}

/// Ends CLIENT PAUSE: the postponed clients resume in the order they were postponed.
pub fn unpause(srv: &mut Server) {
    srv.pause = Default::default();
    crate::blocking::release_postponed(srv);
}
