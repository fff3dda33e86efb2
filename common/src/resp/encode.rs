//! RESP2/RESP3 encoding into a byte vector: the reply writer of the server and the command
//! writer of clients. Each function appends one element (or a container header).
//!
//! RESP3 types degrade to RESP2 as Redis does: map -> flat array of 2N, set -> array,
//! null -> `$-1` (or `*-1` for a null array), double -> bulk string, boolean -> integer 1/0,
//! verbatim -> bulk string, push -> array.

use crate::util::push_i64;

/// Appends `+<s>\r\n`. `s` must not contain CR or LF.
#[inline]
pub fn simple(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// Appends an error reply. `s` is the full text including the code (`ERR syntax error`,
/// `WRONGTYPE ...`); a leading `-` is accepted and kept single; CR and LF inside are replaced by
/// spaces, as Redis's `addReplyErrorLength()` sanitizes them.
pub fn error(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'-');
    let s = s.strip_prefix(b"-").unwrap_or(s);
    out.extend(
        s.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Appends `:<v>\r\n`.
#[inline]
pub fn integer(out: &mut Vec<u8>, v: i64) {
    out.push(b':');
    push_i64(out, v);
    out.extend_from_slice(b"\r\n");
}

/// Appends a header `<prefix><n>\r\n` (`*`, `$`, `%`, `~`, `>`, `|`).
#[inline]
pub fn header(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    push_i64(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `$<len>\r\n<s>\r\n`.
#[inline]
pub fn bulk(out: &mut Vec<u8>, s: &[u8]) {
    header(out, b'$', s.len());
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// Appends an integer formatted as a bulk string (`$2\r\n42\r\n`).
pub fn bulk_i64(out: &mut Vec<u8>, v: i64) {
    header(out, b'$', crate::util::digits10(v));
    push_i64(out, v);
    out.extend_from_slice(b"\r\n");
}

/// Appends a null bulk string: `$-1\r\n` in RESP2, `_\r\n` in RESP3.
#[inline]
pub fn null(out: &mut Vec<u8>, resp: u8) {
    out.extend_from_slice(if resp >= 3 { b"_\r\n" } else { b"$-1\r\n" });
}

/// Appends a null array: `*-1\r\n` in RESP2, `_\r\n` in RESP3.
#[inline]
pub fn null_array(out: &mut Vec<u8>, resp: u8) {
    out.extend_from_slice(if resp >= 3 { b"_\r\n" } else { b"*-1\r\n" });
}

/// Appends an array header of `n` elements.
#[inline]
pub fn array(out: &mut Vec<u8>, n: usize) {
    header(out, b'*', n);
}

/// Appends a map header of `n` pairs (RESP2: an array of `2n`).
#[inline]
pub fn map(out: &mut Vec<u8>, n: usize, resp: u8) {
    if resp >= 3 {
        header(out, b'%', n)
    } else {
        header(out, b'*', 2 * n)
    }
}

/// Appends a set header of `n` elements (RESP2: an array).
#[inline]
pub fn set(out: &mut Vec<u8>, n: usize, resp: u8) {
    header(out, if resp >= 3 { b'~' } else { b'*' }, n)
}

/// Appends a push header of `n` elements (RESP2: an array).
#[inline]
pub fn push(out: &mut Vec<u8>, n: usize, resp: u8) {
    header(out, if resp >= 3 { b'>' } else { b'*' }, n)
}

/// Appends a double: RESP3 `,<v>\r\n`, RESP2 a bulk string; formatted by
/// [`crate::util::format_double`].
pub fn double(out: &mut Vec<u8>, v: f64, resp: u8) {
    let s = crate::util::format_double(v);
    if resp >= 3 {
        out.push(b',');
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, s.as_bytes());
    }
}

/// Appends a boolean: RESP3 `#t`/`#f`, RESP2 `:1`/`:0`.
pub fn boolean(out: &mut Vec<u8>, v: bool, resp: u8) {
    if resp >= 3 {
        out.extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
    } else {
        integer(out, v as i64);
    }
}

/// Appends a big number given as its decimal digits: RESP3 `(<digits>\r\n`, RESP2 a bulk
/// string (Redis `addReplyBigNum`).
pub fn bignum(out: &mut Vec<u8>, digits: &[u8], resp: u8) {
    if resp >= 3 {
        out.push(b'(');
        out.extend_from_slice(digits);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, digits);
    }
}

/// Appends an attribute header `|<n>\r\n` (RESP3 only: the caller omits attributes, key and
/// value pairs included, in RESP2).
pub fn attribute(out: &mut Vec<u8>, n: usize) {
    header(out, b'|', n)
}

/// Appends a verbatim string with 3-byte format `fmt` (`txt`, `mkd`): RESP3 `=<len>\r\nfmt:...`,
/// RESP2 a bulk string of the text alone.
pub fn verbatim(out: &mut Vec<u8>, fmt: &[u8; 3], text: &[u8], resp: u8) {
    if resp >= 3 {
        header(out, b'=', text.len() + 4);
        out.extend_from_slice(fmt);
        out.push(b':');
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, text);
    }
}

/// Appends a command as a multibulk of bulk strings (what clients send).
pub fn command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    array(out, args.len());
    for a in args {
        bulk(out, a.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_forms() {
        let mut o = Vec::new();
        simple(&mut o, b"OK");
        error(&mut o, b"ERR bad\r\nthing");
        error(&mut o, b"-WRONGTYPE x");
        integer(&mut o, -42);
        bulk(&mut o, b"hi");
        bulk_i64(&mut o, 1234);
        null(&mut o, 2);
        null(&mut o, 3);
        null_array(&mut o, 2);
        map(&mut o, 2, 2);
        map(&mut o, 2, 3);
        set(&mut o, 1, 3);
        double(&mut o, 1.5, 2);
        double(&mut o, 1.5, 3);
        boolean(&mut o, true, 3);
        boolean(&mut o, false, 2);
        verbatim(&mut o, b"txt", b"abc", 3);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "+OK\r\n-ERR bad  thing\r\n-WRONGTYPE x\r\n:-42\r\n$2\r\nhi\r\n$4\r\n1234\r\n$-1\r\n_\r\n*-1\r\n*4\r\n%2\r\n~1\r\n$3\r\n1.5\r\n,1.5\r\n#t\r\n:0\r\n=7\r\ntxt:abc\r\n"
        );
    }

    #[test]
    fn command_encoding() {
        let mut o = Vec::new();
        command(&mut o, &["SET", "k", ""]);
        assert_eq!(o, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
