//! `--stats`: per RDB type (redis-check-rdb's type names) the number of keys, the serialized
//! size (bytes from the type byte of the record to the end of the
//! value) and the number of elements; then the [`TOP`] biggest keys by serialized size.
//! Elements: bytes for a string, items for a list/set/zset, fields for a hash, entries
//! (XLEN) for a stream, 1 for a module value.

use pyrope_common::rdb::read::VisitResult;
use pyrope_common::rdb::{types, KeyRecord, QuicklistNode, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;

/// How many biggest keys are listed.
pub const TOP: usize = 10;

/// Per-type totals.
#[derive(Default, Clone, Copy, Debug)]
pub struct TypeStats {
    /// Keys.
    pub keys: u64,
    /// Serialized bytes.
    pub bytes: u64,
    /// Elements.
    pub elements: u64,
}

/// One of the biggest keys: (serialized bytes, db, key, RDB type, elements).
pub type BigKey = (u64, u64, Vec<u8>, u8, u64);

/// The `--stats` sink.
#[derive(Default)]
pub struct Stats {
    /// Totals by RDB type byte.
    pub by_type: BTreeMap<u8, TypeStats>,
    /// Min-heap of the biggest keys: (bytes, db, key, rdb type, elements).
    top: BinaryHeap<Reverse<BigKey>>,
}

/// The element count of a value (see the module docs).
pub fn elements(v: &Value) -> u64 {
    (match v {
        Value::String(s) => s.len(),
        Value::List(n) => n
            .iter()
            .map(|n| match n {
                QuicklistNode::Plain(_) => 1,
                QuicklistNode::Packed(lp) => lp.len(),
            })
            .sum(),
        Value::Set(m) => m.len(),
        Value::SetIntset(i) => i.len(),
        Value::SetListpack(lp) => lp.len(),
        Value::Zset(m) => m.len(),
        Value::ZsetListpack(lp) => lp.len() / 2,
        Value::Hash(f) => f.len(),
        Value::HashListpack(lp) => lp.len() / 2,
        Value::HashListpackEx(lp) => lp.len() / 3,
        Value::Stream(s) => s.length as usize,
        Value::Module(_) => 1,
    }) as u64
}

impl Stats {
    /// The biggest keys, biggest first: (bytes, db, key, rdb type, elements).
    pub fn biggest(&self) -> Vec<BigKey> {
        let mut v: Vec<_> = self.top.iter().map(|r| r.0.clone()).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }

    /// Prints the tables.
    pub fn print(&self, out: &mut dyn Write) {
        let _ = writeln!(out, "--- STATS ---");
        let _ = writeln!(
            out,
            "[stats] {:<26} {:>10} {:>14} {:>12}",
            "type", "keys", "bytes", "elements"
        );
        let mut tot = TypeStats::default();
        for (t, s) in &self.by_type {
            let _ = writeln!(
                out,
                "[stats] {:<26} {:>10} {:>14} {:>12}",
                format!("{t} ({})", types::name(*t)),
                s.keys,
                s.bytes,
                s.elements
            );
            tot.keys += s.keys;
            tot.bytes += s.bytes;
            tot.elements += s.elements;
        }
        let _ = writeln!(
            out,
            "[stats] {:<26} {:>10} {:>14} {:>12}",
            "total", tot.keys, tot.bytes, tot.elements
        );
        let _ = writeln!(out, "[stats] biggest keys:");
        for (bytes, db, key, t, n) in self.biggest() {
            let _ = writeln!(
                out,
                "[stats] {bytes:>10} bytes  db {db}  '{}'  {} ({n} elements)",
                crate::json::esc(&key),
                types::name(t)
            );
        }
    }
}

impl crate::Sink for Stats {
    fn key(&mut self, rec: &KeyRecord) -> VisitResult {
        let bytes = rec.end_offset.saturating_sub(rec.offset);
        let n = elements(&rec.value);
        let s = self.by_type.entry(rec.rdb_type).or_default();
        s.keys += 1;
        s.bytes += bytes;
        s.elements += n;
        let small_enough =
            self.top.len() >= TOP && self.top.peek().is_some_and(|Reverse(m)| m.0 >= bytes);
        if !small_enough {
            self.top
                .push(Reverse((bytes, rec.db, rec.key.clone(), rec.rdb_type, n)));
            if self.top.len() > TOP {
                self.top.pop();
            }
        }
        Ok(())
    }
}
