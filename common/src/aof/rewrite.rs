//! The commands that rebuild a key, as Redis 7.4's AOF rewrite without an RDB preamble writes
//! them (aof.c `rewriteAppendOnlyFileRio` and its `rewrite*Object` helpers): `SET`; `RPUSH`,
//! `SADD`, `ZADD`, `HMSET` in batches of [`ITEMS_PER_CMD`] elements; a hash's field TTLs as
//! `HPEXPIREAT key <ms> FIELDS 1 <field>` after its fields; a stream as one `XADD` per entry
//! (or `XADD key MAXLEN 0 0-1 x y` for an empty one), `XSETID ... ENTRIESADDED ...
//! MAXDELETEDID ...`, `XGROUP CREATE ... ENTRIESREAD ...`, one `XCLAIM ... JUSTID FORCE` per
//! pending entry and `XGROUP CREATECONSUMER` for consumers without one; then `PEXPIREAT` for
//! a key with an expire. Values come in `common::rdb`'s value model, so any encoding works.

use super::writer::cat_command;
use crate::rdb::read::stream_node_entries;
use crate::rdb::{QuicklistNode, StreamValue, Value};

/// Elements per command in a rewrite (`AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_CMD: usize = 64;

/// A score as text (Redis 7.4's `rioWriteBulkDouble`: the shortest text that reads back as
/// the same double; `inf` / `-inf`).
fn score_text(d: f64) -> Vec<u8> {
    if d.is_infinite() {
        return if d > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    format!("{d}").into_bytes()
}

/// Emits `verb key` followed by `items` in batches of [`ITEMS_PER_CMD`] elements (each
/// element is `per` arguments).
fn batched(out: &mut Vec<u8>, verb: &[u8], key: &[u8], items: &[Vec<u8>], per: usize) {
    for chunk in items.chunks(ITEMS_PER_CMD * per) {
        let mut argv: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 2);
        argv.push(verb);
        argv.push(key);
        argv.extend(chunk.iter().map(|v| v.as_slice()));
        cat_command(out, &argv);
    }
}

/// Appends the commands that rebuild `key` holding `v` (and its expire, unix ms) to `out`.
/// Module values cannot be rebuilt from commands: they are skipped and `false` returned.
pub fn put_key_commands(out: &mut Vec<u8>, key: &[u8], v: &Value, expire_ms: Option<i64>) -> bool {
    match v {
        Value::String(s) => cat_command(out, &[b"SET".as_slice(), key, s]),
        Value::List(nodes) => {
            let mut items = Vec::new();
            for n in nodes {
                match n {
                    QuicklistNode::Packed(lp) => items.extend(lp.iter().map(|e| e.to_vec())),
                    QuicklistNode::Plain(b) => items.push(b.clone()),
                }
            }
            batched(out, b"RPUSH", key, &items, 1);
        }
        Value::Set(m) => batched(out, b"SADD", key, m, 1),
        Value::SetIntset(is) => {
            let items: Vec<Vec<u8>> = is.iter().map(|i| i.to_string().into_bytes()).collect();
            batched(out, b"SADD", key, &items, 1);
        }
        Value::SetListpack(lp) => {
            let items: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
            batched(out, b"SADD", key, &items, 1);
        }
        Value::Zset(pairs) => {
            let items: Vec<Vec<u8>> = pairs
                .iter()
                .flat_map(|(m, s)| [score_text(*s), m.clone()])
                .collect();
            batched(out, b"ZADD", key, &items, 2);
        }
        Value::ZsetListpack(lp) => {
            let flat: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
            let items: Vec<Vec<u8>> = flat
                .chunks_exact(2)
                .flat_map(|p| [p[1].clone(), p[0].clone()])
                .collect();
            batched(out, b"ZADD", key, &items, 2);
        }
        Value::HashListpack(lp) => {
            let items: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
            batched(out, b"HMSET", key, &items, 2);
        }
        Value::HashListpackEx(lp) => {
            let flat: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
            let mut items = Vec::new();
            let mut ttls = Vec::new();
            for t in flat.chunks_exact(3) {
                items.push(t[0].clone());
                items.push(t[1].clone());
                let ms: i64 = std::str::from_utf8(&t[2])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                if ms > 0 {
                    ttls.push((t[0].clone(), ms));
                }
            }
            batched(out, b"HMSET", key, &items, 2);
            put_field_ttls(out, key, &ttls);
        }
        Value::Hash(fields) => {
            let items: Vec<Vec<u8>> = fields
                .iter()
                .flat_map(|f| [f.field.clone(), f.value.clone()])
                .collect();
            batched(out, b"HMSET", key, &items, 2);
            let ttls: Vec<(Vec<u8>, i64)> = fields
                .iter()
                .filter_map(|f| Some((f.field.clone(), f.expire_ms? as i64)))
                .collect();
            put_field_ttls(out, key, &ttls);
        }
        Value::Stream(s) => put_stream(out, key, s),
        Value::Module(_) => return false,
    }
    if let Some(ms) = expire_ms {
        cat_command(
            out,
            &[b"PEXPIREAT".as_slice(), key, ms.to_string().as_bytes()],
        );
    }
    true
}

/// `HPEXPIREAT key <ms> FIELDS 1 <field>` per field with a TTL.
fn put_field_ttls(out: &mut Vec<u8>, key: &[u8], ttls: &[(Vec<u8>, i64)]) {
    for (f, ms) in ttls {
        cat_command(
            out,
            &[
                b"HPEXPIREAT".as_slice(),
                key,
                ms.to_string().as_bytes(),
                b"FIELDS",
                b"1",
                f,
            ],
        );
    }
}

/// `rewriteStreamObject`.
fn put_stream(out: &mut Vec<u8>, key: &[u8], s: &StreamValue) {
    let mut any = false;
    for (master, lp) in &s.nodes {
        for e in stream_node_entries(master, lp).unwrap_or_default() {
            if e.deleted {
                continue;
            }
            any = true;
            let id = e.id.to_string();
            let mut argv: Vec<&[u8]> = vec![b"XADD", key, id.as_bytes()];
            for (f, v) in &e.fields {
                argv.push(f);
                argv.push(v);
            }
            cat_command(out, &argv);
        }
    }
    if !any {
        cat_command(
            out,
            &[b"XADD".as_slice(), key, b"MAXLEN", b"0", b"0-1", b"x", b"y"],
        );
    }
    let last = s.last_id.to_string();
    let added = s.entries_added.to_string();
    let maxdel = s.max_deleted_id.to_string();
    cat_command(
        out,
        &[
            b"XSETID".as_slice(),
            key,
            last.as_bytes(),
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            maxdel.as_bytes(),
        ],
    );
    for g in &s.groups {
        let gid = g.last_id.to_string();
        let read = g.entries_read.to_string();
        cat_command(
            out,
            &[
                b"XGROUP".as_slice(),
                b"CREATE",
                key,
                &g.name,
                gid.as_bytes(),
                b"ENTRIESREAD",
                read.as_bytes(),
            ],
        );
        for c in &g.consumers {
            if c.pel.is_empty() {
                cat_command(
                    out,
                    &[
                        b"XGROUP".as_slice(),
                        b"CREATECONSUMER",
                        key,
                        &g.name,
                        &c.name,
                    ],
                );
                continue;
            }
            for id in &c.pel {
                let Some(n) = g.pel.iter().find(|p| p.id == *id) else {
                    continue;
                };
                let ids = id.to_string();
                let time = n.delivery_time.to_string();
                let count = n.delivery_count.to_string();
                cat_command(
                    out,
                    &[
                        b"XCLAIM".as_slice(),
                        key,
                        &g.name,
                        &c.name,
                        b"0",
                        ids.as_bytes(),
                        b"TIME",
                        time.as_bytes(),
                        b"RETRYCOUNT",
                        count.as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intset::Intset;

    fn text(out: &[u8]) -> String {
        String::from_utf8_lossy(out).replace("\r\n", " ")
    }

    #[test]
    fn strings_sets_and_expires() {
        let mut out = Vec::new();
        let mut is = Intset::new();
        for i in [3i64, 1, 2] {
            is.add(i);
        }
        assert!(put_key_commands(
            &mut out,
            b"k",
            &Value::SetIntset(is),
            Some(1234)
        ));
        assert_eq!(
            text(&out),
            "*5 $4 SADD $1 k $1 1 $1 2 $1 3 *3 $9 PEXPIREAT $1 k $4 1234 "
        );
    }

    #[test]
    fn big_collections_are_batched_by_64() {
        let mut out = Vec::new();
        let members: Vec<Vec<u8>> = (0..130).map(|i| format!("m{i}").into_bytes()).collect();
        put_key_commands(&mut out, b"s", &Value::Set(members), None);
        let t = text(&out);
        assert_eq!(t.matches("SADD").count(), 3);
        assert!(t.starts_with("*66 "));
        let zs: Vec<(Vec<u8>, f64)> = vec![(b"a".to_vec(), 1.5), (b"b".to_vec(), f64::INFINITY)];
        let mut out = Vec::new();
        put_key_commands(&mut out, b"z", &Value::Zset(zs), None);
        assert_eq!(text(&out), "*6 $4 ZADD $1 z $3 1.5 $1 a $3 inf $1 b ");
    }
}
