//! Client-side reply parsing: a [`Frame`] tree for every RESP2 and RESP3 type.
//!
//! Used by the tools and the tests (which compare frames, or their exact bytes, between Pyrope
//! and the reference Redis). Parsing restarts from the beginning of the buffer when a reply is
//! incomplete, which is fine for replies read by one client.

/// One RESP value as received.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(Vec<u8>),
    /// `-CODE text`
    Error(Vec<u8>),
    /// `:n`
    Integer(i64),
    /// `$n` bulk string; `None` for the RESP2 null bulk `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for the RESP2 null array `*-1`.
    Array(Option<Vec<Frame>>),
    /// RESP3 `_` null.
    Null,
    /// RESP3 `,` double, kept as its text (`1.5`, `inf`).
    Double(Vec<u8>),
    /// RESP3 `#t` / `#f`.
    Boolean(bool),
    /// RESP3 `(` big number, as text.
    BigNumber(Vec<u8>),
    /// RESP3 `=` verbatim string: (3-byte format, text).
    Verbatim(Vec<u8>, Vec<u8>),
    /// RESP3 `%` map, in wire order.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~` set, in wire order.
    Set(Vec<Frame>),
    /// RESP3 `>` push.
    Push(Vec<Frame>),
    /// RESP3 `|` attribute map, followed on the wire by the value it annotates.
    Attribute(Vec<(Frame, Frame)>, Box<Frame>),
}

/// A reply that is not valid RESP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol error at byte {offset}: {reason}")]
pub struct FrameError {
    /// Offset in the buffer where the bad element starts.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

impl Frame {
    /// The bytes of a simple string, bulk string, verbatim string or double (for convenience in
    /// tests and tools).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(s) | Frame::Bulk(Some(s)) | Frame::Double(s) | Frame::BigNumber(s) => {
                Some(s)
            }
            Frame::Verbatim(_, s) => Some(s),
            Frame::Error(s) => Some(s),
            _ => None,
        }
    }

    /// The integer of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Frame::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// Elements of an array, set or push.
    pub fn as_array(&self) -> Option<&[Frame]> {
        match self {
            Frame::Array(Some(v)) | Frame::Set(v) | Frame::Push(v) => Some(v),
            _ => None,
        }
    }

    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Encodes the frame for a client speaking protocol `resp` (2 or 3): RESP3-only types are
    /// downgraded as Redis does for RESP2 clients (map -> flat array, set/push -> array,
    /// null -> null bulk, double/big number/verbatim -> bulk string, boolean -> integer,
    /// attributes dropped).
    pub fn encode_resp(&self, out: &mut Vec<u8>, resp: u8) {
        use super::encode::*;
        if resp >= 3 {
            return self.encode(out);
        }
        match self {
            Frame::Map(kv) => {
                array(out, kv.len() * 2);
                for (k, v) in kv {
                    k.encode_resp(out, resp);
                    v.encode_resp(out, resp);
                }
            }
            Frame::Set(v) | Frame::Push(v) | Frame::Array(Some(v)) => {
                array(out, v.len());
                v.iter().for_each(|f| f.encode_resp(out, resp));
            }
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::Double(s) | Frame::BigNumber(s) | Frame::Verbatim(_, s) => bulk(out, s),
            Frame::Boolean(b) => integer(out, *b as i64),
            Frame::Attribute(_, inner) => inner.encode_resp(out, resp),
            other => other.encode(out),
        }
    }

    /// Encodes the frame back to RESP bytes (RESP3 forms are kept).
    pub fn encode(&self, out: &mut Vec<u8>) {
        use super::encode::*;
        match self {
            Frame::Simple(s) => simple(out, s),
            Frame::Error(s) => {
                if memchr::memmem::find(s, b"\r\n").is_some() {
                    // Only a RESP3 blob error can carry CRLF.
                    header(out, b'!', s.len());
                    out.extend_from_slice(s);
                } else {
                    // Verbatim: a received error line may hold a lone CR, which must survive.
                    out.push(b'-');
                    out.extend_from_slice(s);
                }
                out.extend_from_slice(b"\r\n");
            }
            Frame::Integer(n) => integer(out, *n),
            Frame::Bulk(Some(s)) => bulk(out, s),
            Frame::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Frame::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(Some(v)) => {
                array(out, v.len());
                v.iter().for_each(|f| f.encode(out));
            }
            Frame::Null => out.extend_from_slice(b"_\r\n"),
            Frame::Double(s) => {
                out.push(b',');
                out.extend_from_slice(s);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Boolean(b) => boolean(out, *b, 3),
            Frame::BigNumber(s) => {
                out.push(b'(');
                out.extend_from_slice(s);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Verbatim(f, s) => {
                header(out, b'=', s.len() + 4);
                out.extend_from_slice(f);
                out.push(b':');
                out.extend_from_slice(s);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Map(kv) => {
                header(out, b'%', kv.len());
                for (k, v) in kv {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Frame::Set(v) => {
                header(out, b'~', v.len());
                v.iter().for_each(|f| f.encode(out));
            }
            Frame::Push(v) => {
                header(out, b'>', v.len());
                v.iter().for_each(|f| f.encode(out));
            }
            Frame::Attribute(kv, inner) => {
                header(out, b'|', kv.len());
                for (k, v) in kv {
                    k.encode(out);
                    v.encode(out);
                }
                inner.encode(out);
            }
        }
    }
}

/// Parses one frame from the start of `buf`. Returns `Ok(None)` if `buf` holds only part of it,
/// or `Ok(Some((frame, bytes_used)))`.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(f) => Ok(Some((f, pos))),
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = &buf[*pos..];
    let cr = memchr::memmem::find(rest, b"\r\n")?;
    *pos += cr + 2;
    Some(&rest[..cr])
}

fn bad(offset: usize, reason: impl Into<String>) -> FrameError {
    FrameError {
        offset,
        reason: reason.into(),
    }
}

fn parse_len(s: &[u8], offset: usize) -> Result<i64, FrameError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            bad(
                offset,
                format!("bad length {:?}", String::from_utf8_lossy(s)),
            )
        })
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, FrameError> {
    if depth > 512 {
        return Err(bad(*pos, "nesting too deep"));
    }
    let start = *pos;
    if start >= buf.len() {
        return Ok(None);
    }
    let kind = buf[start];
    *pos += 1;
    let Some(l) = line(buf, pos) else {
        *pos = start;
        return Ok(None);
    };
    let l = l.to_vec();
    macro_rules! need {
        ($e:expr) => {
            match $e {
                Some(v) => v,
                None => {
                    *pos = start;
                    return Ok(None);
                }
            }
        };
    }
    let frame = match kind {
        b'+' => Frame::Simple(l),
        b'-' => Frame::Error(l),
        b':' => Frame::Integer(parse_len(&l, start)?),
        b',' => Frame::Double(l),
        b'(' => Frame::BigNumber(l),
        b'_' => Frame::Null,
        b'#' => match l.as_slice() {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(bad(start, "bad boolean")),
        },
        b'$' | b'=' | b'!' => {
            let n = parse_len(&l, start)?;
            if n < 0 {
                Frame::Bulk(None)
            } else {
                let n = n as usize;
                if buf.len() < *pos + n + 2 {
                    *pos = start;
                    return Ok(None);
                }
                let body = buf[*pos..*pos + n].to_vec();
                if &buf[*pos + n..*pos + n + 2] != b"\r\n" {
                    return Err(bad(*pos + n, "bulk not terminated by CRLF"));
                }
                *pos += n + 2;
                match kind {
                    b'=' => {
                        if body.len() < 4 || body[3] != b':' {
                            return Err(bad(start, "bad verbatim string"));
                        }
                        Frame::Verbatim(body[..3].to_vec(), body[4..].to_vec())
                    }
                    b'!' => Frame::Error(body),
                    _ => Frame::Bulk(Some(body)),
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n = parse_len(&l, start)?;
            if n < 0 {
                Frame::Array(None)
            } else {
                let mut v = Vec::with_capacity((n as usize).min(4096));
                for _ in 0..n {
                    v.push(need!(parse_at(buf, pos, depth + 1)?));
                }
                match kind {
                    b'~' => Frame::Set(v),
                    b'>' => Frame::Push(v),
                    _ => Frame::Array(Some(v)),
                }
            }
        }
        b'%' | b'|' => {
            let n = parse_len(&l, start)?;
            let mut kv = Vec::with_capacity((n.max(0) as usize).min(4096));
            for _ in 0..n {
                let k = need!(parse_at(buf, pos, depth + 1)?);
                let v = need!(parse_at(buf, pos, depth + 1)?);
                kv.push((k, v));
            }
            if kind == b'|' {
                let inner = need!(parse_at(buf, pos, depth + 1)?);
                Frame::Attribute(kv, Box::new(inner))
            } else {
                Frame::Map(kv)
            }
        }
        other => {
            return Err(bad(
                start,
                format!("unknown reply type byte {:?}", other as char),
            ))
        }
    };
    Ok(Some(frame))
}

/// Fuzzing oracle (used by `fuzz/fuzz_targets/frame_parser.rs` and the corpus replay test):
/// parsing never panics, and a parsed frame re-encodes to bytes that parse to the same frame.
#[doc(hidden)]
pub fn check_frame_roundtrip(data: &[u8]) {
    if let Ok(Some((f, _))) = parse_frame(data) {
        let mut again = Vec::new();
        f.encode(&mut again);
        let (g, n) = parse_frame(&again)
            .expect("re-encoded frame parses")
            .expect("complete");
        assert_eq!(n, again.len());
        assert_eq!(f, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the cargo-fuzz corpus and crash regressions of `fuzz/` for the frame parser.
    #[test]
    fn fuzz_corpus_replays() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut n = 0;
        for dir in ["corpus/frame_parser", "regressions/frame_parser"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in rd {
                check_frame_roundtrip(&std::fs::read(e.unwrap().path()).unwrap());
                n += 1;
            }
        }
        assert!(n > 0, "no fuzz corpus found under {}", root.display());
    }

    #[test]
    fn round_trip_every_type() {
        let wire: &[u8] = b"*2\r\n+OK\r\n$-1\r\n%2\r\n$1\r\na\r\n:1\r\n+b\r\n~1\r\n,1.5\r\n_\r\n#t\r\n(123\r\n=7\r\ntxt:abc\r\n>2\r\n+m\r\n-ERR x\r\n*-1\r\n";
        let mut pos = 0;
        let mut again = Vec::new();
        while pos < wire.len() {
            let (f, n) = parse_frame(&wire[pos..]).unwrap().unwrap();
            f.encode(&mut again);
            pos += n;
        }
        assert_eq!(again, wire);
    }

    #[test]
    fn incomplete_at_every_cut() {
        let wire: &[u8] = b"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n:5\r\n~1\r\n_\r\n";
        for cut in 0..wire.len() {
            assert_eq!(parse_frame(&wire[..cut]).unwrap(), None, "cut {cut}");
        }
        assert!(parse_frame(wire).unwrap().is_some());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_frame(b"?what\r\n").is_err());
        assert!(parse_frame(b"$3\r\nabcde\r\n").is_err());
    }
}
