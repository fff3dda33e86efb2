//! The dataset in RDB form (rdb.c's object side): the server's values written through
//! `common::rdb`'s `put_*` primitives (no intermediate copy for the compact encodings: a
//! listpack or intset goes out as the bytes it is in memory), and RDB records (files, DUMP
//! payloads) adopted into the keyspace with the encoding conversions Redis 7.4's
//! `rdbLoadObject` applies under the current `*-max-*` settings.

use crate::fork::ChildCtx;
use crate::keyspace::{string_value, NewValue, ValueRef};
use crate::object::{SetValue, Value};
use crate::server::Server;
use crate::types::hash::{HashValue, Limits as HashLimits};
use crate::types::list::{ListValue, NodeRef, QlNode, RawNode, Scratch};
use crate::types::stream::store as st;
use crate::types::zset::{AddFlags, ZsetLimits, ZsetValue};
use pyrope_common::listpack::{Listpack, ListpackEntry};
use pyrope_common::rdb::{self as crdb, types, write as w, RdbError};
use std::io::Write;

/// What a load did: keys loaded and keys skipped because they had expired.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Keys added to the keyspace.
    pub loaded: u64,
    /// Keys whose expire time had passed (not added, as Redis's loader on a primary).
    pub expired: u64,
    /// Keys holding an empty collection (skipped, as Redis does).
    pub empty: u64,
}

// --- writing ------------------------------------------------------------------------------

/// The version a save of this dataset needs: 12 when some hash has field TTLs, else 11.
pub fn needed_version(srv: &Server) -> u32 {
    if (0..srv.ks.dbs()).any(|d| srv.ks.has_hexpires(d)) {
        12
    } else {
        crdb::RDB_VERSION_DEFAULT
    }
}

/// The listpack of `field, value` pairs of a listpackex hash (for a file below version 12,
/// where the hash has no TTL left: `has_hexpires` is false).
fn pairs_of_listpackex(lp: &Listpack) -> Listpack {
    let mut out = Listpack::new();
    let mut it = lp.iter();
    while let (Some(f), Some(v), Some(_)) = (it.next(), it.next(), it.next()) {
        out.push_back_all(&[f, v]);
    }
    out
}

/// The earliest field TTL of a listpackex hash, 0 if none (what `rdbSaveObject` writes for
/// an unregistered hash).
fn listpackex_min(lp: &Listpack) -> i64 {
    lp.iter()
        .skip(2)
        .step_by(3)
        .filter_map(|e| match e {
            ListpackEntry::Int(v) if v > 0 => Some(v),
            _ => None,
        })
        .min()
        .unwrap_or(0)
}

fn entry_vec(e: ListpackEntry) -> Vec<u8> {
    e.to_vec()
}

/// Appends the value body of `v` in Redis 7.4's `rdbSaveObject` layout for RDB `version` and
/// returns its RDB type byte. `hfe_min` is the time a hash is registered with for the active
/// expiry of fields ([`crate::keyspace::Keyspace::hfe_registered`]): Redis writes that
/// (`hashTypeGetMinExpire(o, 0)`, which may lag behind HPERSIST) as a hash's minimum field
/// TTL, and a hash-table hash registered there is written with field TTLs (type 24) even when
/// none is left. Errors: a value that cannot be expressed at `version`.
pub fn put_object(
    out: &mut Vec<u8>,
    v: &ValueRef,
    version: u32,
    compress: bool,
    hfe_min: Option<i64>,
) -> Result<u8, RdbError> {
    Ok(match v {
        ValueRef::Int(i) => {
            w::put_int_string(out, *i);
            types::STRING
        }
        ValueRef::Inline(s) => {
            w::put_string(out, s, compress);
            types::STRING
        }
        ValueRef::Boxed(b) => match b {
            Value::Str(s) => {
                w::put_string(out, s, compress);
                types::STRING
            }
            Value::List(l) => {
                w::put_len(out, l.nodes() as u64);
                let hidden = l.hides_compression();
                for n in l.node_refs() {
                    match n {
                        NodeRef::Packed(lp) => {
                            w::put_len(out, crdb::container::PACKED);
                            w::put_string(out, lp.as_bytes(), compress);
                        }
                        NodeRef::Plain(v) => {
                            w::put_len(out, crdb::container::PLAIN);
                            w::put_string(out, v, compress);
                        }
                        // A node hidden-compressed at depth 0 is what Redis writes of a raw
                        // node: without `rdbcompression`, its raw bytes; with it, the LZF blob
                        // `rdbSaveRawString` would compute, which is the one held.
                        NodeRef::Lzf(z) if hidden && !compress => {
                            let mut scratch = Scratch::default();
                            let (c, bytes) = match n.raw(&mut scratch) {
                                RawNode::Packed(lp) => (crdb::container::PACKED, lp.as_bytes()),
                                RawNode::Plain(v) => (crdb::container::PLAIN, v),
                            };
                            debug_assert_eq!(bytes.len(), z.raw_len());
                            w::put_len(out, c);
                            w::put_string(out, bytes, false);
                        }
                        // A node the quicklist keeps compressed is written as the LZF bytes
                        // it holds (`rdbSaveLzfBlob(data, compress_len, node->sz)`), whatever
                        // `rdbcompression` says.
                        NodeRef::Lzf(z) => {
                            w::put_len(
                                out,
                                if z.is_plain() {
                                    crdb::container::PLAIN
                                } else {
                                    crdb::container::PACKED
                                },
                            );
                            out.push(0xC0 | pyrope_common::rdb::read::enc::LZF);
                            w::put_len(out, z.lzf().len() as u64);
                            w::put_len(out, z.raw_len() as u64);
                            out.extend_from_slice(z.lzf());
                        }
                    }
                }
                types::LIST_QUICKLIST_2
            }
            Value::Set(SetValue::Intset(is)) => {
                w::put_string(out, is.as_bytes(), compress);
                types::SET_INTSET
            }
            Value::Set(SetValue::Listpack(lp)) => {
                let cv = crdb::Value::SetListpack(lp.clone());
                w::put_value(out, &cv, version, compress)?;
                w::value_type(&cv, version)
            }
            Value::Set(s @ SetValue::Hashtable(_)) => {
                w::put_len(out, s.len() as u64);
                let mut buf = Vec::new();
                s.for_each(|m| {
                    buf.clear();
                    m.write_to(&mut buf);
                    w::put_string(out, &buf, compress);
                });
                types::SET
            }
            Value::ZSet(ZsetValue::Listpack(lp)) => {
                w::put_string(out, lp.as_bytes(), compress);
                types::ZSET_LISTPACK
            }
            Value::ZSet(ZsetValue::Skiplist(t)) => {
                // From the greatest element to the smallest, as rdbSaveObject walks the
                // skiplist (so that loading inserts at the head).
                w::put_len(out, t.len() as u64);
                if !t.is_empty() {
                    for (m, s) in t.iter_from(t.len() - 1, true) {
                        w::put_string(out, m, compress);
                        w::put_binary_double(out, s);
                    }
                }
                types::ZSET_2
            }
            Value::Hash(HashValue::Listpack(lp)) => {
                w::put_string(out, lp.as_bytes(), compress);
                types::HASH_LISTPACK
            }
            Value::Hash(HashValue::ListpackEx(lp)) => {
                if version >= 12 {
                    let min = hfe_min.unwrap_or_else(|| listpackex_min(lp));
                    w::put_ms_time(out, min);
                    w::put_string(out, lp.as_bytes(), compress);
                    types::HASH_LISTPACK_EX
                } else {
                    w::put_string(out, pairs_of_listpackex(lp).as_bytes(), compress);
                    types::HASH_LISTPACK
                }
            }
            Value::Hash(h @ HashValue::Hashtable(_)) => {
                let mut fields = Vec::with_capacity(h.len());
                h.for_each_ex(|f, v, ttl| {
                    fields.push(crdb::HashField {
                        field: entry_vec(f),
                        value: entry_vec(v),
                        expire_ms: ttl.map(|t| t as u64),
                    })
                });
                let true_min = fields.iter().filter_map(|f| f.expire_ms).min();
                let min = match (hfe_min, true_min) {
                    (Some(a), Some(b)) => Some(a.min(b as i64)),
                    (a, b) => a.or(b.map(|b| b as i64)),
                };
                match min {
                    Some(min) if version >= 12 && min >= 0 => {
                        // RDB_TYPE_HASH_METADATA: the minimum, then each field's TTL relative
                        // to it (+1; 0 for none).
                        w::put_ms_time(out, min);
                        w::put_len(out, fields.len() as u64);
                        for f in &fields {
                            w::put_len(out, f.expire_ms.map_or(0, |e| e - min as u64 + 1));
                            w::put_string(out, &f.field, compress);
                            w::put_string(out, &f.value, compress);
                        }
                        types::HASH_METADATA
                    }
                    _ => {
                        let cv = crdb::Value::Hash(fields);
                        w::put_value(out, &cv, version, compress)?;
                        w::value_type(&cv, version)
                    }
                }
            }
            Value::Stream(s) => {
                let sv = stream_to_rdb(s);
                w::put_stream(out, &sv, version, compress);
                if version >= 11 {
                    types::STREAM_LISTPACKS_3
                } else {
                    types::STREAM_LISTPACKS_2
                }
            }
        },
    })
}

fn sid(id: st::StreamId) -> crdb::StreamId {
    crdb::StreamId {
        ms: id.ms,
        seq: id.seq,
    }
}

fn our_sid(id: crdb::StreamId) -> st::StreamId {
    st::StreamId {
        ms: id.ms,
        seq: id.seq,
    }
}

/// The RDB model of a stream (nodes are copied: streams are rare next to strings).
fn stream_to_rdb(s: &st::Stream) -> crdb::StreamValue {
    crdb::StreamValue {
        nodes: s
            .nodes
            .iter()
            .map(|(k, lp)| (sid(*k), lp.clone()))
            .collect(),
        length: s.length,
        last_id: sid(s.last_id),
        first_id: sid(s.first_id),
        max_deleted_id: sid(s.max_deleted_id),
        entries_added: s.entries_added,
        groups: s
            .groups
            .iter()
            .map(|(name, g)| crdb::StreamGroup {
                name: name.clone(),
                last_id: sid(g.last_id),
                entries_read: g.entries_read,
                pel: g
                    .pel
                    .iter()
                    .map(|(id, n)| crdb::PendingEntry {
                        id: sid(*id),
                        delivery_time: n.delivery_time.max(0) as u64,
                        delivery_count: n.delivery_count,
                    })
                    .collect(),
                consumers: g
                    .consumers
                    .iter()
                    .map(|(cname, c)| crdb::StreamConsumer {
                        name: cname.clone(),
                        seen_time: c.seen_time.max(0) as u64,
                        active_time: c.active_time,
                        pel: c.pel.iter().map(|id| sid(*id)).collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `rdb-key-save-delay` in microseconds (a testing aid that makes saves and AOF rewrites
/// slow, as Redis's; 0: none).
fn key_save_delay(srv: &Server) -> i64 {
    srv.config
        .get("rdb-key-save-delay")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Redis's `debugDelay`: sleeps `us` microseconds; a negative `-n` sleeps 1 µs with
/// probability 1/n (short delays without a context switch per key).
fn debug_delay(us: i64) {
    if us == 0 {
        return;
    }
    let us = if us < 0 {
        // SAFETY: rand(3) has no preconditions; only its value is used.
        let r = unsafe { libc::rand() } as i64;
        i64::from(r % -us == 0)
    } else {
        us
    };
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us as u64));
    }
}

/// Writes the whole dataset as an RDB file to `out` (Redis `rdbSaveRio`): header, AUX
/// fields, per db SELECTDB + RESIZEDB + key records, EOF, CRC64. Reports progress to a fork
/// child's `ctx` every 1024 keys.
pub fn write_dataset<W: Write>(
    srv: &Server,
    out: W,
    ctx: Option<&mut ChildCtx>,
) -> Result<W, String> {
    write_dataset_as(srv, out, ctx, false)
}

/// [`write_dataset`], with the `aof-base` AUX field set to 1 when the file is an AOF base
/// (`RDBFLAGS_AOF_PREAMBLE`).
pub fn write_dataset_as<W: Write>(
    srv: &Server,
    out: W,
    mut ctx: Option<&mut ChildCtx>,
    aof_base: bool,
) -> Result<W, String> {
    let version = needed_version(srv);
    let opts = w::WriterOptions {
        compression: srv.config.get("rdbcompression") != Some("no"),
        checksum: srv.config.get("rdbchecksum") != Some("no"),
    };
    let io = |e: std::io::Error| e.to_string();
    let mut wr = crdb::Writer::new(out, version, opts);
    wr.default_aux(
        crate::server::REDIS_VERSION_REPORTED,
        crate::server::unix_us() / 1_000_000,
        crate::info::used_memory(),
        aof_base,
    )
    .map_err(io)?;
    // Function libraries come before the keys (`rdbSaveFunctions`).
    for lib in srv.scripting.functions.libraries.values() {
        wr.function(&lib.code).map_err(io)?;
    }
    let compress = opts.compression;
    let mut keys = 0u64;
    let mut err: Option<String> = None;
    let mut scratch = Vec::new();
    let delay_us = key_save_delay(srv);
    for db in 0..srv.ks.dbs() {
        let d = srv.ks.db(db);
        if d.is_empty() {
            continue;
        }
        wr.select_db(db as u64).map_err(io)?;
        wr.resize_db(d.len() as u64, d.volatile_len() as u64)
            .map_err(io)?;
        srv.ks.for_each(db, |e| {
            if err.is_some() {
                return;
            }
            // The value goes to a reused scratch buffer first: its type byte must precede
            // the key, and only the value knows it.
            scratch.clear();
            let hfe = match e.value() {
                ValueRef::Boxed(Value::Hash(_)) => srv.ks.hfe_registered(db, e.key()),
                _ => None,
            };
            match put_object(&mut scratch, &e.value(), version, compress, hfe) {
                Ok(t) => {
                    let (idle, freq) = srv.rdb_lru_info(e.lru());
                    wr.key_header(t, e.key(), e.expire(), idle, freq);
                    wr.out().extend_from_slice(&scratch);
                }
                Err(e2) => {
                    err = Some(format!(
                        "Error writing key '{}': {}",
                        String::from_utf8_lossy(e.key()),
                        e2.kind
                    ));
                    return;
                }
            }
            if let Err(e) = wr.maybe_flush() {
                err = Some(e.to_string());
            }
            keys += 1;
            debug_delay(delay_us);
            if keys.is_multiple_of(1024) {
                if let Some(c) = ctx.as_deref_mut() {
                    c.progress(keys, false);
                }
            }
        });
        if let Some(e) = err.take() {
            return Err(e);
        }
    }
    wr.finish().map_err(io)
}

/// Writes the whole dataset as the commands that rebuild it (an AOF base without the RDB
/// preamble, Redis's `rewriteAppendOnlyFileRio`): an optional `#TS:` annotation, then per
/// non-empty db a SELECT and each key's commands (`common::aof::rewrite`). Each value goes
/// through its RDB form into the common value model, so every encoding is covered by one
/// path. Module values cannot exist here. Reports progress to a fork child every 1024 keys.
pub fn write_dataset_commands<W: Write>(
    srv: &Server,
    mut out: W,
    mut ctx: Option<&mut ChildCtx>,
    timestamp: bool,
) -> Result<W, String> {
    use pyrope_common::aof::{rewrite, writer};
    let version = needed_version(srv);
    let io = |e: std::io::Error| e.to_string();
    let mut buf = Vec::with_capacity(1 << 16);
    if timestamp {
        writer::cat_timestamp(&mut buf, crate::server::unix_us() / 1_000_000);
    }
    // Function libraries first (`rewriteFunctions`): one FUNCTION LOAD each.
    for lib in srv.scripting.functions.libraries.values() {
        writer::cat_command(&mut buf, &[b"FUNCTION".as_slice(), b"LOAD", &lib.code]);
    }
    let mut keys = 0u64;
    let mut err: Option<String> = None;
    let mut scratch = Vec::new();
    let delay_us = key_save_delay(srv);
    for db in 0..srv.ks.dbs() {
        if srv.ks.db(db).is_empty() {
            continue;
        }
        let d = db.to_string();
        writer::cat_command(&mut buf, &[b"SELECT".as_slice(), d.as_bytes()]);
        srv.ks.for_each(db, |e| {
            if err.is_some() {
                return;
            }
            scratch.clear();
            let hfe = match e.value() {
                ValueRef::Boxed(Value::Hash(_)) => srv.ks.hfe_registered(db, e.key()),
                _ => None,
            };
            let decoded = put_object(&mut scratch, &e.value(), version, false, hfe)
                .map_err(|e2| e2.kind.to_string())
                .and_then(|t| {
                    let mut rd = crdb::Reader::new(&scratch[..], crdb::ReaderOptions::default());
                    rd.set_version(version);
                    rd.read_value(t).map_err(|e2| e2.kind.to_string())
                });
            match decoded {
                Ok(Some(v)) => {
                    rewrite::put_key_commands(&mut buf, e.key(), &v, e.expire());
                }
                Ok(None) => {}
                Err(why) => {
                    err = Some(format!(
                        "Error rewriting key '{}': {why}",
                        String::from_utf8_lossy(e.key())
                    ));
                    return;
                }
            }
            if buf.len() >= 1 << 16 {
                if let Err(e) = out.write_all(&buf) {
                    err = Some(e.to_string());
                }
                buf.clear();
            }
            keys += 1;
            debug_delay(delay_us);
            if keys.is_multiple_of(1024) {
                if let Some(c) = ctx.as_deref_mut() {
                    c.progress(keys, false);
                }
            }
        });
        if let Some(e) = err.take() {
            return Err(e);
        }
    }
    out.write_all(&buf).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(out)
}

/// Writes the whole dataset to `path` atomically: `temp-<pid>.rdb`, fsync, rename, fsync of
/// the directory (Redis `rdbSave`). Errors are logged with Redis's wording and returned.
pub fn save_file(srv: &Server, path: &str, ctx: Option<&mut ChildCtx>) -> Result<(), String> {
    let tmp = format!("temp-{}.rdb", std::process::id());
    let f = match std::fs::File::create(&tmp) {
        Ok(f) => f,
        Err(e) => {
            let cwd = std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "unknown".into());
            let msg = format!(
                "Failed opening the temp RDB file {tmp} (in server root dir {cwd}) for saving: {}",
                crate::os_text(&e)
            );
            crate::log!(Warning, "{msg}");
            return Err(msg);
        }
    };
    let result = write_dataset(srv, std::io::BufWriter::with_capacity(1 << 16, f), ctx)
        .and_then(|bw| bw.into_inner().map_err(|e| e.error().to_string()))
        .and_then(|f| f.sync_all().map_err(|e| e.to_string()));
    if let Err(e) = result {
        let msg = format!("Write error saving DB on disk: {e}");
        crate::log!(Warning, "{msg}");
        let _ = std::fs::remove_file(&tmp);
        return Err(msg);
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let msg = format!(
            "Error moving temp DB file {tmp} on the final destination {path} (in server root dir {cwd}): {}",
            crate::os_text(&e)
        );
        crate::log!(Warning, "{msg}");
        let _ = std::fs::remove_file(&tmp);
        return Err(msg);
    }
    // fsync the directory so the rename survives a crash (`fsyncFileDir`).
    let dir = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

// --- loading ------------------------------------------------------------------------------

/// The limits the loader converts by (the live `*-max-*` settings).
pub(crate) struct LoadLimits {
    fill: i64,
    /// `list-compress-depth`.
    depth: i64,
    hash: HashLimits,
    set: crate::types::set::SetLimits,
    zset: ZsetLimits,
}

impl LoadLimits {
    /// The limits of `srv`'s current settings.
    pub(crate) fn of(srv: &Server) -> LoadLimits {
        let s = &srv.settings;
        LoadLimits {
            fill: s.list_max_listpack_size,
            depth: s.list_compress_depth,
            hash: HashLimits {
                entries: s.hash_max_listpack_entries,
                value: s.hash_max_listpack_value,
            },
            set: crate::types::set::SetLimits::of(s),
            zset: ZsetLimits::of(s),
        }
    }
}

/// A loaded value in the server's form, or None for an empty collection (skipped). `now_ms`
/// drops hash fields whose TTL has passed (Redis 7.4 on a primary). Errors: a duplicate
/// member or field (Redis's "Duplicate ... detected" corruption), module data. Used by the
/// file loader and RESTORE (`dump.rs`).
pub(crate) fn adopt(
    v: crdb::Value,
    lim: &LoadLimits,
    now_ms: i64,
) -> Result<Option<NewValue<'static>>, String> {
    let boxed = |v: Value| Ok(Some(NewValue::Boxed(Box::new(v))));
    match v {
        // Strings go through `add_key`, which embeds or int-encodes them as
        // `tryObjectEncoding` would.
        crdb::Value::String(s) => boxed(Value::Str(s)),
        crdb::Value::List(nodes) => {
            let nodes: Vec<QlNode> = nodes
                .into_iter()
                .map(|n| match n {
                    crdb::QuicklistNode::Packed(lp) => QlNode::Packed(lp),
                    crdb::QuicklistNode::Plain(b) => QlNode::Plain(b.into_boxed_slice()),
                })
                .filter(|n| !n.is_empty())
                .collect();
            if nodes.is_empty() {
                return Ok(None);
            }
            boxed(Value::List(ListValue::from_loaded_nodes(
                lim.fill, lim.depth, nodes,
            )))
        }
        crdb::Value::Set(members) => {
            if members.is_empty() {
                return Ok(None);
            }
            let mut s = SetValue::create(&members[0], members.len(), &lim.set);
            for m in &members {
                if !s.add(crate::types::set::Member::from_bytes(m), &lim.set) {
                    return Err("Duplicate set members detected".into());
                }
            }
            boxed(Value::Set(s))
        }
        crdb::Value::SetIntset(is) => {
            if is.is_empty() {
                return Ok(None);
            }
            let mut s = SetValue::Intset(is);
            if s.len() > lim.set.intset_entries {
                s.maybe_convert(s.len(), &lim.set);
            }
            boxed(Value::Set(s))
        }
        crdb::Value::SetListpack(lp) => {
            if lp.is_empty() {
                return Ok(None);
            }
            let mut s = SetValue::Listpack(lp);
            if s.len() > lim.set.listpack_entries {
                s.to_hashtable();
            }
            boxed(Value::Set(s))
        }
        crdb::Value::Zset(pairs) => {
            if pairs.is_empty() {
                return Ok(None);
            }
            let maxlen = pairs.iter().map(|p| p.0.len()).max().unwrap_or(0);
            let mut z = ZsetValue::create(pairs.len(), maxlen, &lim.zset);
            for (m, s) in &pairs {
                match z.add(*s, m, AddFlags::default(), &lim.zset) {
                    Ok((crate::types::zset::AddOut::Added, _)) => {}
                    _ => return Err("Duplicate zset fields detected".into()),
                }
            }
            boxed(Value::ZSet(z))
        }
        crdb::Value::ZsetListpack(lp) => {
            if lp.is_empty() {
                return Ok(None);
            }
            let mut z = ZsetValue::Listpack(lp);
            if z.len() > lim.zset.entries {
                let n = z.len();
                z.convert_to_skiplist(n);
            }
            boxed(Value::ZSet(z))
        }
        crdb::Value::HashListpack(lp) => {
            if lp.is_empty() {
                return Ok(None);
            }
            let mut h = HashValue::Listpack(lp);
            if h.len() > lim.hash.entries {
                let n = h.len();
                h.convert(n);
            }
            boxed(Value::Hash(h))
        }
        crdb::Value::HashListpackEx(lp) => {
            let mut h = HashValue::ListpackEx(Box::new(lp));
            let mut gone = Vec::new();
            h.expire_fields(now_ms, usize::MAX, &mut gone);
            if h.is_empty() {
                return Ok(None);
            }
            if h.len() > lim.hash.entries {
                let n = h.len();
                h.convert(n);
            }
            boxed(Value::Hash(h))
        }
        crdb::Value::Hash(fields) => {
            let fields: Vec<_> = fields
                .into_iter()
                .filter(|f| f.expire_ms.is_none_or(|e| e as i64 >= now_ms))
                .collect();
            if fields.is_empty() {
                return Ok(None);
            }
            let mut h = HashValue::new();
            if fields.len() > lim.hash.entries {
                h.convert(fields.len());
            }
            for f in &fields {
                let existed = match f.expire_ms {
                    Some(t) => h.set_with_ttl(&f.field, &f.value, t as i64, lim.hash),
                    None => h.set(&f.field, &f.value, lim.hash),
                };
                if existed {
                    return Err("Duplicate hash fields detected".into());
                }
            }
            boxed(Value::Hash(h))
        }
        crdb::Value::Stream(s) => boxed(Value::Stream(Box::new(stream_from_rdb(*s)))),
        crdb::Value::Module(m) => Err(format!(
            "The RDB file contains module data I can't load: no matching module type '{}'",
            crdb::module_type_name(m.module_id)
        )),
    }
}

fn stream_from_rdb(s: crdb::StreamValue) -> st::Stream {
    let mut out = st::Stream {
        nodes: s
            .nodes
            .into_iter()
            .map(|(k, lp)| (our_sid(k), lp))
            .collect(),
        length: s.length,
        last_id: our_sid(s.last_id),
        first_id: our_sid(s.first_id),
        max_deleted_id: our_sid(s.max_deleted_id),
        entries_added: s.entries_added,
        groups: Default::default(),
    };
    for g in s.groups {
        let mut grp = st::Group {
            last_id: our_sid(g.last_id),
            entries_read: g.entries_read,
            ..Default::default()
        };
        let mut owner = std::collections::HashMap::new();
        for c in &g.consumers {
            for id in &c.pel {
                owner.insert(*id, c.name.clone());
            }
        }
        for p in g.pel {
            grp.pel.insert(
                our_sid(p.id),
                st::Nack {
                    delivery_time: p.delivery_time as i64,
                    delivery_count: p.delivery_count,
                    consumer: owner.get(&p.id).cloned().unwrap_or_default(),
                },
            );
        }
        for c in g.consumers {
            grp.consumers.insert(
                c.name,
                st::Consumer {
                    seen_time: c.seen_time as i64,
                    active_time: c.active_time,
                    pel: c.pel.into_iter().map(our_sid).collect(),
                },
            );
        }
        out.groups.insert(g.name, grp);
    }
    out
}

/// Adds a loaded key to the keyspace (the key is known to be absent: a file has each key
/// once per db; a duplicate is refused as Redis's loader does).
fn add_key(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    v: NewValue,
    expire: Option<i64>,
    lru: Option<u32>,
) -> Result<(), String> {
    if srv.ks.peek(db, key).is_some() {
        return Err(format!(
            "Duplicate key '{}' found in RDB file",
            String::from_utf8_lossy(key)
        ));
    }
    let lru = lru.unwrap_or_else(|| srv.new_key_lru());
    link_adopted(srv, db, key, v, expire, lru, None);
    Ok(())
}

/// Links a value from [`adopt`] under `key` in `db`, which the caller knows to be absent
/// (`dbAdd`), with `expire` (unix ms), the LRU/LFU field `lru` and the event `ev` after
/// "new". Strings of up to 44 bytes are embedded or int-encoded as `tryObjectEncoding`
/// leaves them; a hash with field TTLs is registered for the active expiry of fields.
/// Returns the new key's handle.
pub(crate) fn link_adopted(
    srv: &mut Server,
    db: usize,
    key: &[u8],
    v: NewValue,
    expire: Option<i64>,
    lru: u32,
    ev: Option<crate::keyspace::Ev>,
) -> crate::keyspace::KeyRef {
    let v = match v {
        NewValue::Boxed(b) => match *b {
            Value::Str(s) if s.len() <= 44 => {
                return srv.ks.add(db, key, string_value(&s), expire, lru, ev);
            }
            other => NewValue::Boxed(Box::new(other)),
        },
        other => other,
    };
    let is_hash = matches!(&v, NewValue::Boxed(b) if matches!(**b, Value::Hash(_)));
    let h = srv.ks.add(db, key, v, expire, lru, ev);
    if is_hash {
        srv.ks.hfe_update(h);
    }
    h
}

/// The loader: a `Visitor` adding every key to the server's keyspace.
struct Loader<'a> {
    srv: &'a mut Server,
    lim: LoadLimits,
    now_ms: i64,
    stats: LoadStats,
    /// Keep keys whose expire passed (an AOF preamble, a replica: later).
    keep_expired: bool,
}

impl crdb::Visitor for Loader<'_> {
    fn aux(&mut self, key: &[u8], value: &[u8], _at: u64) -> crdb::read::VisitResult {
        let v = String::from_utf8_lossy(value);
        match key {
            b"redis-ver" => crate::log!(Notice, "Loading RDB produced by version {v}"),
            b"ctime" => {
                let age = crate::server::unix_us() / 1_000_000 - v.parse::<i64>().unwrap_or(0);
                crate::log!(Notice, "RDB age {} seconds", age.max(0));
            }
            b"aof-base" if value == b"1" => crate::log!(Notice, "RDB is base AOF"),
            b"used-mem" => crate::log!(
                Notice,
                "RDB memory usage when created {:.2} Mb",
                v.parse::<f64>().unwrap_or(0.0) / 1024.0 / 1024.0
            ),
            _ => {}
        }
        Ok(())
    }

    fn resize_db(&mut self, _db_size: u64, _expires_size: u64) -> crdb::read::VisitResult {
        Ok(())
    }

    fn function(&mut self, code: &[u8]) -> crdb::read::VisitResult {
        crate::script::function::load_from_rdb(self.srv, code)
    }

    fn key(&mut self, rec: crdb::KeyRecord) -> crdb::read::VisitResult {
        let db = rec.db as usize;
        if db >= self.srv.ks.dbs() {
            return Err(format!(
                "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting\n",
                self.srv.ks.dbs()
            ));
        }
        if !self.keep_expired && rec.expire_ms.is_some_and(|e| e < self.now_ms) {
            self.stats.expired += 1;
            return Ok(());
        }
        match adopt(rec.value, &self.lim, self.now_ms)? {
            Some(v) => {
                let lru = self.srv.lru_from_rdb(rec.lru_idle, rec.lfu_freq);
                add_key(self.srv, db, &rec.key, v, rec.expire_ms, lru)?;
                self.stats.loaded += 1;
            }
            None => self.stats.empty += 1,
        }
        Ok(())
    }

    fn empty_key(&mut self, _db: u64, _key: &[u8], _rdb_type: u8) -> crdb::read::VisitResult {
        self.stats.empty += 1;
        Ok(())
    }
}

/// Loads the RDB at the start of `f` (an AOF base or preamble, `RDBFLAGS_AOF_PREAMBLE`)
/// into the keyspace and returns the stats and the offset just past the RDB (where a
/// command tail would start). `keep_expired`: load keys whose expire passed (they expire
/// later, as Redis does for an AOF preamble). Errors as [`load_file`].
pub fn load_reader(
    srv: &mut Server,
    f: &mut std::fs::File,
    keep_expired: bool,
) -> Result<(LoadStats, u64), String> {
    let lim = LoadLimits::of(srv);
    let now_ms = crate::server::unix_us() / 1000;
    let verify = srv.config.get("rdbchecksum") != Some("no");
    let deep = srv.config.get("sanitize-dump-payload") == Some("yes");
    let mut l = Loader {
        srv,
        lim,
        now_ms,
        stats: LoadStats::default(),
        keep_expired,
    };
    let opts = crdb::ReaderOptions {
        verify_checksum: verify,
        deep,
    };
    let mut rd = crdb::Reader::new(f, opts);
    match rd.run(&mut l) {
        Ok(_) => Ok((l.stats, rd.offset())),
        Err(e) => Err(describe(&e)),
    }
}

/// Loads `path` into the keyspace (which the caller has emptied or is empty at start-up).
/// Errors name the offset, the key and the reason, as the log shows them.
pub fn load_file(srv: &mut Server, path: &str) -> Result<LoadStats, String> {
    let lim = LoadLimits::of(srv);
    let now_ms = crate::server::unix_us() / 1000;
    let verify = srv.config.get("rdbchecksum") != Some("no");
    let deep = srv.config.get("sanitize-dump-payload") == Some("yes");
    let mut l = Loader {
        srv,
        lim,
        now_ms,
        stats: LoadStats::default(),
        keep_expired: false,
    };
    let opts = crdb::ReaderOptions {
        verify_checksum: verify,
        deep,
    };
    match crdb::read_file(std::path::Path::new(path), &mut l, opts) {
        Ok(_) => {
            if l.stats.empty > 0 {
                crate::log!(
                    Warning,
                    "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
                    l.stats.loaded,
                    l.stats.expired,
                    l.stats.empty
                );
            }
            Ok(l.stats)
        }
        Err(e) => Err(describe(&e)),
    }
}

/// A reader error as the log line names it: offset, key, reason.
pub fn describe(e: &RdbError) -> String {
    match &e.key {
        Some(k) => format!(
            "Internal error in RDB reading offset {}, key '{}': {}",
            e.offset,
            String::from_utf8_lossy(k),
            e.kind
        ),
        None => format!(
            "Internal error in RDB reading offset {}: {}",
            e.offset, e.kind
        ),
    }
}
