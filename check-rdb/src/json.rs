//! `--json`: one JSON object per key, one per line (JSON Lines), in file order:
//!
//! ```text
//! {"db":0,"key":K,"type":"hash","rdb_type":"hash-listpack","expire":null,"value":V}
//! ```
//!
//! `expire` is the absolute expire time in unix ms or null; `idle` (LRU seconds) and `freq`
//! (LFU counter) are added when the file has them. `type` is the `TYPE` name, `rdb_type` the
//! stored encoding (redis-check-rdb's names). `V` by type:
//! - string: a byte string;
//! - list: `[elem, ...]` head to tail;
//! - set: `[member, ...]` in file order;
//! - zset: `[[member, score], ...]`, the score a string in Redis's reply form (`inf`, `1.5`);
//! - hash: `{"fields": [[field, value], ...], "field_expire_ms": {field: ms, ...}}` (the
//!   second map lists only fields with a TTL);
//! - stream: `{"entries": [[id, [f, v, ...]], ...], "length", "last_id", "first_id",
//!   "max_deleted_id", "entries_added", "groups": [{"name", "last_id", "entries_read",
//!   "pel": [[id, delivery_time_ms, delivery_count], ...], "consumers": [{"name",
//!   "seen_time", "active_time", "pel": [id, ...]}]}]}` (ids as `ms-seq` strings);
//! - module: `{"module": name, "id": u64, "raw_hex": hex of the opcodes}`.
//!
//! Byte strings (keys, values, members, fields, names) are JSON strings in an escaped form
//! that extends the persistence corpus's "esc" form: a backslash is written `\\`, every byte
//! that is not part of valid UTF-8 and every control character (below 0x20, and 0x7F) is
//! `\xHH` (two lowercase hex digits), and every other character stands for itself. (In the
//! JSON text the backslashes appear doubled.) Decoding: walk the string; `\\` gives 0x5C,
//! `\xHH` gives that byte, any other character gives its UTF-8 bytes.

use pyrope_common::listpack::Listpack;
use pyrope_common::rdb::read::{stream_node_entries, VisitResult};
use pyrope_common::rdb::{types, KeyRecord, QuicklistNode, Value};
use serde_json::{json, Value as J};
use std::io::Write;

/// Escapes bytes as described in the module docs.
pub fn esc(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        let (good, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (g, b) = rest.split_at(e.valid_up_to());
                // SAFETY-free: `g` is valid UTF-8 by construction.
                (std::str::from_utf8(g).unwrap_or(""), b)
            }
        };
        for c in good.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
        if bad.is_empty() {
            break;
        }
        out.push_str(&format!("\\x{:02x}", bad[0]));
        rest = &bad[1..];
    }
    out
}

/// Inverse of [`esc`].
pub fn unesc(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            match u8::from_str_radix(&s[i + 2..i + 4], 16) {
                Ok(v) => out.push(v),
                Err(_) => out.extend_from_slice(&b[i..i + 4]),
            }
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn e(b: &[u8]) -> J {
    J::String(esc(b))
}

fn lp_items(lp: &Listpack) -> Vec<Vec<u8>> {
    lp.iter().map(|x| x.to_vec()).collect()
}

/// The `value` member for `v` (see the module docs).
pub fn value_json(v: &Value) -> J {
    match v {
        Value::String(s) => e(s),
        Value::List(nodes) => {
            let mut a = Vec::new();
            for n in nodes {
                match n {
                    QuicklistNode::Plain(b) => a.push(e(b)),
                    QuicklistNode::Packed(lp) => a.extend(lp.iter().map(|x| e(&x.to_vec()))),
                }
            }
            J::Array(a)
        }
        Value::Set(m) => J::Array(m.iter().map(|x| e(x)).collect()),
        Value::SetIntset(is) => J::Array(is.iter().map(|x| e(x.to_string().as_bytes())).collect()),
        Value::SetListpack(lp) => J::Array(lp.iter().map(|x| e(&x.to_vec())).collect()),
        Value::Zset(m) => J::Array(
            m.iter()
                .map(|(k, s)| json!([esc(k), pyrope_common::util::format_double(*s)]))
                .collect(),
        ),
        Value::ZsetListpack(lp) => {
            let it = lp_items(lp);
            J::Array(
                it.chunks(2)
                    .map(|p| {
                        let score = std::str::from_utf8(p.get(1).map(|x| &x[..]).unwrap_or(b""))
                            .ok()
                            .and_then(pyrope_common::rdb::read::parse_c_double)
                            .map(pyrope_common::util::format_double)
                            .unwrap_or_default();
                        json!([esc(&p[0]), score])
                    })
                    .collect(),
            )
        }
        Value::Hash(f) => {
            let fields: Vec<J> = f
                .iter()
                .map(|x| json!([esc(&x.field), esc(&x.value)]))
                .collect();
            let mut ttl = serde_json::Map::new();
            for x in f {
                if let Some(t) = x.expire_ms {
                    ttl.insert(esc(&x.field), json!(t));
                }
            }
            json!({"fields": fields, "field_expire_ms": ttl})
        }
        Value::HashListpack(lp) => {
            let it = lp_items(lp);
            let fields: Vec<J> = it
                .chunks(2)
                .map(|p| json!([esc(&p[0]), esc(p.get(1).map(|x| &x[..]).unwrap_or(b""))]))
                .collect();
            json!({"fields": fields, "field_expire_ms": {}})
        }
        Value::HashListpackEx(lp) => {
            let it = lp_items(lp);
            let mut fields = Vec::new();
            let mut ttl = serde_json::Map::new();
            for t in it.chunks(3) {
                let f = esc(&t[0]);
                let v = esc(t.get(1).map(|x| &x[..]).unwrap_or(b""));
                let ms: u64 = t
                    .get(2)
                    .and_then(|x| std::str::from_utf8(x).ok())
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                if ms != 0 {
                    ttl.insert(f.clone(), json!(ms));
                }
                fields.push(json!([f, v]));
            }
            json!({"fields": fields, "field_expire_ms": ttl})
        }
        Value::Stream(s) => {
            let mut entries = Vec::new();
            for (master, lp) in &s.nodes {
                for en in stream_node_entries(master, lp).unwrap_or_default() {
                    if en.deleted {
                        continue;
                    }
                    let mut fv = Vec::new();
                    for (f, v) in &en.fields {
                        fv.push(e(f));
                        fv.push(e(v));
                    }
                    entries.push(json!([en.id.to_string(), fv]));
                }
            }
            let groups: Vec<J> = s
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "name": esc(&g.name),
                        "last_id": g.last_id.to_string(),
                        "entries_read": g.entries_read,
                        "pel": g.pel.iter().map(|p| json!([p.id.to_string(), p.delivery_time, p.delivery_count])).collect::<Vec<_>>(),
                        "consumers": g.consumers.iter().map(|c| json!({
                            "name": esc(&c.name),
                            "seen_time": c.seen_time,
                            "active_time": c.active_time,
                            "pel": c.pel.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "entries": entries,
                "length": s.length,
                "last_id": s.last_id.to_string(),
                "first_id": s.first_id.to_string(),
                "max_deleted_id": s.max_deleted_id.to_string(),
                "entries_added": s.entries_added,
                "groups": groups,
            })
        }
        Value::Module(m) => {
            let hex: String = m.raw.iter().map(|b| format!("{b:02x}")).collect();
            json!({"module": pyrope_common::rdb::module_type_name(m.module_id), "id": m.module_id, "raw_hex": hex})
        }
    }
}

/// The JSON object of one key record (see the module docs).
pub fn record_json(rec: &KeyRecord) -> J {
    let mut o = json!({
        "db": rec.db,
        "key": esc(&rec.key),
        "type": rec.value.type_name(),
        "rdb_type": types::name(rec.rdb_type),
        "expire": rec.expire_ms,
        "value": value_json(&rec.value),
    });
    if let Some(i) = rec.lru_idle {
        o["idle"] = json!(i);
    }
    if let Some(f) = rec.lfu_freq {
        o["freq"] = json!(f);
    }
    o
}

/// The `--json` sink: writes [`record_json`] lines to `W`.
pub struct JsonSink<W: Write> {
    w: W,
}

impl<W: Write> JsonSink<W> {
    /// A sink writing to `w`.
    pub fn new(w: W) -> Self {
        JsonSink { w }
    }

    /// Flushes `W`.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

impl<W: Write> crate::Sink for JsonSink<W> {
    fn key(&mut self, rec: &KeyRecord) -> VisitResult {
        serde_json::to_writer(&mut self.w, &record_json(rec)).map_err(|e| e.to_string())?;
        self.w.write_all(b"\n").map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_round_trips_and_matches_the_corpus_form() {
        for b in [
            &b"plain"[..],
            b"back\\slash",
            b"bin:\x00\xff\xfe\x80key\r\n",
            "utf8:\u{2603}\u{e9}".as_bytes(),
            b"\xc3(\xa0\xa1",
            b"\\x41",
            b"",
        ] {
            assert_eq!(unesc(&esc(b)), b, "{b:?}");
        }
        assert_eq!(esc(b"a\\b\x00\xff"), "a\\\\b\\x00\\xff");
        assert_eq!(esc("\u{e9}".as_bytes()), "\u{e9}");
    }
}
