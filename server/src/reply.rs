//! The reply buffer of a client: RESP2/RESP3-aware writers over the output bytes, plus the
//! bookkeeping `call()` needs (how many errors the command replied, with which codes).
//!
//! Replies are appended to one growable buffer that the network layer writes before the
//! event loop sleeps; nothing here does I/O.

use pyrope_common::resp::encode;

/// A client's pending output.
#[derive(Default)]
pub struct Reply {
    /// Bytes not yet written to the socket.
    pub buf: Vec<u8>,
    /// Protocol version of the client (2 or 3).
    pub resp: u8,
    /// Error replies written by the current command (their code, e.g. `ERR`, `WRONGTYPE`).
    pub errors: Vec<String>,
}

/// Standard error texts, byte-identical to Redis's `shared.*` replies.
pub mod errors {
    /// `shared.syntaxerr`
    pub const SYNTAX: &str = "ERR syntax error";
    /// `shared.wrongtypeerr`
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// Integer argument parse failure.
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    /// Float argument parse failure.
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    /// `shared.nokeyerr`
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// INCR family overflow.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// Bad expire time.
    pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '%s' command";
    /// SELECT / MOVE / SWAPDB out of range.
    pub const DB_INDEX: &str = "ERR DB index is out of range";
    /// Strings longer than proto-max-bulk-len.
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
}

impl Reply {
    /// An empty RESP2 reply buffer.
    pub fn new() -> Reply {
        Reply {
            buf: Vec::with_capacity(1024),
            resp: 2,
            errors: Vec::new(),
        }
    }

    /// `+OK`
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply `+<s>`.
    #[inline]
    pub fn simple(&mut self, s: &str) {
        encode::simple(&mut self.buf, s.as_bytes());
    }

    /// An error reply. `msg` includes the code (`ERR ...`, `WRONGTYPE ...`); a missing code is
    /// not added here, so pass full texts.
    pub fn error(&mut self, msg: &str) {
        let code = msg
            .trim_start_matches('-')
            .split(' ')
            .next()
            .unwrap_or("ERR");
        self.errors.push(code.to_string());
        encode::error(&mut self.buf, msg.as_bytes());
    }

    /// An error reply from bytes that may hold user data (sanitized of CR/LF).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        let s = String::from_utf8_lossy(msg);
        let code = s
            .trim_start_matches('-')
            .split(' ')
            .next()
            .unwrap_or("ERR")
            .to_string();
        self.errors.push(code);
        encode::error(&mut self.buf, msg);
    }

    /// `-ERR syntax error`
    pub fn syntax_error(&mut self) {
        self.error(errors::SYNTAX);
    }

    /// `-WRONGTYPE ...`
    pub fn wrong_type(&mut self) {
        self.error(errors::WRONGTYPE);
    }

    /// `:<n>`
    #[inline]
    pub fn int(&mut self, n: i64) {
        encode::integer(&mut self.buf, n);
    }

    /// A bulk string.
    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        encode::bulk(&mut self.buf, s);
    }

    /// An integer as a bulk string.
    #[inline]
    pub fn bulk_i64(&mut self, v: i64) {
        encode::bulk_i64(&mut self.buf, v);
    }

    /// Null bulk (`$-1` / `_`).
    #[inline]
    pub fn null(&mut self) {
        encode::null(&mut self.buf, self.resp);
    }

    /// Null array (`*-1` / `_`).
    #[inline]
    pub fn null_array(&mut self) {
        encode::null_array(&mut self.buf, self.resp);
    }

    /// Array header.
    #[inline]
    pub fn array(&mut self, n: usize) {
        encode::array(&mut self.buf, n);
    }

    /// Map header (flat array in RESP2).
    #[inline]
    pub fn map(&mut self, n: usize) {
        encode::map(&mut self.buf, n, self.resp);
    }

    /// Set header (array in RESP2).
    #[inline]
    pub fn set(&mut self, n: usize) {
        encode::set(&mut self.buf, n, self.resp);
    }

    /// A double (bulk string in RESP2).
    pub fn double(&mut self, v: f64) {
        encode::double(&mut self.buf, v, self.resp);
    }

    /// A boolean (integer in RESP2).
    pub fn boolean(&mut self, v: bool) {
        encode::boolean(&mut self.buf, v, self.resp);
    }

    /// A big number from its decimal digits (bulk in RESP2).
    pub fn bignum(&mut self, digits: &[u8]) {
        encode::bignum(&mut self.buf, digits, self.resp);
    }

    /// An error reply written as given (`-<msg>\r\n`, CR/LF replaced by spaces), without
    /// adding or dropping a leading `-`: DEBUG ERROR's raw form. Counted under its first word.
    pub fn error_verbatim(&mut self, msg: &[u8]) {
        let code = String::from_utf8_lossy(msg.split(|&b| b == b' ').next().unwrap_or_default())
            .into_owned();
        self.errors.push(code);
        self.buf.push(b'-');
        self.buf.extend(
            msg.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A verbatim string (bulk in RESP2).
    pub fn verbatim(&mut self, text: &[u8]) {
        encode::verbatim(&mut self.buf, b"txt", text, self.resp);
    }

    /// An array of status lines, as Redis's `addReplyHelp()`: a header line
    /// `"<CMD> <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"`, the given lines and a
    /// trailing `HELP` entry.
    pub fn help(&mut self, command: &str, lines: &[&str]) {
        self.array(lines.len() + 3);
        self.simple(&format!(
            "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            command.to_ascii_uppercase()
        ));
        for l in lines {
            self.simple(l);
        }
        self.simple("HELP");
        self.simple("    Print this help.");
    }

    /// A HELP reply: each line as a status string.
    pub fn help_lines(&mut self, lines: &[&str]) {
        self.array(lines.len());
        for l in lines {
            self.simple(l);
        }
    }

    /// Appends already-encoded RESP bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}
