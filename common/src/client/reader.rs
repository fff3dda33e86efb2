//! The reply reader: a buffer over a byte source that hands out one whole reply at a time.
//!
//! Where a reply ends is found by an incremental boundary scan ([`ScanState`]): a reply that
//! arrives over many reads is scanned once, resuming where the last read ran out, instead of
//! being re-parsed from its first byte after every read (a multi-megabyte `LRANGE` or `KEYS`
//! reply would otherwise cost quadratic time). Only a complete reply is then parsed into a
//! [`Frame`], or handed out as raw bytes to callers that read replies in place (`--scan`).
//!
//! The reader owns no socket: it is given the source on each call, so the same code reads
//! from a [`super::Stream`] in the tools and from a scripted source in tests.

use super::ClientError;
use crate::resp::scan::{BadReply, ScanState};
use crate::resp::{parse_frame, Frame};
use std::io::{self, Read};

/// Bytes asked of the source per `read(2)`.
const CHUNK: usize = 64 * 1024;

/// A reply buffer with the boundary scan of the reply at its head.
pub struct ReplyReader {
    buf: Vec<u8>,
    /// Start of the first reply not handed out yet.
    start: usize,
    /// The scan of the reply at `start`, as far as the buffered bytes go.
    scan: ScanState,
    chunk: Box<[u8]>,
}

impl Default for ReplyReader {
    fn default() -> Self {
        ReplyReader::new()
    }
}

impl ReplyReader {
    /// An empty reader.
    pub fn new() -> ReplyReader {
        ReplyReader::with_buffered(Vec::new())
    }

    /// A reader whose first bytes were already read from the source (e.g. what followed
    /// the RDB payload of a SYNC).
    pub fn with_buffered(bytes: Vec<u8>) -> ReplyReader {
        ReplyReader {
            buf: bytes,
            start: 0,
            scan: ScanState::new(),
            chunk: vec![0u8; CHUNK].into_boxed_slice(),
        }
    }

    /// The bytes of the next whole reply, reading from `src` as long as it is incomplete.
    /// Errors: the source fails or times out ([`ClientError::Io`]; the partial reply is
    /// kept, so the call can be repeated), ends ([`ClientError::Closed`]), or sends bytes
    /// that are not RESP ([`ClientError::Protocol`]).
    pub fn next_reply(&mut self, src: &mut impl Read) -> Result<&[u8], ClientError> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        loop {
            match self.scan.resume(&self.buf[self.start..]) {
                Ok(Some(s)) => {
                    let begin = self.start;
                    self.start += s.len;
                    self.scan = ScanState::new();
                    return Ok(&self.buf[begin..self.start]);
                }
                Ok(None) => self.fill(src)?,
                Err(BadReply(at)) => return Err(self.bad_reply(self.start + at)),
            }
        }
    }

    /// The next whole reply as a [`Frame`] (errors as [`ReplyReader::next_reply`]).
    pub fn read_frame(&mut self, src: &mut impl Read) -> Result<Frame, ClientError> {
        frame_of(self.next_reply(src)?)
    }

    /// The bytes read past the last reply handed out.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Takes the bytes read past the last reply handed out (for a raw stream that follows,
    /// such as the replication stream after REPLCONF); the reader is left empty.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        self.scan = ScanState::new();
        rest
    }

    /// One `read(2)` from `src` appended to the buffer, after dropping the replies already
    /// handed out once they are at least half of it (the scan's offsets are relative to the
    /// reply's start, so they survive the move).
    fn fill(&mut self, src: &mut impl Read) -> Result<(), ClientError> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let n = loop {
            match src.read(&mut self.chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ClientError::Io(e)),
            }
        };
        if n == 0 {
            return Err(ClientError::Closed);
        }
        self.buf.extend_from_slice(&self.chunk[..n]);
        Ok(())
    }

    /// The protocol error for the element at `at`: hiredis's "got 'x' as reply type byte"
    /// for an unknown type, else the length that is not a number.
    fn bad_reply(&self, at: usize) -> ClientError {
        let kind = self.buf[at];
        if !b"+-:,_#($=!*~>%|".contains(&kind) {
            return ClientError::Protocol(format!("got {:?} as reply type byte", kind as char));
        }
        let line = &self.buf[at + 1..];
        let head = &line[..line.iter().position(|&c| c == b'\r').unwrap_or(line.len())];
        ClientError::Protocol(format!("bad length {:?}", String::from_utf8_lossy(head)))
    }
}

/// The [`Frame`] of one whole reply (as [`ReplyReader::next_reply`] hands them out).
pub(crate) fn frame_of(raw: &[u8]) -> Result<Frame, ClientError> {
    match parse_frame(raw) {
        Ok(Some((f, n))) if n == raw.len() => Ok(f),
        Ok(_) => Err(ClientError::Protocol("incomplete reply".into())),
        Err(e) => Err(ClientError::Protocol(e.reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that returns its pieces one per `read`, then end of stream.
    struct Pieces(std::collections::VecDeque<Vec<u8>>);

    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some(mut p) = self.0.pop_front() else {
                return Ok(0);
            };
            let n = p.len().min(out.len());
            out[..n].copy_from_slice(&p[..n]);
            if n < p.len() {
                self.0.push_front(p.split_off(n));
            }
            Ok(n)
        }
    }

    /// (An empty part would read as the end of the stream: they are left out.)
    fn pieces(parts: &[&[u8]]) -> Pieces {
        Pieces(
            parts
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| p.to_vec())
                .collect(),
        )
    }

    const WIRE: &[u8] = b"+OK\r\n*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n:1\r\n>2\r\n+a\r\n_\r\n$-1\r\n|1\r\n+x\r\n+y\r\n:7\r\n-ERR no\r\n";

    fn expect_replies(r: &mut ReplyReader, src: &mut Pieces) {
        assert_eq!(r.read_frame(src).unwrap(), Frame::Simple(b"OK".to_vec()));
        let f = r.read_frame(src).unwrap();
        assert!(
            matches!(f, Frame::Array(Some(ref v)) if v.len() == 3),
            "{f:?}"
        );
        assert_eq!(r.read_frame(src).unwrap(), Frame::Bulk(None));
        assert!(matches!(r.read_frame(src).unwrap(), Frame::Attribute(..)));
        assert_eq!(r.next_reply(src).unwrap(), b"-ERR no\r\n");
        assert!(matches!(r.read_frame(src), Err(ClientError::Closed)));
    }

    #[test]
    fn replies_split_at_every_byte_boundary_are_read_whole_and_in_order() {
        for cut in 0..=WIRE.len() {
            let mut src = pieces(&[&WIRE[..cut], &WIRE[cut..]]);
            expect_replies(&mut ReplyReader::new(), &mut src);
        }
        // And one byte per read.
        let bytes: Vec<&[u8]> = WIRE.chunks(1).collect();
        expect_replies(&mut ReplyReader::new(), &mut pieces(&bytes));
    }

    #[test]
    fn bytes_read_before_are_replies_too_and_leftovers_are_handed_back() {
        let mut r = ReplyReader::with_buffered(b"+A\r\n+B".to_vec());
        let mut src = pieces(&[b"\r\n$5\r\nRE", b"DIS"]);
        assert_eq!(r.next_reply(&mut src).unwrap(), b"+A\r\n");
        assert_eq!(r.next_reply(&mut src).unwrap(), b"+B\r\n");
        assert!(matches!(r.next_reply(&mut src), Err(ClientError::Closed)));
        assert_eq!(r.buffered(), b"$5\r\nREDIS");
        assert_eq!(r.take_buffered(), b"$5\r\nREDIS");
        assert!(r.buffered().is_empty());
    }

    #[test]
    fn a_failed_read_keeps_the_partial_reply() {
        struct Flaky(u32);
        impl Read for Flaky {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                let part: &[u8] = match self.0 {
                    1 => b"$5\r\nab",
                    2 => return Err(io::ErrorKind::WouldBlock.into()),
                    3 => b"cde\r\n",
                    _ => return Ok(0),
                };
                out[..part.len()].copy_from_slice(part);
                Ok(part.len())
            }
        }
        let mut r = ReplyReader::new();
        let mut src = Flaky(0);
        assert!(matches!(r.read_frame(&mut src), Err(ClientError::Io(_))));
        assert_eq!(
            r.read_frame(&mut src).unwrap(),
            Frame::Bulk(Some(b"abcde".to_vec()))
        );
    }

    #[test]
    fn a_closed_source_and_garbage_are_errors_with_hiredis_words() {
        let mut r = ReplyReader::new();
        assert!(matches!(
            r.read_frame(&mut pieces(&[b"$5\r\nab"])),
            Err(ClientError::Closed)
        ));
        let e = ReplyReader::new()
            .read_frame(&mut pieces(&[b"?what\r\n"]))
            .unwrap_err();
        assert_eq!(e.to_string(), "Protocol error, got '?' as reply type byte");
        let e = ReplyReader::new()
            .read_frame(&mut pieces(&[b"*1\r\n$x\r\n"]))
            .unwrap_err();
        assert_eq!(e.to_string(), "Protocol error, bad length \"x\"");
    }

    #[test]
    fn a_large_reply_in_small_reads_is_scanned_once() {
        // 2000 bulk strings arriving 7 bytes at a time: the resumed scan keeps this linear
        // (a re-parse from the start after every read would be ~10^8 steps here).
        let mut wire = b"*2000\r\n".to_vec();
        for i in 0..2000 {
            let v = format!("value-{i:06}");
            wire.extend_from_slice(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
        }
        let parts: Vec<&[u8]> = wire.chunks(7).collect();
        let f = ReplyReader::new().read_frame(&mut pieces(&parts)).unwrap();
        assert_eq!(f.as_array().map(|a| a.len()), Some(2000));
    }
}
