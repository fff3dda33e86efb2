//! Keyspace commands that work on keys of any type (Redis db.c, expire.c, object.c): DEL
//! UNLINK EXISTS TYPE RENAME RENAMENX KEYS SCAN RANDOMKEY DBSIZE EXPIRE PEXPIRE EXPIREAT
//! PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST TOUCH COPY MOVE SELECT SWAPDB FLUSHDB
//! FLUSHALL and OBJECT.

use crate::command::{Ctx, Handler};
use crate::keyspace::{ev, Deletion, KeyRef};
use crate::object::ObjType;
use crate::reply::errors;
use pyrope_common::glob::glob_match;
use pyrope_common::util::string2ll;

fn del_generic(c: &mut Ctx, why: Deletion) {
    let mut n = 0;
    for i in 1..c.argc() {
        let key = c.arg(i);
        if let Some(h) = c.lookup_notouch(key) {
            c.srv.ks.delete(h, why, Some(ev::DEL));
            n += 1;
        }
    }
    c.dirty(n as u64);
    c.out.int(n);
}

fn del(c: &mut Ctx) {
    del_generic(c, Deletion::UserDel);
}

fn unlink(c: &mut Ctx) {
    del_generic(c, Deletion::Unlink);
}

fn exists(c: &mut Ctx) {
    let mut n = 0;
    for i in 1..c.argc() {
        if c.lookup_read_notouch(c.arg(i)).is_some() {
            n += 1;
        }
    }
    c.out.int(n);
}

fn type_cmd(c: &mut Ctx) {
    let t = c
        .lookup_read_notouch(c.arg(1))
        .map(|h| c.srv.ks.get(h).obj_type().name())
        .unwrap_or("none");
    c.out.simple(t);
}

fn rename_generic(c: &mut Ctx, nx: bool) {
    let src = c.arg(1);
    let dst = c.arg(2);
    let Some(h) = c.lookup_write(src) else {
        return c.out.error(errors::NO_SUCH_KEY);
    };
    if src == dst {
        return if nx { c.out.int(0) } else { c.out.ok() };
    }
    let existing = c.lookup_write(dst);
    if existing.is_some() && nx {
        return c.out.int(0);
    }
    let db = c.db;
    c.srv
        .ks
        .rename(h, db, dst, existing, ev::RENAME_FROM, ev::RENAME_TO);
    c.dirty(1);
    if nx {
        c.out.int(1);
    } else {
        c.out.ok();
    }
}

fn rename(c: &mut Ctx) {
    rename_generic(c, false);
}

fn renamenx(c: &mut Ctx) {
    rename_generic(c, true);
}

fn keys(c: &mut Ctx) {
    let pat = c.arg(1);
    let all = pat == b"*";
    let now = c.srv.now_ms;
    let mut found: Vec<&[u8]> = Vec::new();
    c.srv.ks.for_each(c.db, |e| {
        let k = e.key();
        if (all || glob_match(pat, k, false)) && e.expire().is_none_or(|t| t > now) {
            found.push(k);
        }
    });
    c.out.array(found.len());
    for k in found {
        c.out.bulk(k);
    }
}

/// The options of SCAN and SSCAN/HSCAN/ZSCAN (`scanGenericCommand`'s first step).
pub struct ScanOpts<'a> {
    /// COUNT (>= 1; default 10).
    pub count: i64,
    /// MATCH, None when absent or `*`.
    pub pat: Option<&'a [u8]>,
    /// SCAN's TYPE: Some(None) for a type name Redis does not know (matches nothing).
    pub typ: Option<Option<ObjType>>,
    /// HSCAN's NOVALUES.
    pub novalues: bool,
}

/// Parses scan options from argv[i..]: TYPE only for the keyspace SCAN (`keys`), NOVALUES
/// only for HSCAN (`hash`), with Redis's errors (replied; None returned).
pub fn scan_opts<'a>(
    c: &mut Ctx<'a>,
    mut i: usize,
    keys: bool,
    hash: bool,
) -> Option<ScanOpts<'a>> {
    let mut o = ScanOpts {
        count: 10,
        pat: None,
        typ: None,
        novalues: false,
    };
    while i < c.argc() {
        let opt = crate::command::opt(c.arg(i));
        let more = c.argc() - i - 1;
        match opt.as_slice() {
            b"count" if more >= 1 => {
                let n = c.int_arg(i + 1)?;
                if n < 1 {
                    c.out.syntax_error();
                    return None;
                }
                o.count = n;
                i += 2;
            }
            b"match" if more >= 1 => {
                o.pat = Some(c.arg(i + 1)).filter(|p| *p != b"*");
                i += 2;
            }
            b"type" if keys && more >= 1 => {
                o.typ = Some(ObjType::from_name(c.arg(i + 1)));
                i += 2;
            }
            b"novalues" if hash => {
                o.novalues = true;
                i += 1;
            }
            b"novalues" => {
                c.out.error("ERR NOVALUES option can only be used in HSCAN");
                return None;
            }
            _ => {
                c.out.syntax_error();
                return None;
            }
        }
    }
    Some(o)
}

fn scan(c: &mut Ctx) {
    let Some(cursor) = pyrope_common::util::c_string2ull(c.arg(1)) else {
        return c.out.error("ERR invalid cursor");
    };
    let Some(ScanOpts {
        count, pat, typ, ..
    }) = scan_opts(c, 2, true, false)
    else {
        return;
    };
    let now = c.srv.now_ms;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut expired: Vec<Vec<u8>> = Vec::new();
    let mut seen = 0i64;
    let mut cur = cursor;
    let mut iterations = count.saturating_mul(10);
    loop {
        cur = c.srv.ks.scan(c.db, cur, |e| {
            seen += 1;
            let k = e.key();
            if pat.is_some_and(|p| !glob_match(p, k, false)) {
                return;
            }
            if let Some(t) = typ {
                if t != Some(e.obj_type()) {
                    return;
                }
            }
            if e.expire().is_some_and(|t| t <= now) {
                expired.push(k.to_vec());
                return;
            }
            keys.push(k.to_vec());
        });
        iterations -= 1;
        if cur == 0 || iterations <= 0 || seen >= count {
            break;
        }
    }
    // Reclaim what we saw expired, as expireIfNeeded() would.
    for k in expired {
        c.lookup_notouch(&k);
    }
    c.out.array(2);
    c.out.bulk(cur.to_string().as_bytes());
    c.out.array(keys.len());
    for k in keys {
        c.out.bulk(&k);
    }
}

fn randomkey(c: &mut Ctx) {
    let now = c.srv.now_ms;
    // Like Redis, give up on picking a non-expired key after a bounded number of tries when
    // every key is volatile.
    for _ in 0..100 {
        let Some(h) = c.srv.ks.random(c.db) else {
            return c.out.null();
        };
        let e = c.srv.ks.get(h);
        let k = e.key().to_vec();
        if e.expire().is_some_and(|t| t <= now) {
            c.lookup_notouch(&k);
            continue;
        }
        return c.out.bulk(&k);
    }
    c.out.null();
}

fn dbsize(c: &mut Ctx) {
    let n = c.srv.ks.db(c.db).len();
    c.out.int(n as i64);
}

/// EXPIRE family: `unit_ms` false for seconds, `absolute` true for *AT forms.
fn expire_generic(c: &mut Ctx, unit_ms: bool, absolute: bool) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for i in 3..c.argc() {
        match crate::command::opt(c.arg(i)).as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                let msg = format!(
                    "ERR Unsupported option {}",
                    crate::command::trunc(c.arg(i), usize::MAX)
                );
                return c.out.error(&msg);
            }
        }
    }
    if nx && (xx || gt || lt) {
        return c
            .out
            .error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return c
            .out
            .error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(mut when) = c.int_arg(2) else { return };
    let invalid = |c: &mut Ctx| {
        let msg = errors::INVALID_EXPIRE.replace("%s", &c.command().fullname.clone());
        c.out.error(&msg);
    };
    if !unit_ms {
        if when > i64::MAX / 1000 || when < i64::MIN / 1000 {
            return invalid(c);
        }
        when *= 1000;
    }
    let base = if absolute { 0 } else { c.srv.now_ms };
    if when > i64::MAX - base {
        return invalid(c);
    }
    when += base;
    let key = c.arg(1);
    let Some(h) = c.lookup_write(key) else {
        return c.out.int(0);
    };
    let cur = c.srv.ks.get(h).expire();
    if (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|t| when <= t))
        || (lt && cur.is_some_and(|t| when >= t))
    {
        return c.out.int(0);
    }
    if when <= c.srv.now_ms && !c.srv.loading {
        // expireGenericCommand: an expire in the past deletes the key ("del" event).
        let lazy = c.srv.settings.lazyfree_lazy_expire;
        c.srv.ks.delete(h, Deletion::PastExpire, Some(ev::DEL));
        c.dirty(1);
        let verb: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
        c.propagate_one(&[verb, key]);
        return c.out.int(1);
    }
    c.srv.ks.set_expire(h, Some(when), Some(ev::EXPIRE));
    c.dirty(1);
    let w = when.to_string();
    let mut args: Vec<&[u8]> = vec![b"PEXPIREAT", key, w.as_bytes()];
    for i in 3..c.argc() {
        args.push(c.arg(i));
    }
    c.propagate_one(&args);
    c.out.int(1);
}

fn expire(c: &mut Ctx) {
    expire_generic(c, false, false);
}
fn pexpire(c: &mut Ctx) {
    expire_generic(c, true, false);
}
fn expireat(c: &mut Ctx) {
    expire_generic(c, false, true);
}
fn pexpireat(c: &mut Ctx) {
    expire_generic(c, true, true);
}

/// TTL family: `ms` selects milliseconds, `absolute` the *EXPIRETIME forms.
fn ttl_generic(c: &mut Ctx, ms: bool, absolute: bool) {
    let now = c.srv.now_ms;
    let Some(h) = c.lookup_read_notouch(c.arg(1)) else {
        return c.out.int(-2);
    };
    let Some(when) = c.srv.ks.get(h).expire() else {
        return c.out.int(-1);
    };
    // Redis rounds both the relative and the absolute second forms: (ms + 500) / 1000.
    let t = if absolute { when } else { (when - now).max(0) };
    // C computes (ttl + 500) / 1000 with the sum wrapping past i64::MAX into the unsigned
    // range; do the same in u64 so PEXPIREAT i64::MAX reads back as Redis does.
    let v = if ms {
        t
    } else {
        ((t as u64).wrapping_add(500) / 1000) as i64
    };
    c.out.int(v);
}

fn ttl(c: &mut Ctx) {
    ttl_generic(c, false, false);
}
fn pttl(c: &mut Ctx) {
    ttl_generic(c, true, false);
}
fn expiretime(c: &mut Ctx) {
    ttl_generic(c, false, true);
}
fn pexpiretime(c: &mut Ctx) {
    ttl_generic(c, true, true);
}

fn persist(c: &mut Ctx) {
    match c.lookup_write(c.arg(1)) {
        Some(h) if c.srv.ks.get(h).expire().is_some() => {
            c.srv.ks.set_expire(h, None, Some(ev::PERSIST));
            c.dirty(1);
            c.out.int(1);
        }
        _ => c.out.int(0),
    }
}

fn touch(c: &mut Ctx) {
    let mut n = 0;
    for i in 1..c.argc() {
        if c.lookup_read(c.arg(i)).is_some() {
            n += 1;
        }
    }
    c.out.int(n);
}

/// Parses a db index argument; replies and returns None when invalid or out of range.
fn db_index(c: &mut Ctx, arg: usize, not_int_msg: &str) -> Option<usize> {
    // Redis's getIntFromObjectOrReply(): a custom message replaces both of its errors.
    let Some(v) = string2ll(c.arg(arg)) else {
        c.out.error(not_int_msg);
        return None;
    };
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        if not_int_msg == errors::NOT_INTEGER {
            c.out
                .error("ERR value is out of range, value must between -2147483648 and 2147483647");
        } else {
            c.out.error(not_int_msg);
        }
        return None;
    }
    if v < 0 || v as usize >= c.srv.ks.dbs() {
        c.out.error(errors::DB_INDEX);
        return None;
    }
    Some(v as usize)
}

fn select(c: &mut Ctx) {
    let Some(db) = db_index(c, 1, errors::NOT_INTEGER) else {
        return;
    };
    c.db = db;
    c.out.ok();
}

fn copy(c: &mut Ctx) {
    let mut dst_db = c.db;
    let mut replace = false;
    let mut i = 3;
    while i < c.argc() {
        let opt = crate::command::opt(c.arg(i));
        if opt == b"replace" {
            replace = true;
            i += 1;
        } else if opt == b"db" && i + 1 < c.argc() {
            let Some(d) = db_index(c, i + 1, errors::NOT_INTEGER) else {
                return;
            };
            dst_db = d;
            i += 2;
        } else {
            return c.out.syntax_error();
        }
    }
    let (src, dst) = (c.arg(1), c.arg(2));
    if src == dst && dst_db == c.db {
        return c
            .out
            .error("ERR source and destination objects are the same");
    }
    // Redis copyCommand reads the source with lookupKeyRead (counted in keyspace hits).
    let Some(h) = c.lookup_read(src) else {
        return c.out.int(0);
    };
    let touch = c.touch_mode();
    let existing = c.lookup_in(dst_db, dst, touch);
    if existing.is_some() && !replace {
        return c.out.int(0);
    }
    let lru = c.srv.new_key_lru();
    c.srv.ks.copy(h, dst_db, dst, existing, lru);
    c.dirty(1);
    c.out.int(1);
}

fn move_cmd(c: &mut Ctx) {
    let Some(dst_db) = db_index(c, 2, errors::NOT_INTEGER) else {
        return;
    };
    if dst_db == c.db {
        return c
            .out
            .error("ERR source and destination objects are the same");
    }
    let key = c.arg(1);
    let Some(h) = c.lookup_write(key) else {
        return c.out.int(0);
    };
    let touch = c.touch_mode();
    if c.lookup_in(dst_db, key, touch).is_some() {
        return c.out.int(0);
    }
    c.srv
        .ks
        .rename(h, dst_db, key, None, ev::MOVE_FROM, ev::MOVE_TO);
    c.dirty(1);
    c.out.int(1);
}

fn swapdb(c: &mut Ctx) {
    let Some(a) = db_index(c, 1, "ERR invalid first DB index") else {
        return;
    };
    let Some(b) = db_index(c, 2, "ERR invalid second DB index") else {
        return;
    };
    if a != b {
        // WATCH looks at both dbs before the swap (Redis `dbSwapDatabases`).
        crate::multi::touch_all_watched_keys_in_db(c.srv, a, Some(b));
        crate::multi::touch_all_watched_keys_in_db(c.srv, b, Some(a));
    }
    c.srv.ks.swap_dbs(a, b);
    c.dirty(1);
    c.out.ok();
}

/// Parses the optional ASYNC|SYNC of FLUSHDB/FLUSHALL. Returns Some(lazy).
fn flush_mode(c: &mut Ctx) -> Option<bool> {
    match c.argc() {
        1 => Some(c.srv.settings.lazyfree_lazy_user_flush),
        2 => match crate::command::opt(c.arg(1)).as_slice() {
            b"async" => Some(true),
            b"sync" => Some(false),
            _ => {
                c.out.syntax_error();
                None
            }
        },
        _ => {
            c.out.syntax_error();
            None
        }
    }
}

/// Empties db `db` (FLUSHDB, FLUSHALL): the old table is freed here or, with `lazy`, on the
/// lazy-free thread. Returns the number of keys removed.
fn flush_one(c: &mut Ctx, db: usize, lazy: bool) -> u64 {
    // WATCH looks at the keys before they go (Redis `signalFlushedDb`).
    crate::multi::touch_all_watched_keys_in_db(c.srv, db, None);
    let (n, old) = c.srv.ks.flush_db(db);
    if lazy && n > 0 {
        c.srv.lazy_free(Box::new(old), n as u64);
    }
    n as u64
}

fn flushdb(c: &mut Ctx) {
    let Some(lazy) = flush_mode(c) else { return };
    let n = flush_one(c, c.db, lazy);
    c.dirty(n.max(1));
    c.out.ok();
}

fn flushall(c: &mut Ctx) {
    let Some(lazy) = flush_mode(c) else { return };
    let mut n = 0u64;
    for i in 0..c.srv.ks.dbs() {
        n += flush_one(c, i, lazy);
    }
    c.dirty(n.max(1));
    c.out.ok();
}

fn object_lookup(c: &mut Ctx) -> Option<KeyRef> {
    let h = c.lookup_read_notouch(c.arg(2));
    if h.is_none() {
        c.out.null();
    }
    h
}

fn object_encoding(c: &mut Ctx) {
    if let Some(h) = object_lookup(c) {
        let name = c.srv.ks.get(h).encoding().name();
        c.out.bulk(name.as_bytes());
    }
}

fn object_refcount(c: &mut Ctx) {
    if let Some(h) = object_lookup(c) {
        let shared = c.srv.ks.get(h).is_shared();
        c.out.int(if shared { i32::MAX as i64 } else { 1 });
    }
}

fn object_idletime(c: &mut Ctx) {
    let Some(h) = object_lookup(c) else { return };
    if c.srv.lfu_policy() {
        return c.out.error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    let idle = crate::server::idle_ms(c.srv.lruclock, c.srv.ks.get(h).lru()) / 1000;
    c.out.int(idle as i64);
}

fn object_freq(c: &mut Ctx) {
    let Some(h) = object_lookup(c) else { return };
    if !c.srv.lfu_policy() {
        return c.out.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    // Report the decayed counter without the probabilistic increment (LFUDecrAndReturn).
    let lru = c.srv.ks.get(h).lru();
    c.out.int(c.srv.lfu_decayed(lru) as i64);
}

fn object_help(c: &mut Ctx) {
    c.out.help_lines(crate::help::OBJECT);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("del", del),
    ("unlink", unlink),
    ("exists", exists),
    ("type", type_cmd),
    ("rename", rename),
    ("renamenx", renamenx),
    ("keys", keys),
    ("scan", scan),
    ("randomkey", randomkey),
    ("dbsize", dbsize),
    ("expire", expire),
    ("pexpire", pexpire),
    ("expireat", expireat),
    ("pexpireat", pexpireat),
    ("ttl", ttl),
    ("pttl", pttl),
    ("expiretime", expiretime),
    ("pexpiretime", pexpiretime),
    ("persist", persist),
    ("touch", touch),
    ("select", select),
    ("copy", copy),
    ("move", move_cmd),
    ("swapdb", swapdb),
    ("flushdb", flushdb),
    ("flushall", flushall),
    ("object|encoding", object_encoding),
    ("object|refcount", object_refcount),
    ("object|idletime", object_idletime),
    ("object|freq", object_freq),
    ("object|help", object_help),
];
