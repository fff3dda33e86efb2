//! The socket under a client: TCP (every address a name resolves to, in order, as hiredis
//! does) or a unix socket, each with an optional connect timeout (redis-cli's `-t`).
//!
//! Blocking, for the tools' sessions and the tests; the benchmark engine connects with it too
//! and then hands the socket to its own non-blocking event loop.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A connected socket (TCP or unix), shared by the clients of the tools and tests.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection, with `TCP_NODELAY` set.
    Tcp(TcpStream),
    /// A unix-socket connection.
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
    /// hiredis does); with `timeout`, each attempt is bounded by it. Errors: the name does
    /// not resolve, or the last address's connect error (see [`super::os_error_text`]).
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
