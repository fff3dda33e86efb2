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
                    out.extend_from_slice(&tty(items[i], &child_prefix));
                }
                i += 1;
            }
        }
    }
    out
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

/// True for the commands redis-cli prints raw whatever the mode (its `output_raw` list).
pub fn is_verbatim_command(argv: &[String]) -> bool {
    let a = |i: usize| {
        argv.get(i)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default()
    };
    let (c, s) = (a(0), a(1));
    let n = argv.len();
    c == "info"
        || c == "lolwut"
        || (n >= 2
            && c == "debug"
            && matches!(s.as_str(), "htstats" | "htstats-key" | "client-eviction"))
        || (n >= 2 && c == "memory" && matches!(s.as_str(), "malloc-stats" | "doctor"))
        || (n == 2 && c == "cluster" && matches!(s.as_str(), "nodes" | "info"))
        || (n >= 2 && c == "client" && matches!(s.as_str(), "list" | "info"))
        || (n == 3 && c == "latency" && s == "graph")
        || (n == 2 && c == "latency" && s == "doctor")
        || (n >= 2 && c == "proxy" && s == "info")
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
