//! Reply formatting exactly as redis-cli 7 prints it: the tty form (`(integer) 1`, `(nil)`,
//! numbered nested arrays, `1#` map entries, `1~` set members), raw (`--raw`, the default off a
//! tty), `--csv`, `--json` and `--quoted-json`.

use pyrope_common::resp::Frame;

/// Output modes (redis-cli's OUTPUT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Standard,
    Raw,
    Csv,
    Json,
    QuotedJson,
}

/// redis-cli's `sdscatrepr`: a double-quoted, escaped representation.
pub fn repr(b: &[u8]) -> String {
    pyrope_common::conf::repr(b)
}

/// redis-cli's JSON string escaping (`escapeJsonString`): UTF-8 bytes pass through,
/// control characters become `\uXXXX`.
fn json_escape(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    for &c in b {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            8 => out.extend_from_slice(b"\\b"),
            0..=0x1f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// The tty form of a reply (`cliFormatReplyTTY`), with `prefix` for nested elements.
pub fn tty(f: &Frame, prefix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    match f {
        Frame::Error(e) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Frame::Simple(s) => {
            out.extend_from_slice(s);
            out.push(b'\n');
        }
        Frame::Integer(n) => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
        Frame::Double(d) => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(d);
            out.push(b'\n');
        }
        Frame::BigNumber(d) => {
            out.extend_from_slice(b"(big number) ");
            out.extend_from_slice(d);
            out.push(b'\n');
        }
        Frame::Bulk(Some(b)) => {
            out.extend_from_slice(repr(b).as_bytes());
            out.push(b'\n');
        }
        Frame::Verbatim(_, b) => {
            out.extend_from_slice(b);
            out.push(b'\n');
        }
        Frame::Bulk(None) | Frame::Null | Frame::Array(None) => out.extend_from_slice(b"(nil)\n"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)\n" } else { b"(false)\n" }),
        Frame::Attribute(_, inner) => return tty(inner, prefix),
        Frame::Array(Some(_)) | Frame::Set(_) | Frame::Push(_) | Frame::Map(_) => {
            let (items, map): (Vec<&Frame>, bool) = match f {
                Frame::Map(kv) => (kv.iter().flat_map(|(k, v)| [k, v]).collect(), true),
                other => (other.as_array().unwrap_or(&[]).iter().collect(), false),
            };
            if items.is_empty() {
                out.extend_from_slice(match f {
                    Frame::Map(_) => b"(empty hash)\n",
                    Frame::Set(_) => b"(empty set)\n",
                    Frame::Push(_) => b"(empty push)\n",
                    _ => b"(empty array)\n",
                });
                return out;
            }
            let count = if map { items.len() / 2 } else { items.len() };
            let idxlen = count.to_string().len();
            let child_prefix = format!("{prefix}{}", " ".repeat(idxlen + 2));
            let sep = match f {
                Frame::Set(_) => '~',
                Frame::Map(_) => '#',
                _ => ')',
            };
            let mut i = 0;
            while i < items.len() {
                let human = if map { i / 2 } else { i } + 1;
                let p = if i == 0 { "" } else { prefix };
                out.extend_from_slice(format!("{p}{human:>idxlen$}{sep} ").as_bytes());
                out.extend_from_slice(&tty(items[i], &child_prefix));
                if map {
                    i += 1;
                    out.pop();
                    out.extend_from_slice(b" => ");
                    if is_multiline_tty(items[i]) {
                        // redis-cli 7.2+ (cliIsMultilineValueTTY): a value printed on several
                        // lines starts on its own line, aligned with its siblings.
                        out.push(b'\n');
                        out.extend_from_slice(child_prefix.as_bytes());
                    }
                    out.extend_from_slice(&tty(items[i], &child_prefix));
                }
                i += 1;
            }
        }
    }
    out
}

/// True when [`tty`] prints `f` on more than one line (`cliIsMultilineValueTTY`): an
/// aggregate of several elements, or of one element that is itself multi-line.
fn is_multiline_tty(f: &Frame) -> bool {
    match f {
        Frame::Array(Some(v)) | Frame::Set(v) | Frame::Push(v) => match v.len() {
            0 => false,
            1 => is_multiline_tty(&v[0]),
            _ => true,
        },
        Frame::Map(kv) => match kv.len() {
            0 => false,
            1 => is_multiline_tty(&kv[0].1),
            _ => true,
        },
        Frame::Attribute(_, inner) => is_multiline_tty(inner),
        _ => false,
    }
}

/// The raw form (`cliFormatReplyRaw`): strings as they are, elements joined by `bulk_delim`.
pub fn raw(f: &Frame, bulk_delim: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match f {
        Frame::Bulk(None) | Frame::Null | Frame::Array(None) => {}
        Frame::Error(e) => {
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Frame::Simple(s) | Frame::Bulk(Some(s)) | Frame::Verbatim(_, s) => out.extend_from_slice(s),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"(true)" } else { b"(false)" }),
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(d) | Frame::BigNumber(d) => out.extend_from_slice(d),
        Frame::Attribute(_, inner) => return raw(inner, bulk_delim),
        Frame::Map(kv) => {
            for (i, (k, v)) in kv.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(bulk_delim);
                }
                out.extend_from_slice(&raw(k, bulk_delim));
                out.push(b' ');
                out.extend_from_slice(&raw(v, bulk_delim));
            }
        }
        other => {
            for (i, e) in other.as_array().unwrap_or(&[]).iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(bulk_delim);
                }
                out.extend_from_slice(&raw(e, bulk_delim));
            }
        }
    }
    out
}

/// The CSV form (`cliFormatReplyCSV`).
pub fn csv(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    match f {
        Frame::Error(e) => {
            out.extend_from_slice(b"ERROR,");
            out.extend_from_slice(repr(pyrope_cstr(e)).as_bytes());
        }
        Frame::Simple(s) | Frame::Bulk(Some(s)) | Frame::Verbatim(_, s) => {
            out.extend_from_slice(repr(s).as_bytes())
        }
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(d) | Frame::BigNumber(d) => out.extend_from_slice(d),
        Frame::Bulk(None) | Frame::Null | Frame::Array(None) => out.extend_from_slice(b"NULL"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Frame::Attribute(_, inner) => return csv(inner),
        Frame::Map(kv) => {
            let items: Vec<&Frame> = kv.iter().flat_map(|(k, v)| [k, v]).collect();
            for (i, e) in items.iter().enumerate() {
                out.extend_from_slice(&csv(e));
                if i + 1 != items.len() {
                    out.push(b',');
                }
            }
        }
        other => {
            let items = other.as_array().unwrap_or(&[]);
            for (i, e) in items.iter().enumerate() {
                out.extend_from_slice(&csv(e));
                if i + 1 != items.len() {
                    out.push(b',');
                }
            }
        }
    }
    out
}

/// Error texts are C strings to redis-cli (`strlen`).
fn pyrope_cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// The JSON form (`cliFormatReplyJson`); `quoted` selects `--quoted-json` string quoting.
pub fn json(out: &mut Vec<u8>, f: &Frame, quoted: bool) {
    let string = |out: &mut Vec<u8>, s: &[u8]| {
        if quoted {
            // redis-cli 7.0's jsonStringOutput: sdscatrepr, then every backslash doubled.
            for &b in repr(s).as_bytes() {
                if b == b'\\' {
                    out.extend_from_slice(b"\\\\");
                } else {
                    out.push(b);
                }
            }
        } else {
            json_escape(out, s);
        }
    };
    match f {
        Frame::Error(e) => {
            out.extend_from_slice(b"error:");
            out.extend_from_slice(repr(pyrope_cstr(e)).as_bytes());
        }
        Frame::Simple(s) => out.extend_from_slice(repr(s).as_bytes()),
        Frame::Bulk(Some(s)) | Frame::Verbatim(_, s) => string(out, s),
        Frame::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Frame::Double(d) | Frame::BigNumber(d) => out.extend_from_slice(d),
        Frame::Bulk(None) | Frame::Null | Frame::Array(None) => out.extend_from_slice(b"null"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Frame::Attribute(_, inner) => json(out, inner, quoted),
        Frame::Map(kv) => {
            out.push(b'{');
            for (i, (k, v)) in kv.iter().enumerate() {
                match k {
                    Frame::Error(_)
                    | Frame::Simple(_)
                    | Frame::Bulk(Some(_))
                    | Frame::Verbatim(..) => json(out, k, quoted),
                    other => {
                        let mut ks = Vec::new();
                        json(&mut ks, other, quoted);
                        if ks.first() == Some(&b'"') {
                            out.extend_from_slice(&ks);
                        } else {
                            out.push(b'"');
                            out.extend_from_slice(&ks);
                            out.push(b'"');
                        }
                    }
                }
                out.push(b':');
                json(out, v, quoted);
                if i + 1 != kv.len() {
                    out.push(b',');
                }
            }
            out.push(b'}');
        }
        other => {
            out.push(b'[');
            let items = other.as_array().unwrap_or(&[]);
            for (i, e) in items.iter().enumerate() {
                json(out, e, quoted);
                if i + 1 != items.len() {
                    out.push(b',');
                }
            }
            out.push(b']');
        }
    }
}

/// A whole reply as redis-cli writes it in `mode` (`cliFormatReply`). `verbatim` is
/// redis-cli's output_raw for human-readable commands (INFO, CLIENT LIST...), printed raw
/// whatever the mode.
pub fn reply(
    f: &Frame,
    mode: Mode,
    verbatim: bool,
    bulk_delim: &[u8],
    cmd_delim: &[u8],
) -> Vec<u8> {
    if verbatim {
        return raw(f, bulk_delim);
    }
    match mode {
        Mode::Standard => tty(f, ""),
        Mode::Raw => {
            let mut o = raw(f, bulk_delim);
            o.extend_from_slice(cmd_delim);
            o
        }
        Mode::Csv => {
            let mut o = csv(f);
            o.push(b'\n');
            o
        }
        Mode::Json | Mode::QuotedJson => {
            let mut o = Vec::new();
            json(&mut o, f, mode == Mode::QuotedJson);
            o.push(b'\n');
            o
        }
    }
}

/// True for the commands redis-cli prints raw whatever the output mode (its `output_raw`
/// list in `cliSendCommand`: human-readable text such as INFO, CLIENT LIST, LATENCY DOCTOR).
pub fn is_verbatim_command<A: AsRef<[u8]>>(argv: &[A]) -> bool {
    let is = |i: usize, s: &str| {
        argv.get(i)
            .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(s.as_bytes()))
    };
    let n = argv.len();
    is(0, "info")
        || is(0, "lolwut")
        || (n >= 2
            && is(0, "debug")
            && (is(1, "htstats") || is(1, "htstats-key") || is(1, "client-eviction")))
        || (n >= 2 && is(0, "memory") && (is(1, "malloc-stats") || is(1, "doctor")))
        || (n == 2 && is(0, "cluster") && (is(1, "nodes") || is(1, "info")))
        || (n >= 2 && is(0, "client") && (is(1, "list") || is(1, "info")))
        || (n == 3 && is(0, "latency") && is(1, "graph"))
        || (n == 2 && is(0, "latency") && is(1, "doctor"))
        || (n >= 2 && is(0, "proxy") && is(1, "info"))
}

/// A RESP3 push message as redis-cli's push handler prints it: a client-side caching
/// invalidation as `-> invalidate: 'k1', 'k2'` in the tty form, any other push in the
/// output mode's form.
pub fn push(f: &Frame, style: &crate::conn::PushStyle) -> Vec<u8> {
    if style.mode == Mode::Standard {
        if let Frame::Push(v) = f {
            if let [Frame::Bulk(Some(kind)), Frame::Array(Some(keys))] = v.as_slice() {
                if kind.starts_with(b"invalidate")
                    && keys.iter().all(|k| matches!(k, Frame::Bulk(Some(_))))
                {
                    let mut out = b"-> invalidate: ".to_vec();
                    for (i, k) in keys.iter().enumerate() {
                        if i > 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.push(b'\'');
                        // sdscatfmt's %s: the key up to its first NUL byte.
                        let k = k.as_bytes().unwrap_or_default();
                        let end = k.iter().position(|&c| c == 0).unwrap_or(k.len());
                        out.extend_from_slice(&k[..end]);
                        out.push(b'\'');
                    }
                    out.push(b'\n');
                    return out;
                }
            }
        }
    }
    reply(f, style.mode, false, &style.bulk_delim, &style.cmd_delim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Frame {
        Frame::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn tty_nesting_matches_redis_cli() {
        let inner = Frame::Array(Some((1..=10).map(|i| b(&i.to_string())).collect()));
        let f = Frame::Array(Some(vec![
            b("get"),
            inner,
            Frame::Integer(3),
            Frame::Bulk(None),
        ]));
        let s = String::from_utf8(tty(&f, "")).unwrap();
        assert_eq!(
            s,
            "1) \"get\"\n2)  1) \"1\"\n    2) \"2\"\n    3) \"3\"\n    4) \"4\"\n    5) \"5\"\n    6) \"6\"\n    7) \"7\"\n    8) \"8\"\n    9) \"9\"\n   10) \"10\"\n3) (integer) 3\n4) (nil)\n"
        );
        let m = Frame::Map(vec![
            (b("proto"), Frame::Integer(3)),
            (b("modules"), Frame::Array(Some(vec![]))),
        ]);
        assert_eq!(
            String::from_utf8(tty(&m, "")).unwrap(),
            "1# \"proto\" => (integer) 3\n2# \"modules\" => (empty array)\n"
        );
        let set = Frame::Set(vec![b("a")]);
        assert_eq!(String::from_utf8(tty(&set, "")).unwrap(), "1~ \"a\"\n");
    }

    #[test]
    fn map_values_on_several_lines_start_on_their_own_line() {
        // As redis-cli 7.2+ prints XINFO STREAM's first-entry.
        let m = Frame::Map(vec![
            (b("length"), Frame::Integer(1)),
            (
                b("first-entry"),
                Frame::Array(Some(vec![
                    b("1-1"),
                    Frame::Array(Some(vec![b("a"), b("1")])),
                ])),
            ),
            (b("one"), Frame::Array(Some(vec![b("x")]))),
        ]);
        assert_eq!(
            String::from_utf8(tty(&m, "")).unwrap(),
            "1# \"length\" => (integer) 1\n2# \"first-entry\" => \n   1) \"1-1\"\n   2) 1) \"a\"\n      2) \"1\"\n3# \"one\" => 1) \"x\"\n"
        );
    }

    #[test]
    fn invalidation_pushes_as_redis_cli() {
        let style = crate::conn::PushStyle {
            mode: Mode::Standard,
            bulk_delim: b"\n".to_vec(),
            cmd_delim: b"\n".to_vec(),
        };
        let p = Frame::Push(vec![
            b("invalidate"),
            Frame::Array(Some(vec![b("k1"), b("k2")])),
        ]);
        assert_eq!(push(&p, &style), b"-> invalidate: 'k1', 'k2'\n");
        let raw = crate::conn::PushStyle {
            mode: Mode::Raw,
            ..style
        };
        assert_eq!(push(&p, &raw), b"invalidate\nk1\nk2\n");
    }

    #[test]
    fn raw_csv_json() {
        let f = Frame::Array(Some(vec![
            b("a"),
            b("b c"),
            Frame::Integer(1),
            Frame::Bulk(None),
        ]));
        assert_eq!(reply(&f, Mode::Raw, false, b"\n", b"\n"), b"a\nb c\n1\n\n");
        assert_eq!(
            reply(&f, Mode::Csv, false, b"\n", b"\n"),
            b"\"a\",\"b c\",1,NULL\n"
        );
        assert_eq!(
            reply(&f, Mode::Json, false, b"\n", b"\n"),
            b"[\"a\",\"b c\",1,null]\n"
        );
        let m = Frame::Map(vec![(b("maxmemory"), b("0"))]);
        assert_eq!(
            reply(&m, Mode::Json, false, b"\n", b"\n"),
            b"{\"maxmemory\":\"0\"}\n"
        );
        assert_eq!(
            reply(
                &Frame::Error(b"ERR x".to_vec()),
                Mode::Raw,
                false,
                b"\n",
                b"\n"
            ),
            b"ERR x\n\n"
        );
    }
}
