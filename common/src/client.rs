//! A small blocking RESP client over TCP or a unix socket, for the tools and the tests.
//!
//! It sends commands as multibulks and reads replies as [`Frame`]s, keeping the exact reply
//! bytes available (differential tests compare bytes, not just values).

use crate::resp::{encode, parse_frame, Frame, FrameError};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Errors of [`Client`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server sent bytes that are not RESP.
    #[error("{0}")]
    Protocol(#[from] FrameError),
    /// The server closed the connection before a full reply.
    #[error("connection closed by server")]
    Closed,
}

/// A connected socket (TCP or unix), shared by the clients of the tools and tests.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(b),
            Stream::Unix(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(b),
            Stream::Unix(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream {
    /// Connects to `host:port`, trying every address the name resolves to in order (as
    /// hiredis does); with `timeout`, each attempt is bounded by it.
    pub fn tcp(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<Stream> {
        let mut last = None;
        for addr in (host, port).to_socket_addrs()? {
            let r = match timeout {
                Some(t) => TcpStream::connect_timeout(&addr, t),
                None => TcpStream::connect(addr),
            };
            match r {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    return Ok(Stream::Tcp(s));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "Name or service not known")
        }))
    }

    /// Connects to the unix socket at `path`. With `timeout`, a listener whose backlog is
    /// full is retried until the timeout passes instead of blocking.
    pub fn unix(path: &str, timeout: Option<Duration>) -> io::Result<Stream> {
        let Some(t) = timeout else {
            return Ok(Stream::Unix(UnixStream::connect(path)?));
        };
        let deadline = Instant::now() + t;
        loop {
            match unix_connect_nonblocking(path) {
                Ok(s) => return Ok(Stream::Unix(s)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "Connection timed out",
                    ))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sets the read timeout (None: block).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// A second handle on the same socket (for a reader thread).
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
}

/// One non-blocking `connect(2)` on a unix socket (EAGAIN when the backlog is full), then
/// back to blocking mode.
fn unix_connect_nonblocking(path: &str) -> io::Result<UnixStream> {
    use std::os::fd::FromRawFd;
    let bytes = path.as_bytes();
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path must be shorter than SUN_LEN",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Owned from here: dropped (closed) on every error path.
    let sock = unsafe { UnixStream::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let rc = unsafe { libc::connect(fd, &addr as *const _ as *const libc::sockaddr, len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.set_nonblocking(false)?;
    Ok(sock)
}

/// A connection to a RESP server.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed by returned replies.
    start: usize,
}

impl Client {
    /// Connects over TCP to `addr` (`host:port`).
    pub fn connect(addr: &str) -> Result<Client, ClientError> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Client {
            stream: Stream::Tcp(s),
            buf: Vec::new(),
            start: 0,
        })
    }

    /// Connects to a unix socket at `path`.
    pub fn connect_unix(path: &str) -> Result<Client, ClientError> {
        Ok(Client {
            stream: Stream::unix(path, None)?,
            buf: Vec::new(),
            start: 0,
        })
    }

    /// Sets the read timeout (None = block forever).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// Sends raw bytes as they are (for protocol tests).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Sends one command without waiting for its reply.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), ClientError> {
        let mut out = Vec::new();
        encode::command(&mut out, args);
        self.send_raw(&out)
    }

    /// Reads the next reply, returning the frame and its exact bytes.
    pub fn read_reply_raw(&mut self) -> Result<(Frame, Vec<u8>), ClientError> {
        let (f, range) = self.next_frame()?;
        Ok((f, self.buf_raw(range)))
    }

    fn buf_raw(&self, range: std::ops::Range<usize>) -> Vec<u8> {
        self.buf[range].to_vec()
    }

    /// Parses the next frame out of the buffer, reading more as needed; returns the frame and
    /// the byte range it occupied in `buf` (valid until the next read).
    fn next_frame(&mut self) -> Result<(Frame, std::ops::Range<usize>), ClientError> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        loop {
            if let Some((f, n)) = parse_frame(&self.buf[self.start..])? {
                let range = self.start..self.start + n;
                self.start += n;
                return Ok((f, range));
            }
            if self.start > 0 && self.start * 2 >= self.buf.len() {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 16384];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads the next reply.
    pub fn read_reply(&mut self) -> Result<Frame, ClientError> {
        Ok(self.next_frame()?.0)
    }

    /// Sends a command and waits for its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, ClientError> {
        self.send(args)?;
        self.read_reply()
    }

    /// Reads until the server closes the connection, returning what arrived (for tests of
    /// connection-closing errors).
    pub fn read_to_close(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut rest = self.buf[self.start..].to_vec();
        self.stream.read_to_end(&mut rest)?;
        self.buf.clear();
        self.start = 0;
        Ok(rest)
    }
}
