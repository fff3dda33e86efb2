//! The client layer of the tools (pyrope-cli, pyrope-benchmark, and tomorrow pyrope-sentinel
//! and `pyrope-cli --cluster`) and of the end-to-end tests: one copy of what they all do.
//!
//! - [`args`]: the shared connection options (`-h -p -s -a --user --pass -u -3`, clap).
//! - [`uri`]: [`ConnInfo`] (where and as whom to connect), `redis://` URIs, `host:port`.
//! - [`stream`]: the blocking TCP / unix socket, with connect timeouts.
//! - [`reader`]: the incremental reply reader (boundary scan, then one `Frame` parse).
//! - [`Client`] (here): a blocking connection that sends commands and reads replies as
//!   [`Frame`]s or raw bytes; [`ClientError`] words failures as redis-cli prints them, and
//!   [`os_error_text`] gives an I/O error as C's `strerror` does.
//!
//! The benchmark's load generator does its own non-blocking I/O; it shares the connect and
//! the texts, not the reader (it only counts replies, with `resp::scan`).

pub mod args;
pub mod reader;
pub mod stream;
pub mod uri;

pub use args::ConnArgs;
pub use reader::ReplyReader;
pub use stream::Stream;
pub use uri::{format_addr, parse_uri, ConnInfo, Uri, UriError};

use crate::resp::{encode, Frame};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Why a request failed; the texts are redis-cli's (`Error: <text>` is what it prints).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed, or a read timed out: the OS's text
    /// ("Connection reset by peer").
    #[error("{}", os_error_text(.0))]
    Io(#[from] io::Error),
    /// The server closed the connection before a whole reply.
    #[error("Server closed the connection")]
    Closed,
    /// The server sent bytes that are not RESP (hiredis's reason).
    #[error("Protocol error, {0}")]
    Protocol(String),
}

/// An I/O error as C's `strerror()` / `gai_strerror()` words it, which is what redis-cli
/// and redis-benchmark print: "Connection refused", not Rust's "Connection refused (os error
/// 111)"; "Name or service not known", not "failed to lookup address information: ...".
pub fn os_error_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&s);
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// C's `atoi`, as redis-cli reads numbers from URIs, redirections and its own commands:
/// leading white space, an optional sign, then the leading digits; 0 when there are none
/// (saturating instead of C's undefined overflow).
pub fn atoi(s: impl AsRef<[u8]>) -> i64 {
    let s = s.as_ref();
    let t = &s[s
        .iter()
        .position(|c| !b" \t\n\x0b\x0c\r".contains(c))
        .unwrap_or(s.len())..];
    let (neg, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

/// A blocking connection to a RESP server: commands out, whole replies in (each reply
/// scanned once however many reads it takes, see [`ReplyReader`]), with the exact reply bytes
/// available (differential tests compare bytes, and `--scan` reads keys in place).
pub struct Client {
    stream: Stream,
    reader: ReplyReader,
}

impl Client {
    /// A client over a connected stream.
    pub fn new(stream: Stream) -> Client {
        Client::with_buffered(stream, Vec::new())
    }

    /// A client over a stream whose first bytes were already read into `buffered`.
    pub fn with_buffered(stream: Stream, buffered: Vec<u8>) -> Client {
        Client {
            stream,
            reader: ReplyReader::with_buffered(buffered),
        }
    }

    /// Connects over TCP to `addr` (`host:port`, `[IPv6]:port`).
    pub fn connect(addr: &str) -> Result<Client, ClientError> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Client::new(Stream::Tcp(s)))
    }

    /// Connects to a unix socket at `path`.
    pub fn connect_unix(path: &str) -> Result<Client, ClientError> {
        Ok(Client::new(Stream::unix(path, None)?))
    }

    /// The socket.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Sets the read timeout (None = block forever); a read that times out is
    /// [`ClientError::Io`] with `WouldBlock` or `TimedOut`, and the next read goes on with
    /// the bytes already received.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// Sends raw bytes as they are (protocol tests, pre-encoded commands).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Sends one command as a multibulk without waiting for its reply.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), ClientError> {
        let mut out = Vec::new();
        encode::command(&mut out, args);
        self.send_raw(&out)
    }

    /// Reads the next reply.
    pub fn read_reply(&mut self) -> Result<Frame, ClientError> {
        self.reader.read_frame(&mut self.stream)
    }

    /// Reads the next reply, returning the frame and its exact bytes.
    pub fn read_reply_raw(&mut self) -> Result<(Frame, Vec<u8>), ClientError> {
        let raw = self.reader.next_reply(&mut self.stream)?;
        Ok((reader::frame_of(raw)?, raw.to_vec()))
    }

    /// Reads the next whole reply without building a [`Frame`]: `next` sees its raw bytes
    /// and may return bytes to send at once (a command); then `then` processes the same
    /// bytes. (So `--scan` sends the next SCAN before printing the keys it just got.)
    pub fn read_raw<R>(
        &mut self,
        next: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
        then: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, ClientError> {
        let raw = self.reader.next_reply(&mut self.stream)?;
        if let Some(bytes) = next(raw) {
            self.stream.write_all(&bytes)?;
        }
        Ok(then(raw))
    }

    /// Sends a command and waits for its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, ClientError> {
        self.send(args)?;
        self.read_reply()
    }

    /// Reads until the server closes the connection, returning what arrived after the last
    /// reply read (for tests of connection-closing errors).
    pub fn read_to_close(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut rest = self.reader.take_buffered();
        self.stream.read_to_end(&mut rest)?;
        Ok(rest)
    }

    /// The socket and whatever was read past the last reply (for a raw stream that
    /// follows, such as replication after REPLCONF, or mass insertion).
    pub fn into_parts(mut self) -> (Stream, Vec<u8>) {
        let rest = self.reader.take_buffered();
        (self.stream, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_strerror() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(os_error_text(&refused), "Connection refused");
        assert_eq!(
            ClientError::from(io::Error::from_raw_os_error(libc::ECONNRESET)).to_string(),
            "Connection reset by peer"
        );
        let e = std::net::ToSocketAddrs::to_socket_addrs("nosuchhost.invalid:6379").unwrap_err();
        assert!(!os_error_text(&e).contains("failed to lookup"), "{e}");
        assert_eq!(
            ClientError::Closed.to_string(),
            "Server closed the connection"
        );
    }

    #[test]
    fn atoi_as_c() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi(" \t-3"), -3);
        assert_eq!(atoi("+7"), 7);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi(b"99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn a_client_reads_replies_and_their_bytes_over_a_socket() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut c = Client::new(Stream::Unix(a));
        c.send(&["PING"]).unwrap();
        let mut got = [0u8; 14];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"*1\r\n$4\r\nPING\r\n");
        b.write_all(b"+PONG\r\n:1\r\n$1\r\nx\r\n+rest").unwrap();
        assert_eq!(c.read_reply().unwrap(), Frame::Simple(b"PONG".to_vec()));
        let (f, raw) = c.read_reply_raw().unwrap();
        assert_eq!((f, raw.as_slice()), (Frame::Integer(1), &b":1\r\n"[..]));
        let n = c
            .read_raw(|raw| Some(raw.to_vec()), |raw| raw.len())
            .unwrap();
        assert_eq!(n, 7);
        let mut echoed = [0u8; 7];
        b.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"$1\r\nx\r\n");
        drop(b);
        assert_eq!(c.read_to_close().unwrap(), b"+rest");
    }
}
