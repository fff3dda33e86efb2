//! `redis.conf` tokenizing: the quoting rules of Redis's `sdssplitargs()` (sds.c), shared by the
//! config-file loader, the inline-command parser and the CLI.
//!
//! This module owns only the lexical layer: turning a line into arguments and a file into
//! `(line number, directive, args)` records. What a directive *means* belongs to the server's
//! `config` module.

/// Why a line could not be split into arguments. Both cases are "unbalanced quotes" to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A quoted argument was not closed before the end of the line.
    #[error("unterminated quotes")]
    Unterminated,
    /// A closing quote was followed by something other than whitespace.
    #[error("closing quote must be followed by a space or nothing at all")]
    TrailingAfterQuote,
}

#[inline]
fn is_space(b: u8) -> bool {
    // C isspace() in the "C" locale.
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

#[inline]
fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits `line` into arguments exactly as Redis's `sdssplitargs()` does.
///
/// - Arguments are separated by whitespace; an unquoted NUL byte also ends the line.
/// - `"double quotes"` support `\n \r \t \b \a`, `\xHH` hex bytes and `\<any>` for the byte itself.
/// - `'single quotes'` support only `\'`.
/// - A closing quote must be followed by whitespace or the end of the line.
///
/// Calls `push` once per argument, in order, with the unescaped bytes (which may be empty).
/// Returns the number of arguments, or a [`SplitError`] if quotes are unbalanced; on error some
/// arguments may already have been pushed.
pub fn split_args_with(line: &[u8], mut push: impl FnMut(&[u8])) -> Result<usize, SplitError> {
    let n = line.len();
    let at = |i: usize| -> u8 {
        if i < n {
            line[i]
        } else {
            0
        }
    };
    let mut p = 0usize;
    let mut count = 0usize;
    let mut cur: Vec<u8> = Vec::new();
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n || line[p] == 0 {
            return Ok(count);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        cur.clear();
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 3;
                    } else {
                        cur.push(b'x');
                        p += 1;
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(SplitError::TrailingAfterQuote);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(SplitError::Unterminated);
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(SplitError::TrailingAfterQuote);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(SplitError::Unterminated);
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    other => cur.push(other),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        push(&cur);
        count += 1;
    }
}

/// [`split_args_with`] collecting into owned vectors.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
    let mut out = Vec::new();
    split_args_with(line, |a| out.push(a.to_vec()))?;
    Ok(out)
}

/// One directive of a config file: `name arg arg ...` on line `line` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// 1-based line number in the source text.
    pub line: usize,
    /// The directive name, lowercased (Redis compares names case-insensitively).
    pub name: String,
    /// The arguments after the name, unescaped.
    pub args: Vec<Vec<u8>>,
    /// The raw line as written (for error messages and CONFIG REWRITE).
    pub raw: String,
}

/// A config line that cannot be tokenized; the message is Redis's ("Unbalanced quotes in
/// configuration line").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: Unbalanced quotes in configuration line")]
pub struct ConfParseError {
    /// 1-based line number.
    pub line: usize,
    /// The raw line.
    pub raw: String,
}

/// Tokenizes config text into directives, as Redis's `loadServerConfigFromString()`: blank lines
/// and lines whose first non-blank byte is `#` are skipped, the rest split with
/// [`split_args`]. Lines are separated by `\n`; surrounding whitespace is trimmed first.
pub fn parse_config_text(text: &str) -> Result<Vec<Directive>, ConfParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let trimmed = raw.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let args = split_args(trimmed.as_bytes()).map_err(|_| ConfParseError {
            line: i + 1,
            raw: raw.to_string(),
        })?;
        let mut it = args.into_iter();
        let Some(name) = it.next() else { continue };
        out.push(Directive {
            line: i + 1,
            name: String::from_utf8_lossy(&name).to_ascii_lowercase(),
            args: it.collect(),
            raw: raw.to_string(),
        });
    }
    Ok(out)
}

/// Quotes `arg` so that [`split_args`] gives it back unchanged: bare when it is printable and
/// has no blanks or quotes, otherwise `"..."` with escapes, as Redis's `sdscatrepr()`.
pub fn quote_arg(arg: &[u8]) -> String {
    let plain = !arg.is_empty()
        && arg
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return String::from_utf8_lossy(arg).into_owned();
    }
    repr(arg)
}

/// Redis's `sdscatrepr()`: a double-quoted representation with `\n \r \t \a \b \\ \"` escapes and
/// `\xHH` for other non-printable bytes. Used by CONFIG REWRITE, MONITOR and CLIENT LIST.
pub fn repr(arg: &[u8]) -> String {
    let mut s = String::with_capacity(arg.len() + 2);
    s.push('"');
    for &b in arg {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            b if (0x20..0x7f).contains(&b) => s.push(b as char),
            b => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(s: &str) -> Result<Vec<String>, SplitError> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn plain_and_blank() {
        assert_eq!(sp("  set  foo bar ").unwrap(), ["set", "foo", "bar"]);
        assert_eq!(sp("").unwrap(), Vec::<String>::new());
        assert_eq!(sp(" \t\r\n").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(
            sp(r#"set "a b" "\x41\n\q""#).unwrap(),
            ["set", "a b", "A\nq"]
        );
        assert_eq!(sp(r#""\xZZ""#).unwrap(), ["xZZ"]);
        assert_eq!(sp(r#""""#).unwrap(), [""]);
        assert_eq!(sp(r#"foo"bar baz""#).unwrap(), ["foobar baz"]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(sp(r"'it\'s' 'a\nb'").unwrap(), ["it's", "a\\nb"]);
    }

    #[test]
    fn unbalanced() {
        assert_eq!(sp(r#"set "foo"#), Err(SplitError::Unterminated));
        assert_eq!(sp(r#"set "foo"bar"#), Err(SplitError::TrailingAfterQuote));
        assert_eq!(sp("set 'foo"), Err(SplitError::Unterminated));
        assert_eq!(sp("set 'a'b"), Err(SplitError::TrailingAfterQuote));
    }

    #[test]
    fn config_text() {
        let d = parse_config_text("# comment\n\nport 7000\n  save \"\"\nbind 127.0.0.1 -::1\r\n")
            .unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].name, "port");
        assert_eq!(d[0].line, 3);
        assert_eq!(d[1].args, vec![Vec::<u8>::new()]);
        assert_eq!(d[2].args.len(), 2);
        let e = parse_config_text("a\nport \"x\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn quoting_round_trips() {
        for a in [
            &b"plain"[..],
            b"",
            b"a b",
            b"q\"uote",
            b"\x00\xff\n",
            b"it's",
        ] {
            let q = quote_arg(a);
            assert_eq!(split_args(q.as_bytes()).unwrap(), vec![a.to_vec()], "{q}");
        }
    }
}
