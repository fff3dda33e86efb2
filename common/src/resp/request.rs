//! Server-side request parsing: RESP multibulk (`*N\r\n$L\r\n...`) and inline commands, as
//! Redis's `processMultibulkBuffer()` / `processInlineBuffer()` (networking.c).
//!
//! The parser is incremental: it keeps its position inside a partially received multibulk
//! (arguments remaining, current bulk length, argument ranges found so far), so a command that
//! arrives in many reads is scanned once. Multibulk arguments are returned as byte ranges into
//! the caller's query buffer (no copy); inline arguments, which need unquoting, are written once
//! into the parser's own scratch buffer.

use std::ops::Range;

/// Longest inline request, and longest `*N` / `$N` header line, accepted without a newline
/// (Redis `PROTO_INLINE_MAX_SIZE`, 64 KiB).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Default `proto-max-bulk-len`: the largest bulk argument accepted (512 MiB).
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// A protocol violation. The server replies `-ERR Protocol error: <text>` and closes the
/// connection after writing that reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `*N` with N not an integer or > i32::MAX.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$N` with N not an integer, negative, or > `proto-max-bulk-len`.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// `*N` with N > 10 before the client authenticated.
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// `$N` with N > 16384 before the client authenticated.
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// An argument inside a multibulk did not start with `$`; holds the byte found.
    #[error("expected '$', got '{}'", *.0 as char)]
    ExpectedDollar(u8),
    /// Inline request with unbalanced quotes.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// Inline request longer than 64 KiB with no newline.
    #[error("too big inline request")]
    TooBigInline,
    /// `*N` header longer than 64 KiB with no CR.
    #[error("too big mbulk count string")]
    TooBigMbulkCount,
    /// `$N` header longer than 64 KiB with no CR.
    #[error("too big bulk count string")]
    TooBigBulkCount,
}

impl ProtocolError {
    /// The error reply line without the leading `-` and trailing CRLF:
    /// `ERR Protocol error: invalid bulk length`.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {self}")
    }
}

/// Where the arguments of a parsed command live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// Ranges index the query buffer passed to [`RequestParser::parse`], relative to the `buf`
    /// slice given to that call.
    Query,
    /// Ranges index [`RequestParser::scratch`] (an unquoted inline command).
    Scratch,
}

/// `$N\r\n` with N one digit or two digits without a leading zero, complete in `buf`
/// (the byte after the CR is not checked, as Redis does not): `(N, offset of the CR)`.
/// None for anything else, which the general path then parses (or rejects).
#[inline]
fn short_bulk_len(buf: &[u8]) -> Option<(usize, usize)> {
    if buf.len() < 4 || buf[0] != b'$' {
        return None;
    }
    let d1 = buf[1].wrapping_sub(b'0');
    if d1 > 9 {
        return None;
    }
    if buf[2] == b'\r' {
        return Some((d1 as usize, 2));
    }
    let d2 = buf[2].wrapping_sub(b'0');
    if d1 == 0 || d2 > 9 || buf.len() < 5 || buf[3] != b'\r' {
        return None;
    }
    Some((d1 as usize * 10 + d2 as usize, 3))
}

/// Position of the first CR. Header lines (`*3`, `$16`) are a few bytes long, where a plain
/// loop beats memchr's vector setup; longer scans fall back to memchr.
#[inline]
fn find_cr(buf: &[u8]) -> Option<usize> {
    let head = buf.len().min(16);
    if let Some(i) = buf[..head].iter().position(|&b| b == b'\r') {
        return Some(i);
    }
    if buf.len() > 16 {
        memchr::memchr(b'\r', &buf[16..]).map(|i| i + 16)
    } else {
        None
    }
}

/// Result of one [`RequestParser::parse`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A full command: `consumed` bytes of `buf` belong to it; its argument ranges are in
    /// [`RequestParser::args`] (possibly zero arguments, e.g. `*0\r\n` or a blank inline line,
    /// which Redis silently skips).
    Command { consumed: usize, source: ArgSource },
    /// More bytes are needed: call again with the same buffer, extended.
    Incomplete,
}

/// Incremental RESP request parser. One per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Multibulk arguments still expected (0 = not inside a multibulk).
    multibulk_left: u64,
    /// Length of the bulk whose header was read, or `None` when at a `$` header.
    bulk_len: Option<usize>,
    /// Offset in `buf` where scanning resumes.
    pos: usize,
    /// Argument ranges of the command being parsed (or just parsed).
    args: Vec<Range<usize>>,
    /// Unquoted inline arguments.
    scratch: Vec<u8>,
    /// Maximum bulk length (`proto-max-bulk-len`).
    pub max_bulk_len: u64,
    /// Client has not authenticated yet: enforce Redis's small pre-auth limits.
    pub unauthenticated: bool,
    /// Client is our primary: `proto-max-bulk-len` does not apply.
    pub is_master: bool,
}

impl RequestParser {
    /// A parser with Redis's default limits.
    pub fn new() -> Self {
        RequestParser {
            max_bulk_len: DEFAULT_PROTO_MAX_BULK_LEN,
            ..Default::default()
        }
    }

    /// Argument ranges of the last complete command (see [`ArgSource`]).
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// Unquoted inline arguments of the last inline command.
    pub fn scratch(&self) -> &[u8] {
        &self.scratch
    }

    /// Bytes the parser holds allocated (the inline scratch and the argument ranges), for
    /// memory accounting (CLIENT LIST `tot-mem`).
    pub fn heap_bytes(&self) -> usize {
        self.scratch.capacity() + self.args.capacity() * std::mem::size_of::<Range<usize>>()
    }

    /// True if the parser is in the middle of a multibulk (bytes are pending).
    pub fn in_progress(&self) -> bool {
        self.multibulk_left > 0 || self.pos > 0
    }

    /// Bytes of the command in progress already parsed (its `*N` header and complete
    /// arguments). They stay in the caller's buffer (arguments are not copied out), but Redis
    /// moves them out of the query buffer, so its `client-query-buffer-limit` counts only what
    /// follows: subtract this to apply the limit as Redis does.
    pub fn parsed_len(&self) -> usize {
        if self.multibulk_left > 0 {
            self.pos
        } else {
            0
        }
    }

    /// The complete arguments of the command in progress: (their total length, their
    /// count); (0, 0) when no multibulk is in progress. Redis has them in `argv` already
    /// (CLIENT LIST `argv-mem`).
    pub fn partial_args(&self) -> (usize, usize) {
        if self.multibulk_left > 0 {
            (self.args.iter().map(|r| r.len()).sum(), self.args.len())
        } else {
            (0, 0)
        }
    }

    /// The length of the bulk currently being received, when the parser waits for its body
    /// (lets the caller size its read buffer for big arguments).
    pub fn pending_bulk_len(&self) -> Option<usize> {
        if self.multibulk_left > 0 {
            self.bulk_len
        } else {
            None
        }
    }

    /// Parses the next command at the start of `buf` (the unconsumed part of the query buffer).
    ///
    /// `buf` must start where the previous complete command ended, and between calls that
    /// return `Incomplete` the caller must only append to it. After `Command`, the caller
    /// executes the command, then passes the bytes after `consumed` next time.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        if self.multibulk_left == 0 && self.pos == 0 {
            self.args.clear();
            if buf.is_empty() {
                return Ok(Parsed::Incomplete);
            }
            if buf[0] != b'*' {
                return self.parse_inline(buf);
            }
        }
        self.parse_multibulk(buf)
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete);
        };
        let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        self.scratch.clear();
        let scratch = &mut self.scratch;
        let args = &mut self.args;
        crate::conf::split_args_with(&buf[..line_end], |a| {
            let start = scratch.len();
            scratch.extend_from_slice(a);
            args.push(start..scratch.len());
        })
        .map_err(|_| ProtocolError::UnbalancedQuotes)?;
        Ok(Parsed::Command {
            consumed: nl + 1,
            source: ArgSource::Scratch,
        })
    }

    fn parse_multibulk(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        if self.multibulk_left == 0 {
            // At "*N\r\n".
            let Some(cr) = find_cr(buf) else {
                if buf.len() > PROTO_INLINE_MAX_SIZE {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return Ok(Parsed::Incomplete);
            };
            if cr + 2 > buf.len() {
                return Ok(Parsed::Incomplete);
            }
            let n = crate::util::string2ll(&buf[1..cr])
                .filter(|&n| n <= i32::MAX as i64)
                .ok_or(ProtocolError::InvalidMultibulkLength)?;
            if n > 10 && self.unauthenticated {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            if n <= 0 {
                self.pos = 0;
                return Ok(Parsed::Command {
                    consumed: cr + 2,
                    source: ArgSource::Query,
                });
            }
            self.multibulk_left = n as u64;
            self.pos = cr + 2;
            self.bulk_len = None;
            self.args.reserve((n as usize).min(1024));
        }
        while self.multibulk_left > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let rest = &buf[self.pos..];
                    // Fast path for the usual `$<1 or 2 digits>\r\n` (no leading zero, or
                    // `$0`): the same length string2ll would give, without the scan.
                    let (n, cr) = if let Some((n, cr)) = short_bulk_len(rest) {
                        if !self.is_master && n as u64 > self.max_bulk_len {
                            return Err(ProtocolError::InvalidBulkLength);
                        }
                        (n, cr)
                    } else {
                        let Some(cr) = find_cr(rest) else {
                            if rest.len() > PROTO_INLINE_MAX_SIZE {
                                return Err(ProtocolError::TooBigBulkCount);
                            }
                            return Ok(Parsed::Incomplete);
                        };
                        if cr + 2 > rest.len() {
                            return Ok(Parsed::Incomplete);
                        }
                        if rest[0] != b'$' {
                            return Err(ProtocolError::ExpectedDollar(rest[0]));
                        }
                        let n = crate::util::string2ll(&rest[1..cr])
                            .filter(|&n| {
                                n >= 0 && (self.is_master || n as u64 <= self.max_bulk_len)
                            })
                            .ok_or(ProtocolError::InvalidBulkLength)?;
                        if n > 16384 && self.unauthenticated {
                            return Err(ProtocolError::UnauthenticatedBulkLength);
                        }
                        (n as usize, cr)
                    };
                    self.pos += cr + 2;
                    self.bulk_len = Some(n);
                    n
                }
            };
            // Redis does not check the CRLF after the bulk: it skips two bytes.
            if buf.len() - self.pos < len + 2 {
                return Ok(Parsed::Incomplete);
            }
            self.args.push(self.pos..self.pos + len);
            self.pos += len + 2;
            self.bulk_len = None;
            self.multibulk_left -= 1;
        }
        let consumed = self.pos;
        self.pos = 0;
        Ok(Parsed::Command {
            consumed,
            source: ArgSource::Query,
        })
    }

    /// Forgets any partial command (used after a protocol error or RESET of the connection).
    pub fn reset(&mut self) {
        self.multibulk_left = 0;
        self.bulk_len = None;
        self.pos = 0;
        self.args.clear();
    }
}

/// Fuzzing oracle (used by `fuzz/fuzz_targets/request_parser.rs` and by the corpus replay
/// test): parses `data` whole and again split in two at a data-chosen point, and checks both
/// give the same commands and the same error. Panics on any disagreement.
#[doc(hidden)]
pub fn check_parser_invariants(data: &[u8]) {
    fn run(data: &[u8], cut: usize) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
        let mut p = RequestParser::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut start = 0;
        let mut out = Vec::new();
        for piece in [&data[..cut], &data[cut..]] {
            buf.extend_from_slice(piece);
            loop {
                match p.parse(&buf[start..]) {
                    Ok(Parsed::Incomplete) => break,
                    Ok(Parsed::Command { consumed, source }) => {
                        assert!(
                            consumed > 0 && start + consumed <= buf.len(),
                            "consumed out of range"
                        );
                        let base: &[u8] = match source {
                            ArgSource::Query => &buf[start..],
                            ArgSource::Scratch => p.scratch(),
                        };
                        out.push(p.args().iter().map(|r| base[r.clone()].to_vec()).collect());
                        start += consumed;
                    }
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }
    let whole = run(data, data.len());
    let cut = if data.is_empty() {
        0
    } else {
        data[0] as usize % (data.len() + 1)
    };
    let split = run(data, cut);
    // An error may surface earlier with more data available (e.g. a too-long header); the
    // commands parsed before it must agree.
    if whole.1.is_none() && split.1.is_none() {
        assert_eq!(whole.0, split.0, "split at {cut} changed the commands");
    } else {
        let n = whole.0.len().min(split.0.len());
        assert_eq!(
            whole.0[..n],
            split.0[..n],
            "split at {cut} changed the commands"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short bulk-length fast path agrees with the general one (find_cr + string2ll) on
    /// every 1- to 3-character length, leading zeros, signs and junk included.
    #[test]
    fn short_bulk_len_matches_string2ll() {
        let alphabet = b"0123456789-+ x\r";
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for &a in alphabet {
            texts.push(vec![a]);
            for &b in alphabet {
                texts.push(vec![a, b]);
                for &c in alphabet {
                    texts.push(vec![a, b, c]);
                }
            }
        }
        for t in texts {
            let mut buf = b"$".to_vec();
            buf.extend_from_slice(&t);
            buf.extend_from_slice(b"\r\nxyz");
            if let Some((n, cr)) = short_bulk_len(&buf) {
                let general = find_cr(&buf).expect("a CR");
                assert_eq!(cr, general, "{buf:?}");
                let v = crate::util::string2ll(&buf[1..general]);
                assert_eq!(v, Some(n as i64), "{buf:?}");
            }
        }
        assert_eq!(short_bulk_len(b"$7\r\n"), Some((7, 2)));
        assert_eq!(short_bulk_len(b"$42\r\n"), Some((42, 3)));
        assert_eq!(short_bulk_len(b"$0\r\n"), Some((0, 2)));
        assert_eq!(short_bulk_len(b"$05\r\n"), None);
        assert_eq!(short_bulk_len(b"$123\r\n"), None);
        assert_eq!(short_bulk_len(b"$42\r"), None);
    }

    /// Parses every command in `input`, feeding it in pieces cut at `cuts`, and returns the
    /// commands' arguments.
    fn feed(input: &[u8], cuts: &[usize]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut qbuf: Vec<u8> = Vec::new();
        let mut start = 0;
        let mut out = Vec::new();
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(input.len());
        let mut fed = 0;
        for &b in &bounds {
            qbuf.extend_from_slice(&input[fed..b]);
            fed = b;
            loop {
                match p.parse(&qbuf[start..])? {
                    Parsed::Incomplete => break,
                    Parsed::Command { consumed, source } => {
                        let base: &[u8] = match source {
                            ArgSource::Query => &qbuf[start..],
                            ArgSource::Scratch => p.scratch(),
                        };
                        let argv: Vec<Vec<u8>> =
                            p.args().iter().map(|r| base[r.clone()].to_vec()).collect();
                        if !argv.is_empty() {
                            out.push(argv);
                        }
                        start += consumed;
                    }
                }
            }
        }
        Ok(out)
    }

    fn strs(v: &[Vec<Vec<u8>>]) -> Vec<Vec<String>> {
        v.iter()
            .map(|c| {
                c.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect()
    }

    const PIPELINE: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\nPING\r\n*1\r\n$4\r\nPING\r\n*0\r\n\r\n  set \"a b\" 'c'\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";

    fn expected() -> Vec<Vec<String>> {
        vec![
            vec!["SET".into(), "key".into(), "va\r\nl".into()],
            vec!["PING".into()],
            vec!["PING".into()],
            vec!["set".into(), "a b".into(), "c".into()],
            vec!["ECHO".into(), "".into()],
        ]
    }

    #[test]
    fn whole_pipeline() {
        assert_eq!(strs(&feed(PIPELINE, &[]).unwrap()), expected());
    }

    #[test]
    fn every_single_split_point() {
        for cut in 0..=PIPELINE.len() {
            assert_eq!(
                strs(&feed(PIPELINE, &[cut]).unwrap()),
                expected(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_pair_of_split_points() {
        for a in 0..=PIPELINE.len() {
            for b in a..=PIPELINE.len() {
                assert_eq!(
                    strs(&feed(PIPELINE, &[a, b]).unwrap()),
                    expected(),
                    "cuts {a},{b}"
                );
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let cuts: Vec<usize> = (1..PIPELINE.len()).collect();
        assert_eq!(strs(&feed(PIPELINE, &cuts).unwrap()), expected());
    }

    #[test]
    fn protocol_errors() {
        use ProtocolError::*;
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"*abc\r\n", InvalidMultibulkLength),
            (b"*2147483648\r\n", InvalidMultibulkLength),
            (b"*01\r\n", InvalidMultibulkLength),
            (b"*1\r\n$-1\r\n", InvalidBulkLength),
            (b"*1\r\n$600000000\r\n", InvalidBulkLength),
            (b"*1\r\n$x\r\n", InvalidBulkLength),
            (b"*1\r\n+foo\r\n", ExpectedDollar(b'+')),
            (b"set \"foo\r\n", UnbalancedQuotes),
        ];
        for (input, err) in cases {
            assert_eq!(
                feed(input, &[]).unwrap_err(),
                *err,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            ExpectedDollar(b'+').reply_text(),
            "ERR Protocol error: expected '$', got '+'"
        );
        assert_eq!(
            InvalidBulkLength.reply_text(),
            "ERR Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn header_and_inline_size_limits() {
        let big = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(feed(&big, &[]).unwrap_err(), ProtocolError::TooBigInline);
        let mut mb = b"*".to_vec();
        mb.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE + 1));
        assert_eq!(feed(&mb, &[]).unwrap_err(), ProtocolError::TooBigMbulkCount);
        let mut bl = b"*1\r\n$".to_vec();
        bl.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE + 1));
        assert_eq!(feed(&bl, &[]).unwrap_err(), ProtocolError::TooBigBulkCount);
        // Exactly at the limit, still waiting for more.
        let ok = vec![b'a'; PROTO_INLINE_MAX_SIZE];
        assert_eq!(feed(&ok, &[]).unwrap(), Vec::<Vec<Vec<u8>>>::new());
    }

    #[test]
    fn unauthenticated_limits() {
        let mut p = RequestParser::new();
        p.unauthenticated = true;
        assert_eq!(
            p.parse(b"*11\r\n"),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        let mut p = RequestParser::new();
        p.unauthenticated = true;
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n"),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
    }

    /// Replays the cargo-fuzz corpus (and crash regressions) of `fuzz/` as a regular test.
    #[test]
    fn fuzz_corpus_replays() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut n = 0;
        for dir in ["corpus/request_parser", "regressions/request_parser"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in rd {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                check_parser_invariants(&data);
                n += 1;
            }
        }
        assert!(n > 0, "no fuzz corpus found under {}", root.display());
    }

    #[test]
    fn big_bulk_reports_pending_length() {
        let mut p = RequestParser::new();
        let buf = b"*1\r\n$100000\r\nabc";
        assert_eq!(p.parse(buf).unwrap(), Parsed::Incomplete);
        assert_eq!(p.pending_bulk_len(), Some(100000));
        assert!(p.in_progress());
    }
}
