//! The socket under a session: TCP or unix, connected with an optional timeout (`-t`), and a
//! reply reader that finds where a reply ends incrementally (so a reply that arrives in many
//! reads is scanned once, not re-parsed from its start after every read) before building its
//! [`Frame`].

use pyrope_common::resp::{parse_frame, Frame};
use std::io::{self, Read, Write};

pub use pyrope_common::client::Stream;

/// Why a reply could not be read.
#[derive(Debug)]
pub enum WireError {
    /// The socket failed (or timed out).
    Io(io::Error),
    /// The server closed the connection before a whole reply.
    Closed,
    /// The bytes are not RESP.
    Protocol(String),
}

impl WireError {
    /// The message as redis-cli words it ("Server closed the connection", "Connection reset
    /// by peer").
    pub fn describe(&self) -> String {
        match self {
            WireError::Io(e) => io_text(e),
            WireError::Closed => "Server closed the connection".into(),
            WireError::Protocol(p) => format!("Protocol error, {p}"),
        }
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

/// An I/O error without Rust's " (os error N)" suffix, as C's strerror() prints it.
pub fn io_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A socket with a reply buffer.
pub struct Wire {
    stream: Stream,
    buf: Vec<u8>,
    /// Start of the first unconsumed reply in `buf`.
    start: usize,
    /// Incremental boundary scan of the reply at `start`: where it stopped, and how many
    /// elements are still missing (0: no scan in progress).
    scan_pos: usize,
    pending: u64,
    chunk: Box<[u8]>,
}

const CHUNK: usize = 64 * 1024;

impl Wire {
    /// Wraps a connected stream.
    pub fn new(stream: Stream) -> Wire {
        Wire {
            stream,
            buf: Vec::with_capacity(CHUNK),
            start: 0,
            scan_pos: 0,
            pending: 0,
            chunk: vec![0u8; CHUNK].into_boxed_slice(),
        }
    }

    /// Wraps a stream whose first bytes were already read into `buffered`.
    pub fn with_buffer(stream: Stream, buffered: Vec<u8>) -> Wire {
        let mut w = Wire::new(stream);
        w.buf = buffered;
        w
    }

    /// The socket.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads the next whole reply.
    pub fn read_frame(&mut self) -> Result<Frame, WireError> {
        loop {
            if let Some(end) = self.scan()? {
                let (f, n) = parse_frame(&self.buf[self.start..end])
                    .map_err(|e| WireError::Protocol(e.reason))?
                    .ok_or_else(|| WireError::Protocol("incomplete reply".into()))?;
                debug_assert_eq!(self.start + n, end);
                self.start = end;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return Ok(f);
            }
            self.fill()?;
        }
    }

    /// Reads the next whole reply without building a [`Frame`]: `next` sees its raw bytes
    /// and may return a command, written at once; then `then` processes the same bytes. (So
    /// --scan sends the next SCAN before printing the keys it just got.)
    pub fn read_raw<R>(
        &mut self,
        next: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
        then: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, WireError> {
        let end = loop {
            if let Some(end) = self.scan()? {
                break end;
            }
            self.fill()?;
        };
        let raw = &self.buf[self.start..end];
        if let Some(bytes) = next(raw) {
            self.stream.write_all(&bytes)?;
        }
        let r = then(raw);
        self.start = end;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(r)
    }

    /// Reads more bytes into the buffer (one `read(2)`).
    fn fill(&mut self) -> Result<(), WireError> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scan_pos -= self.start.min(self.scan_pos);
            self.start = 0;
        }
        let n = loop {
            match self.stream.read(&mut self.chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WireError::Io(e)),
            }
        };
        if n == 0 {
            return Err(WireError::Closed);
        }
        self.buf.extend_from_slice(&self.chunk[..n]);
        Ok(())
    }

    /// Continues the boundary scan of the reply at `start`; Some(end) once it is complete.
    /// Same element rules as `pyrope_common::resp::scan`, resumable.
    fn scan(&mut self) -> Result<Option<usize>, WireError> {
        if self.pending == 0 {
            if self.start >= self.buf.len() {
                return Ok(None);
            }
            self.scan_pos = self.start;
            self.pending = 1;
        }
        let buf = &self.buf;
        while self.pending > 0 {
            let pos = self.scan_pos;
            if pos >= buf.len() {
                return Ok(None);
            }
            let Some(cr) = buf[pos + 1..].iter().position(|&c| c == b'\r') else {
                return Ok(None);
            };
            let eol = pos + 1 + cr;
            if eol + 1 >= buf.len() {
                return Ok(None);
            }
            let head = &buf[pos + 1..eol];
            let next = eol + 2;
            let len = || -> Result<i64, WireError> {
                std::str::from_utf8(head)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| {
                        WireError::Protocol(format!(
                            "bad length {:?}",
                            String::from_utf8_lossy(head)
                        ))
                    })
            };
            match buf[pos] {
                b'+' | b'-' | b':' | b',' | b'_' | b'#' | b'(' => {
                    self.scan_pos = next;
                    self.pending -= 1;
                }
                b'$' | b'=' | b'!' => {
                    let n = len()?;
                    let end = if n < 0 { next } else { next + n as usize + 2 };
                    if end > buf.len() {
                        return Ok(None);
                    }
                    self.scan_pos = end;
                    self.pending -= 1;
                }
                k @ (b'*' | b'~' | b'>' | b'%' | b'|') => {
                    let n = len()?.max(0) as u64;
                    let mult = if k == b'%' || k == b'|' { 2 } else { 1 };
                    // An attribute is followed by the reply it annotates: it adds its pairs
                    // and does not use up the element it stands in front of.
                    self.pending = self.pending - 1 + n * mult + u64::from(k == b'|');
                    self.scan_pos = next;
                }
                other => {
                    return Err(WireError::Protocol(format!(
                        "got {:?} as reply type byte",
                        other as char
                    )))
                }
            }
        }
        Ok(Some(self.scan_pos))
    }

    /// The socket and whatever was read past the last reply (for the raw replication
    /// stream after REPLCONF).
    pub fn into_parts(mut self) -> (Stream, Vec<u8>) {
        let rest = self.buf.split_off(self.start);
        (self.stream, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    /// A wire over one end of a socket pair whose other end wrote `bytes` in pieces.
    fn wire_with(pieces: &[&[u8]]) -> Wire {
        let (a, mut b) = UnixStream::pair().unwrap();
        let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
        std::thread::spawn(move || {
            for p in pieces {
                b.write_all(&p).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Wire::new(Stream::Unix(a))
    }

    #[test]
    fn replies_split_anywhere_are_read_whole_and_in_order() {
        let wire: &[u8] = b"+OK\r\n*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n:1\r\n>2\r\n+a\r\n_\r\n$-1\r\n|1\r\n+x\r\n+y\r\n:7\r\n";
        for cut in 1..wire.len() {
            let mut w = wire_with(&[&wire[..cut], &wire[cut..]]);
            assert_eq!(w.read_frame().unwrap(), Frame::Simple(b"OK".to_vec()));
            let f = w.read_frame().unwrap();
            assert!(
                matches!(f, Frame::Array(Some(ref v)) if v.len() == 3),
                "{f:?}"
            );
            assert_eq!(w.read_frame().unwrap(), Frame::Bulk(None));
            assert!(matches!(w.read_frame().unwrap(), Frame::Attribute(..)));
        }
    }

    #[test]
    fn a_closed_connection_and_garbage_are_errors() {
        let mut w = wire_with(&[b"$5\r\nab"]);
        assert!(matches!(w.read_frame(), Err(WireError::Closed)));
        let mut w = wire_with(&[b"?what\r\n"]);
        assert!(matches!(w.read_frame(), Err(WireError::Protocol(_))));
    }
}
