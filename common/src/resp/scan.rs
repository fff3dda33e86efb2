//! A RESP2/RESP3 reply scanner: finds where each reply ends and whether it is an error, without
//! building values. Used where replies are only counted (pyrope-benchmark's load generator,
//! pyrope-cli --pipe), which must stay cheaper than the server they talk to.

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
pub fn scan(buf: &[u8]) -> Result<Option<Scanned>, BadReply> {
    let mut pos = 0usize;
    // Elements still to read at each open aggregate level.
    let mut pending: u64 = 1;
    let mut error = false;
    let mut first = true;
    while pending > 0 {
        if pos >= buf.len() {
            return Ok(None);
        }
        let kind = buf[pos];
        let Some(eol) = line_end(buf, pos + 1) else {
            return Ok(None);
        };
        let head = &buf[pos + 1..eol];
        let next = eol + 2;
        pending -= 1;
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
                        return Ok(None);
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
        first = false;
    }
    Ok(Some(Scanned { len: pos, error }))
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
        assert_eq!(
            error_text(b"-ERR unknown command\r\n"),
            "ERR unknown command"
        );
        assert_eq!(error_text(b"!5\r\nERR x\r\n"), "ERR x");
    }
}
