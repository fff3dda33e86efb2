//! The session: the set-up redis-cli performs on every (re)connection (AUTH, SELECT, HELLO 3,
//! and our CLIENT SETNAME), the state it tracks for the prompt (db, MULTI), RESP3 push
//! messages that arrive between replies, and `-MOVED` / `-ASK` redirections in cluster mode
//! (`-c`). Where to connect (`ConnInfo`), the socket and the reply reader (`Client`) are
//! `pyrope_common::client`'s.

use crate::format::{self, Mode};
use pyrope_common::client::{
    atoi, format_addr, os_error_text, Client, ClientError, ConnInfo, Stream,
};
use pyrope_common::resp::{encode, Frame};
use std::io::Write;
use std::time::Duration;

/// Where and how to connect.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Host, port or socket, credentials, and the db to select on connect (redis-cli's
    /// `input_dbnum`; SELECT, MULTI/DISCARD and RESET keep it current for reconnects).
    pub server: ConnInfo,
    /// HELLO 3 on connect; `resp3_explicit` (-3) makes its failure fatal for the special
    /// modes, as opposed to the implicit RESP3 of --json.
    pub resp3: bool,
    pub resp3_explicit: bool,
    pub name: Option<Vec<u8>>,
    /// Connect timeout (`-t`); replies are waited for without limit, as redis-cli does.
    pub timeout: Option<Duration>,
    pub cluster: bool,
    /// --verbose: connection events on stderr.
    pub verbose: bool,
}

/// How RESP3 push messages that arrive between replies are shown (redis-cli's push
/// handler); `None` in [`Conn::pushes`] drops them.
#[derive(Debug, Clone)]
pub struct PushStyle {
    pub mode: Mode,
    pub bulk_delim: Vec<u8>,
    pub cmd_delim: Vec<u8>,
}

/// A session that connects on first use.
pub struct Conn {
    pub settings: Settings,
    wire: Option<Client>,
    /// The db actually selected (for the prompt).
    pub db: u32,
    /// Inside MULTI (the prompt shows `(TX)`), and the db to go back to if it fails.
    pub in_multi: bool,
    pre_multi_db: u32,
    /// The connection speaks RESP3 now.
    pub resp3: bool,
    /// The REPL (also with commands on stdin): redirections are announced.
    pub interactive: bool,
    /// Push messages: printed in this style, or dropped.
    pub pushes: Option<PushStyle>,
}

/// Errors of a request.
#[derive(Debug)]
pub enum RequestError {
    /// Could not connect: the message redis-cli prints.
    Connect(String),
    /// The connection broke while waiting for the reply.
    Io(String),
}

impl RequestError {
    /// The line redis-cli prints for it.
    pub fn message(self) -> String {
        match self {
            RequestError::Connect(m) => m,
            RequestError::Io(m) => format!("Error: {m}"),
        }
    }
}

/// A failed session set-up step (AUTH, SELECT, HELLO 3), already reported on stderr.
#[derive(Debug)]
pub enum Connect {
    /// Connected and set up.
    Ready,
    /// Connected, but a set-up step failed (redis-cli keeps such a connection for
    /// commands, and the special modes exit).
    SetupFailed,
}

impl Conn {
    /// A session that connects on first use.
    pub fn new(settings: Settings) -> Conn {
        Conn {
            db: 0,
            settings,
            wire: None,
            in_multi: false,
            pre_multi_db: 0,
            resp3: false,
            interactive: false,
            pushes: None,
        }
    }

    /// `host:port` (or the socket path), as shown in messages.
    pub fn addr(&self) -> String {
        self.settings.server.addr()
    }

    /// True when connected.
    pub fn is_connected(&self) -> bool {
        self.wire.is_some()
    }

    /// Drops the connection.
    pub fn disconnect(&mut self) {
        self.wire = None;
    }

    /// Connects if needed and runs the set-up. Err: could not connect, with redis-cli's
    /// message ("Could not connect to Redis at 127.0.0.1:6379: Connection refused").
    pub fn connect(&mut self) -> Result<Connect, String> {
        if self.wire.is_some() {
            return Ok(Connect::Ready);
        }
        let s = &self.settings;
        let stream = s.server.connect(s.timeout).map_err(|e| {
            format!(
                "Could not connect to Redis at {}: {}",
                self.addr(),
                os_error_text(&e)
            )
        })?;
        if s.verbose {
            eprintln!("Connected to {}", self.addr());
        }
        self.wire = Some(Client::new(stream));
        self.db = 0;
        self.in_multi = false;
        self.resp3 = false;
        self.setup()
    }

    /// Like [`Conn::connect`], but a failed set-up step is an error too (with an empty
    /// message: it was reported), as redis-cli's special modes exit on it.
    pub fn connect_strict(&mut self) -> Result<(), String> {
        match self.connect()? {
            Connect::Ready => Ok(()),
            Connect::SetupFailed => Err(String::new()),
        }
    }

    /// redis-cli's `cliAuth`, `cliSelect`, `cliSwitchProto` in that order; the first failure
    /// ends the set-up. Then CLIENT SETNAME for `--name`.
    fn setup(&mut self) -> Result<Connect, String> {
        let io_err = |_| "\nI/O error".to_string();
        if let Some(p) = self.settings.server.password.clone() {
            let r = match self.settings.server.user.clone() {
                Some(u) => self.call(&[b"AUTH".to_vec(), u, p]),
                None => self.call(&[b"AUTH".to_vec(), p]),
            };
            if let Frame::Error(e) = r.map_err(io_err)? {
                eprintln!("AUTH failed: {}", cstr(&e));
                return Ok(Connect::SetupFailed);
            }
        }
        if !self.select()? {
            return Ok(Connect::SetupFailed);
        }
        if self.settings.resp3 {
            match self.call(&["HELLO", "3"]).map_err(io_err)? {
                Frame::Error(e) => {
                    eprintln!("HELLO 3 failed: {}", cstr(&e));
                    if self.settings.resp3_explicit {
                        return Ok(Connect::SetupFailed);
                    }
                }
                _ => self.resp3 = true,
            }
        }
        if let Some(n) = self.settings.name.clone() {
            if let Frame::Error(e) = self
                .call(&[b"CLIENT".to_vec(), b"SETNAME".to_vec(), n])
                .map_err(io_err)?
            {
                eprintln!("CLIENT SETNAME failed: {}", cstr(&e));
            }
        }
        Ok(Connect::Ready)
    }

    /// redis-cli's `cliSelect`: selects the wanted db if it is not the current one.
    /// Ok(false) if the server refused.
    fn select(&mut self) -> Result<bool, String> {
        let want = self.settings.server.db;
        if want == self.db {
            return Ok(true);
        }
        match self
            .call(&["SELECT", &want.to_string()])
            .map_err(|_| "\nI/O error".to_string())?
        {
            Frame::Error(e) => {
                eprintln!("SELECT {want} failed: {}", cstr(&e));
                Ok(false)
            }
            _ => {
                self.db = want;
                Ok(true)
            }
        }
    }

    /// One command and its reply on the current connection, pushes skipped (set-up steps).
    fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, ClientError> {
        self.send_now(args)?;
        self.read_reply(false)
    }

    fn send_now<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), ClientError> {
        let w = self.wire.as_mut().ok_or(ClientError::Closed)?;
        w.send(args)
    }

    /// Sends a command (connecting first) without reading its reply.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), RequestError> {
        self.connect().map_err(RequestError::Connect)?;
        self.send_now(args).map_err(|e| self.broken(e))
    }

    /// Reads the next reply. Push messages are shown (or dropped) as redis-cli's push
    /// handler does and the read goes on, unless `pushes_are_replies` (pub/sub, whose
    /// messages are the replies).
    pub fn read_reply(&mut self, pushes_are_replies: bool) -> Result<Frame, ClientError> {
        loop {
            let w = self.wire.as_mut().ok_or(ClientError::Closed)?;
            let f = w.read_reply()?;
            match f {
                Frame::Push(_) if !pushes_are_replies => self.show_push(&f),
                f => return Ok(f),
            }
        }
    }

    /// Reads the next reply of a request: like [`Conn::read_reply`], and a broken
    /// connection is dropped (the next request reconnects).
    pub fn next_reply(&mut self, pushes_are_replies: bool) -> Result<Frame, RequestError> {
        self.read_reply(pushes_are_replies)
            .map_err(|e| self.broken(e))
    }

    /// The next reply as raw bytes (see [`Client::read_raw`]); a broken connection is dropped.
    pub fn read_raw<R>(
        &mut self,
        next: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
        then: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RequestError> {
        let w = self
            .wire
            .as_mut()
            .ok_or_else(|| RequestError::Io("Server closed the connection".into()))?;
        w.read_raw(next, then).map_err(|e| self.broken(e))
    }

    fn broken(&mut self, e: ClientError) -> RequestError {
        // As redis-cli: no resend (the command may have run); the next command reconnects,
        // and the REPL shows `not connected> ` until then.
        self.wire = None;
        RequestError::Io(e.to_string())
    }

    /// redis-cli's `cliPushHandler`: `-> invalidate: 'k1', 'k2'` for client-side caching
    /// invalidations on a tty, the reply format otherwise.
    fn show_push(&self, f: &Frame) {
        let Some(style) = &self.pushes else { return };
        let out = format::push(f, style);
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(&out);
        let _ = so.flush();
    }

    /// Sends a command and returns its reply, connecting first and following redirections
    /// in cluster mode; tracks SELECT / MULTI / HELLO for the prompt and reconnects.
    pub fn request<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, RequestError> {
        let mut redirects = 0;
        loop {
            self.send(args)?;
            let f = self.next_reply(false)?;
            if self.settings.cluster && redirects < 16 {
                if let Some(ask) = self.redirect(&f) {
                    redirects += 1;
                    self.wire = None;
                    self.connect().map_err(RequestError::Connect)?;
                    if ask {
                        let r = self.call(&["ASKING"]).map_err(|e| self.broken(e))?;
                        if let Frame::Error(e) = r {
                            // As redis-cli: the command is not sent, and the (empty)
                            // connection error follows.
                            eprintln!("ASKING failed: {}", cstr(&e));
                            return Err(RequestError::Io(String::new()));
                        }
                    }
                    continue;
                }
            }
            self.track(args, &f);
            return Ok(f);
        }
    }

    /// For `-MOVED slot host:port` / `-ASK ...`: points the settings at the new node,
    /// announces it in interactive mode as redis-cli, and returns whether it was ASK.
    fn redirect(&mut self, f: &Frame) -> Option<bool> {
        let Frame::Error(e) = f else { return None };
        let ask = e.starts_with(b"ASK ");
        if !ask && !e.starts_with(b"MOVED ") {
            return None;
        }
        let text = String::from_utf8_lossy(e);
        let mut w = text.split(' ');
        let _kind = w.next();
        let slot = atoi(w.next().unwrap_or(""));
        let (h, p) = w.next()?.rsplit_once(':')?;
        let server = &mut self.settings.server;
        if !h.is_empty() {
            server.host = h.to_string();
        }
        server.port = atoi(p) as u16;
        // redis-cli reissues over TCP even when it started on a unix socket.
        server.socket = None;
        if self.interactive {
            println!(
                "-> Redirected to slot [{slot}] located at {}",
                format_addr(&server.host, server.port)
            );
        }
        if self.settings.verbose {
            eprintln!("Redirected to {}", self.addr());
        }
        Some(ask)
    }

    /// Follows what redis-cli's `cliSendCommand` tracks after a reply: the selected db,
    /// MULTI/EXEC/DISCARD (the `(TX)` prompt), RESET, HELLO's protocol, AUTH re-selecting.
    pub fn track<A: AsRef<[u8]>>(&mut self, args: &[A], reply: &Frame) {
        let is = |i: usize, s: &str| {
            args.get(i)
                .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(s.as_bytes()))
        };
        let err = reply.is_error();
        let argc = args.len();
        if is(0, "select") && argc == 2 && !err {
            let n = atoi(args[1].as_ref()).max(0) as u32;
            self.db = n;
            self.settings.server.db = n;
        } else if is(0, "auth") && (argc == 2 || argc == 3) {
            let _ = self.select();
        } else if is(0, "multi") && argc == 1 && !err {
            self.in_multi = true;
            self.pre_multi_db = self.db;
        } else if is(0, "exec") && argc == 1 && self.in_multi {
            self.in_multi = false;
            if err || matches!(reply, Frame::Null | Frame::Array(None) | Frame::Bulk(None)) {
                self.db = self.pre_multi_db;
                self.settings.server.db = self.pre_multi_db;
            }
        } else if is(0, "discard") && argc == 1 && !err {
            self.in_multi = false;
            self.db = self.pre_multi_db;
            self.settings.server.db = self.pre_multi_db;
        } else if is(0, "reset") && argc == 1 && !err {
            self.in_multi = false;
            self.db = 0;
            self.settings.server.db = 0;
            self.resp3 = false;
        } else if is(0, "hello") {
            match reply {
                Frame::Map(_) => self.resp3 = true,
                Frame::Array(_) => self.resp3 = false,
                _ => {}
            }
        }
    }

    /// Sends all `commands` in one write and reads their replies in order (no redirections,
    /// no retry: for the samplers, which treat a failure as fatal).
    pub fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Frame>, String> {
        self.connect()?;
        let mut out = Vec::new();
        for cmd in commands {
            encode::command(&mut out, cmd);
        }
        let w = self.wire.as_mut().ok_or("not connected")?;
        let r = w.send_raw(&out).and_then(|_| {
            (0..commands.len())
                .map(|_| w.read_reply())
                .collect::<Result<Vec<_>, _>>()
        });
        r.map_err(|e| {
            self.wire = None;
            format!("Error: {e}")
        })
    }

    /// Takes the socket out of the session (for the raw modes: --pipe, --rdb, --replica),
    /// with any bytes read past the last reply.
    pub fn take_stream(&mut self) -> Result<(Stream, Vec<u8>), String> {
        self.connect()?;
        let w = self.wire.take().ok_or("not connected")?;
        Ok(w.into_parts())
    }
}

/// An error text as C prints it with `%s` (up to the first NUL byte).
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Encodes a command (for raw writes).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut v = Vec::new();
    encode::command(&mut v, args);
    v
}
