//! HyperLogLog commands (Redis hyperloglog.c): PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST.
//!
//! An HLL is an ordinary string value starting `HYLL`, in Redis's exact sparse or dense
//! bytes (the codec is `pyrope_common::hll`, shared with the RDB tools), so GET, DUMP and
//! replication see what Redis would hold after the same commands. Values built here are raw
//! strings (`createHLLObject`), and commands that edit one first unshare it
//! (`dbUnshareStringValue`), so OBJECT ENCODING says `raw` as in Redis.
//!
//! Errors are Redis's: a string that fails the header check gets
//! `WRONGTYPE Key is not a valid HyperLogLog string value.`, a corrupt sparse body found
//! while walking it gets `INVALIDOBJ Corrupted HLL object detected`.
//!
//! Events and propagation as 7.4.1: PFADD emits `pfadd` only when a register changed, PFMERGE
//! always emits `pfadd`; a single-key PFCOUNT that refreshes the cached cardinality counts as
//! a change (propagated, no event), so do PFDEBUG GETREG/TODENSE when they convert.

use crate::command::{Ctx, Handler};
use crate::keyspace::{ev, raw_string_value, KeyRef, ValueRef};
use crate::object::{ObjType, Value};
use crate::types::string::{raw_mut, unshare};
use pyrope_common::hll::{self, Update, REGISTERS};

/// `isHLLObjectOrReply`'s error (sent verbatim: it carries its own code).
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// `invalid_hll_err`.
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Looks `key` up (for writing or reading) and checks it holds a valid HLL header
/// (`isHLLObjectOrReply`): Ok(None) when missing, Err(()) after replying WRONGTYPE (either
/// text). An integer-encoded string is never an HLL.
fn lookup_hll(c: &mut Ctx, key: &[u8], write: bool) -> Result<Option<KeyRef>, ()> {
    let h = if write {
        c.lookup_write(key)
    } else {
        c.lookup_read(key)
    };
    let Some(h) = h else { return Ok(None) };
    let e = c.srv.ks.get(h);
    if e.obj_type() != ObjType::String {
        c.out.wrong_type();
        return Err(());
    }
    let ok = match e.value() {
        ValueRef::Int(_) => false,
        ValueRef::Inline(b) => hll::is_hll(b),
        ValueRef::Boxed(Value::Str(s)) => hll::is_hll(s),
        ValueRef::Boxed(_) => false,
    };
    if ok {
        Ok(Some(h))
    } else {
        c.out.error(NOT_HLL);
        Err(())
    }
}

/// Creates `key` holding an empty sparse HLL (`createHLLObject` + `dbAdd`: "new" only).
fn create(c: &mut Ctx, key: &[u8]) -> KeyRef {
    let lru = c.srv.new_key_lru();
    let db = c.db;
    c.srv.ks.add(
        db,
        key,
        raw_string_value(hll::new_sparse()),
        None,
        lru,
        None,
    )
}

/// PFADD key [element ...]: 1 if a register changed or the key was created, else 0.
fn pfadd(c: &mut Ctx) {
    let key = c.arg(1);
    let (h, mut updated) = match lookup_hll(c, key, true) {
        Err(()) => return,
        Ok(None) => (create(c, key), 1u64),
        Ok(Some(h)) => (unshare(c, h), 0),
    };
    let max = c.srv.settings.hll_sparse_max_bytes;
    let argv = c.argv;
    let v = raw_mut(c, h);
    for j in 2..argv.len() {
        match hll::add(v, &argv[j], max) {
            Update::Updated => updated += 1,
            Update::Unchanged => {}
            Update::Invalid => return c.out.error(INVALID),
        }
    }
    if updated > 0 {
        hll::invalidate_cache(v);
        c.srv.ks.touched(h, ev::PFADD);
        c.dirty(updated);
    }
    c.out.int((updated > 0) as i64);
}

/// PFCOUNT key [key ...]: the cardinality of one HLL (cached in its header, as Redis) or of
/// the union of several (missing keys count as empty).
fn pfcount(c: &mut Ctx) {
    if c.argc() > 2 {
        let mut max = Box::new([0u8; REGISTERS]);
        for j in 1..c.argc() {
            let h = match lookup_hll(c, c.arg(j), false) {
                Err(()) => return,
                Ok(None) => continue,
                Ok(Some(h)) => h,
            };
            let ok = with_bytes(c, h, |v| hll::merge(&mut max, v));
            if !ok {
                return c.out.error(INVALID);
            }
        }
        let n = hll::estimate(&hll::raw_histogram(&max));
        return c.out.int(n as i64);
    }
    let key = c.arg(1);
    let h = match lookup_hll(c, key, false) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => unshare(c, h),
    };
    let v = raw_mut(c, h);
    if let Some(card) = hll::cached_card(v) {
        return c.out.int(card as i64);
    }
    let Some(card) = hll::count(v) else {
        return c.out.error(INVALID);
    };
    hll::set_cached_card(v, card);
    // A read-only command that changed the value: propagated, no event (as Redis).
    c.srv.ks.touched_quiet(h);
    c.dirty(1);
    c.out.int(card as i64);
}

/// Runs `f` on the bytes of the string value at `h` (an HLL: never integer-encoded).
fn with_bytes<R>(c: &Ctx, h: KeyRef, f: impl FnOnce(&[u8]) -> R) -> R {
    match c.srv.ks.get(h).value() {
        ValueRef::Inline(b) => f(b),
        ValueRef::Boxed(Value::Str(s)) => f(s),
        _ => f(b""),
    }
}

/// PFMERGE destkey [sourcekey ...]: destkey becomes the union of itself and the sources;
/// dense if any input was dense, else built by sparse updates (which may promote it).
fn pfmerge(c: &mut Ctx) {
    let mut max = Box::new([0u8; REGISTERS]);
    let mut use_dense = false;
    for j in 1..c.argc() {
        let h = match lookup_hll(c, c.arg(j), false) {
            Err(()) => return,
            Ok(None) => continue,
            Ok(Some(h)) => h,
        };
        let (dense, ok) = with_bytes(c, h, |v| (v[4] == hll::DENSE, hll::merge(&mut max, v)));
        use_dense |= dense;
        if !ok {
            return c.out.error(INVALID);
        }
    }
    let key = c.arg(1);
    let h = match c.lookup_write(key) {
        None => create(c, key),
        Some(h) => unshare(c, h),
    };
    let sparse_max = c.srv.settings.hll_sparse_max_bytes;
    let v = raw_mut(c, h);
    if use_dense {
        match hll::to_dense(v) {
            Some(d) => *v = d,
            None => return c.out.error(INVALID),
        }
    }
    for (j, &m) in max.iter().enumerate() {
        if m != 0 {
            hll::update(v, j, m, sparse_max);
        }
    }
    hll::invalidate_cache(v);
    c.srv.ks.touched(h, ev::PFADD);
    c.dirty(1);
    c.out.ok();
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key (hyperloglog.c `pfdebugCommand`).
fn pfdebug(c: &mut Ctx) {
    let cmd = c.arg(1);
    let key = c.arg(2);
    let h = match lookup_hll(c, key, true) {
        Err(()) => return,
        Ok(None) => return c.out.error("ERR The specified key does not exist"),
        Ok(Some(h)) => unshare(c, h),
    };
    let sub = crate::command::opt(cmd);
    let v = raw_mut(c, h);
    match sub.as_slice() {
        b"getreg" => {
            if v[4] == hll::SPARSE {
                match hll::to_dense(v) {
                    Some(d) => *v = d,
                    None => return c.out.error(INVALID),
                }
                c.dirty(1);
            }
            let v = raw_mut(c, h);
            let regs: Vec<u8> = (0..REGISTERS)
                .map(|i| hll::dense_get(&v[hll::HDR_SIZE..], i))
                .collect();
            c.out.array(REGISTERS);
            for r in regs {
                c.out.int(r as i64);
            }
        }
        b"decode" => {
            if v[4] != hll::SPARSE {
                return c.out.error("ERR HLL encoding is not sparse");
            }
            let text = hll::decode(&v[hll::HDR_SIZE..]);
            c.out.bulk(text.as_bytes());
        }
        b"encoding" => {
            let enc = if v[4] == hll::DENSE {
                "dense"
            } else {
                "sparse"
            };
            c.out.simple(enc);
        }
        b"todense" => {
            let conv = v[4] == hll::SPARSE;
            if conv {
                match hll::to_dense(v) {
                    Some(d) => *v = d,
                    None => return c.out.error(INVALID),
                }
                c.dirty(1);
            }
            c.out.int(conv as i64);
        }
        _ => {
            let msg = format!(
                "ERR Unknown PFDEBUG subcommand '{}'",
                String::from_utf8_lossy(crate::command::cstr(cmd))
            );
            c.out.error(&msg);
        }
    }
}

/// PFSELFTEST: Redis's self-test of the register accessors (random registers written and
/// read back, 1000 rounds) and of the estimator (sparse and dense HLLs fed the same
/// elements agree, and the error stays within 6 standard errors at every power of ten up
/// to 10M). Debug builds run 100 rounds and 1M elements so the command stays quick there.
fn pfselftest(c: &mut Ctx) {
    let debug = cfg!(debug_assertions);
    let mut regs = vec![0u8; hll::DENSE_SIZE - hll::HDR_SIZE];
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..if debug { 100 } else { 1000 } {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = fastrand::u8(..) & hll::REGISTER_MAX;
            *b = r;
            hll::dense_set(&mut regs, i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let got = hll::dense_get(&regs, i);
            if got != b {
                let msg = format!("ERR TESTFAILED Register {i} should be {b} but is {got}");
                return c.out.error(&msg);
            }
        }
    }
    let mut dense = hll::to_dense(&hll::new_sparse()).expect("empty HLL converts");
    let mut sparse = hll::new_sparse();
    let sparse_max = c.srv.settings.hll_sparse_max_bytes;
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed = fastrand::u64(..);
    let mut checkpoint: u64 = 1;
    let n: u64 = if debug { 1_000_000 } else { 10_000_000 };
    for j in 1..=n {
        let ele = (j ^ seed).to_le_bytes();
        let (i, cnt) = hll::pat_len(&ele);
        hll::dense_update(&mut dense[hll::HDR_SIZE..], i, cnt);
        hll::update(&mut sparse, i, cnt, sparse_max);
        if j != checkpoint {
            continue;
        }
        if (j as usize) < sparse_max / 2 && sparse[4] != hll::SPARSE {
            return c.out.error("ERR TESTFAILED sparse encoding not used");
        }
        let d = hll::count(&dense).unwrap_or(0);
        if hll::count(&sparse) != Some(d) {
            return c.out.error("ERR TESTFAILED dense/sparse disagree");
        }
        let abserr = (checkpoint as i64 - d as i64).unsigned_abs();
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            let msg = format!("ERR TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}");
            return c.out.error(&msg);
        }
        checkpoint *= 10;
    }
    c.out.ok();
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("pfadd", pfadd),
    ("pfcount", pfcount),
    ("pfmerge", pfmerge),
    ("pfdebug", pfdebug),
    ("pfselftest", pfselftest),
];
