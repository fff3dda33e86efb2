//! Outbound links to monitored nodes and to other sentinels (Redis's `instanceLink` with its
//! two hiredis async contexts: `cc` for commands, `pc` for the hello channel).
//!
//! A [`Link`] is one non-blocking TCP connection registered in the sentinel's mio loop.
//! Commands are queued at once, before the connection completes (as hiredis does), each with
//! the [`Expect`]ed kind of its reply, so replies are dispatched in order. Replies are parsed
//! with [`pyrope_common::resp::parse_frame`].
//!
//! This is the non-blocking counterpart of `pyrope_common::client::Client` (which blocks);
//! it belongs in the shared client layer once that layer grows a non-blocking reader.

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use pyrope_common::resp::{encode, parse_frame, Frame};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

/// What the reply to a queued command means to the sentinel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// PING: updates the availability times (`sentinelPingReplyCallback`).
    Ping,
    /// INFO: refreshes the instance (`sentinelInfoReplyCallback`).
    Info,
    /// PUBLISH of a hello (`sentinelPublishReplyCallback`).
    Publish,
    /// SENTINEL IS-MASTER-DOWN-BY-ADDR (`sentinelReceiveIsMasterDownReply`).
    IsMasterDown,
    /// A reply that only counts as activity (AUTH, CLIENT SETNAME, the SLAVEOF transaction).
    Discard,
}

/// One outbound connection.
pub struct Link {
    stream: TcpStream,
    /// The token the mio registry knows this link by.
    pub token: Token,
    /// The TCP handshake completed.
    pub connected: bool,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    /// Kinds of the replies still expected, oldest first.
    pub pending: VecDeque<Expect>,
}

/// Resolves `host:port` to the first socket address (IPv4 or IPv6 literal, or a name).
pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "Name or service not known"))
}

impl Link {
    /// Starts a non-blocking connect to `host:port` and registers it for reads and writes.
    pub fn connect(host: &str, port: u16, token: Token, registry: &Registry) -> io::Result<Link> {
        let addr = resolve(host, port)?;
        let mut stream = TcpStream::connect(addr)?;
        let _ = stream.set_nodelay(true);
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Link {
            stream,
            token,
            connected: false,
            out: Vec::new(),
            inbuf: Vec::new(),
            pending: VecDeque::new(),
        })
    }

    /// Queues a command whose reply is of kind `expect`, and tries to write it.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A], expect: Expect) -> io::Result<()> {
        encode::command(&mut self.out, args);
        self.pending.push_back(expect);
        self.flush()
    }

    /// Queues a command whose replies are not tracked (pub/sub link subscriptions).
    pub fn send_untracked<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        encode::command(&mut self.out, args);
        self.flush()
    }

    /// The local address of the socket (the address other sentinels will see us at, used in
    /// hello messages when no `announce-ip` is set).
    pub fn local_ip(&self) -> Option<String> {
        self.stream.local_addr().ok().map(|a| a.ip().to_string())
    }

    /// Completes the connect when the socket turns writable; errors if it failed.
    fn check_connected(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connected = true;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes what is queued until the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.check_connected()? {
            return Ok(());
        }
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Handles a readiness event: flushes, reads everything available and returns the complete
    /// replies received, and whether the peer closed the connection after them. An error
    /// (connection refused, reset, bad RESP) means the link must be closed.
    pub fn on_ready(&mut self) -> io::Result<(Vec<Frame>, bool)> {
        self.flush()?;
        if !self.connected {
            return Ok((Vec::new(), false));
        }
        let mut chunk = [0u8; 16384];
        let mut closed = false;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut frames = Vec::new();
        let mut start = 0;
        loop {
            match parse_frame(&self.inbuf[start..]) {
                Ok(Some((f, n))) => {
                    start += n;
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
        }
        self.inbuf.drain(..start);
        Ok((frames, closed))
    }

    /// Removes the socket from the registry (before dropping the link).
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}
