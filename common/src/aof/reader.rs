//! A streaming reader of AOF command streams: RESP multibulks (`*N\r\n$len\r\n<bytes>\r\n`...),
//! annotation lines (`#TS:<unix seconds>\r\n`, Redis 7's `aof-timestamp-enabled`), and a
//! leading RDB preamble (`REDIS....`, `aof-use-rdb-preamble`).
//!
//! The reader checks the bytes exactly as `redis-check-aof` (redis-check-aof.c: `readLong`,
//! `readBytes`, `consumeNewline`) does and keeps its error texts ("Expected prefix '$', got:
//! 'x'", "Expected to read 322 bytes, got 144 bytes", "Expected \r\n, got: 0d0a"), its error
//! position (`epos`: the start of the line or bulk being read) and its line counter (one per
//! CRLF consumed, annotations not counted), so the checker can print the same
//! `AOF analyzed: ... ok_up_to_line=...` line. It is stricter than Redis's loader only where
//! the loader would misbehave (a multibulk of fewer than one argument).
//!
//! Memory: a claimed bulk length is checked against the reader's limit first, and even then
//! never allocated up front — the bytes are read in chunks of at most [`CHUNK`], so a lying
//! length costs only what the input really holds.

use std::io::{BufRead, Seek, SeekFrom};

/// Longest header line (`*N` / `$N`) read at once: redis-check-aof's `fgets(buf,128)`.
pub const HEADER_LINE_MAX: usize = 128;
/// Longest annotation line read at once: Redis's `AOF_ANNOTATION_LINE_MAX_LEN` (server.h).
pub const ANNOTATION_LINE_MAX: usize = 1024;
/// Bytes of a bulk string read (and allocated) per step.
pub const CHUNK: usize = 64 * 1024;
/// Default limit for one bulk string: 512 MB, Redis's default `proto-max-bulk-len`.
pub const DEFAULT_MAX_BULK: u64 = 512 * 1024 * 1024;

/// One element of an AOF command stream, with its byte range in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A command: its arguments, the offset of its `*` and the offset just past its last CRLF.
    Command {
        argv: Vec<Vec<u8>>,
        start: u64,
        end: u64,
    },
    /// An annotation line starting with `#` (without its line ending), and its range.
    Annotation { text: Vec<u8>, start: u64, end: u64 },
}

impl Item {
    /// Offset of the item's first byte.
    pub fn start(&self) -> u64 {
        match self {
            Item::Command { start, .. } | Item::Annotation { start, .. } => *start,
        }
    }

    /// Offset just past the item.
    pub fn end(&self) -> u64 {
        match self {
            Item::Command { end, .. } | Item::Annotation { end, .. } => *end,
        }
    }

    /// The unix time in seconds of a `#TS:<seconds>` annotation (parsed as C's `strtol`, as
    /// redis-check-aof's `processAnnotations`), `None` for commands and other annotations.
    pub fn timestamp(&self) -> Option<i64> {
        match self {
            Item::Annotation { text, .. } if text.starts_with(b"#TS:") => {
                Some(strtol(&text[4..]).0)
            }
            _ => None,
        }
    }
}

/// What kind of damage an [`AofError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An item starts with a byte that is neither `*` nor `#` (redis-check-aof: "AOF x format
    /// error"; the loader: "Bad file format reading the append only file").
    BadStart,
    /// The input ends inside an item (the loader's "short read"; what `aof-load-truncated`
    /// and `--fix` repair).
    Truncated,
    /// The bytes contradict the format inside an item (a bad prefix, length or line end).
    Format,
    /// The file could not be read.
    Io,
}

/// A damaged or unreadable stream: where, why, and which item was being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("offset {offset}: {reason}")]
pub struct AofError {
    /// Byte offset of the line or bulk being read when the damage was found
    /// (redis-check-aof's `epos`).
    pub offset: u64,
    /// Offset of the item being read (everything before it is well formed).
    pub item_start: u64,
    pub kind: ErrorKind,
    /// redis-check-aof's text where it has one ("Expected prefix '*', got: '!'").
    pub reason: String,
}

/// Checks (and later loads) the RDB preamble of an AOF file or an RDB base file.
///
/// TODO(rdb-merge): the lead plugs `common::rdb`'s reader in here (an implementation that
/// validates every record and the CRC64, or feeds them to the server's loader). Until then
/// [`SkipPreamble`] only recognises the preamble and finds where it ends.
pub trait PreambleChecker {
    /// Reads the RDB that starts at offset 0 of `input` and returns its length in bytes (the
    /// offset where the RESP part, if any, starts). `len` is the input's total size.
    fn check_preamble(&mut self, input: &mut dyn BufRead, len: u64) -> Result<u64, PreambleError>;
}

/// Why an RDB preamble was refused: the offset and the reason (as the RDB reader says them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[offset {offset}] {reason}")]
pub struct PreambleError {
    pub offset: u64,
    pub reason: String,
}

/// The stand-in [`PreambleChecker`] until the RDB reader is merged (TODO(rdb-merge)): checks the
/// magic `REDIS` and the 4-digit version, then takes the preamble to end after the first
/// `RDB_OPCODE_EOF` (0xFF) + 8-byte checksum that is followed by the end of the input or by
/// something that looks like the RESP tail (`*<digit>` or `#`). It does not validate records
/// or the CRC64.
#[derive(Debug, Default, Clone, Copy)]
pub struct SkipPreamble;

impl PreambleChecker for SkipPreamble {
    fn check_preamble(&mut self, input: &mut dyn BufRead, len: u64) -> Result<u64, PreambleError> {
        // The stand-in reads the preamble whole; the real reader streams it.
        let mut data = Vec::with_capacity(len.min(1 << 20) as usize);
        input.read_to_end(&mut data).map_err(|e| PreambleError {
            offset: 0,
            reason: e.to_string(),
        })?;
        skip_preamble_bytes(&data)
    }
}

/// [`SkipPreamble`] over bytes in memory.
pub fn skip_preamble_bytes(data: &[u8]) -> Result<u64, PreambleError> {
    if data.len() < 9 || &data[..5] != b"REDIS" {
        return Err(PreambleError {
            offset: 0,
            reason: "Wrong signature trying to load DB from file".into(),
        });
    }
    if !data[5..9].iter().all(u8::is_ascii_digit) {
        return Err(PreambleError {
            offset: 9,
            reason: format!(
                "Can't handle RDB format version {}",
                String::from_utf8_lossy(&data[5..9])
            ),
        });
    }
    let mut p = 9;
    while let Some(i) = memchr::memchr(0xff, &data[p..]) {
        let end = p + i + 9;
        if end > data.len() {
            break;
        }
        let rest = &data[end..];
        let looks_resp = rest.is_empty()
            || rest[0] == b'#'
            || (rest.len() >= 2 && rest[0] == b'*' && rest[1].is_ascii_digit());
        if looks_resp {
            return Ok(end as u64);
        }
        p += i + 1;
    }
    Err(PreambleError {
        offset: data.len() as u64,
        reason: "Unexpected EOF reading RDB file (no EOF opcode followed by a checksum)".into(),
    })
}

/// The streaming reader. `R` is seekable so an RDB preamble can be skipped after its checker
/// has read it.
pub struct AofReader<R> {
    input: R,
    pos: u64,
    /// CRLFs consumed, as redis-check-aof counts lines (its `line` starts at 1).
    crlf: u64,
    /// Offset of the line or bulk being read (redis-check-aof's `epos`).
    epos: u64,
    /// Offset of the first argument's bytes in the last command (the `epos` of the
    /// "Unexpected MULTI" / "Unexpected EXEC" errors).
    arg0_pos: u64,
    max_bulk: u64,
}

impl<R: BufRead + Seek> AofReader<R> {
    /// A reader at offset 0 of `input`, with bulk strings limited to [`DEFAULT_MAX_BULK`].
    pub fn new(input: R) -> Self {
        AofReader {
            input,
            pos: 0,
            crlf: 0,
            epos: 0,
            arg0_pos: 0,
            max_bulk: DEFAULT_MAX_BULK,
        }
    }

    /// Sets the longest bulk string accepted (bytes; the server passes `proto-max-bulk-len`).
    pub fn with_max_bulk(mut self, max: u64) -> Self {
        self.max_bulk = max;
        self
    }

    /// Declares that `input` is already positioned at byte `offset` of the file (after an
    /// RDB preamble read by another reader): offsets in items and errors count from the
    /// file's start.
    pub fn at_offset(mut self, offset: u64) -> Self {
        self.pos = offset;
        self.epos = offset;
        self
    }

    /// Current offset (just past the last item returned).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// CRLFs consumed so far by the checks (including those of a partial item that failed):
    /// redis-check-aof's `ok_up_to_line` is this plus its starting 1, carried across files.
    pub fn lines(&self) -> u64 {
        self.crlf
    }

    /// Offset of the last line or bulk read (redis-check-aof's `epos`).
    pub fn last_epos(&self) -> u64 {
        self.epos
    }

    /// Offset of the first argument's bytes of the last command returned.
    pub fn arg0_offset(&self) -> u64 {
        self.arg0_pos
    }

    /// True if the input starts with an RDB preamble (`REDIS`), as `loadSingleAppendOnlyFile`
    /// and redis-check-aof's `fileIsRDB` test it. Call at offset 0; the position is kept.
    pub fn has_preamble(&mut self) -> Result<bool, AofError> {
        let pos = self.pos;
        let io = |e: std::io::Error| AofError {
            offset: pos,
            item_start: pos,
            kind: ErrorKind::Io,
            reason: e.to_string(),
        };
        let buf = self.input.fill_buf().map_err(io)?;
        if buf.len() >= 5 {
            return Ok(&buf[..5] == b"REDIS");
        }
        // A short buffer: read the first 5 bytes the slow way and seek back.
        let mut sig = [0u8; 5];
        let mut got = 0;
        while got < 5 {
            let n =
                std::io::Read::read(&mut self.input, &mut sig[got..]).map_err(|e| self.io(e))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        self.input
            .seek(SeekFrom::Start(self.pos))
            .map_err(|e| self.io(e))?;
        Ok(got == 5 && &sig == b"REDIS")
    }

    /// Runs `checker` over the RDB preamble at offset 0 and moves past it; returns the
    /// preamble's length. `len` is the input's total size.
    pub fn skip_preamble(
        &mut self,
        checker: &mut dyn PreambleChecker,
        len: u64,
    ) -> Result<u64, PreambleError> {
        let end = checker.check_preamble(&mut self.input, len)?;
        self.input
            .seek(SeekFrom::Start(end))
            .map_err(|e| PreambleError {
                offset: end,
                reason: e.to_string(),
            })?;
        self.pos = end;
        Ok(end)
    }

    fn io(&self, e: std::io::Error) -> AofError {
        AofError {
            offset: self.pos,
            item_start: self.pos,
            kind: ErrorKind::Io,
            reason: e.to_string(),
        }
    }

    fn err(&self, start: u64, kind: ErrorKind, reason: String) -> AofError {
        AofError {
            offset: self.epos,
            item_start: start,
            kind,
            reason,
        }
    }

    /// C's `fgets(buf, max)`: up to `max - 1` bytes, stopping after a `\n`.
    fn read_line(&mut self, max: usize) -> Result<Vec<u8>, AofError> {
        let mut line = Vec::new();
        while line.len() < max - 1 {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) => return Err(self.io(e)),
            };
            if buf.is_empty() {
                break;
            }
            let want = (max - 1 - line.len()).min(buf.len());
            let (take, done) = match memchr::memchr(b'\n', &buf[..want]) {
                Some(i) => (i + 1, true),
                None => (want, false),
            };
            line.extend_from_slice(&buf[..take]);
            self.input.consume(take);
            self.pos += take as u64;
            if done {
                break;
            }
        }
        Ok(line)
    }

    /// Reads up to `n` bytes, allocating as they arrive.
    fn read_upto(&mut self, n: u64) -> Result<Vec<u8>, AofError> {
        let mut out = Vec::with_capacity(n.min(CHUNK as u64) as usize);
        while (out.len() as u64) < n {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) => return Err(self.io(e)),
            };
            if buf.is_empty() {
                break;
            }
            let take = ((n - out.len() as u64).min(buf.len() as u64) as usize).min(CHUNK);
            out.extend_from_slice(&buf[..take]);
            self.input.consume(take);
            self.pos += take as u64;
        }
        Ok(out)
    }

    fn at_eof(&mut self) -> bool {
        matches!(self.input.fill_buf(), Ok(b) if b.is_empty())
    }

    /// redis-check-aof's `readLong`: a `<prefix><number>\r\n` line.
    fn read_long(&mut self, prefix: u8, start: u64) -> Result<i64, AofError> {
        self.epos = self.pos;
        let line = self.read_line(HEADER_LINE_MAX)?;
        if line.is_empty() {
            return Err(self.err(
                start,
                ErrorKind::Truncated,
                format!("Reached EOF before reading '{}' line", prefix as char),
            ));
        }
        if line[0] != prefix {
            return Err(self.err(
                start,
                ErrorKind::Format,
                format!(
                    "Expected prefix '{}', got: '{}'",
                    prefix as char,
                    show_char(line[0])
                ),
            ));
        }
        let (v, used) = strtol(&line[1..]);
        let rest = &line[1 + used..];
        self.consume_newline(rest, start)?;
        Ok(v)
    }

    /// redis-check-aof's `consumeNewline`.
    fn consume_newline(&mut self, rest: &[u8], start: u64) -> Result<(), AofError> {
        if rest.len() >= 2 && &rest[..2] == b"\r\n" {
            self.crlf += 1;
            return Ok(());
        }
        let b0 = rest.first().copied().unwrap_or(0);
        let b1 = rest.get(1).copied().unwrap_or(0);
        let kind = if rest.len() < 2 && self.at_eof() {
            ErrorKind::Truncated
        } else {
            ErrorKind::Format
        };
        Err(self.err(
            start,
            kind,
            format!("Expected \\r\\n, got: {b0:02x}{b1:02x}"),
        ))
    }

    /// The next item, `None` at the end of the input. After an error the reader's position is
    /// unspecified: stop reading.
    pub fn next_item(&mut self) -> Result<Option<Item>, AofError> {
        let start = self.pos;
        let first = match self.input.fill_buf() {
            Ok([]) => return Ok(None),
            Ok(b) => b[0],
            Err(e) => return Err(self.io(e)),
        };
        match first {
            b'#' => {
                self.epos = start;
                let mut text = self.read_line(ANNOTATION_LINE_MAX)?;
                while matches!(text.last(), Some(b'\n' | b'\r')) {
                    text.pop();
                }
                Ok(Some(Item::Annotation {
                    text,
                    start,
                    end: self.pos,
                }))
            }
            b'*' => self.read_command(start).map(Some),
            other => {
                self.epos = start;
                Err(self.err(
                    start,
                    ErrorKind::BadStart,
                    format!("Expected prefix '*' or '#', got: '{}'", show_char(other)),
                ))
            }
        }
    }

    fn read_command(&mut self, start: u64) -> Result<Item, AofError> {
        let argc = self.read_long(b'*', start)?;
        if argc < 1 {
            return Err(self.err(
                start,
                ErrorKind::Format,
                format!("Invalid multibulk length {argc}"),
            ));
        }
        let mut argv = Vec::with_capacity((argc as usize).min(1024));
        for i in 0..argc {
            let len = self.read_long(b'$', start)?;
            if len < 0 || len as u64 > self.max_bulk {
                return Err(self.err(
                    start,
                    ErrorKind::Format,
                    format!(
                        "Expected to read string of {len} bytes, which is not in the suitable range"
                    ),
                ));
            }
            self.epos = self.pos;
            if i == 0 {
                self.arg0_pos = self.pos;
            }
            let want = len as u64 + 2;
            let mut data = self.read_upto(want)?;
            if (data.len() as u64) < want {
                return Err(self.err(
                    start,
                    ErrorKind::Truncated,
                    format!("Expected to read {want} bytes, got {} bytes", data.len()),
                ));
            }
            let tail = data.split_off(len as usize);
            self.consume_newline(&tail, start)?;
            argv.push(data);
        }
        Ok(Item::Command {
            argv,
            start,
            end: self.pos,
        })
    }
}

/// C's `strtol(s, &end, 10)` with LONG_MAX/LONG_MIN saturation: the value and the number of
/// bytes used (0 when there are no digits).
pub fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut v: i64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        let d = (s[i] - b'0') as i64;
        match v.checked_mul(10).and_then(|x| {
            if neg {
                x.checked_sub(d)
            } else {
                x.checked_add(d)
            }
        }) {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start {
        return (0, 0);
    }
    if overflow {
        v = if neg { i64::MIN } else { i64::MAX };
    }
    (v, i)
}

/// A byte as redis-check-aof prints it with `%c` (non-printable ones escaped so a terminal
/// stays sane).
fn show_char(b: u8) -> String {
    if (0x20..0x7f).contains(&b) {
        (b as char).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}
