//! Hash commands (Redis t_hash.c): HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS
//! HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN, the field-expiration commands of Redis
//! 7.4 (HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HTTL HPTTL HEXPIRETIME HPEXPIRETIME HPERSIST),
//! Redis 8.0's HGETDEL HGETEX HSETEX (metadata in `command::meta_extra`), and
//! [`HashValue`], the hash value with Redis's three encodings.
//!
//! A small hash is a listpack of `field, value, field, value...` in Redis's exact bytes; it is
//! converted to a hashtable ([`FieldTable`]) as `hashTypeTryConversion` / `hashTypeSet` do: when
//! a command brings more new fields than `hash-max-listpack-entries` (before touching the
//! listpack), when a field or value is longer than `hash-max-listpack-value`, when the
//! listpack would pass its 1 GiB safety size, or when an insertion makes it longer than the
//! entries limit. A hashtable never goes back to a listpack (as Redis).
//!
//! Field expiration: a listpack hash becomes `listpackex` (field, value, ttl triplets ordered
//! by ttl) on its first field-TTL command; the hashtable keeps TTLs in the [`FieldTable`]'s
//! volatile heap. Behaviour is Redis 7.4.1's, checked against it: an expired field is
//! invisible to every read; HGET HMGET HSTRLEN HEXISTS (and HSETNX HINCRBY HINCRBYFLOAT) delete
//! the fields they find expired (`HDEL` propagated per field, one `hexpired` event, `del` when
//! the hash empties), HRANDFIELD first deletes all of them, HGETALL HKEYS HVALS HSCAN HTTL
//! HPERSIST only skip them, HLEN HSET HDEL and the HEXPIRE family see them as present (an
//! HSET clears a TTL, HINCRBY* keep it). The active expiry (`expire.rs`) deletes fields of
//! hashes registered by [`crate::keyspace::Keyspace::hfe_update`]. HEXPIRE & co. propagate as
//! `HPEXPIREAT key ms [cond] FIELDS n <the fields set>`, fields deleted by a past time as
//! `HDEL`s.
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
/// `hexpire` (HEXPIRE & co., HGETEX/HSETEX with a TTL).
pub const EV_HEXPIRE: Ev = h("hexpire");
/// `hpersist`.
pub const EV_HPERSIST: Ev = h("hpersist");
/// `hexpired`: fields deleted by their TTL.
pub const EV_HEXPIRED: Ev = ev::HEXPIRED;

/// The listpack conversion thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`
/// in bytes).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most fields a listpack-encoded hash holds.
    pub entries: usize,
    /// Longest field or value a listpack-encoded hash holds.
    pub value: usize,
}

/// A hash value in one of Redis's encodings (`OBJ_ENCODING_LISTPACK`, `OBJ_ENCODING_LISTPACK_EX`,
/// `OBJ_ENCODING_HT`).
#[derive(Clone, PartialEq, Debug)]
pub enum HashValue {
    /// `field, value, field, value...`, Redis's exact listpack bytes.
    Listpack(Listpack),
    /// `listpackex` (Redis 7.4): `field, value, ttl` triplets, ttl in unix ms or 0 for none,
    /// ordered by ttl ascending with the fields without one at the end (`listpackExAddNew`,
    /// `listpackExUpdateExpiry`, `listpackExPersist`). A listpack hash becomes one on its first
    /// field-TTL command and never goes back. Boxed so that `HashValue` (and `Value`) stay
    /// 24 bytes: only hashes with field TTLs pay for the box, as Redis's `listpackEx`.
    ListpackEx(Box<Listpack>),
    /// The hashtable encoding (field TTLs in the table's volatile heap).
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

/// The ttl element of a listpackex triplet: Some(unix ms), or None for 0 (no TTL).
fn lp_ttl(e: ListpackEntry<'_>) -> Option<i64> {
    match e {
        ListpackEntry::Int(0) => None,
        ListpackEntry::Int(t) => Some(t),
        ListpackEntry::Str(_) => unreachable!("listpackex ttl is an integer"),
    }
}

/// Redis's `hashTypeIsExpired`: a field whose TTL is before `now_ms` is logically gone.
#[inline]
pub fn is_expired(ttl: Option<i64>, now_ms: i64) -> bool {
    ttl.is_some_and(|t| t < now_ms)
}

/// A field of a listpackex as (position of the field, its ttl).
fn lpex_find(lp: &Listpack, field: &[u8]) -> Option<(pyrope_common::listpack::Pos, Option<i64>)> {
    let f = lp.find(lp.first_pos()?, field, 2)?;
    let t = lp.seek(f.index() as i64 + 2).expect("listpackex triplet");
    Some((f, lp_ttl(lp.entry(t))))
}

/// Inserts a triplet before the first field whose ttl is `>=` `ttl` or that has none
/// (`listpackExAddNew` / `listpackExUpdateExpiry`); a field without a TTL is appended.
fn lpex_insert(lp: &mut Listpack, field: &[u8], value: &[u8], ttl: Option<i64>) {
    let mut at = lp.len();
    if let Some(t) = ttl {
        let mut i = 2;
        while i < lp.len() {
            match lp_ttl(lp.get(i).expect("in range")) {
                None => {
                    at = i - 2;
                    break;
                }
                Some(c) if c >= t => {
                    at = i - 2;
                    break;
                }
                _ => i += 3,
            }
        }
    }
    let mut buf = Vec::new();
    pyrope_common::util::push_i64(&mut buf, ttl.unwrap_or(0));
    lp.insert(at, field);
    lp.insert(at + 1, value);
    lp.insert(at + 2, &buf);
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
            HashValue::ListpackEx(_) => Encoding::ListpackEx,
            HashValue::Hashtable(_) => Encoding::Hashtable,
        }
    }

    /// `lazyfreeGetFreeEffort`: one buffer for a listpack, one allocation per field otherwise.
    pub fn free_effort(&self) -> usize {
        match self {
            HashValue::Listpack(_) | HashValue::ListpackEx(_) => 1,
            HashValue::Hashtable(t) => t.len(),
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.bytes(),
            HashValue::ListpackEx(lp) => lp.bytes() + std::mem::size_of::<Listpack>(),
            HashValue::Hashtable(t) => t.heap_size(),
        }
    }

    /// Number of fields, expired ones not yet deleted included (`hashTypeLength(o, 0)`: HLEN).
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::ListpackEx(lp) => lp.len() / 3,
            HashValue::Hashtable(t) => t.len(),
        }
    }

    /// True when the hash has no field (it is then deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of fields live at `now_ms` (`hashTypeLength(o, 1)`).
    pub fn live_len(&self, now_ms: i64) -> usize {
        let mut n = 0;
        self.for_each_ex(|_, _, t| {
            if !is_expired(t, now_ms) {
                n += 1;
            }
        });
        n
    }

    /// The value of `field` whether or not it has expired; listpack integers stay integers.
    pub fn get(&self, field: &[u8]) -> Option<ListpackEntry<'_>> {
        self.get_ex(field).map(|(v, _)| v)
    }

    /// The value of `field` and its TTL (unix ms), whether or not it has expired.
    pub fn get_ex(&self, field: &[u8]) -> Option<(ListpackEntry<'_>, Option<i64>)> {
        match self {
            HashValue::Listpack(lp) => {
                let f = lp.find(lp.first_pos()?, field, 1)?;
                let v = lp.next_pos(f).expect("listpack hash: field without value");
                Some((lp.entry(v), None))
            }
            HashValue::ListpackEx(lp) => {
                let (f, t) = lpex_find(lp, field)?;
                let v = lp.next_pos(f).expect("listpackex: field without value");
                Some((lp.entry(v), t))
            }
            HashValue::Hashtable(t) => t.get_ex(field).map(|(v, e)| (ListpackEntry::Str(v), e)),
        }
    }

    /// `field`'s TTL: None if absent, Some(None) without a TTL, Some(Some(ms)) with one.
    pub fn ttl_of(&self, field: &[u8]) -> Option<Option<i64>> {
        self.get_ex(field).map(|(_, t)| t)
    }

    /// The earliest field TTL (unix ms), if any field has one.
    pub fn min_expire(&self) -> Option<i64> {
        match self {
            HashValue::Listpack(_) => None,
            HashValue::ListpackEx(lp) => lp.get(2).and_then(lp_ttl),
            HashValue::Hashtable(t) => t.min_expire(),
        }
    }

    /// Makes a listpack hash a listpackex (`hashTypeConvertListpack(o,
    /// OBJ_ENCODING_LISTPACK_EX)`: a 0 ttl after each pair). No-op otherwise.
    pub fn make_ex(&mut self) {
        if let HashValue::Listpack(lp) = self {
            let mut ex = Listpack::new();
            let mut it = lp.iter();
            let (mut fb, mut vb) = (Vec::new(), Vec::new());
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                ex.push_back(entry_bytes(&f, &mut fb));
                ex.push_back(entry_bytes(&v, &mut vb));
                ex.push_back_int(0);
            }
            *self = HashValue::ListpackEx(Box::new(ex));
        }
    }

    /// Converts a listpack(ex) to a hashtable (`hashTypeConvertListpack` /
    /// `hashTypeConvertListpackEx`, keeping TTLs), pre-sized for `reserve` fields at least.
    /// No-op on a hashtable.
    pub fn convert(&mut self, reserve: usize) {
        if matches!(self, HashValue::Hashtable(_)) {
            return;
        }
        let mut t = FieldTable::new();
        t.reserve(reserve.max(self.len()));
        let (mut fb, mut vb) = (Vec::new(), Vec::new());
        self.for_each_ex(|f, v, ttl| {
            t.insert_ex(entry_bytes(&f, &mut fb), entry_bytes(&v, &mut vb), ttl);
        });
        *self = HashValue::Hashtable(Box::new(t));
    }

    /// `hashTypeTryConversion` over the field/value arguments a command is about to set:
    /// converts when they hold more pairs than the entries limit (pre-sizing the table), when
    /// one is longer than the value limit, or when the listpack would pass its safety size.
    pub fn try_conversion(&mut self, args: &[&[u8]], lim: Limits) {
        let lp: &Listpack = match self {
            HashValue::Listpack(lp) => lp,
            HashValue::ListpackEx(lp) => lp,
            HashValue::Hashtable(_) => return,
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

    /// Sets `field` to `value` (`hashTypeSet`), clearing a TTL it had: converts first when
    /// either is longer than the value limit, and after an insertion that passes the entries
    /// limit. Returns true if the field existed (an update, even if expired), false if added.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        self.set_ttl_mode(field, value, TtlMode::Clear, lim)
    }

    /// As [`HashValue::set`], keeping the field's TTL (HINCRBY, HINCRBYFLOAT in 7.4.1).
    pub fn set_keep_ttl(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        self.set_ttl_mode(field, value, TtlMode::Keep, lim)
    }

    /// As [`HashValue::set`] with the TTL `ttl` (unix ms; HSETEX).
    pub fn set_with_ttl(&mut self, field: &[u8], value: &[u8], ttl: i64, lim: Limits) -> bool {
        self.make_ex();
        self.set_ttl_mode(field, value, TtlMode::Set(ttl), lim)
    }

    fn set_ttl_mode(&mut self, field: &[u8], value: &[u8], mode: TtlMode, lim: Limits) -> bool {
        if matches!(self, HashValue::Listpack(_) | HashValue::ListpackEx(_))
            && (field.len() > lim.value || value.len() > lim.value)
        {
            self.convert(0);
        }
        let update = match self {
            HashValue::Listpack(lp) => {
                let found = lp.first_pos().and_then(|p| lp.find(p, field, 1));
                match found {
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
                }
            }
            HashValue::ListpackEx(lp) => match lpex_find(lp, field) {
                Some((f, old)) => {
                    let new = match mode {
                        TtlMode::Clear => None,
                        TtlMode::Keep => old,
                        TtlMode::Set(t) => Some(t),
                    };
                    if new == old {
                        let v = lp.next_pos(f).expect("listpackex: field without value");
                        lp.replace_at(v, value);
                    } else {
                        lp.delete_range(f.index() as i64, 3);
                        lpex_insert(lp, field, value, new);
                    }
                    true
                }
                None => {
                    let ttl = match mode {
                        TtlMode::Set(t) => Some(t),
                        _ => None,
                    };
                    lpex_insert(lp, field, value, ttl);
                    false
                }
            },
            HashValue::Hashtable(t) => {
                return match mode {
                    TtlMode::Clear => !t.insert(field, value),
                    TtlMode::Keep => !t.insert_keep_ttl(field, value),
                    TtlMode::Set(e) => !t.insert_ex(field, value, Some(e)),
                }
            }
        };
        if self.len() > lim.entries {
            self.convert(0);
        }
        update
    }

    /// Gives an existing `field` the TTL `ttl` (None removes it), moving it to its place in
    /// a listpackex (`hashTypeSetExpiryListpack`, `listpackExPersist`). A listpack becomes a
    /// listpackex first. Returns false if the field is absent.
    pub fn set_ttl(&mut self, field: &[u8], ttl: Option<i64>) -> bool {
        self.make_ex();
        match self {
            HashValue::Listpack(_) => unreachable!("made listpackex"),
            HashValue::ListpackEx(lp) => {
                let Some((f, old)) = lpex_find(lp, field) else {
                    return false;
                };
                if old == ttl {
                    return true;
                }
                let v = lp.next_pos(f).expect("listpackex: field without value");
                let mut vb = Vec::new();
                let value = entry_bytes(&lp.entry(v), &mut vb).to_vec();
                lp.delete_range(f.index() as i64, 3);
                lpex_insert(lp, field, &value, ttl);
                true
            }
            HashValue::Hashtable(t) => t.set_expire(field, ttl),
        }
    }

    /// Removes `field` (`hashTypeDelete`), expired or not. Returns true if it was present.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => {
                let Some(f) = lp.first_pos().and_then(|p| lp.find(p, field, 1)) else {
                    return false;
                };
                lp.delete_range(f.index() as i64, 2);
                true
            }
            HashValue::ListpackEx(lp) => {
                let Some((f, _)) = lpex_find(lp, field) else {
                    return false;
                };
                lp.delete_range(f.index() as i64, 3);
                true
            }
            HashValue::Hashtable(t) => t.remove(field),
        }
    }

    /// Deletes up to `max` fields whose TTL is `<= now_ms`, earliest first, appending their
    /// names to `out` (`listpackExExpire` / `ebExpire` of a hash). Returns how many.
    pub fn expire_fields(&mut self, now_ms: i64, max: usize, out: &mut Vec<Vec<u8>>) -> usize {
        let mut n = 0;
        match self {
            HashValue::Listpack(_) => {}
            HashValue::ListpackEx(lp) => {
                let mut fb = Vec::new();
                while n < max {
                    match lp.get(2).and_then(lp_ttl) {
                        Some(t) if t <= now_ms => {}
                        _ => break,
                    }
                    let f = lp.get(0).expect("triplet");
                    out.push(entry_bytes(&f, &mut fb).to_vec());
                    lp.delete_range(0, 3);
                    n += 1;
                }
            }
            HashValue::Hashtable(t) => {
                while n < max {
                    let Some(f) = t.pop_expired(now_ms) else {
                        break;
                    };
                    out.push(f);
                    n += 1;
                }
            }
        }
        n
    }

    /// Calls `f(field, value)` for every field, expired ones included, in listpack order or
    /// table order (`hashTypeNext(hi, 0)`).
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(ListpackEntry<'a>, ListpackEntry<'a>)) {
        self.for_each_ex(|k, v, _| f(k, v))
    }

    /// Calls `f(field, value, ttl)` for every field, expired ones included.
    pub fn for_each_ex<'a>(
        &'a self,
        mut f: impl FnMut(ListpackEntry<'a>, ListpackEntry<'a>, Option<i64>),
    ) {
        match self {
            HashValue::Listpack(lp) => {
                let mut it = lp.iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    f(k, v, None);
                }
            }
            HashValue::ListpackEx(lp) => {
                let mut it = lp.iter();
                while let (Some(k), Some(v), Some(t)) = (it.next(), it.next(), it.next()) {
                    f(k, v, lp_ttl(t));
                }
            }
            HashValue::Hashtable(t) => {
                t.for_each_ex(|k, v, e| f(ListpackEntry::Str(k), ListpackEntry::Str(v), e))
            }
        }
    }

    /// All (field, value) pairs live at `now_ms`, in iteration order (`hashTypeNext(hi, 1)`).
    pub fn live_pairs(&self, now_ms: i64) -> Vec<(ListpackEntry<'_>, ListpackEntry<'_>)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each_ex(|f, x, t| {
            if !is_expired(t, now_ms) {
                v.push((f, x))
            }
        });
        v
    }

    /// All (field, value) pairs, expired ones included, in iteration order.
    pub fn pairs(&self) -> Vec<(ListpackEntry<'_>, ListpackEntry<'_>)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|f, x| v.push((f, x)));
        v
    }
}

/// What [`HashValue`]'s setters do with a field's TTL.
#[derive(Clone, Copy)]
enum TtlMode {
    Clear,
    Keep,
    Set(i64),
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

/// What [`expire_if_needed`] found for a field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    /// Present and live.
    Live,
    /// Not in the hash.
    Absent,
    /// Its TTL had passed: deleted (when expiry may run), and the key with it when it was the
    /// last field (the handle is then stale).
    Expired { key_deleted: bool },
    /// Its TTL had passed but expiry is suspended (CLIENT PAUSE, loading): reads as absent,
    /// kept, and announced only by commands that announce expiry themselves (HMGET), as
    /// `hashTypeGetValue` returns GETF_EXPIRED without its own event there.
    Stale,
}

/// `hashTypeGetValue`'s lazy expiry (7.4.1): a field whose TTL has passed is deleted — unless
/// expiry is suspended (CLIENT PAUSE, loading), where it is [`Field::Stale`] (its value left
/// in place for the caller to ignore) — its `HDEL` propagated,
/// `expired_subkeys` counted, and the key deleted when that was its last field. The events
/// (`hexpired`, `del`) are the caller's: Redis sends them per command.
fn expire_if_needed(c: &mut Ctx, h: KeyRef, key: &[u8], field: &[u8]) -> Field {
    let now = c.srv.now_ms;
    match hash_ref(&c.srv.ks, h).ttl_of(field) {
        None => Field::Absent,
        Some(t) if !is_expired(t, now) => Field::Live,
        Some(_) => {
            if !c.srv.may_expire() {
                return Field::Stale;
            }
            let hv = hash_mut(&mut c.srv.ks, h);
            hv.delete(field);
            let empty = hv.is_empty();
            let db = c.db;
            c.srv.ks.fields_expired(db, key, vec![field.to_vec()]);
            if empty {
                c.srv.ks.delete(h, Deletion::Server, None);
            }
            Field::Expired { key_deleted: empty }
        }
    }
}

/// The events of a command's lazy field expiry: `hexpired`, then `del` if the key went.
fn notify_expired(c: &mut Ctx, key: &[u8], key_deleted: bool) {
    let db = c.db;
    c.srv.ks.notify(db, EV_HEXPIRED, key);
    if key_deleted {
        c.srv.ks.notify(db, ev::DEL, key);
    }
}

/// The value of `field` in the hash at `key` (handle `h`, type checked) for SORT's `->`
/// patterns (`hashTypeGetValueObject` with lazy expiry, sort.c `lookupKeyByPattern`): an
/// expired field is deleted with its events (`hexpired`, `del` if the hash empties) and reads
/// as missing.
pub(crate) fn field_value_lazy(
    c: &mut Ctx,
    h: KeyRef,
    key: &[u8],
    field: &[u8],
) -> Option<Vec<u8>> {
    match expire_if_needed(c, h, key, field) {
        Field::Live => hash_ref(&c.srv.ks, h).get(field).map(|e| e.to_vec()),
        Field::Absent | Field::Stale => None,
        Field::Expired { key_deleted } => {
            notify_expired(c, key, key_deleted);
            None
        }
    }
}

/// `hashTypeExpireIfNeeded` (HRANDFIELD): deletes every expired field of the hash; returns
/// true if that deleted the key.
fn expire_all_if_needed(c: &mut Ctx, h: KeyRef, key: &[u8]) -> bool {
    let now = c.srv.now_ms;
    let hv = hash_ref(&c.srv.ks, h);
    if !hv.min_expire().is_some_and(|t| t < now) || !c.srv.may_expire() {
        return false;
    }
    let hv = hash_mut(&mut c.srv.ks, h);
    let mut names = Vec::new();
    hv.expire_fields(now, usize::MAX, &mut names);
    let empty = hv.is_empty();
    let db = c.db;
    c.srv.ks.fields_expired(db, key, names);
    if empty {
        c.srv.ks.delete(h, Deletion::Server, None);
    } else {
        c.srv.ks.hfe_update(h);
    }
    notify_expired(c, key, empty);
    empty
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

/// The hash at `key` for a command about to set `field` (HSETNX, HINCRBY*): created when
/// missing; an expired `field` is deleted first (events sent), and when that deleted the key
/// it is created again. Returns the handle and whether the field is live.
fn write_field(c: &mut Ctx, key: &[u8], field: &[u8]) -> Option<(KeyRef, bool)> {
    let h = lookup_write_or_create(c, key)?;
    match expire_if_needed(c, h, key, field) {
        Field::Live => Some((h, true)),
        Field::Absent | Field::Stale => Some((h, false)),
        Field::Expired { key_deleted } => {
            notify_expired(c, key, key_deleted);
            let h = if key_deleted {
                lookup_write_or_create(c, key)?
            } else {
                h
            };
            Some((h, false))
        }
    }
}

fn hsetnx(c: &mut Ctx) {
    let (key, field, value) = (c.arg(1), c.arg(2), c.arg(3));
    let Some((h, live)) = write_field(c, key, field) else {
        return;
    };
    let lim = limits(c);
    let hv = hash_mut(&mut c.srv.ks, h);
    if live {
        return c.out.int(0);
    }
    hv.try_conversion(&[field, value], lim);
    hv.set(field, value, lim);
    c.out.int(1);
    c.srv.ks.touched(h, EV_HSET);
    c.dirty(1);
}

/// A read of one field with lazy expiry (HGET, HSTRLEN, HEXISTS): the live field's handle,
/// after the events of an expired one.
fn read_field(c: &mut Ctx, found: Option<KeyRef>, field: &[u8]) -> Option<KeyRef> {
    let h = found?;
    let key = c.arg(1);
    match expire_if_needed(c, h, key, field) {
        Field::Live => Some(h),
        Field::Absent | Field::Stale => None,
        Field::Expired { key_deleted } => {
            notify_expired(c, key, key_deleted);
            None
        }
    }
}

fn hget(c: &mut Ctx) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let field = c.arg(2);
    match read_field(c, found, field).and_then(|h| hash_ref(&c.srv.ks, h).get(field)) {
        Some(e) => reply_entry(c.out, e),
        None => c.out.null(),
    }
}

fn hmget(c: &mut Ctx) {
    let Ok(mut found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let key = c.arg(1);
    let fields: Vec<&[u8]> = (2..c.argc()).map(|i| c.arg(i)).collect();
    c.out.array(fields.len());
    // 7.4.1: one `hexpired` for the fields that expired without emptying the hash, and
    // `del` after it only then; a hash emptied by its first expired field sends nothing.
    let (mut expired, mut deleted) = (0, false);
    for field in fields {
        let Some(h) = found else {
            c.out.null();
            continue;
        };
        match expire_if_needed(c, h, key, field) {
            Field::Live => {
                let e = hash_ref(&c.srv.ks, h).get(field).expect("live field");
                reply_entry(c.out, e);
            }
            Field::Absent => c.out.null(),
            Field::Stale => {
                c.out.null();
                expired += 1;
            }
            Field::Expired { key_deleted } => {
                c.out.null();
                if key_deleted {
                    deleted = true;
                    found = None;
                } else {
                    expired += 1;
                }
            }
        }
    }
    if expired > 0 {
        notify_expired(c, key, deleted);
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
    let n = match read_field(c, found, field).and_then(|h| hash_ref(&c.srv.ks, h).get(field)) {
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
    let yes = read_field(c, found, field).is_some();
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
    let pairs = hv.live_pairs(c.srv.now_ms);
    if both {
        c.out.map(pairs.len());
    } else {
        c.out.array(pairs.len());
    }
    let out = &mut *c.out;
    for (f, v) in pairs {
        for (want, e) in [(keys, f), (vals, v)] {
            if want {
                reply_entry(out, e);
            }
        }
    }
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
    let Some((h, live)) = write_field(c, key, field) else {
        return;
    };
    let lim = limits(c);
    let hv = hash_mut(&mut c.srv.ks, h);
    // An expired field that could not be deleted (pause, loading) counts from 0, as Redis's.
    let old = match hv.get(field).filter(|_| live) {
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
    hv.set_keep_ttl(field, new.to_string().as_bytes(), lim);
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
    let Some((h, live)) = write_field(c, key, field) else {
        return;
    };
    let lim = limits(c);
    let hv = hash_mut(&mut c.srv.ks, h);
    let cur = match hv.get(field).filter(|_| live) {
        None => b"0".to_vec(),
        Some(e) => e.to_vec(),
    };
    let sum = match long_double_add(&cur, incr) {
        Ok(s) => s,
        Err(1) => return c.out.error("ERR hash value is not a float"),
        Err(_) => return c.out.error("ERR increment would produce NaN or Infinity"),
    };
    hv.set_keep_ttl(field, &sum, lim);
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
    if expire_all_if_needed(c, h, c.arg(1)) {
        return c.out.array(0);
    }
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
            HashValue::Listpack(_) | HashValue::ListpackEx(_) => {
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
        HashValue::Listpack(_) | HashValue::ListpackEx(_) => {
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
    if expire_all_if_needed(c, h, c.arg(1)) {
        return c.out.null();
    }
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
        HashValue::ListpackEx(lp) => {
            let i = fastrand::usize(..lp.len() / 3);
            let e = lp.get(3 * i).expect("in range");
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
    let now = c.srv.now_ms;
    let mut items: Vec<ListpackEntry<'_>> = Vec::new();
    match hv {
        HashValue::Listpack(_) | HashValue::ListpackEx(_) => {
            hv.for_each_ex(|f, v, t| {
                if !is_expired(t, now) {
                    scan_keep(pat, novalues, f, v, &mut items)
                }
            });
            cursor = 0;
        }
        HashValue::Hashtable(t) => {
            let mut sampled = 0i64;
            let mut maxiterations = count.saturating_mul(10);
            loop {
                cursor = t.scan_ex(cursor, |f, v, ttl| {
                    sampled += 1;
                    if is_expired(ttl, now) {
                        return;
                    }
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

// ---------------------------------------------------------------------------------------
// Field expiration (Redis 7.4)

/// `EB_EXPIRE_TIME_MAX` of Redis 7.4's ebuckets (2^46 - 1 ms): the latest field TTL.
pub const FIELD_EXPIRE_MAX: i64 = (1 << 46) - 1;

/// The `FIELDS numfields field...` block starting at `at` (7.4.1's checks, in its order):
/// the field arguments' indexes, or None after replying the error (`num_err` for a count that
/// is not a positive integer).
fn fields_arg(c: &mut Ctx, at: usize, num_err: &str) -> Option<std::ops::Range<usize>> {
    if crate::command::opt(c.arg(at)) != b"fields" {
        c.out
            .error("ERR Mandatory argument FIELDS is missing or not at the right position");
        return None;
    }
    let n = match pyrope_common::util::string2ll(c.arg(at + 1)) {
        Some(n) if n > 0 => n as usize,
        _ => {
            c.out.error(num_err);
            return None;
        }
    };
    let first = at + 2;
    if n != c.argc() - first {
        c.out
            .error("ERR The `numfields` parameter must match the number of arguments");
        return None;
    }
    Some(first..c.argc())
}

/// A field-TTL condition of HEXPIRE & co.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cond {
    None,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// Whether a field with TTL `old` may get `new` under `cond` (7.4.1, as key EXPIRE): a field
/// without a TTL counts as never expiring (meets NX and LT, not XX or GT); GT/LT compare with
/// the old TTL.
fn cond_met(cond: Cond, old: Option<i64>, new: i64) -> bool {
    match (cond, old) {
        (Cond::None, _) => true,
        (Cond::Nx, old) => old.is_none(),
        (Cond::Lt, None) => true,
        (_, None) => false,
        (Cond::Xx, Some(_)) => true,
        (Cond::Gt, Some(p)) => new > p,
        (Cond::Lt, Some(p)) => new < p,
    }
}

/// Reads an expire-time argument of HEXPIRE & co. (7.4.1's checks): the absolute unix ms, or
/// None after replying the error. `unit_ms` is 1000 for seconds; `base` is now for relative
/// times, 0 for absolute ones.
fn expire_arg(c: &mut Ctx, i: usize, unit_ms: i64, base: i64) -> Option<i64> {
    let v = c.int_arg(i)?;
    if v < 0 {
        c.out.error("ERR invalid expire time, must be >= 0");
        return None;
    }
    let invalid = v > FIELD_EXPIRE_MAX / unit_ms || v * unit_ms > FIELD_EXPIRE_MAX - base;
    if invalid {
        let msg = format!(
            "ERR invalid expire time in '{}' command",
            c.command().fullname
        );
        c.out.error(&msg);
        return None;
    }
    Some(v * unit_ms + base)
}

/// HEXPIRE / HPEXPIRE / HEXPIREAT / HPEXPIREAT key time [NX|XX|GT|LT] FIELDS n field...
/// (`hexpireGenericCommand`): per field -2 (no such field), 0 (condition not met), 1 (TTL
/// set), 2 (deleted: the time is not in the future). An expired field not yet deleted counts
/// as present. Event `hdel` for deletions, `hexpire` for TTLs set, `del` if the hash empties.
/// Propagated as `HDEL key field` per deletion and `HPEXPIREAT key ms [cond] FIELDS n` with
/// the fields whose TTL was set.
fn hexpire_generic(c: &mut Ctx, unit_ms: i64, relative: bool) {
    let key = c.arg(1);
    let Ok(found) = lookup_write(c, key) else {
        return;
    };
    let base = if relative { c.srv.now_ms } else { 0 };
    let Some(when) = expire_arg(c, 2, unit_ms, base) else {
        return;
    };
    let cond = match crate::command::opt(c.arg(3)).as_slice() {
        b"nx" => Cond::Nx,
        b"xx" => Cond::Xx,
        b"gt" => Cond::Gt,
        b"lt" => Cond::Lt,
        _ => Cond::None,
    };
    let at = if cond == Cond::None { 3 } else { 4 };
    let Some(range) = fields_arg(c, at, "ERR Parameter `numFields` should be greater than 0")
    else {
        return;
    };
    let Some(h) = found else {
        c.out.array(range.len());
        for _ in range {
            c.out.int(-2);
        }
        return;
    };
    let past = when <= c.srv.now_ms && !c.srv.loading;
    let fields: Vec<&[u8]> = range.map(|i| c.arg(i)).collect();
    let hv = hash_mut(&mut c.srv.ks, h);
    hv.make_ex();
    c.out.array(fields.len());
    let (mut set, mut deleted): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    for field in fields {
        let r = match hv.ttl_of(field) {
            None => -2,
            Some(old) if !cond_met(cond, old, when) => 0,
            Some(_) if past => {
                hv.delete(field);
                deleted.push(field);
                2
            }
            Some(_) => {
                hv.set_ttl(field, Some(when));
                set.push(field);
                1
            }
        };
        c.out.int(r);
    }
    if set.is_empty() && deleted.is_empty() {
        return;
    }
    let empty = hv.is_empty();
    let db = c.db;
    c.dirty((set.len() + deleted.len()) as u64);
    if !deleted.is_empty() {
        c.srv.ks.notify(db, EV_HDEL, key);
    }
    if empty {
        c.srv.ks.delete(h, Deletion::Server, Some(ev::DEL));
    } else {
        if !set.is_empty() {
            c.srv.ks.touched(h, EV_HEXPIRE);
        } else {
            c.srv.ks.touched_quiet(h);
        }
        c.srv.ks.hfe_update(h);
    }
    for f in &deleted {
        c.propagate_one(&[&b"HDEL"[..], key, f]);
    }
    if !set.is_empty() {
        let ms = when.to_string();
        let n = set.len().to_string();
        let mut argv: Vec<&[u8]> = vec![b"HPEXPIREAT", key, ms.as_bytes()];
        if cond != Cond::None {
            argv.push(c.arg(3));
        }
        argv.push(c.arg(at));
        argv.push(n.as_bytes());
        argv.extend(set.iter().copied());
        c.propagate_one(&argv);
    }
}

fn hexpire(c: &mut Ctx) {
    hexpire_generic(c, 1000, true);
}

fn hpexpire(c: &mut Ctx) {
    hexpire_generic(c, 1, true);
}

fn hexpireat(c: &mut Ctx) {
    hexpire_generic(c, 1000, false);
}

fn hpexpireat(c: &mut Ctx) {
    hexpire_generic(c, 1, false);
}

/// HTTL / HPTTL / HEXPIRETIME / HPEXPIRETIME key FIELDS n field... (`httlGenericCommand`):
/// per field -2 (absent or expired), -1 (no TTL), else the TTL or the expire time in the
/// command's unit (seconds rounded up: `(ms + 999 - base) / 1000`).
fn httl_generic(c: &mut Ctx, unit_ms: i64, relative: bool) {
    let Ok(found) = lookup_read(c, c.arg(1)) else {
        return;
    };
    let Some(range) = fields_arg(c, 2, "ERR Number of fields must be a positive integer") else {
        return;
    };
    let now = c.srv.now_ms;
    let base = if relative { now } else { 0 };
    c.out.array(range.len());
    for i in range {
        let ttl = found.and_then(|h| hash_ref(&c.srv.ks, h).ttl_of(c.arg(i)));
        let r = match ttl {
            None => -2,
            Some(None) => -1,
            Some(Some(t)) if is_expired(Some(t), now) => -2,
            Some(Some(t)) if unit_ms == 1000 => (t + 999 - base) / 1000,
            Some(Some(t)) => t - base,
        };
        c.out.int(r);
    }
}

fn httl(c: &mut Ctx) {
    httl_generic(c, 1000, true);
}

fn hpttl(c: &mut Ctx) {
    httl_generic(c, 1, true);
}

fn hexpiretime(c: &mut Ctx) {
    httl_generic(c, 1000, false);
}

fn hpexpiretime(c: &mut Ctx) {
    httl_generic(c, 1, false);
}

/// HPERSIST key FIELDS n field... (`hpersistCommand`): per field -2 (absent or expired), -1
/// (no TTL), 1 (TTL removed). Event `hpersist`; propagated as is. The hash stays registered
/// for the active expiry until its next visit (as Redis).
fn hpersist(c: &mut Ctx) {
    let Ok(found) = lookup_write(c, c.arg(1)) else {
        return;
    };
    let Some(range) = fields_arg(c, 2, "ERR Number of fields must be a positive integer") else {
        return;
    };
    let now = c.srv.now_ms;
    c.out.array(range.len());
    let mut done = 0;
    for i in range {
        let field = c.arg(i);
        let Some(h) = found else {
            c.out.int(-2);
            continue;
        };
        let hv = hash_mut(&mut c.srv.ks, h);
        let r = match hv.ttl_of(field) {
            None => -2,
            Some(None) => -1,
            Some(t) if is_expired(t, now) => -2,
            Some(_) => {
                hv.set_ttl(field, None);
                done += 1;
                1
            }
        };
        c.out.int(r);
    }
    if done > 0 {
        let h = found.expect("persisted fields");
        c.srv.ks.touched(h, EV_HPERSIST);
        c.dirty(done);
    }
}

// ---------------------------------------------------------------------------------------
// Redis 8.0: HGETDEL HGETEX HSETEX (t_hash.c `hgetdelCommand`, `hgetexCommand`,
// `hsetexCommand`). Not in the 7.4.1 oracle: their metadata is `command::meta_extra`'s,
// their behaviour Redis 8.0's documentation and source, tested by
// tests/tests/hash_commands_8.rs.

/// Sends a command's events on `key`: the first with the modified-key signal
/// (`signalModifiedKey`), the others after it, in order.
fn send_events(c: &mut Ctx, h: KeyRef, evs: &[Ev]) {
    let Some((first, rest)) = evs.split_first() else {
        return;
    };
    c.srv.ks.touched(h, *first);
    let db = c.db;
    let key = c.arg(1);
    for e in rest {
        c.srv.ks.notify(db, *e, key);
    }
}

/// Deletes a hash that a command left empty (`del` event), or keeps its registration for the
/// active field expiry current.
fn drop_if_empty(c: &mut Ctx, h: KeyRef) {
    if hash_ref(&c.srv.ks, h).is_empty() {
        c.srv.ks.delete(h, Deletion::Server, Some(ev::DEL));
    } else {
        c.srv.ks.hfe_update(h);
    }
}

/// Deletes `field` whose TTL has passed, as `hashTypeGetValue` with
/// `HFE_LAZY_NO_NOTIFICATION | HFE_LAZY_AVOID_HASH_DEL` does: the hash is kept even if empty
/// (the command deletes it at its end), `HDEL` is propagated, no event (the command sends one
/// `hexpired`). While expiry is suspended (CLIENT PAUSE) the field only reads as missing.
fn expire_field_quietly(c: &mut Ctx, h: KeyRef, key: &[u8], field: &[u8]) {
    if c.srv.may_expire() {
        hash_mut(&mut c.srv.ks, h).delete(field);
        let db = c.db;
        c.srv.ks.fields_expired(db, key, vec![field.to_vec()]);
    }
}

/// Deletes `field` because the TTL a command gives it is not in the future
/// (`checkAlreadyExpired` in `hashTypeSetExpiry*`): `HDEL` propagated, counted in
/// `expired_subkeys`.
fn delete_past_field(c: &mut Ctx, h: KeyRef, key: &[u8], field: &[u8]) {
    hash_mut(&mut c.srv.ks, h).delete(field);
    let db = c.db;
    c.srv.ks.fields_expired(db, key, vec![field.to_vec()]);
}

/// HGETDEL key FIELDS numfields field... (Redis 8.0 `hgetdelCommand`): replies an array with
/// each field's value (nil when absent or expired) and deletes the fields found. WRONGTYPE
/// comes before the argument checks (the lookup is first). Events: `hexpired` (expired
/// fields met), `hdel` (fields deleted), `del` when the hash empties. Propagated as
/// `HDEL key field...` (every field named), after the `HDEL`s of expired fields.
fn hgetdel(c: &mut Ctx) {
    let key = c.arg(1);
    let Ok(found) = lookup_write(c, key) else {
        return;
    };
    let Some(range) = fields_arg(c, 2, "ERR Number of fields must be a positive integer") else {
        return;
    };
    c.out.array(range.len());
    let Some(h) = found else {
        for _ in range {
            c.out.null();
        }
        return;
    };
    let now = c.srv.now_ms;
    let (mut expired, mut deleted) = (0u64, 0u64);
    for i in range.clone() {
        let field = c.arg(i);
        let hv = hash_mut(&mut c.srv.ks, h);
        match hv.get_ex(field) {
            None => c.out.null(),
            Some((_, t)) if is_expired(t, now) => {
                c.out.null();
                expired += 1;
                expire_field_quietly(c, h, key, field);
            }
            Some((v, _)) => {
                reply_entry(c.out, v);
                hv.delete(field);
                deleted += 1;
            }
        }
    }
    if expired == 0 && deleted == 0 {
        return;
    }
    let mut evs = Vec::new();
    if expired > 0 {
        evs.push(EV_HEXPIRED);
    }
    if deleted > 0 {
        evs.push(EV_HDEL);
        c.dirty(deleted);
        let mut argv: Vec<&[u8]> = vec![b"HDEL", key];
        argv.extend(range.map(|i| c.arg(i)));
        c.propagate_one(&argv);
    }
    send_events(c, h, &evs);
    drop_if_empty(c, h);
}

/// What HGETEX / HSETEX do to the TTL of the fields they touch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TtlOp {
    /// Nothing (HGETEX without option; HSETEX without one clears TTLs, as HSET).
    None,
    /// PERSIST (HGETEX): remove it.
    Persist,
    /// KEEPTTL (HSETEX): keep it.
    Keep,
    /// EX / PX / EXAT / PXAT: set it to this unix ms (`pxat`: given as PXAT already).
    Set { when: i64, pxat: bool },
}

/// The unit (ms) and base of a TTL option name (`ex`, `px`, `exat`, `pxat`), as
/// `parseExpireTime` is called for it.
fn ttl_unit(o: &[u8], now: i64) -> Option<(i64, i64)> {
    match o {
        b"ex" => Some((1000, now)),
        b"px" => Some((1, now)),
        b"exat" => Some((1000, 0)),
        b"pxat" => Some((1, 0)),
        _ => None,
    }
}

/// HGETEX key [EX s | PX ms | EXAT unix-s | PXAT unix-ms | PERSIST] FIELDS numfields field...
/// (Redis 8.0 `hgetexCommand`): replies each field's value (nil when absent or expired) and
/// sets or removes the TTL of the fields found. A time not in the future deletes them. The
/// lookup (WRONGTYPE) comes first, then the option, its time (`parseExpireTime`'s errors),
/// and the FIELDS block. Events: `hexpired`, then `hpersist` / `hexpire` (or `hdel` for
/// deletions), `del` if the hash empties. Propagated as `HPERSIST key FIELDS n field...` or
/// `HPEXPIREAT key unix-ms FIELDS n field...` (every field named), deletions as `HDEL`s only.
fn hgetex(c: &mut Ctx) {
    let key = c.arg(1);
    let Ok(found) = lookup_write(c, key) else {
        return;
    };
    let now = c.srv.now_ms;
    let o = crate::command::opt(c.arg(2));
    let (op, fields_at) = if let Some((unit, base)) = ttl_unit(&o, now) {
        let Some(when) = expire_arg(c, 3, unit, base) else {
            return;
        };
        (
            TtlOp::Set {
                when,
                pxat: o == b"pxat",
            },
            4,
        )
    } else if o == b"persist" {
        (TtlOp::Persist, 3)
    } else {
        (TtlOp::None, 2)
    };
    // Redis reads argv[fields_at + 1] without checking argc (HGETEX k EX 1 FIELDS):
    // answered here as a count that is missing.
    if fields_at + 1 >= c.argc() {
        if crate::command::opt(c.arg(fields_at)) != b"fields" {
            return c
                .out
                .error("ERR Mandatory argument FIELDS is missing or not at the right position");
        }
        return c
            .out
            .error("ERR Number of fields must be a positive integer");
    }
    let Some(range) = fields_arg(
        c,
        fields_at,
        "ERR Number of fields must be a positive integer",
    ) else {
        return;
    };
    c.out.array(range.len());
    let Some(h) = found else {
        for _ in range {
            c.out.null();
        }
        return;
    };
    if op != TtlOp::None {
        hash_mut(&mut c.srv.ks, h).make_ex();
    }
    let (mut expired, mut deleted, mut updated) = (0u64, 0u64, 0u64);
    for i in range.clone() {
        let field = c.arg(i);
        let hv = hash_mut(&mut c.srv.ks, h);
        let ttl = match hv.get_ex(field) {
            None => {
                c.out.null();
                continue;
            }
            Some((_, t)) if is_expired(t, now) => {
                c.out.null();
                expired += 1;
                expire_field_quietly(c, h, key, field);
                continue;
            }
            Some((v, t)) => {
                reply_entry(c.out, v);
                t
            }
        };
        match op {
            TtlOp::None | TtlOp::Keep => {}
            TtlOp::Persist => {
                if ttl.is_some() {
                    hv.set_ttl(field, None);
                    updated += 1;
                }
            }
            TtlOp::Set { when, .. } if when <= now => {
                delete_past_field(c, h, key, field);
                deleted += 1;
            }
            TtlOp::Set { when, .. } => {
                hv.set_ttl(field, Some(when));
                updated += 1;
            }
        }
    }
    if expired == 0 && deleted == 0 && updated == 0 {
        return;
    }
    c.dirty(deleted + updated);
    let mut evs = Vec::new();
    if expired > 0 {
        evs.push(EV_HEXPIRED);
    }
    let fields: Vec<&[u8]> = range.clone().map(|i| c.arg(i)).collect();
    let n = fields.len().to_string();
    if updated > 0 {
        let mut argv: Vec<&[u8]>;
        let ms;
        if let TtlOp::Set { when, .. } = op {
            evs.push(EV_HEXPIRE);
            ms = when.to_string();
            argv = vec![b"HPEXPIREAT", key, ms.as_bytes()];
        } else {
            evs.push(EV_HPERSIST);
            argv = vec![b"HPERSIST", key];
        }
        argv.push(c.arg(fields_at));
        argv.push(n.as_bytes());
        argv.extend(fields);
        c.propagate_one(&argv);
    } else if deleted > 0 {
        evs.push(EV_HDEL);
        c.no_propagate = true;
    }
    send_events(c, h, &evs);
    drop_if_empty(c, h);
}

/// The parsed options of HSETEX (`hsetexParseArgs`).
struct SetexArgs {
    fnx: bool,
    fxx: bool,
    op: TtlOp,
    /// Index of the time argument (rewritten to PXAT for propagation).
    time_at: usize,
    /// Index of the first field.
    first: usize,
}

/// `hsetexParseArgs`: options in any order up to FIELDS, Redis 8.0's errors.
fn hsetex_args(c: &mut Ctx) -> Option<SetexArgs> {
    const DUP_TTL: &str =
        "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified";
    const DUP_COND: &str = "ERR Only one of FXX or FNX arguments can be specified";
    let arity = format!(
        "ERR wrong number of arguments for '{}' command",
        c.command().fullname
    );
    let mut a = SetexArgs {
        fnx: false,
        fxx: false,
        op: TtlOp::None,
        time_at: 0,
        first: 0,
    };
    let now = c.srv.now_ms;
    let argc = c.argc();
    let mut i = 2;
    while i < argc {
        let o = crate::command::opt(c.arg(i));
        if o == b"fields" {
            if i + 3 >= argc {
                c.out.error(&arity);
                return None;
            }
            let n = match pyrope_common::util::string2ll(c.arg(i + 1)) {
                Some(n) if (1..=i32::MAX as i64).contains(&n) => n as usize,
                _ => {
                    c.out.error("ERR invalid number of fields");
                    return None;
                }
            };
            let remaining = argc - i - 2;
            if remaining % 2 != 0 || n != remaining / 2 {
                c.out.error(&arity);
                return None;
            }
            a.first = i + 2;
            return Some(a);
        }
        if let Some((unit, base)) = ttl_unit(&o, now) {
            if a.op != TtlOp::None {
                c.out.error(DUP_TTL);
                return None;
            }
            if i >= argc - 1 {
                c.out.error("ERR missing expire time");
                return None;
            }
            i += 1;
            let when = expire_arg(c, i, unit, base)?;
            a.op = TtlOp::Set {
                when,
                pxat: o == b"pxat",
            };
            a.time_at = i;
        } else if o == b"keepttl" {
            if a.op != TtlOp::None {
                c.out.error(DUP_TTL);
                return None;
            }
            a.op = TtlOp::Keep;
        } else if o == b"fxx" || o == b"fnx" {
            if a.fxx || a.fnx {
                c.out.error(DUP_COND);
                return None;
            }
            a.fxx = o == b"fxx";
            a.fnx = o == b"fnx";
        } else {
            let msg = format!(
                "ERR unknown argument: {}",
                crate::command::trunc(c.arg(i), usize::MAX)
            );
            c.out.error(&msg);
            return None;
        }
        i += 1;
    }
    // Unreachable with the arity of -6 (Redis asserts); answered as a syntax error.
    c.out.syntax_error();
    None
}

/// HSETEX key [FNX | FXX] [EX s | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]
/// FIELDS numfields field value... (Redis 8.0 `hsetexCommand`): sets the fields — only if
/// none exists (FNX) or all exist (FXX); expired ones count as absent and are deleted — with
/// the TTL given, kept (KEEPTTL) or cleared (no option, as HSET). Replies 1, or 0 when the
/// condition failed (no key is created for FXX). A time not in the future deletes the fields
/// it sets. Events: `hexpired`, `hset`, then `hexpire` (or `hdel`), `del` if the hash ends
/// empty. Propagated as is, EX/PX/EXAT rewritten to `PXAT unix-ms`; deletions as `HDEL`s only.
fn hsetex(c: &mut Ctx) {
    let Some(a) = hsetex_args(c) else {
        return;
    };
    let key = c.arg(1);
    let h = match lookup_write(c, key) {
        Err(()) => return,
        Ok(None) if a.fxx => return c.out.int(0),
        Ok(Some(h)) => h,
        Ok(None) => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            let v = NewValue::Boxed(Box::new(Value::Hash(HashValue::new())));
            c.srv.ks.add(db, key, v, None, lru, None)
        }
    };
    let now = c.srv.now_ms;
    let pairs: Vec<(&[u8], &[u8])> = (a.first..c.argc())
        .step_by(2)
        .map(|i| (c.arg(i), c.arg(i + 1)))
        .collect();
    let mut expired = 0u64;
    let mut cond_ok = true;
    if a.fnx || a.fxx {
        let mut found = 0;
        for &(field, _) in &pairs {
            let exists = match hash_ref(&c.srv.ks, h).ttl_of(field) {
                None => false,
                Some(t) if is_expired(t, now) => {
                    expired += 1;
                    expire_field_quietly(c, h, key, field);
                    false
                }
                Some(_) => true,
            };
            found += exists as usize;
            if (a.fxx && !exists) || (a.fnx && exists) {
                break;
            }
        }
        cond_ok = if a.fnx {
            found == 0
        } else {
            found == pairs.len()
        };
    }
    let (mut deleted, mut updated) = (0u64, 0u64);
    if cond_ok {
        let lim = limits(c);
        let args: Vec<&[u8]> = pairs.iter().flat_map(|&(f, v)| [f, v]).collect();
        let hv = hash_mut(&mut c.srv.ks, h);
        hv.try_conversion(&args, lim);
        if matches!(a.op, TtlOp::Set { .. }) {
            hv.make_ex();
        }
        for &(field, value) in &pairs {
            let hv = hash_mut(&mut c.srv.ks, h);
            match a.op {
                TtlOp::None | TtlOp::Persist => {
                    hv.set(field, value, lim);
                }
                TtlOp::Keep => {
                    hv.set_keep_ttl(field, value, lim);
                }
                TtlOp::Set { when, .. } if when <= now => {
                    hv.set_keep_ttl(field, value, lim);
                    delete_past_field(c, h, key, field);
                    deleted += 1;
                }
                TtlOp::Set { when, .. } => {
                    hv.set_with_ttl(field, value, when, lim);
                    updated += 1;
                }
            }
        }
        c.dirty(pairs.len() as u64);
        if deleted > 0 {
            c.no_propagate = true;
        } else if let TtlOp::Set { when, pxat: false } = a.op {
            let ms = when.to_string();
            let mut argv: Vec<&[u8]> = (0..c.argc()).map(|i| c.arg(i)).collect();
            argv[a.time_at - 1] = b"PXAT";
            argv[a.time_at] = ms.as_bytes();
            c.propagate_one(&argv);
        }
        c.out.int(1);
    } else {
        c.out.int(0);
    }
    let mut evs = Vec::new();
    if expired > 0 {
        evs.push(EV_HEXPIRED);
    }
    if cond_ok {
        evs.push(EV_HSET);
        if deleted > 0 {
            evs.push(EV_HDEL);
        } else if updated > 0 {
            evs.push(EV_HEXPIRE);
        }
    }
    send_events(c, h, &evs);
    drop_if_empty(c, h);
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
    ("hexpire", hexpire),
    ("hpexpire", hpexpire),
    ("hexpireat", hexpireat),
    ("hpexpireat", hpexpireat),
    ("httl", httl),
    ("hpttl", hpttl),
    ("hexpiretime", hexpiretime),
    ("hpexpiretime", hpexpiretime),
    ("hpersist", hpersist),
    ("hgetdel", hgetdel),
    ("hgetex", hgetex),
    ("hsetex", hsetex),
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

    fn lpex_layout(h: &HashValue) -> Vec<(Vec<u8>, Option<i64>)> {
        let mut v = Vec::new();
        h.for_each_ex(|f, _, t| v.push((f.to_vec(), t)));
        v
    }

    #[test]
    fn listpackex_orders_fields_by_ttl_as_redis() {
        let lim = Limits {
            entries: 128,
            value: 64,
        };
        let mut h = HashValue::new();
        for f in [b"a", b"b", b"c", b"d"] {
            h.set(f, b"1", lim);
        }
        h.make_ex();
        assert_eq!(h.encoding(), Encoding::ListpackEx);
        assert!(h.set_ttl(b"c", Some(300)));
        assert!(h.set_ttl(b"a", Some(100)));
        // An equal TTL goes before the fields that have it (listpackExUpdateExpiry's `>=`).
        assert!(h.set_ttl(b"d", Some(100)));
        assert!(!h.set_ttl(b"zz", Some(1)));
        let order: Vec<_> = lpex_layout(&h);
        assert_eq!(
            order,
            vec![
                (b"d".to_vec(), Some(100)),
                (b"a".to_vec(), Some(100)),
                (b"c".to_vec(), Some(300)),
                (b"b".to_vec(), None),
            ]
        );
        assert_eq!(h.min_expire(), Some(100));
        // HSET clears a TTL (moved to the end), HINCRBY keeps it.
        h.set(b"d", b"2", lim);
        h.set_keep_ttl(b"c", b"3", lim);
        assert_eq!(h.ttl_of(b"d"), Some(None));
        assert_eq!(h.ttl_of(b"c"), Some(Some(300)));
        assert_eq!(lpex_layout(&h).last().unwrap().0, b"d".to_vec());
        let mut gone = Vec::new();
        assert_eq!(h.expire_fields(300, 10, &mut gone), 2);
        assert_eq!(gone, vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(h.min_expire(), None);
        if let HashValue::ListpackEx(lp) = &h {
            assert!(Listpack::validate(lp.as_bytes()).is_ok());
            assert_eq!(lp.len(), 6);
        }
        // Conversion keeps TTLs.
        h.set_ttl(b"b", Some(50));
        let mut t = h.clone();
        t.convert(0);
        assert_eq!(t.ttl_of(b"b"), Some(Some(50)));
        assert_eq!(t.ttl_of(b"d"), Some(None));
        assert_eq!(t.min_expire(), Some(50));
        assert_eq!(t.live_len(51), 1);
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
