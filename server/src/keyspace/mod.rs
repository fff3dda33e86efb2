//! The keyspace: entries ([`entry`]), the hash table that owns them ([`dict`]) and the
//! per-db operations commands use ([`Db`]): lookups with lazy expiry and LRU/LFU touch,
//! inserts, overwrites, deletes and TTL changes.
//!
//! Invariants:
//! - A key is either absent or present exactly once; expired keys found by a lookup are
//!   unlinked at once and parked in [`Db::expired`] until the command finishes, so that
//!   `call()` can propagate their DEL and free them (never observed by the command).
//! - Nothing here replies to clients or propagates: those belong to `command` and
//!   `propagate`.

pub mod dict;
pub mod entry;

use crate::object::{classify_string, Encoding, ObjType, StrEncoding, Value};
pub use dict::Dict;
pub use entry::{EntryPtr, NewValue, ValueRef};

/// How a lookup updates the key's access metadata.
#[derive(Clone, Copy, Debug)]
pub enum Touch {
    /// Leave LRU/LFU alone (OBJECT, TYPE-less internal reads, `CLIENT NO-TOUCH`).
    No,
    /// Set the LRU field to this clock value.
    Lru(u32),
    /// LFU policy: decay then log-increment the counter; holds the current minutes clock and
    /// `lfu-log-factor` / `lfu-decay-time`.
    Lfu {
        minutes: u16,
        log_factor: u32,
        decay_time: u32,
    },
}

/// One database (`SELECT n`).
pub struct Db {
    /// Index of this db (0-based).
    pub id: usize,
    /// The keys.
    pub dict: Dict,
    /// Keys found expired by lookups during the current command, already unlinked; drained
    /// by `call()` (propagated as DEL/UNLINK, then freed).
    pub expired: Vec<EntryPtr>,
    /// Estimated average TTL of volatile keys in ms (INFO keyspace `avg_ttl`).
    pub avg_ttl: i64,
    /// Where the active-expire cycle resumes in the volatile list.
    pub expire_cursor: usize,
    /// New small integers use Redis's shared objects (false when maxmemory is set with an
    /// LRU/LFU policy, as `canUseSharedObject()`).
    pub share_ints: bool,
}

/// True if `v` is in Redis's shared integer range [0, 10000).
#[inline]
pub fn shareable(v: i64) -> bool {
    (0..crate::object::SHARED_INTEGERS).contains(&v)
}

/// Builds the stored form of a string value given by a client (`tryObjectEncoding`).
pub fn string_value(s: &[u8]) -> NewValue<'_> {
    match classify_string(s) {
        StrEncoding::Int(v) => NewValue::Int(v),
        StrEncoding::Embstr => NewValue::Inline(s),
        StrEncoding::Raw => raw_string_value(s.to_vec()),
    }
}

/// A raw-encoded string value (APPEND / SETRANGE results, long strings).
pub fn raw_string_value<'a>(v: Vec<u8>) -> NewValue<'a> {
    NewValue::Boxed(Box::new(Value::Str(v)), ObjType::String, Encoding::Raw)
}

/// Bytes of a string value, formatting integers into `buf`.
pub fn string_bytes<'a>(v: &ValueRef<'a>, buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    match v {
        ValueRef::Int(i) => {
            buf.clear();
            pyrope_common::util::push_i64(buf, *i);
            Some(&buf[..])
        }
        ValueRef::Inline(b) => Some(b),
        ValueRef::Boxed(Value::Str(s)) => Some(&s[..]),
    }
}

/// Applies an LFU access to a 24-bit LFU field (16-bit minutes | 8-bit log counter), as Redis's
/// `updateLFU()`: decay by elapsed periods, then logarithmic increment.
pub fn lfu_touch(old: u32, minutes: u16, log_factor: u32, decay_time: u32) -> u32 {
    let ldt = (old >> 8) as u16;
    let mut counter = (old & 0xff) as u32;
    let elapsed = if minutes >= ldt {
        minutes - ldt
    } else {
        65535 - ldt + minutes
    } as u32;
    if decay_time > 0 {
        let periods = elapsed / decay_time;
        counter = counter.saturating_sub(periods);
    }
    if counter < 255 {
        let r = fastrand::f64();
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * log_factor as f64 + 1.0);
        if r < p {
            counter += 1;
        }
    }
    ((minutes as u32) << 8) | counter
}

/// Initial LFU counter of new keys (Redis `LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u32 = 5;

impl Db {
    /// An empty db.
    pub fn new(id: usize) -> Db {
        Db {
            id,
            dict: Dict::new(),
            expired: Vec::new(),
            avg_ttl: 0,
            expire_cursor: 0,
            share_ints: true,
        }
    }

    /// Number of keys (including not-yet-reclaimed expired ones, as DBSIZE in Redis).
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True if the db has no keys.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Finds a live key. When the key is expired: if `may_delete` (we are a primary), it is
    /// unlinked and parked in [`Db::expired`]; either way the lookup misses.
    #[inline]
    pub fn lookup(
        &mut self,
        key: &[u8],
        now_ms: i64,
        may_delete: bool,
        touch: Touch,
    ) -> Option<EntryPtr> {
        let e = self.dict.find(key)?;
        if let Some(when) = e.expire() {
            if when <= now_ms {
                if may_delete {
                    self.dict.remove_entry(e);
                    self.expired.push(e);
                }
                return None;
            }
        }
        match touch {
            Touch::No => {}
            Touch::Lru(clock) => e.set_lru(clock),
            Touch::Lfu {
                minutes,
                log_factor,
                decay_time,
            } => e.set_lru(lfu_touch(e.lru(), minutes, log_factor, decay_time)),
        }
        Some(e)
    }

    /// Adds a key that is known to be absent.
    pub fn insert(
        &mut self,
        key: &[u8],
        value: NewValue,
        expire: Option<i64>,
        lru: u32,
    ) -> EntryPtr {
        let shared = matches!(value, NewValue::Int(v) if self.share_ints && shareable(v));
        let e = EntryPtr::alloc(key, value, expire, lru);
        e.set_shared(shared);
        self.dict.insert(e);
        e
    }

    /// Replaces the value of the live entry `old` (same key), with the given expire. Returns
    /// the new entry. `old` is freed.
    pub fn overwrite(
        &mut self,
        old: EntryPtr,
        value: NewValue,
        expire: Option<i64>,
        lru: u32,
    ) -> EntryPtr {
        let shared = matches!(value, NewValue::Int(v) if self.share_ints && shareable(v));
        let e = EntryPtr::alloc(old.key(), value, expire, lru);
        e.set_shared(shared);
        self.dict.replace(old, e);
        e
    }

    /// Sets `key` to `value`, overwriting any current value. `keep_ttl` keeps the expire of an
    /// existing key (SET KEEPTTL); otherwise `expire` applies. `existing` is the result of a
    /// previous lookup of the same key in this command (avoids a second lookup).
    pub fn set(
        &mut self,
        key: &[u8],
        existing: Option<EntryPtr>,
        value: NewValue,
        expire: Option<i64>,
        keep_ttl: bool,
        lru: u32,
    ) -> EntryPtr {
        match existing {
            Some(old) => {
                let exp = if keep_ttl { old.expire() } else { expire };
                self.overwrite(old, value, exp, lru)
            }
            None => self.insert(key, value, expire, lru),
        }
    }

    /// Rebuilds `e` with a different expire (None removes it), keeping key, value and LRU.
    /// Entries that already have an expire are updated in place. Returns the live entry.
    pub fn set_expire(&mut self, e: EntryPtr, expire: Option<i64>) -> EntryPtr {
        match (e.has_expire(), expire) {
            (true, Some(when)) => {
                e.set_expire_in_place(when);
                e
            }
            (false, None) => e,
            _ => {
                let lru = e.lru();
                let new = match e.value() {
                    ValueRef::Int(v) => EntryPtr::alloc(e.key(), NewValue::Int(v), expire, lru),
                    ValueRef::Inline(b) => {
                        EntryPtr::alloc(e.key(), NewValue::Inline(b), expire, lru)
                    }
                    ValueRef::Boxed(_) => {
                        let (t, enc) = (e.obj_type(), e.encoding());
                        let boxed = e.take_boxed().expect("boxed value");
                        EntryPtr::alloc(e.key(), NewValue::Boxed(boxed, t, enc), expire, lru)
                    }
                };
                new.set_shared(e.is_shared());
                self.dict.replace(e, new);
                new
            }
        }
    }

    /// Links under `key` the value of `e`, an entry already unlinked from its dict (this db's
    /// or another's), keeping its expire, LRU and sharedness, and frees `e` (RENAME, MOVE).
    /// Heap values move without being copied.
    pub fn adopt(&mut self, key: &[u8], e: EntryPtr) {
        let (exp, lru, shared) = (e.expire(), e.lru(), e.is_shared());
        let (n, boxed) = match e.value() {
            ValueRef::Int(v) => (self.insert(key, NewValue::Int(v), exp, lru), false),
            // `b` borrows `e`, which is freed only after the new entry copied it.
            ValueRef::Inline(b) => (self.insert(key, NewValue::Inline(b), exp, lru), false),
            ValueRef::Boxed(_) => {
                let (t, enc) = (e.obj_type(), e.encoding());
                let v = e.take_boxed().expect("boxed value");
                (self.insert(key, NewValue::Boxed(v, t, enc), exp, lru), true)
            }
        };
        n.set_shared(shared);
        if boxed {
            e.free_shell();
        } else {
            e.free();
        }
    }

    /// Links under `key` a deep copy of the value of the live entry `e` (COPY), with its
    /// expire. The copy is a new object, never a shared integer (Redis `dupStringObject`).
    pub fn insert_copy(&mut self, key: &[u8], e: EntryPtr) -> EntryPtr {
        let (exp, lru) = (e.expire(), e.lru());
        let n = match e.value() {
            ValueRef::Int(v) => self.insert(key, NewValue::Int(v), exp, lru),
            ValueRef::Inline(b) => self.insert(key, NewValue::Inline(b), exp, lru),
            ValueRef::Boxed(v) => {
                let nv = NewValue::Boxed(Box::new(v.clone()), e.obj_type(), e.encoding());
                self.insert(key, nv, exp, lru)
            }
        };
        n.set_shared(false);
        n
    }

    /// Deletes a key; returns the unlinked entry for the caller to free (or lazy-free).
    pub fn remove(&mut self, key: &[u8]) -> Option<EntryPtr> {
        self.dict.remove(key)
    }

    /// Removes every key, returning the old dict (to be dropped here or on the lazy-free
    /// thread).
    pub fn take_all(&mut self) -> Dict {
        let mut d = std::mem::take(&mut self.dict);
        self.dict.resize_paused = d.resize_paused;
        d.resize_paused = false;
        self.avg_ttl = 0;
        self.expire_cursor = 0;
        d
    }

    /// Frees the entries parked by lazy expiry and returns how many there were, calling
    /// `each` with every key first (for propagation and keyspace events).
    pub fn drain_expired(&mut self, mut each: impl FnMut(&[u8])) -> usize {
        let n = self.expired.len();
        for e in self.expired.drain(..) {
            each(e.key());
            e.free();
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_expiry_parks_and_misses() {
        let mut db = Db::new(0);
        db.insert(b"a", string_value(b"1"), Some(100), 0);
        db.insert(b"b", string_value(b"hello"), None, 0);
        assert!(db.lookup(b"a", 50, true, Touch::No).is_some());
        assert!(
            db.lookup(b"a", 100, false, Touch::No).is_none(),
            "replica: miss, keep"
        );
        assert_eq!(db.len(), 2);
        assert!(db.lookup(b"a", 100, true, Touch::No).is_none());
        assert_eq!(db.len(), 1);
        let mut keys = Vec::new();
        assert_eq!(db.drain_expired(|k| keys.push(k.to_vec())), 1);
        assert_eq!(keys, vec![b"a".to_vec()]);
    }

    #[test]
    fn expire_changes_keep_value() {
        let mut db = Db::new(0);
        let long = vec![b'x'; 100];
        for (k, v) in [(&b"i"[..], &b"42"[..]), (b"e", b"short"), (b"r", &long[..])] {
            let e = db.insert(k, string_value(v), None, 3);
            let e = db.set_expire(e, Some(1000));
            assert_eq!(e.expire(), Some(1000));
            let e = db.set_expire(e, Some(2000));
            assert_eq!(e.expire(), Some(2000));
            let e = db.set_expire(e, None);
            assert_eq!(e.expire(), None);
            assert_eq!(e.lru(), 3);
            let mut buf = Vec::new();
            assert_eq!(string_bytes(&e.value(), &mut buf).unwrap(), v);
        }
        assert_eq!(db.dict.volatile_len(), 0);
    }

    #[test]
    fn encodings_follow_try_object_encoding() {
        let mut db = Db::new(0);
        let cases: [(&[u8], Encoding); 5] = [
            (b"12345", Encoding::Int),
            (b"-9223372036854775808", Encoding::Int),
            (b"012", Encoding::Embstr),
            (&[b'a'; 44], Encoding::Embstr),
            (&[b'a'; 45], Encoding::Raw),
        ];
        for (i, (v, enc)) in cases.iter().enumerate() {
            let e = db.insert(format!("k{i}").as_bytes(), string_value(v), None, 0);
            assert_eq!(e.encoding(), *enc, "{:?}", String::from_utf8_lossy(v));
        }
    }
}
