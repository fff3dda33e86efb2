//! The MEMORY command family (Redis 7.4.1's object.c: `memoryCommand`, `objectComputeSize`,
//! `getMemoryOverheadData`, `getMemoryDoctorReport`).
//!
//! - **USAGE** measures Pyrope's own layout, not Redis's: the key's entry allocation (header,
//!   expire, key and the embedded value, see `keyspace/entry.rs`) plus what the value owns on
//!   the heap, every allocation counted at jemalloc's real size class ([`usable`], `nallocx`,
//!   as Redis's `zmalloc_size`). Compact encodings (int and inline strings, listpacks,
//!   intsets, raw strings) are measured exactly; the big encodings sample their elements as
//!   `objectComputeSize` does: the first `SAMPLES` (default 5, 0 = all) quicklist nodes, table
//!   fields in SCAN order, skiplist nodes in rank order, stream nodes, then the average times
//!   the element count, plus the container's fixed parts (table buckets, boxes).
//!   Pyrope's per-key cost is an entry of ~32-48 bytes where Redis pays dictEntry + key sds +
//!   robj (~88 bytes), so small keys measure smaller than in Redis.
//! - **STATS** is `getMemoryOverheadData` ([`crate::info::MemOverhead`], shared with INFO
//!   memory) in Redis 7.4.1's field order; fields for structures Pyrope does not have
//!   (replication backlog, replicas, cluster links, kvstore lookup tables) are 0.
//! - **DOCTOR** is `getMemoryDoctorReport` with Redis's texts; **PURGE** purges every jemalloc
//!   arena; **MALLOC-STATS** is `malloc_stats_print`'s text.

use crate::command::{Ctx, Handler};
use crate::info::MemOverhead;
use crate::keyspace::{Entry, SkipTable, ValueRef};
use crate::object::{SetValue, Value};
use crate::server::Server;
use crate::types::hash::HashValue;
use crate::types::list::{ListValue, QlNode, Quicklist};
use crate::types::stream::store::{Consumer, Group, Nack};
use crate::types::stream::{Stream, StreamId};
use crate::types::zset::ZsetValue;
use pyrope_common::listpack::Listpack;
use std::mem::size_of;

/// `OBJ_COMPUTE_SIZE_DEF_SAMPLES`.
const DEFAULT_SAMPLES: u64 = 5;

/// The allocator's real size for a request of `n` bytes (jemalloc's size class, `nallocx`;
/// what `malloc_usable_size` would say of the block). 0 for 0.
pub fn usable(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // SAFETY: FFI; nallocx only computes a size class, it touches no memory.
    let r = unsafe { tikv_jemalloc_sys::nallocx(n, 0) };
    if r == 0 {
        n
    } else {
        r
    }
}

/// A listpack's buffer at its allocation size.
fn lp_size(lp: &Listpack) -> usize {
    usable(lp.capacity())
}

/// Average of `total` over `samples`, times `n` (Redis's `(double)elesize/samples*n`).
fn scaled(total: usize, samples: usize, n: usize) -> usize {
    if samples == 0 {
        0
    } else {
        (total as f64 / samples as f64 * n as f64) as usize
    }
}

/// Rough bytes of a `BTreeMap` of `n` entries of `kv` bytes: leaf nodes of 11 slots, taken
/// as two-thirds full on average (plus internal nodes, ~1/7 of the leaves).
fn btree_size(n: usize, kv: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let leaves = n.div_ceil(7);
    let leaf = usable(11 * kv + 16);
    leaves * leaf + leaves.div_ceil(7) * usable(11 * kv + 16 + 12 * 8)
}

/// Bytes of a quicklist (its box, node array and sampled nodes).
fn quicklist_size(q: &Quicklist, samples: usize) -> usize {
    let mut n = usable(size_of::<Quicklist>()) + usable(q.capacity() * size_of::<QlNode>());
    let mut total = 0;
    let mut seen = 0;
    for node in q.iter().take(samples) {
        total += match node {
            // A compressed node: its box (raw length, count, container) and the LZF bytes
            // (Redis: a `quicklistLZF`, the bytes behind a `size_t` length).
            QlNode::Lzf(z) => {
                usable(size_of::<crate::types::list::LzfNode>()) + usable(z.lzf().len())
            }
            QlNode::Packed(lp) => lp_size(lp),
            QlNode::Plain(v) => usable(v.len()),
        };
        seen += 1;
    }
    n += scaled(total, seen, q.len());
    n
}

/// Bytes of a hashtable set or hash (its box, buckets and sampled fields).
fn field_table_size(t: &crate::keyspace::FieldTable, samples: usize) -> usize {
    let mut total = 0;
    let mut seen = 0;
    t.sample_alloc_sizes(samples, |s| {
        total += usable(s);
        seen += 1;
    });
    usable(size_of::<crate::keyspace::FieldTable>())
        + t.table_overhead_bytes()
        + scaled(total, seen, t.len())
}

/// Bytes of a skiplist zset (box, header node, member dict buckets, sampled nodes).
fn skiplist_size(t: &SkipTable, samples: usize) -> usize {
    let mut total = 0;
    let mut seen = 0;
    t.sample_node_sizes(samples, |s| {
        total += usable(s);
        seen += 1;
    });
    usable(size_of::<SkipTable>())
        + usable(t.header_alloc_size())
        + t.table_overhead_bytes()
        + scaled(total, seen, t.len())
}

/// Bytes of a stream, as Redis's estimate: the node index, the first `samples` nodes'
/// average for all but the last node, the last node exactly, then the groups with their PELs
/// and consumers.
fn stream_size(s: &Stream, samples: usize) -> usize {
    let mut n =
        usable(size_of::<Stream>()) + btree_size(s.nodes.len(), size_of::<(StreamId, Listpack)>());
    let mut total = 0;
    let mut seen = 0;
    for lp in s.nodes.values().take(samples) {
        total += lp_size(lp);
        seen += 1;
    }
    if s.nodes.len() <= seen {
        n += total;
    } else {
        n += scaled(total, seen, s.nodes.len() - 1);
        if let Some(last) = s.nodes.values().next_back() {
            n += lp_size(last);
        }
    }
    n += btree_size(s.groups.len(), size_of::<(Vec<u8>, Group)>());
    for (name, g) in &s.groups {
        n += usable(name.capacity());
        n += btree_size(g.pel.len(), size_of::<(StreamId, Nack)>());
        n += g
            .pel
            .values()
            .take(samples)
            .map(|nack| usable(nack.consumer.capacity()))
            .sum::<usize>()
            .checked_div(g.pel.len().min(samples))
            .unwrap_or(0)
            * g.pel.len();
        n += btree_size(g.consumers.len(), size_of::<(Vec<u8>, Consumer)>());
        for (cname, c) in &g.consumers {
            n += usable(cname.capacity());
            n += btree_size(c.pel.len(), size_of::<StreamId>());
        }
    }
    n
}

/// Heap bytes a value owns beyond the entry it is embedded in.
fn value_size(v: &Value, samples: usize) -> usize {
    match v {
        Value::Str(s) => usable(s.capacity()),
        Value::List(ListValue::Listpack(lp)) => lp_size(lp),
        Value::List(ListValue::Quicklist(q)) => quicklist_size(q, samples),
        Value::Set(SetValue::Intset(i)) => usable(i.capacity()),
        Value::Set(SetValue::Listpack(lp)) => lp_size(lp),
        Value::Set(SetValue::Hashtable(t)) => field_table_size(t, samples),
        Value::Hash(HashValue::Listpack(lp)) => lp_size(lp),
        Value::Hash(HashValue::ListpackEx(lp)) => usable(size_of::<Listpack>()) + lp_size(lp),
        Value::Hash(HashValue::Hashtable(t)) => field_table_size(t, samples),
        Value::ZSet(ZsetValue::Listpack(lp)) => lp_size(lp),
        Value::ZSet(ZsetValue::Skiplist(t)) => skiplist_size(t, samples),
        Value::Stream(s) => stream_size(s, samples),
    }
}

/// MEMORY USAGE's figure for one key: the entry at its allocation size (the embedded value
/// and 8 bytes of bucket slot included) plus the value's heap, sampling `samples` elements
/// of big encodings (`usize::MAX` = all).
pub fn key_usage(e: &Entry<'_>, samples: usize) -> usize {
    let entry = usable(e.alloc_size()) + size_of::<usize>();
    entry
        + match e.value() {
            ValueRef::Boxed(v) => value_size(v, samples),
            _ => 0,
        }
}

/// MEMORY USAGE key [SAMPLES count]
fn memory_usage(c: &mut Ctx) {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < c.argc() {
        if crate::command::opt(c.arg(j)) == b"samples" && j + 1 < c.argc() {
            match pyrope_common::util::string2ll(c.arg(j + 1)) {
                None => {
                    c.out.error("ERR value is not an integer or out of range");
                    return;
                }
                Some(n) if n < 0 => {
                    c.out.syntax_error();
                    return;
                }
                Some(0) => samples = u64::MAX,
                Some(n) => samples = n as u64,
            }
            j += 2;
        } else {
            c.out.syntax_error();
            return;
        }
    }
    let samples = usize::try_from(samples).unwrap_or(usize::MAX);
    let usage = c
        .srv
        .ks
        .peek(c.db, c.arg(2))
        .map(|e| key_usage(&e, samples));
    match usage {
        Some(n) => c.out.int(n as i64),
        None => c.out.null(),
    }
}

/// MEMORY STATS fields after the db maps, in Redis 7.4.1's order, with their values.
/// Ratios are C `float`s as in `struct redisMemOverhead` (0 when the divisor is 0).
fn stats_tail(mh: &MemOverhead) -> Vec<(&'static str, Stat)> {
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    let (alloc, active, resident, rss, used) = (
        mh.allocator_allocated,
        mh.allocator_active,
        mh.allocator_resident,
        mh.rss,
        mh.total_allocated,
    );
    let net = mh.net_usage();
    vec![
        ("overhead.db.hashtable.lut", Stat::Int(0)),
        (
            "overhead.db.hashtable.rehashing",
            Stat::Int(mh.db_rehashing as i64),
        ),
        ("overhead.total", Stat::Int(mh.overhead_total as i64)),
        (
            "db.dict.rehashing.count",
            Stat::Int(mh.db_rehashing_count as i64),
        ),
        ("keys.count", Stat::Int(mh.total_keys as i64)),
        (
            "keys.bytes-per-key",
            Stat::Int(net.checked_div(mh.total_keys).unwrap_or(0) as i64),
        ),
        ("dataset.bytes", Stat::Int(mh.dataset as i64)),
        (
            "dataset.percentage",
            Stat::Float(mh.dataset as f32 * 100.0 / net as f32),
        ),
        (
            "peak.percentage",
            Stat::Float(used as f32 * 100.0 / mh.peak_allocated.max(1) as f32),
        ),
        ("allocator.allocated", Stat::Int(alloc as i64)),
        ("allocator.active", Stat::Int(active as i64)),
        ("allocator.resident", Stat::Int(resident as i64)),
        ("allocator.muzzy", Stat::Int(0)),
        (
            "allocator-fragmentation.ratio",
            Stat::Float(ratio(active, alloc)),
        ),
        (
            "allocator-fragmentation.bytes",
            Stat::Int(active as i64 - alloc as i64),
        ),
        ("allocator-rss.ratio", Stat::Float(ratio(resident, active))),
        (
            "allocator-rss.bytes",
            Stat::Int(resident as i64 - active as i64),
        ),
        ("rss-overhead.ratio", Stat::Float(ratio(rss, resident))),
        (
            "rss-overhead.bytes",
            Stat::Int(rss as i64 - resident as i64),
        ),
        ("fragmentation", Stat::Float(ratio(rss, used))),
        ("fragmentation.bytes", Stat::Int(rss as i64 - used as i64)),
    ]
}

/// One MEMORY STATS value: an integer, or a C `float` replied as a double.
enum Stat {
    Int(i64),
    Float(f32),
}

/// MEMORY STATS
fn memory_stats(c: &mut Ctx) {
    let mh = MemOverhead::compute(c.srv);
    let head: [(&str, u64); 10] = [
        ("peak.allocated", mh.peak_allocated),
        ("total.allocated", mh.total_allocated),
        ("startup.allocated", mh.startup_allocated),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", mh.clients_normal),
        ("cluster.links", 0),
        ("aof.buffer", mh.aof_buffer),
        ("lua.caches", mh.lua_caches),
        ("functions.caches", mh.functions_caches),
    ];
    let tail = stats_tail(&mh);
    c.out.map(head.len() + mh.dbs.len() + tail.len());
    for (k, v) in head {
        c.out.bulk(k.as_bytes());
        c.out.int(v as i64);
    }
    for &(db, main, expires) in &mh.dbs {
        c.out.bulk(format!("db.{db}").as_bytes());
        c.out.map(2);
        c.out.bulk(b"overhead.hashtable.main");
        c.out.int(main as i64);
        c.out.bulk(b"overhead.hashtable.expires");
        c.out.int(expires as i64);
    }
    for (k, v) in tail {
        c.out.bulk(k.as_bytes());
        match v {
            Stat::Int(n) => c.out.int(n),
            Stat::Float(f) => c.out.double(f as f64),
        }
    }
}

const DOCTOR_EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
const DOCTOR_FINE: &str = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
const DOCTOR_BIG_PEAK: &str = " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n";
const DOCTOR_HIGH_FRAG: &str = " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc-5.3.0\".\n\n";
const DOCTOR_ALLOC_FRAG: &str = " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n";
const DOCTOR_ALLOC_RSS: &str = " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n";
const DOCTOR_PROC_RSS: &str = " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n";
const DOCTOR_CLIENT_BUF: &str = " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n";
const DOCTOR_MANY_SCRIPTS: &str = " * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.\n\n";

/// `getMemoryDoctorReport`: Redis's thresholds and texts (no replicas here, so the replica
/// buffer report never appears).
pub fn doctor_report(srv: &Server) -> String {
    let mh = MemOverhead::compute(srv);
    if mh.total_allocated < 5 * 1024 * 1024 {
        return DOCTOR_EMPTY.to_string();
    }
    let f = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    const TEN_MB: i64 = 10 << 20;
    let (alloc, active, resident, rss, used) = (
        mh.allocator_allocated as i64,
        mh.allocator_active as i64,
        mh.allocator_resident as i64,
        mh.rss as i64,
        mh.total_allocated as i64,
    );
    let mut reports: Vec<&str> = Vec::new();
    if f(mh.peak_allocated, mh.total_allocated) > 1.5 {
        reports.push(DOCTOR_BIG_PEAK);
    }
    if f(rss as u64, used as u64) > 1.4 && rss - used > TEN_MB {
        reports.push(DOCTOR_HIGH_FRAG);
    }
    if f(active as u64, alloc as u64) > 1.1 && active - alloc > TEN_MB {
        reports.push(DOCTOR_ALLOC_FRAG);
    }
    if f(resident as u64, active as u64) > 1.1 && resident - active > TEN_MB {
        reports.push(DOCTOR_ALLOC_RSS);
    }
    if f(rss as u64, resident as u64) > 1.1 && rss - resident > TEN_MB {
        reports.push(DOCTOR_PROC_RSS);
    }
    let clients = srv.clients.iter().count() as u64;
    if clients > 0 && mh.clients_normal / clients > 1024 * 200 {
        reports.push(DOCTOR_CLIENT_BUF);
    }
    if srv.scripting.cached_scripts() > 1000 {
        reports.push(DOCTOR_MANY_SCRIPTS);
    }
    if reports.is_empty() {
        return DOCTOR_FINE.to_string();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for r in reports {
        s.push_str(r);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// MEMORY DOCTOR
fn memory_doctor(c: &mut Ctx) {
    let report = doctor_report(c.srv);
    c.out.verbatim(report.as_bytes());
}

/// MEMORY PURGE: `arena.<MALLCTL_ARENAS_ALL>.purge` (Redis's `jemalloc_purge`).
fn memory_purge(c: &mut Ctx) {
    // MALLCTL_ARENAS_ALL is 4096.
    let name = b"arena.4096.purge\0";
    // SAFETY: FFI; a NUL-terminated name and no old/new values, as jemalloc documents for a
    // void control.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr() as *const libc::c_char,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc == 0 {
        c.out.ok();
    } else {
        c.out.error("ERR Error purging dirty pages");
    }
}

/// `malloc_stats_print`'s callback: appends the text to the `String` behind `opaque`.
unsafe extern "C" fn append_stats(opaque: *mut libc::c_void, text: *const libc::c_char) {
    // A panic must not unwind into C: any failure just drops the piece of text.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: `opaque` is the `&mut String` passed by `malloc_stats`, alive for the call;
        // jemalloc passes a NUL-terminated string.
        unsafe {
            let out = &mut *(opaque as *mut String);
            out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    });
}

/// jemalloc's statistics report (`je_malloc_stats_print` with default options).
pub fn malloc_stats() -> String {
    let mut out = String::new();
    // SAFETY: FFI; the callback only appends to `out`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append_stats),
            &mut out as *mut String as *mut libc::c_void,
            std::ptr::null(),
        )
    };
    out
}

/// MEMORY MALLOC-STATS
fn memory_malloc_stats(c: &mut Ctx) {
    let s = malloc_stats();
    if s.is_empty() {
        c.out
            .verbatim(b"Stats not supported for the current allocator");
    } else {
        c.out.verbatim(s.as_bytes());
    }
}

/// MEMORY HELP
fn memory_help(c: &mut Ctx) {
    c.out.help_lines(crate::help::MEMORY);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("memory|usage", memory_usage),
    ("memory|stats", memory_stats),
    ("memory|doctor", memory_doctor),
    ("memory|purge", memory_purge),
    ("memory|malloc-stats", memory_malloc_stats),
    ("memory|help", memory_help),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_sizes_are_jemalloc_size_classes() {
        assert_eq!(usable(0), 0);
        assert_eq!(usable(1), 8);
        assert_eq!(usable(17), 32);
        assert_eq!(usable(100), 112);
        assert!(usable(5000) >= 5000);
    }

    #[test]
    fn common_size_classes_match_nallocx() {
        // Listpacks grow to `alloc_size_class` (common, which links no allocator): it must be
        // the class jemalloc really gives, or growth would waste what it meant to use.
        let mut sizes: Vec<usize> = (1..70_000).collect();
        sizes.extend((17..40).flat_map(|lg| [(1usize << lg) - 1, 1 << lg, (1 << lg) + 1]));
        for n in sizes {
            assert_eq!(
                pyrope_common::util::alloc_size_class(n),
                usable(n),
                "size class of {n}"
            );
        }
    }

    #[test]
    fn doctor_texts_keep_redis_wording() {
        assert!(DOCTOR_EMPTY.starts_with("Hi Sam, this instance is empty"));
        assert!(DOCTOR_FINE.ends_with("base.\n"));
    }
}
