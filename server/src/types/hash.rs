//! Hash commands (Redis t_hash.c): HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS
//! HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN, and [`HashValue`], the hash value with
//! Redis's two encodings.
//!
//! A small hash is a listpack of `field, value, field, value...` in Redis's exact bytes; it is
//! converted to a hashtable ([`FieldTable`]) as `hashTypeTryConversion` / `hashTypeSet` do: when
//! a command brings more new fields than `hash-max-listpack-entries` (before touching the
//! listpack), when a field or value is longer than `hash-max-listpack-value`, when the
//! listpack would pass its 1 GiB safety size, or when an insertion makes it longer than the
//! entries limit. A hashtable never goes back to a listpack (as Redis).
//!
//! Field expiration (HEXPIRE & co., HGETEX/HSETEX) will add Redis's `listpackex` encoding
//! (field, value, ttl triples ordered by ttl) as a third variant, and keep field TTLs of the
//! hashtable encoding in the [`FieldTable`] volatile list; the command code here reads a hash
//! only through `HashValue` methods so that it stays the one place to change.
//!
//! HINCRBYFLOAT uses C `long double` arithmetic (`string::long_double_add`) and propagates as
//! `HSET key field value`, as Redis does, so replicas and AOF replays get the same bytes.

use crate::command::{Ctx, Handler};
use crate::keyspace::{ev, notify, Deletion, Ev, FieldTable, KeyRef, Keyspace, NewValue, ValueRef};
use crate::object::{Encoding, ObjType, Value};
use crate::reply::{errors, Reply};
use pyrope_common::glob::glob_match;
use pyrope_common::listpack::{Listpack, ListpackEntry};

const fn h(name: &'static str) -> Ev {
    Ev {
        class: notify::HASH,
        name,
    }
}
/// `hset` (HSET, HMSET, HSETNX).
pub const EV_HSET: Ev = h("hset");
/// `hdel`.
pub const EV_HDEL: Ev = h("hdel");
/// `hincrby`.
pub const EV_HINCRBY: Ev = h("hincrby");
/// `hincrbyfloat`.
pub const EV_HINCRBYFLOAT: Ev = h("hincrbyfloat");

/// The listpack conversion thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`
/// in bytes).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most fields a listpack-encoded hash holds.
    pub entries: usize,
    /// Longest field or value a listpack-encoded hash holds.
    pub value: usize,
}

/// A hash value in one of Redis's encodings (`OBJ_ENCODING_LISTPACK`, `OBJ_ENCODING_HT`).
#[derive(Clone, PartialEq, Debug)]
pub enum HashValue {
    /// `field, value, field, value...`, Redis's exact listpack bytes.
    Listpack(Listpack),
    /// The hashtable encoding.
    Hashtable(Box<FieldTable>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::new()
    }
}

/// The string form of a listpack element into `buf` (integers in decimal).
fn entry_bytes<'a>(e: &ListpackEntry<'a>, buf: &'a mut Vec<u8>) -> &'a [u8] {
    match *e {
        ListpackEntry::Str(s) => s,
        ListpackEntry::Int(v) => {
            buf.clear();
            pyrope_common::util::push_i64(buf, v);
            &buf[..]
        }
    }
}

impl HashValue {
    /// An empty listpack-encoded hash (`createHashObject`).
    pub fn new() -> HashValue {
        HashValue::Listpack(Listpack::new())
    }

    /// `OBJECT ENCODING` of the current representation.
    pub fn encoding(&self) -> Encoding {
        match self {
            HashValue::Listpack(_) => Encoding::Listpack,
            HashValue::Hashtable(_) => Encoding::Hashtable,
        }
    }

    /// `lazyfreeGetFreeEffort`: one buffer for a listpack, one allocation per field otherwise.
    pub fn free_effort(&self) -> usize {
        match self {
            HashValue::Listpack(_) => 1,
            HashValue::Hashtable(t) => t.len(),
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.bytes(),
            HashValue::Hashtable(t) => t.heap_size(),
        }
    }

    /// Number of fields (`hashTypeLength`).
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Hashtable(t) => t.len(),
        }
    }

    /// True when the hash has no field (it is then deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `field` (`hashTypeGetValue`): listpack integers stay integers.
    pub fn get(&self, field: &[u8]) -> Option<ListpackEntry<'_>> {
        match self {
            HashValue::Listpack(lp) => {
                let f = lp.find(lp.first_pos()?, field, 1)?;
                let v = lp.next_pos(f).expect("listpack hash: field without value");
                Some(lp.entry(v))
            }
            HashValue::Hashtable(t) => t.get(field).map(ListpackEntry::Str),
        }
    }

    /// Converts a listpack to a hashtable (`hashTypeConvertListpack`), pre-sized for `reserve`
    /// fields at least. No-op on a hashtable.
    pub fn convert(&mut self, reserve: usize) {
        let HashValue::Listpack(lp) = self else {
            return;
        };
        let mut t = FieldTable::new();
        t.reserve(reserve.max(lp.len() / 2));
        let (mut fb, mut vb) = (Vec::new(), Vec::new());
        let mut it = lp.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            t.insert(entry_bytes(&f, &mut fb), entry_bytes(&v, &mut vb));
        }
        *self = HashValue::Hashtable(Box::new(t));
    }

    /// `hashTypeTryConversion` over the field/value arguments a command is about to set:
    /// converts when they hold more pairs than the entries limit (pre-sizing the table), when
    /// one is longer than the value limit, or when the listpack would pass its safety size.
    pub fn try_conversion(&mut self, args: &[&[u8]], lim: Limits) {
        let HashValue::Listpack(lp) = self else {
            return;
        };
        let new_fields = args.len() / 2;
        if new_fields > lim.entries {
            self.convert(new_fields);
            return;
        }
        let mut sum = 0usize;
        for a in args {
            if a.len() > lim.value {
                self.convert(0);
                return;
            }
            sum += a.len();
        }
        if !lp.safe_to_add(sum) {
            self.convert(0);
        }
    }

    /// Sets `field` to `value` (`hashTypeSet`): converts first when either is longer than the
    /// value limit, and after an insertion that passes the entries limit. Returns true if the
    /// field existed (an update), false if it was added.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        if matches!(self, HashValue::Listpack(_))
            && (field.len() > lim.value || value.len() > lim.value)
        {
            self.convert(0);
        }
        match self {
            HashValue::Listpack(lp) => {
                let found = lp.first_pos().and_then(|p| lp.find(p, field, 1));
                let update = match found {
                    Some(f) => {
                        let v = lp.next_pos(f).expect("listpack hash: field without value");
                        lp.replace_at(v, value);
                        true
                    }
                    None => {
                        lp.push_back(field);
                        lp.push_back(value);
                        false
                    }
                };
                if lp.len() / 2 > lim.entries {
                    self.convert(0);
                }
                update
            }
            HashValue::Hashtable(t) => !t.insert(field, value),
        }
    }

    /// Removes `field` (`hashTypeDelete`). Returns true if it was present.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => {
                let Some(f) = lp.first_pos().and_then(|p| lp.find(p, field, 1)) else {
                    return false;
                };
                lp.delete_range(f.index() as i64, 2);
                true
            }
            HashValue::Hashtable(t) => t.remove(field),
        }
    }

    /// Calls `f(field, value)` for every field, in listpack order or table order
    /// (`hashTypeNext`).
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(ListpackEntry<'a>, ListpackEntry<'a>)) {
        match self {
            HashValue::Listpack(lp) => {
                let mut it = lp.iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    f(k, v);
                }
            }
            HashValue::Hashtable(t) => {
                t.for_each(|k, v| f(ListpackEntry::Str(k), ListpackEntry::Str(v)))
            }
        }
    }

    /// All (field, value) pairs, in iteration order.
    pub fn pairs(&self) -> Vec<(ListpackEntry<'_>, ListpackEntry<'_>)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|f, x| v.push((f, x)));
        v
    }
}

// ---------------------------------------------------------------------------------------
// Command helpers

/// The thresholds from the live config.
fn limits(c: &Ctx) -> Limits {
    Limits {
        entries: c.srv.settings.hash_max_listpack_entries,
        value: c.srv.settings.hash_max_listpack_value,
    }
}

/// The hash of a key known to hold one.
fn hash_ref(ks: &Keyspace, h: KeyRef) -> &HashValue {
    match ks.get(h).value() {
        ValueRef::Boxed(Value::Hash(hv)) => hv,
        _ => unreachable!("type checked: a hash"),
    }
}

/// The hash of a key known to hold one, mutably.
fn hash_mut(ks: &mut Keyspace, h: KeyRef) -> &mut HashValue {
    match ks.get_mut(h).into_value_mut() {
        Some(Value::Hash(hv)) => hv,
        _ => unreachable!("type checked: a hash"),
    }
}

/// Replies an element as a bulk string.
fn reply_entry(out: &mut Reply, e: ListpackEntry<'_>) {
    match e {
        ListpackEntry::Str(s) => out.bulk(s),
        ListpackEntry::Int(v) => out.bulk_i64(v),
    }
}

/// `lookupKeyRead` + `checkType(OBJ_HASH)`: Err(()) after replying WRONGTYPE.
fn lookup_read(c: &mut Ctx, key: &[u8]) -> Result<Option<KeyRef>, ()> {
    match c.lookup_read(key) {
        Some(h) if c.srv.ks.get(h).obj_type() != ObjType::Hash => {
            c.out.wrong_type();
            Err(())
        }
        found => Ok(found),
    }
}

/// `lookupKeyWrite` + `checkType(OBJ_HASH)`.
fn lookup_write(c: &mut Ctx, key: &[u8]) -> Result<Option<KeyRef>, ()> {
    match c.lookup_write(key) {
        Some(h) if c.srv.ks.get(h).obj_type() != ObjType::Hash => {
            c.out.wrong_type();
            Err(())
        }
        found => Ok(found),
    }
}

/// `hashTypeLookupWriteOrCreate`: the hash at `key`, created empty (a "new" event) when
/// missing; None after replying WRONGTYPE.
fn lookup_write_or_create(c: &mut Ctx, key: &[u8]) -> Option<KeyRef> {
    match lookup_write(c, key) {
        Err(()) => None,
        Ok(Some(h)) => Some(h),
        Ok(None) => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            let v = NewValue::Boxed(Box::new(Value::Hash(HashValue::new())));
            Some(c.srv.ks.add(db, key, v, None, lru, None))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Commands

fn hset(c: &mut Ctx) {
    if c.argc() % 2 == 1 {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            c.command().fullname
        );
        return c.out.error(&msg);
    }
    let key = c.arg(1);
    let Some(h) = lookup_write_or_create(c, key) else {
        return;
    };
    let lim = limits(c);
    let args: Vec<&[u8]> = (2..c.argc()).map(|i| c.arg(i)).collect();
    let hv = hash_mut(&mut c.srv.ks, h);
    hv.try_conversion(&args, lim);
    let mut created = 0;
    for p in args.chunks_exact(2) {
        if !hv.set(p[0], p[1], lim) {
            created += 1;
        }
    }
    // HMSET (deprecated) answers OK, HSET the number of new fields.
    if c.arg(0)
        .get(1)
        .is_some_and(|b| b.eq_ignore_ascii_case(&b's'))
    {
        c.out.int(created);
    } else {
        c.out.ok();
    }
    c.srv.ks.touched(h, EV_HSET);
    c.dirty((args.len() / 2) as u64);
}

fn hsetnx(c: &mut Ctx) {
    let (key, field, value) = (c.arg(1), c.arg(2), c.arg(3));
    let Some(h) = lookup_write_or_create(c, key) else {
        return;
    };
    let lim = limits(c);
    let hv = hash_mut(&mut c.srv.ks, h);
    if hv.get(field).is_some() {
        return c.out.int(0);
    }
    hv.try_conversion(&[field, value], lim);
    hv.set(field, value, lim);
    c.out.int(1);
    c.srv.ks.touched(h, EV_HSET);
    c.dirty(1);
}

fn hget(c: &mut Ctx) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let field = c.arg(2);
    let v = found.and_then(|h| hash_ref(&c.srv.ks, h).get(field));
    match v {
        Some(e) => reply_entry(c.out, e),
        None => c.out.null(),
    }
}

fn hmget(c: &mut Ctx) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let fields: Vec<&[u8]> = (2..c.argc()).map(|i| c.arg(i)).collect();
    c.out.array(fields.len());
    for field in fields {
        match found.and_then(|h| hash_ref(&c.srv.ks, h).get(field)) {
            Some(e) => reply_entry(c.out, e),
            None => c.out.null(),
        }
    }
}

fn hdel(c: &mut Ctx) {
    let key = c.arg(1);
    let h = match lookup_write(c, key) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let fields: Vec<&[u8]> = (2..c.argc()).map(|i| c.arg(i)).collect();
    let hv = hash_mut(&mut c.srv.ks, h);
    let (mut deleted, mut emptied) = (0, false);
    for field in fields {
        if hv.delete(field) {
            deleted += 1;
            if hv.is_empty() {
                emptied = true;
                break;
            }
        }
    }
    if deleted > 0 {
        if emptied {
            let db = c.db;
            c.srv.ks.notify(db, EV_HDEL, key);
            c.srv.ks.delete(h, Deletion::Server, Some(ev::DEL));
        } else {
            c.srv.ks.touched(h, EV_HDEL);
        }
        c.dirty(deleted as u64);
    }
    c.out.int(deleted);
}

fn hlen(c: &mut Ctx) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let n = found.map_or(0, |h| hash_ref(&c.srv.ks, h).len());
    c.out.int(n as i64);
}

fn hstrlen(c: &mut Ctx) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let field = c.arg(2);
    let n = match found.and_then(|h| hash_ref(&c.srv.ks, h).get(field)) {
        None => 0,
        Some(ListpackEntry::Str(s)) => s.len(),
        Some(ListpackEntry::Int(v)) => pyrope_common::util::digits10(v),
    };
    c.out.int(n as i64);
}

fn hexists(c: &mut Ctx) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let field = c.arg(2);
    let yes = found.is_some_and(|h| hash_ref(&c.srv.ks, h).get(field).is_some());
    c.out.int(yes as i64);
}

/// HKEYS / HVALS / HGETALL (`genericHgetallCommand`): HGETALL is a map (RESP3), the others
/// flat arrays.
fn getall_generic(c: &mut Ctx, keys: bool, vals: bool) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let both = keys && vals;
    let Some(h) = found else {
        if both {
            c.out.map(0);
        } else {
            c.out.array(0);
        }
        return;
    };
    let hv = hash_ref(&c.srv.ks, h);
    if both {
        c.out.map(hv.len());
    } else {
        c.out.array(hv.len());
    }
    let out = &mut *c.out;
    hv.for_each(|f, v| {
        for (want, e) in [(keys, f), (vals, v)] {
            if want {
                reply_entry(out, e);
            }
        }
    });
}

fn hkeys(c: &mut Ctx) {
    getall_generic(c, true, false);
}

fn hvals(c: &mut Ctx) {
    getall_generic(c, false, true);
}

fn hgetall(c: &mut Ctx) {
    getall_generic(c, true, true);
}

fn hincrby(c: &mut Ctx) {
    let Some(incr) = c.int_arg(3) else { return };
    let (key, field) = (c.arg(1), c.arg(2));
    let Some(h) = lookup_write_or_create(c, key) else {
        return;
    };
    let lim = limits(c);
    let hv = hash_mut(&mut c.srv.ks, h);
    let old = match hv.get(field) {
        None => 0,
        Some(ListpackEntry::Int(v)) => v,
        Some(ListpackEntry::Str(s)) => match pyrope_common::util::string2ll(s) {
            Some(v) => v,
            None => return c.out.error("ERR hash value is not an integer"),
        },
    };
    let Some(new) = old.checked_add(incr) else {
        return c.out.error(errors::OVERFLOW);
    };
    hv.set(field, new.to_string().as_bytes(), lim);
    c.out.int(new);
    c.srv.ks.touched(h, EV_HINCRBY);
    c.dirty(1);
}

fn hincrbyfloat(c: &mut Ctx) {
    use super::string::long_double_add;
    let incr = c.arg(3);
    // getLongDoubleFromObjectOrReply, then the NaN/Infinity check, before the lookup.
    match long_double_add(b"0", incr) {
        Ok(_) => {}
        Err(3) => return c.out.error("ERR value is NaN or Infinity"),
        Err(_) => return c.out.error(errors::NOT_FLOAT),
    }
    let (key, field) = (c.arg(1), c.arg(2));
    let Some(h) = lookup_write_or_create(c, key) else {
        return;
    };
    let lim = limits(c);
    let hv = hash_mut(&mut c.srv.ks, h);
    let cur = match hv.get(field) {
        None => b"0".to_vec(),
        Some(e) => e.to_vec(),
    };
    let sum = match long_double_add(&cur, incr) {
        Ok(s) => s,
        Err(1) => return c.out.error("ERR hash value is not a float"),
        Err(_) => return c.out.error("ERR increment would produce NaN or Infinity"),
    };
    hv.set(field, &sum, lim);
    c.out.bulk(&sum);
    c.srv.ks.touched(h, EV_HINCRBYFLOAT);
    c.dirty(1);
    c.propagate_one(&[&b"HSET"[..], key, field, &sum]);
}

/// Replies `count` (field[, value]) pairs: RESP3 nests each pair with values in an array.
fn reply_pairs<'a>(
    out: &mut Reply,
    pairs: impl Iterator<Item = (ListpackEntry<'a>, ListpackEntry<'a>)>,
    withvalues: bool,
) {
    for (f, v) in pairs {
        if withvalues && out.resp > 2 {
            out.array(2);
        }
        reply_entry(out, f);
        if withvalues {
            reply_entry(out, v);
        }
    }
}

/// Longest reply a negative-count HRANDFIELD builds before giving up on the client.
const REPLY_CAP: usize = 512 << 20;

/// The running client's hard output limit in bytes (0: none), for [`reply_cut`].
fn hard_limit(c: &Ctx) -> u64 {
    if !c.srv.clients.contains(c.cid) {
        return 0;
    }
    c.srv.settings.obuf_limits[crate::net::limit_class(c.srv, c.cid)].0
}

/// Redis's `CLIENT_CLOSE_ASAP` check inside HRANDFIELD's negative-count loop: true once the
/// reply passes the client's hard output limit (the caller then marks the client to be
/// closed, its reply never sent). Redis has no other bound and would build the reply until
/// memory runs out; Pyrope also stops at [`REPLY_CAP`].
fn reply_cut(out: &Reply, hard: u64) -> bool {
    let len = out.buf.len();
    len >= REPLY_CAP || (hard > 0 && len.saturating_sub(16 * 1024) as u64 >= hard)
}

/// `hrandfieldWithCountCommand`.
fn hrandfield_with_count(c: &mut Ctx, l: i64, withvalues: bool) {
    let h = match lookup_read(c, c.arg(1)) {
        Err(()) => return,
        Ok(None) => return c.out.array(0),
        Ok(Some(h)) => h,
    };
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 {
        return c.out.array(0);
    }
    let resp2_flat = withvalues && c.out.resp == 2;
    let hard = hard_limit(c);
    let hv = hash_mut(&mut c.srv.ks, h);
    let size = hv.len() as u64;

    // CASE 1: negative count (or 1): `count` independent picks, repetitions allowed.
    if !uniq || count == 1 {
        c.out
            .array((if resp2_flat { count * 2 } else { count }) as usize);
        let mut cut = false;
        match hv {
            HashValue::Hashtable(t) => {
                for i in 0..count {
                    if i % 1024 == 1023 && reply_cut(c.out, hard) {
                        cut = true;
                        break;
                    }
                    let (f, v) = t.random().expect("non-empty hash");
                    if withvalues && c.out.resp > 2 {
                        c.out.array(2);
                    }
                    c.out.bulk(f);
                    if withvalues {
                        c.out.bulk(v);
                    }
                }
            }
            HashValue::Listpack(_) => {
                let pairs = hv.pairs();
                let mut left = count;
                while left > 0 {
                    let n = left.min(1024);
                    left -= n;
                    let picks = (0..n).map(|_| pairs[fastrand::usize(..pairs.len())]);
                    reply_pairs(c.out, picks, withvalues);
                    if left > 0 && reply_cut(c.out, hard) {
                        cut = true;
                        break;
                    }
                }
            }
        }
        if cut && c.srv.clients.contains(c.cid) {
            c.srv.stats.client_output_buffer_limit_disconnections += 1;
            crate::net::close_async(c.srv, c.cid);
        }
        return;
    }

    let n = count.min(size);
    c.out.array((if resp2_flat { n * 2 } else { n }) as usize);

    // CASE 2: as many as the hash holds or more: the whole hash.
    if count >= size {
        let pairs = hv.pairs();
        return reply_pairs(c.out, pairs.into_iter(), withvalues);
    }

    let count = count as usize;
    match hv {
        // CASE 2.5: listpack: a uniform sample of `count` pairs, in listpack order
        // (`lpRandomPairsUnique`, selection sampling).
        HashValue::Listpack(_) => {
            let pairs = hv.pairs();
            let mut need = count;
            let mut left = pairs.len();
            let mut chosen = Vec::with_capacity(count);
            for p in pairs {
                if fastrand::usize(..left) < need {
                    chosen.push(p);
                    need -= 1;
                }
                left -= 1;
            }
            reply_pairs(c.out, chosen.into_iter(), withvalues);
        }
        // CASE 3: count close to the size: copy all, drop random ones.
        HashValue::Hashtable(_) if count * 3 > size as usize => {
            let mut pairs = hv.pairs();
            while pairs.len() > count {
                let i = fastrand::usize(..pairs.len());
                pairs.swap_remove(i);
            }
            reply_pairs(c.out, pairs.into_iter(), withvalues);
        }
        // CASE 4: big hash, small count: random picks until `count` distinct ones.
        HashValue::Hashtable(t) => {
            let mut seen = std::collections::HashSet::with_capacity(count);
            let mut got = Vec::with_capacity(count);
            while got.len() < count {
                let (f, v) = t.random().expect("non-empty hash");
                if seen.insert(f.to_vec()) {
                    got.push((f.to_vec(), v.to_vec()));
                }
            }
            reply_pairs(
                c.out,
                got.iter()
                    .map(|(f, v)| (ListpackEntry::Str(f), ListpackEntry::Str(v))),
                withvalues,
            );
        }
    }
}

fn hrandfield(c: &mut Ctx) {
    if c.argc() >= 3 {
        // getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)
        let Some(l) = c.int_arg(2) else { return };
        if l == i64::MIN {
            return c.out.error(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            );
        }
        let withvalues = match c.argc() {
            3 => false,
            4 if crate::command::opt(c.arg(3)) == b"withvalues" => true,
            _ => return c.out.syntax_error(),
        };
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return c.out.error("ERR value is out of range");
        }
        return hrandfield_with_count(c, l, withvalues);
    }
    let h = match lookup_read(c, c.arg(1)) {
        Err(()) => return,
        Ok(None) => return c.out.null(),
        Ok(Some(h)) => h,
    };
    match hash_mut(&mut c.srv.ks, h) {
        HashValue::Hashtable(t) => {
            let (f, _) = t.random().expect("non-empty hash");
            c.out.bulk(f);
        }
        HashValue::Listpack(lp) => {
            let i = fastrand::usize(..lp.len() / 2);
            let e = lp.get(2 * i).expect("in range");
            reply_entry(c.out, e);
        }
    }
}

/// HSCAN's filter (`scanCallback`): keeps a field (and its value unless NOVALUES) when it
/// matches the pattern.
fn scan_keep<'a>(
    pat: Option<&[u8]>,
    novalues: bool,
    f: ListpackEntry<'a>,
    v: ListpackEntry<'a>,
    items: &mut Vec<ListpackEntry<'a>>,
) {
    if let Some(p) = pat {
        let mut buf = Vec::new();
        if !glob_match(p, entry_bytes(&f, &mut buf), false) {
            return;
        }
    }
    items.push(f);
    if !novalues {
        items.push(v);
    }
}

fn hscan(c: &mut Ctx) {
    let Some(mut cursor) = pyrope_common::util::c_string2ull(c.arg(2)) else {
        return c.out.error("ERR invalid cursor");
    };
    let h = match lookup_read(c, c.arg(1)) {
        Err(()) => return,
        Ok(None) => return c.out.raw(b"*2\r\n$1\r\n0\r\n*0\r\n"),
        Ok(Some(h)) => h,
    };
    // scanGenericCommand's options.
    let mut count: i64 = 10;
    let mut pat: Option<&[u8]> = None;
    let mut novalues = false;
    let mut i = 3;
    while i < c.argc() {
        let opt = crate::command::opt(c.arg(i));
        let more = c.argc() - i - 1;
        match opt.as_slice() {
            b"count" if more >= 1 => {
                let Some(n) = c.int_arg(i + 1) else { return };
                if n < 1 {
                    return c.out.syntax_error();
                }
                count = n;
                i += 2;
            }
            b"match" if more >= 1 => {
                pat = Some(c.arg(i + 1)).filter(|p| *p != b"*");
                i += 2;
            }
            b"novalues" => {
                novalues = true;
                i += 1;
            }
            _ => return c.out.syntax_error(),
        }
    }
    let hv = hash_ref(&c.srv.ks, h);
    let mut items: Vec<ListpackEntry<'_>> = Vec::new();
    match hv {
        HashValue::Listpack(_) => {
            hv.for_each(|f, v| scan_keep(pat, novalues, f, v, &mut items));
            cursor = 0;
        }
        HashValue::Hashtable(t) => {
            let mut sampled = 0i64;
            let mut maxiterations = count.saturating_mul(10);
            loop {
                cursor = t.scan(cursor, |f, v| {
                    sampled += 1;
                    scan_keep(
                        pat,
                        novalues,
                        ListpackEntry::Str(f),
                        ListpackEntry::Str(v),
                        &mut items,
                    );
                });
                // `while (cursor && maxiterations-- && sampled < count)`
                if cursor == 0 || maxiterations == 0 || sampled >= count {
                    break;
                }
                maxiterations -= 1;
            }
        }
    }
    let out = &mut *c.out;
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.array(items.len());
    for e in items {
        reply_entry(out, e);
    }
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("hset", hset),
    ("hmset", hset),
    ("hsetnx", hsetnx),
    ("hget", hget),
    ("hmget", hmget),
    ("hdel", hdel),
    ("hlen", hlen),
    ("hstrlen", hstrlen),
    ("hexists", hexists),
    ("hkeys", hkeys),
    ("hvals", hvals),
    ("hgetall", hgetall),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hrandfield", hrandfield),
    ("hscan", hscan),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn snapshot(h: &HashValue) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut m = BTreeMap::new();
        h.for_each(|f, v| {
            assert!(
                m.insert(f.to_vec(), v.to_vec()).is_none(),
                "duplicate field"
            );
        });
        m
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(Vec<u8>, Vec<u8>),
        SetMany(Vec<(Vec<u8>, Vec<u8>)>),
        Del(Vec<u8>),
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // small field names collide often; integers exercise listpack int encodings
            (0u8..12).prop_map(|i| format!("f{i}").into_bytes()),
            (-300i64..300).prop_map(|i| i.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..24),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (bytes(), bytes()).prop_map(|(f, v)| Op::Set(f, v)),
            1 => proptest::collection::vec((bytes(), bytes()), 0..6).prop_map(Op::SetMany),
            2 => bytes().prop_map(Op::Del),
        ]
    }

    proptest! {
        #[test]
        fn hash_value_matches_a_btreemap(
            ops in proptest::collection::vec(op(), 0..120),
            entries in 0usize..16,
            value in 0usize..20,
        ) {
            let lim = Limits { entries, value };
            let mut h = HashValue::new();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for op in ops {
                let was_table = h.encoding() == Encoding::Hashtable;
                match op {
                    Op::Set(f, v) => {
                        h.try_conversion(&[&f, &v], lim);
                        prop_assert_eq!(h.set(&f, &v, lim), model.insert(f.clone(), v.clone()).is_some());
                    }
                    Op::SetMany(pairs) => {
                        let args: Vec<&[u8]> = pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]).collect();
                        h.try_conversion(&args, lim);
                        for (f, v) in &pairs {
                            prop_assert_eq!(h.set(f, v, lim), model.insert(f.clone(), v.clone()).is_some());
                        }
                    }
                    Op::Del(f) => {
                        prop_assert_eq!(h.delete(&f), model.remove(&f).is_some());
                    }
                }
                // Never converts back; a listpack respects both limits.
                if was_table {
                    prop_assert_eq!(h.encoding(), Encoding::Hashtable);
                }
                if let HashValue::Listpack(lp) = &h {
                    prop_assert!(lp.len() / 2 <= entries);
                    let ok = Listpack::validate(lp.as_bytes()).is_ok();
                    prop_assert!(ok);
                    for (f, v) in &model {
                        prop_assert!(f.len() <= value && v.len() <= value);
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(&snapshot(&h), &model);
                for (f, v) in &model {
                    prop_assert_eq!(h.get(f).map(|e| e.to_vec()), Some(v.clone()));
                }
            }
            let mut copy = h.clone();
            copy.convert(0);
            prop_assert_eq!(&snapshot(&copy), &model);
        }
    }

    #[test]
    fn conversion_thresholds_as_redis() {
        let lim = Limits {
            entries: 2,
            value: 4,
        };
        let mut h = HashValue::new();
        h.try_conversion(&[b"a", b"1", b"b", b"2"], lim);
        h.set(b"a", b"1", lim);
        h.set(b"b", b"2", lim);
        assert_eq!(h.encoding(), Encoding::Listpack);
        // Three pairs in one command convert up front, even if they are duplicates.
        let mut d = h.clone();
        d.try_conversion(&[b"a", b"1", b"a", b"1", b"a", b"1"], lim);
        assert_eq!(d.encoding(), Encoding::Hashtable);
        // A value longer than the limit converts (also through set, as HINCRBY* do).
        let mut v = h.clone();
        v.set(b"a", b"12345", lim);
        assert_eq!(v.encoding(), Encoding::Hashtable);
        assert_eq!(v.get(b"a"), Some(ListpackEntry::Str(b"12345")));
        // An insertion past the entries limit converts.
        h.set(b"c", b"3", lim);
        assert_eq!(h.encoding(), Encoding::Hashtable);
        assert_eq!(h.len(), 3);
        // Integers are stored as listpack integers and read back as their decimal text.
        let mut i = HashValue::new();
        i.set(b"n", b"-42", lim);
        assert_eq!(i.get(b"n"), Some(ListpackEntry::Int(-42)));
        assert!(i.delete(b"n"));
        assert!(i.is_empty());
    }
}
