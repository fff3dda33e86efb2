//! A RESP2/RESP3 reply scanner: finds where each reply ends and whether it is an error, without
//! building values. Used where replies are only counted (pyrope-benchmark's load generator,
//! pyrope-cli --pipe), which must stay cheaper than the server they talk to, and, resumed
//! read after read ([`ScanState`]), by the client layer's reply reader to find where a reply
//! ends before it builds a `Frame` of it.

/// One scanned reply.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes the reply occupies.
    pub len: usize,
    /// Top-level error reply (`-...` or `!...`).
    pub error: bool,
}

/// A reply that is not RESP.
#[derive(Debug, PartialEq, Eq)]
pub struct BadReply(pub usize);

#[inline]
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let rest = &buf[from..];
    let i = memchr_cr(rest)?;
    if i + 1 < rest.len() {
        Some(from + i)
    } else {
        None
    }
}

#[inline]
fn memchr_cr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\r')
}

#[inline]
fn parse_len(b: &[u8]) -> Option<i64> {
    let (neg, d) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    if d.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// Scans one reply at the start of `buf`. `Ok(None)` if it is incomplete.
#[inline]
pub fn scan(buf: &[u8]) -> Result<Option<Scanned>, BadReply> {
    ScanState::new().resume(buf)
}

/// A boundary scan that stops where the bytes run out and resumes where it stopped once more
/// have arrived, so a reply that arrives over many reads is scanned once (the client layer's
/// reply reader). [`scan`] is one call of a fresh state.
///
/// Positions are offsets from the reply's first byte: `resume` must be given the reply from
/// that byte on each time, the bytes seen by earlier calls unchanged (the buffer may have
/// moved or grown). After it returns `Ok(Some(_))` or `Err(_)` the state is spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanState {
    /// Offset of the next element to read.
    pos: usize,
    /// Elements still to read (the reply itself, then those its aggregates announce).
    pending: u64,
    /// The reply is an error (`-...` or `!...` as its first element).
    error: bool,
}

impl Default for ScanState {
    fn default() -> Self {
        ScanState::new()
    }
}

impl ScanState {
    /// A scan at the first byte of a reply.
    #[inline]
    pub fn new() -> ScanState {
        ScanState {
            pos: 0,
            pending: 1,
            error: false,
        }
    }

    /// Continues the scan over `buf` (the reply's bytes from its first one, as many as have
    /// arrived). `Ok(Some)` with the reply's length once it is complete, `Ok(None)` while
    /// bytes are missing, `Err` with the offset of an element that is not RESP.
    #[inline]
    pub fn resume(&mut self, buf: &[u8]) -> Result<Option<Scanned>, BadReply> {
        // The state lives in locals and is stored back only where the scan stops for want of
        // bytes, at the start of the element it could not finish (this loop is the
        // benchmark's per-reply hot path).
        let (mut pos, mut pending, mut error) = (self.pos, self.pending, self.error);
        while pending > 0 {
            if pos >= buf.len() {
                return Ok(self.stop(pos, pending, error));
            }
            let kind = buf[pos];
            let Some(eol) = line_end(buf, pos + 1) else {
                return Ok(self.stop(pos, pending, error));
            };
            let head = &buf[pos + 1..eol];
            let next = eol + 2;
            let first = pos == 0;
            match kind {
                b'+' | b':' | b',' | b'_' | b'#' | b'(' => pos = next,
                b'-' => {
                    error |= first;
                    pos = next;
                }
                b'$' | b'=' | b'!' => {
                    let n = parse_len(head).ok_or(BadReply(pos))?;
                    if kind == b'!' {
                        error |= first;
                    }
                    if n < 0 {
                        pos = next;
                    } else {
                        let end = next + n as usize + 2;
                        if end > buf.len() {
                            return Ok(self.stop(pos, pending, error));
                        }
                        pos = end;
                    }
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = parse_len(head).ok_or(BadReply(pos))?;
                    if n > 0 {
                        let mult = if kind == b'%' || kind == b'|' { 2 } else { 1 };
                        pending += n as u64 * mult;
                    }
                    if kind == b'|' {
                        // An attribute precedes the reply it annotates.
                        pending += 1;
                    }
                    pos = next;
                }
                _ => return Err(BadReply(pos)),
            }
            pending -= 1;
        }
        Ok(Some(Scanned { len: pos, error }))
    }

    /// Keeps where an incomplete scan stopped; returns the "need more bytes" answer.
    #[inline]
    fn stop(&mut self, pos: usize, pending: u64, error: bool) -> Option<Scanned> {
        (self.pos, self.pending, self.error) = (pos, pending, error);
        None
    }
}

/// The text of an error reply at the start of `buf` (for display), without the prefix.
pub fn error_text(buf: &[u8]) -> String {
    let end = memchr_cr(buf).unwrap_or(buf.len());
    let start = if buf.first() == Some(&b'!') {
        end + 2
    } else {
        1
    };
    if buf.first() == Some(&b'!') {
        let n = parse_len(&buf[1..end]).unwrap_or(0).max(0) as usize;
        return String::from_utf8_lossy(&buf[start.min(buf.len())..(start + n).min(buf.len())])
            .into_owned();
    }
    String::from_utf8_lossy(&buf[start.min(end)..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_every_type_and_waits_for_more() {
        let cases: &[(&[u8], bool)] = &[
            (b"+OK\r\n", false),
            (b"-ERR no\r\n", true),
            (b":12\r\n", false),
            (b"$3\r\nabc\r\n", false),
            (b"$-1\r\n", false),
            (b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", false),
            (b"%1\r\n+k\r\n,1.5\r\n", false),
            (b"*-1\r\n", false),
            (b"_\r\n", false),
            (b"!5\r\nERR x\r\n", true),
            (b"*1\r\n-ERR inside\r\n", false),
        ];
        for (wire, err) in cases {
            let s = scan(wire).unwrap().unwrap();
            assert_eq!(s.len, wire.len(), "{:?}", String::from_utf8_lossy(wire));
            assert_eq!(s.error, *err);
            for cut in 0..wire.len() {
                assert_eq!(scan(&wire[..cut]).unwrap(), None, "cut {cut}");
            }
        }
        assert!(scan(b"?x\r\n").is_err());
        assert!(scan(b"*1\r\n$x\r\n").is_err());
        assert_eq!(
            error_text(b"-ERR unknown command\r\n"),
            "ERR unknown command"
        );
        assert_eq!(error_text(b"!5\r\nERR x\r\n"), "ERR x");
    }

    #[test]
    fn a_resumed_scan_ends_where_a_whole_scan_does() {
        let replies: &[&[u8]] = &[
            b"-ERR x\r\n",
            b"!5\r\nERR x\r\n",
            b"!-1\r\n",
            b"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n:1\r\n>2\r\n+a\r\n_\r\n",
            b"|1\r\n+x\r\n+y\r\n*2\r\n:7\r\n$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
        ];
        for wire in replies {
            let whole = scan(wire).unwrap().unwrap();
            assert_eq!(whole.len, wire.len());
            // Fed one more byte at a time, as replies arrive over many reads.
            let mut st = ScanState::new();
            for n in 0..wire.len() {
                assert_eq!(st.resume(&wire[..n]).unwrap(), None, "{n}");
            }
            assert_eq!(st.resume(wire).unwrap(), Some(whole));
        }
    }
}
