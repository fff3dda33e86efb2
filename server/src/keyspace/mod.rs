//! The keyspace: every db's keys, and the one path by which any key changes.
//!
//! - [`entry`] packs a key, its expire and its value into one allocation; [`dict`] is the
//!   hash table (incremental rehash, Redis's SCAN cursor) that owns entries. Both are private:
//!   raw entry pointers never leave this module.
//! - A lookup returns a [`KeyRef`], an opaque handle. Reading or changing the key goes through
//!   views borrowed from the [`Keyspace`]: [`Keyspace::get`] gives an [`Entry`] tied to `&self`,
//!   [`Keyspace::get_mut`] an [`EntryMut`] tied to `&mut self`, so the borrow checker forbids
//!   holding a value across any mutation. A handle itself is checked at run time: each db
//!   carries a generation bumped whenever one of its entries is unlinked or freed, and a
//!   handle from an older generation panics instead of touching freed memory (a bug, never a
//!   client's doing). Same-key commands (RENAME k k, COPY k k, LMOVE l l, SMOVE, ZUNIONSTORE
//!   dst among its sources) are therefore safe by construction.
//! - Every add, overwrite, delete, expiry, eviction, rename, move, copy, swapdb and flush is a
//!   [`Keyspace`] method, and each does, in Redis's order: (a) signal the modified key, (b)
//!   signal ready keys, (c) record the keyspace event, (d) hand a big value to the lazy-free
//!   thread under the `lazyfree-lazy-*` settings (Redis's free-effort rule), (e) keep per-key
//!   indexes current (per-slot key counts in cluster mode). (a)-(c) are queued in
//!   [`Signals`]; the server drains the queue after each handler (`Server::dispatch_signals`).
//!
//! Invariants:
//! - A key is present at most once; expired keys found by a lookup are unlinked at once and
//!   parked until the next drain (so handles taken earlier in the same command stay valid).
//! - Nothing here replies to clients or propagates: the server does, from [`Signals`].
//! - Every `unsafe` block of the server lives in this module, with its `SAFETY:` argument.
//!
//! Miri: `cargo +nightly miri test -p pyrope-server keyspace::` (see ARCHITECTURE.md).

mod dict;
mod entry;
pub mod fields;
pub mod signals;
pub mod skiplist;

use crate::object::{classify_string, Encoding, ObjType, StrEncoding, Value};
use dict::Dict;
pub use dict::ExpandError;
use entry::EntryPtr;
pub use entry::{NewValue, ValueRef};
pub use fields::FieldTable;
use signals::OwnedEntry;
pub use signals::{ev, notify, want, Ev, Signals};
pub use skiplist::SkipTable;
use std::marker::PhantomData;

/// Values whose freeing costs more than this many allocations go to the lazy-free thread when
/// the matching `lazyfree-lazy-*` setting is on (Redis `LAZYFREE_THRESHOLD`).
pub const LAZYFREE_THRESHOLD: usize = 64;

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

/// Why a key is deleted: selects the `lazyfree-lazy-*` setting that decides whether a big
/// value is freed on the lazy-free thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// DEL (`lazyfree-lazy-user-del`).
    UserDel,
    /// UNLINK: always lazy.
    Unlink,
    /// Implicit deletes by the server: overwrites, RENAME/COPY/MOVE targets, SET on an
    /// existing key, empty collections (`lazyfree-lazy-server-del`).
    Server,
    /// Expiry, lazy or active (`lazyfree-lazy-expire`): counted, "expired" event.
    Expire,
    /// EXPIRE/SET with a time already past: an ordinary delete ("del" event, not counted as
    /// expired) freed per `lazyfree-lazy-expire`.
    PastExpire,
    /// maxmemory eviction (`lazyfree-lazy-eviction`).
    Evict,
}

/// The `lazyfree-lazy-*` settings the mutation path obeys.
#[derive(Clone, Copy, Debug, Default)]
pub struct LazyFree {
    pub user_del: bool,
    pub server_del: bool,
    pub expire: bool,
    pub eviction: bool,
}

impl LazyFree {
    fn lazy(&self, why: Deletion) -> bool {
        match why {
            Deletion::UserDel => self.user_del,
            Deletion::Unlink => true,
            Deletion::Server => self.server_del,
            Deletion::Expire | Deletion::PastExpire => self.expire,
            Deletion::Evict => self.eviction,
        }
    }
}

/// A key found by a lookup: an opaque, copyable handle naming the db and the entry. Valid
/// until the next unlink or free in its db (checked on every use; see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct KeyRef {
    e: EntryPtr,
    db: u32,
    gen: u32,
}

impl KeyRef {
    /// The db index of the key.
    #[inline]
    pub fn db(self) -> usize {
        self.db as usize
    }
}

/// A read view of a key, borrowed from the keyspace.
pub struct Entry<'a> {
    e: EntryPtr,
    _ks: PhantomData<&'a Keyspace>,
}

impl<'a> Entry<'a> {
    #[inline]
    fn new(e: EntryPtr) -> Entry<'a> {
        Entry {
            e,
            _ks: PhantomData,
        }
    }

    /// The key bytes.
    #[inline]
    pub fn key(&self) -> &'a [u8] {
        // SAFETY: the entry is live for 'a: 'a is a shared borrow of the keyspace, and entries
        // are unlinked or freed only through `&mut Keyspace`.
        unsafe { self.e.key() }
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> ValueRef<'a> {
        // SAFETY: as `key`.
        unsafe { self.e.value() }
    }

    /// The absolute expire time in unix ms, if any.
    #[inline]
    pub fn expire(&self) -> Option<i64> {
        self.e.expire()
    }

    /// The value's type.
    #[inline]
    pub fn obj_type(&self) -> ObjType {
        self.e.obj_type()
    }

    /// The value's current encoding (derived from its representation).
    #[inline]
    pub fn encoding(&self) -> Encoding {
        self.e.encoding()
    }

    /// The 24-bit LRU/LFU field.
    #[inline]
    pub fn lru(&self) -> u32 {
        self.e.lru()
    }

    /// True if the value stands for one of Redis's shared integers.
    #[inline]
    pub fn is_shared(&self) -> bool {
        self.e.is_shared()
    }

    /// The entry's address (DEBUG OBJECT's `Value at:`).
    pub fn addr(&self) -> usize {
        self.e.as_ptr() as usize
    }

    /// Bytes of the entry allocation.
    pub fn alloc_size(&self) -> usize {
        self.e.alloc_size()
    }

    /// Heap bytes of the value beyond the entry.
    pub fn value_heap_size(&self) -> usize {
        self.e.value_heap_size()
    }
}

/// A write view of a key, borrowed exclusively from the keyspace. Changes made through it are
/// in place; the command then reports them with [`Keyspace::touched`].
pub struct EntryMut<'a> {
    e: EntryPtr,
    _ks: PhantomData<&'a mut Keyspace>,
}

impl<'a> EntryMut<'a> {
    /// The read view of the same entry.
    #[inline]
    pub fn as_entry(&self) -> Entry<'_> {
        Entry::new(self.e)
    }

    /// The boxed value, mutably (None for int and embstr strings).
    #[inline]
    pub fn value_mut(&mut self) -> Option<&mut Value> {
        // SAFETY: the entry is live and exclusively borrowed for the lifetime of `&mut self`,
        // which is within the keyspace's exclusive borrow 'a.
        unsafe { self.e.value_mut() }
    }

    /// Consumes the view into the boxed value, mutably for the whole borrow.
    #[inline]
    pub fn into_value_mut(self) -> Option<&'a mut Value> {
        // SAFETY: as `value_mut`, for 'a.
        unsafe { self.e.value_mut() }
    }

    /// Overwrites an int-stored value in place and sets its sharedness. Returns false (and
    /// changes nothing) if the value is not int-stored.
    #[inline]
    pub fn set_int(&mut self, v: i64, shared: bool) -> bool {
        if self.e.set_int_in_place(v) {
            self.e.set_shared(shared);
            true
        } else {
            false
        }
    }

    /// Sets the 24-bit LRU/LFU field.
    #[inline]
    pub fn set_lru(&mut self, v: u32) {
        self.e.set_lru(v)
    }
}

/// One database (`SELECT n`).
pub struct Db {
    /// The keys (private: every change goes through [`Keyspace`]).
    dict: Dict,
    /// Bumped on every unlink/free: handles of older generations are stale.
    gen: u32,
    /// Keys found expired by lookups, already unlinked, freed at the next drain.
    parked: Vec<EntryPtr>,
    /// Estimated average TTL of volatile keys in ms (INFO keyspace `avg_ttl`).
    pub avg_ttl: i64,
    /// Where the active-expire cycle resumes in the volatile list.
    pub expire_cursor: usize,
    /// Keys per hash slot, kept in cluster mode only (CLUSTER COUNTKEYSINSLOT in O(1)).
    slot_counts: Option<Box<[u32]>>,
    /// Hashes with field TTLs by the time their earliest field expires (Redis's per-db
    /// `hexpires`), walked by the active expiry of fields; see [`Hexpires`].
    hexpires: Hexpires,
}

/// The hashes of a db registered for the active expiry of fields (Redis `db->hexpires`):
/// (time, key) ordered, plus the time each key is registered with. A hash is registered with
/// its earliest field TTL when a command sets field TTLs ([`Keyspace::hfe_update`]); like
/// Redis's registration it may then lag behind (HPERSIST, HDEL, HSET do not update it) but
/// never runs ahead: a visit of the active expiry re-registers the hash at its true earliest
/// TTL or drops it. Deleting, renaming, moving, copying a key and flushing or swapping dbs
/// keep it current. Its size is INFO keyspace's `subexpiry`.
#[derive(Default)]
struct Hexpires {
    by_time: std::collections::BTreeSet<(i64, Box<[u8]>)>,
    by_key: std::collections::HashMap<Box<[u8]>, i64>,
}

impl Hexpires {
    fn set(&mut self, key: &[u8], at: Option<i64>) {
        if let Some(old) = self.by_key.get(key).copied() {
            if Some(old) == at {
                return;
            }
            self.by_time.remove(&(old, Box::from(key)));
            self.by_key.remove(key);
        }
        if let Some(t) = at {
            self.by_time.insert((t, Box::from(key)));
            self.by_key.insert(Box::from(key), t);
        }
    }

    #[inline]
    fn forget(&mut self, key: &[u8]) -> Option<i64> {
        if self.by_key.is_empty() {
            return None;
        }
        let t = self.by_key.remove(key)?;
        self.by_time.remove(&(t, Box::from(key)));
        Some(t)
    }

    fn first_due(&self, now_ms: i64) -> Option<Vec<u8>> {
        let (t, k) = self.by_time.first()?;
        (*t <= now_ms).then(|| k.to_vec())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Entries parked by lazy expiry since the last drain are unlinked: the dict's own
        // drop does not see them.
        for e in self.parked.drain(..) {
            // SAFETY: parked entries are unlinked, owned only by this list, freed once.
            unsafe { e.free() };
        }
    }
}

impl Db {
    fn new() -> Db {
        Db {
            dict: Dict::new(),
            gen: 0,
            parked: Vec::new(),
            avg_ttl: 0,
            expire_cursor: 0,
            slot_counts: None,
            hexpires: Hexpires::default(),
        }
    }

    /// Number of hashes registered for the active expiry of fields (INFO `subexpiry`).
    pub fn subexpiry(&self) -> usize {
        self.hexpires.by_key.len()
    }

    /// Number of keys (including not-yet-reclaimed expired ones, as DBSIZE in Redis).
    #[inline]
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True if the db has no keys.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Number of keys with a TTL.
    #[inline]
    pub fn volatile_len(&self) -> usize {
        self.dict.volatile_len()
    }

    /// Bytes of the hash table's own structures (buckets, overflow blocks, volatile list).
    pub fn overhead_bytes(&self) -> usize {
        self.dict.overhead_bytes()
    }

    /// True while the hash table is being resized.
    pub fn is_rehashing(&self) -> bool {
        self.dict.is_rehashing()
    }

    /// Keys in hash slot `slot` (cluster mode; None when slot counting is off).
    pub fn count_keys_in_slot(&self, slot: u16) -> Option<u32> {
        self.slot_counts.as_ref().map(|c| c[slot as usize])
    }

    #[inline]
    fn handle(&self, db: usize, e: EntryPtr) -> KeyRef {
        KeyRef {
            e,
            db: db as u32,
            gen: self.gen,
        }
    }

    #[inline]
    fn bump(&mut self) {
        self.gen = self.gen.wrapping_add(1);
    }

    /// Links a new entry (per-key indexes kept current); the table grows only within
    /// `headroom` bytes below load 1.618 (see `Keyspace::grow_headroom`).
    fn link(&mut self, e: EntryPtr, headroom: usize) {
        self.dict.grow_headroom = headroom;
        if let Some(c) = &mut self.slot_counts {
            // SAFETY: `e` is live (just allocated); the key is read before linking.
            c[pyrope_common::slot::key_slot(unsafe { e.key() }) as usize] += 1;
        }
        self.dict.insert(e);
    }

    /// Unlinks a linked entry (per-key indexes kept current).
    fn unlink(&mut self, e: EntryPtr) {
        if !self.hexpires.by_key.is_empty() {
            // SAFETY: `e` is linked, hence live.
            self.hexpires.forget(unsafe { e.key() });
        }
        self.dict.remove_entry(e);
        if let Some(c) = &mut self.slot_counts {
            // SAFETY: unlinked but not freed: still live.
            c[pyrope_common::slot::key_slot(unsafe { e.key() }) as usize] -= 1;
        }
        self.bump();
    }
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
    NewValue::Boxed(Box::new(Value::Str(v)))
}

/// Bytes of a string value, formatting integers into `buf`. None for other types.
pub fn string_bytes<'a>(v: &ValueRef<'a>, buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    match v {
        ValueRef::Int(i) => {
            buf.clear();
            pyrope_common::util::push_i64(buf, *i);
            Some(&buf[..])
        }
        ValueRef::Inline(b) => Some(b),
        ValueRef::Boxed(Value::Str(s)) => Some(&s[..]),
        ValueRef::Boxed(_) => None,
    }
}

/// Applies an LFU access to a 24-bit LFU field (16-bit minutes | 8-bit log counter), as Redis's
/// `updateLFU()`: decay by elapsed periods, then logarithmic increment.
pub fn lfu_touch(old: u32, minutes: u16, log_factor: u32, decay_time: u32) -> u32 {
    let ldt = (old >> 8) as u16;
    let mut counter = old & 0xff;
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

/// Result of one active-expire probe ([`Keyspace::expire_probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The key had expired and was deleted (the next key moved into the probed position).
    Expired,
    /// The key is live; its remaining TTL in ms.
    Live(i64),
}

/// Every db, and the signals their mutations produce.
pub struct Keyspace {
    dbs: Vec<Db>,
    /// What the mutation path recorded since the last drain.
    pub signals: Signals,
    /// The `lazyfree-lazy-*` settings.
    pub lazy: LazyFree,
    /// New small integers use Redis's shared objects (false when maxmemory is set with an
    /// LRU/LFU policy, as `canUseSharedObject()`).
    pub share_ints: bool,
    /// An LFU `maxmemory-policy` is set: an overwritten key keeps its LFU field (Redis's
    /// `dbSetValue`), so a rewritten hot key stays hot.
    pub keep_lfu: bool,
    /// Bytes that may still be allocated before used memory passes `maxmemory` (`usize::MAX`
    /// without a limit), set before each command: a db table does not double past it while
    /// its load factor is under 1.618 (Redis's `dictResizeAllowed` for the keyspace).
    pub grow_headroom: usize,
    /// Scratch space of [`Keyspace::evict_sample`] (kept to avoid an allocation per sample).
    sample_buf: Vec<EntryPtr>,
}

impl Keyspace {
    /// `n` empty dbs.
    pub fn new(n: usize) -> Keyspace {
        Keyspace {
            dbs: (0..n).map(|_| Db::new()).collect(),
            signals: Signals::default(),
            lazy: LazyFree::default(),
            share_ints: true,
            keep_lfu: false,
            grow_headroom: usize::MAX,
            sample_buf: Vec::new(),
        }
    }

    /// Number of dbs.
    #[inline]
    pub fn dbs(&self) -> usize {
        self.dbs.len()
    }

    /// Read access to db `i` (counts, stats, iteration).
    #[inline]
    pub fn db(&self, i: usize) -> &Db {
        &self.dbs[i]
    }

    /// The active-expire cycle's per-db state (avg TTL, cursor).
    #[inline]
    pub fn db_stats_mut(&mut self, i: usize) -> (&mut i64, &mut usize) {
        let d = &mut self.dbs[i];
        (&mut d.avg_ttl, &mut d.expire_cursor)
    }

    /// Starts keeping per-slot key counts in every db (cluster mode), counting existing keys.
    pub fn enable_slot_counts(&mut self) {
        for d in &mut self.dbs {
            let mut c = vec![0u32; 16384].into_boxed_slice();
            d.dict.for_each(|e| {
                // SAFETY: linked entries are live; the reference ends in this closure.
                c[pyrope_common::slot::key_slot(unsafe { e.key() }) as usize] += 1;
            });
            d.slot_counts = Some(c);
        }
    }

    #[inline]
    fn check(&self, h: KeyRef) -> EntryPtr {
        let d = &self.dbs[h.db as usize];
        assert!(
            h.gen == d.gen,
            "stale KeyRef: its db changed since the lookup"
        );
        h.e
    }

    /// The read view of a found key. Panics on a stale handle.
    #[inline]
    pub fn get(&self, h: KeyRef) -> Entry<'_> {
        Entry::new(self.check(h))
    }

    /// The write view of a found key. Panics on a stale handle.
    #[inline]
    pub fn get_mut(&mut self, h: KeyRef) -> EntryMut<'_> {
        EntryMut {
            e: self.check(h),
            _ks: PhantomData,
        }
    }

    /// Finds a live key. An expired key is a miss; if `may_delete` (we are a primary and
    /// expiry is not paused), it is deleted through the expiry path ("expired" event, DEL
    /// propagated at the next drain).
    #[inline]
    pub fn lookup(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: i64,
        may_delete: bool,
        touch: Touch,
    ) -> Option<KeyRef> {
        let d = &mut self.dbs[db];
        let e = d.dict.find(key)?;
        if let Some(when) = e.expire() {
            if when <= now_ms {
                if may_delete {
                    // Unlinked now but freed at the next drain, without a generation bump:
                    // handles taken earlier in this command stay valid.
                    d.dict.remove_entry(e);
                    if let Some(c) = &mut d.slot_counts {
                        c[pyrope_common::slot::key_slot(key) as usize] -= 1;
                    }
                    d.hexpires.forget(key);
                    d.parked.push(e);
                    self.expired_signals(db, key);
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
        Some(d.handle(db, e))
    }

    /// Finds a key without expiring, touching or counting anything (DEBUG, digest).
    pub fn peek(&self, db: usize, key: &[u8]) -> Option<Entry<'_>> {
        self.dbs[db].dict.get(key).map(Entry::new)
    }

    /// Signals of a key deleted by expiry: modified, "expired" event, counted.
    fn expired_signals(&mut self, db: usize, key: &[u8]) {
        let s = &mut self.signals;
        s.modified(db, key, false);
        s.event(db, ev::EXPIRED, key);
        s.expired(db, key);
    }

    /// Frees an unlinked entry now, or on the lazy-free thread when `why`'s setting asks for it
    /// and the value is big (`freeObjAsync`'s rule).
    fn free_unlinked(&mut self, e: EntryPtr, why: Deletion) {
        if self.lazy.lazy(why) && e.free_effort() > LAZYFREE_THRESHOLD {
            self.signals.to_free.push(Box::new(OwnedEntry(e)));
            self.signals.pending = true;
        } else {
            // SAFETY: `e` was just unlinked by the caller and is not used again.
            unsafe { e.free() }
        }
    }

    #[inline]
    fn shared(&self, v: &NewValue) -> bool {
        matches!(v, NewValue::Int(i) if self.share_ints && shareable(*i))
    }

    /// Adds a key known to be absent (`dbAdd`): ready-key and "new" signals, then the modified
    /// key and `ev` if given.
    pub fn add(
        &mut self,
        db: usize,
        key: &[u8],
        value: NewValue,
        expire: Option<i64>,
        lru: u32,
        ev: Option<Ev>,
    ) -> KeyRef {
        let shared = self.shared(&value);
        let e = EntryPtr::alloc(key, value, expire, lru);
        e.set_shared(shared);
        let d = &mut self.dbs[db];
        d.link(e, self.grow_headroom);
        let h = d.handle(db, e);
        let s = &mut self.signals;
        s.modified(db, key, true);
        s.ready(db, key);
        s.event(db, ev::NEW, key);
        if let Some(ev) = ev {
            s.event(db, ev, key);
        }
        h
    }

    /// Replaces the value of a found key (`dbSetValue` with overwrite): the old value is freed
    /// (lazily under `lazyfree-lazy-server-del` when big). Under an LFU policy the key keeps
    /// its LFU field whatever `lru` says. Returns the new handle.
    pub fn overwrite(
        &mut self,
        h: KeyRef,
        value: NewValue,
        expire: Option<i64>,
        lru: u32,
        ev: Option<Ev>,
    ) -> KeyRef {
        let old = self.check(h);
        let db = h.db();
        let lru = if self.keep_lfu { old.lru() } else { lru };
        let shared = self.shared(&value);
        // SAFETY: `old` is live (checked handle); the key is copied by `alloc` before `old`
        // is freed below.
        let e = EntryPtr::alloc(unsafe { old.key() }, value, expire, lru);
        e.set_shared(shared);
        let lazy = self.lazy.lazy(Deletion::Server) && old.free_effort() > LAZYFREE_THRESHOLD;
        let taken = if lazy { old.take_boxed() } else { None };
        let d = &mut self.dbs[db];
        // SAFETY: `old` is live until `replace` below.
        d.hexpires.forget(unsafe { old.key() });
        d.dict.replace(old, e);
        d.bump();
        let h = d.handle(db, e);
        if let Some(v) = taken {
            // The shell was freed by `replace` (its value was moved out by take_boxed).
            self.signals.to_free.push(v);
            self.signals.pending = true;
        }
        // SAFETY: `e` is live and linked; the reference ends within these calls.
        let key = unsafe { e.key() };
        let s = &mut self.signals;
        s.modified(db, key, true);
        s.ready(db, key);
        if let Some(ev) = ev {
            s.event(db, ev, key);
        }
        h
    }

    /// Sets `key` to `value` whether or not it exists (`setKey`): `existing` is the handle of
    /// a lookup of the same key in this command; `keep_ttl` keeps its expire (SET KEEPTTL),
    /// otherwise `expire` applies.
    #[allow(clippy::too_many_arguments)]
    pub fn set(
        &mut self,
        db: usize,
        key: &[u8],
        existing: Option<KeyRef>,
        value: NewValue,
        expire: Option<i64>,
        keep_ttl: bool,
        lru: u32,
        ev: Option<Ev>,
    ) -> KeyRef {
        match existing {
            Some(h) => {
                let exp = if keep_ttl {
                    self.get(h).expire()
                } else {
                    expire
                };
                self.overwrite(h, value, exp, lru, ev)
            }
            None => self.add(db, key, value, expire, lru, ev),
        }
    }

    /// Gives a found key a new expire (None removes it), keeping key, value and LRU; `ev` is
    /// reported ("expire", "persist"). Returns the live handle.
    pub fn set_expire(&mut self, h: KeyRef, expire: Option<i64>, ev: Option<Ev>) -> KeyRef {
        let e = self.check(h);
        let db = h.db();
        let d = &mut self.dbs[db];
        let h = match (e.has_expire(), expire) {
            (true, Some(when)) => {
                e.set_expire_in_place(when);
                h
            }
            (false, None) => h,
            _ => {
                let lru = e.lru();
                // SAFETY: `e` is live until `replace` below frees it; the key and inline bytes
                // are copied by `alloc` first, and a boxed value is moved out before.
                let new = unsafe {
                    match e.value() {
                        ValueRef::Int(v) => EntryPtr::alloc(e.key(), NewValue::Int(v), expire, lru),
                        ValueRef::Inline(b) => {
                            EntryPtr::alloc(e.key(), NewValue::Inline(b), expire, lru)
                        }
                        ValueRef::Boxed(_) => {
                            let boxed = e.take_boxed().expect("boxed value");
                            EntryPtr::alloc(e.key(), NewValue::Boxed(boxed), expire, lru)
                        }
                    }
                };
                new.set_shared(e.is_shared());
                d.dict.replace(e, new);
                d.bump();
                d.handle(db, new)
            }
        };
        // SAFETY: the live entry of `h`; the reference ends within these calls.
        let key = unsafe { h.e.key() };
        self.signals.modified(db, key, true);
        if let Some(ev) = ev {
            self.signals.event(db, ev, key);
        }
        h
    }

    /// Deletes a found key (`dbGenericDelete`): modified key, then `ev` if given ("del" for
    /// DEL/UNLINK/GETDEL; commands that report their own event pass None), then the free,
    /// lazy per `why`.
    pub fn delete(&mut self, h: KeyRef, why: Deletion, ev: Option<Ev>) {
        let e = self.check(h);
        let db = h.db();
        self.dbs[db].unlink(e);
        // SAFETY: unlinked, not yet freed: live until `free_unlinked` below.
        let key = unsafe { e.key() };
        let s = &mut self.signals;
        s.modified(db, key, false);
        // `signalDeletedKeyAsReady`: waiters that wake on a missing key (XREADGROUP).
        s.ready(db, key);
        if let Some(ev) = ev {
            s.event(db, ev, key);
        }
        if why == Deletion::Expire {
            s.event(db, ev::EXPIRED, key);
            s.expired(db, key);
        }
        self.free_unlinked(e, why);
    }

    /// Reports an in-place change of a found key (APPEND, SETRANGE, INCR in place, collection
    /// edits): modified key, ready key, `ev`.
    pub fn touched(&mut self, h: KeyRef, ev: Ev) {
        let e = self.check(h);
        // SAFETY: live entry; the reference ends within these calls.
        let key = unsafe { e.key() };
        let db = h.db();
        let s = &mut self.signals;
        s.modified(db, key, true);
        s.ready(db, key);
        s.event(db, ev, key);
    }

    /// Signals a found key as ready for its blocked clients without reporting a change
    /// (`signalKeyAsReady` alone: XGROUP DESTROY wakes XREADGROUP waiters).
    pub fn touched_ready(&mut self, h: KeyRef) {
        let e = self.check(h);
        // SAFETY: live entry; the reference ends within this call.
        let key = unsafe { e.key() };
        self.signals.ready(h.db(), key);
    }

    /// Reports an in-place change of a found key that sends its own events (modified key
    /// only).
    pub fn touched_quiet(&mut self, h: KeyRef) {
        let e = self.check(h);
        // SAFETY: live entry; the reference ends within this call.
        let key = unsafe { e.key() };
        self.signals.modified(h.db(), key, true);
    }

    /// Records one more event for `key` (a command reporting two: SET EX gives "set" then
    /// "expire"; `keymiss` for read misses).
    #[inline]
    pub fn notify(&mut self, db: usize, ev: Ev, key: &[u8]) {
        self.signals.event(db, ev, key);
    }

    /// Moves the value of `src` under `dst_key` in `dst_db` (RENAME: same db, MOVE: another),
    /// deleting `dst_existing` first (server-del). The value moves without a copy; expire, LRU
    /// and sharedness go with it. Events: `from` on the source key, `to` on the destination.
    /// Returns the destination handle. `src` and `dst_existing` must not be the same key
    /// (callers answer RENAME k k before getting here).
    pub fn rename(
        &mut self,
        src: KeyRef,
        dst_db: usize,
        dst_key: &[u8],
        dst_existing: Option<KeyRef>,
        from: Ev,
        to: Ev,
    ) -> KeyRef {
        let e = self.check(src);
        if let Some(d) = dst_existing {
            assert!(
                self.check(d) != e,
                "rename onto itself must be answered by the caller"
            );
            self.delete(d, Deletion::Server, None);
        }
        let src_db = src.db();
        // SAFETY: `e` is linked (checked handle).
        let hfe = self.dbs[src_db].hexpires.forget(unsafe { e.key() });
        self.dbs[src_db].unlink(e);
        let (exp, lru, shared) = (e.expire(), e.lru(), e.is_shared());
        // SAFETY: `e` is unlinked and live until freed at the end; inline bytes are copied by
        // `alloc` before that, and a boxed value is moved out first.
        let n = unsafe {
            match e.value() {
                ValueRef::Int(v) => EntryPtr::alloc(dst_key, NewValue::Int(v), exp, lru),
                ValueRef::Inline(b) => EntryPtr::alloc(dst_key, NewValue::Inline(b), exp, lru),
                ValueRef::Boxed(_) => {
                    let v = e.take_boxed().expect("boxed value");
                    EntryPtr::alloc(dst_key, NewValue::Boxed(v), exp, lru)
                }
            }
        };
        n.set_shared(shared);
        // SAFETY: copies of the key are made before the free.
        let src_key = unsafe { e.key() }.to_vec();
        // SAFETY: unlinked, not used again (a taken boxed value left a null pointer).
        unsafe { e.free() };
        let d = &mut self.dbs[dst_db];
        d.link(n, self.grow_headroom);
        if hfe.is_some() {
            d.hexpires.set(dst_key, hfe);
        }
        let h = d.handle(dst_db, n);
        let s = &mut self.signals;
        s.modified(src_db, &src_key, false);
        s.modified(dst_db, dst_key, true);
        s.ready(dst_db, dst_key);
        // Then `dbDelete` of the source: `signalDeletedKeyAsReady` (an XREADGROUP waiting on
        // the source wakes and finds its group gone).
        s.ready(src_db, &src_key);
        // Redis's `dbAdd` of the destination announces a new key before the move events.
        s.event(dst_db, ev::NEW, dst_key);
        s.event(src_db, from, &src_key);
        s.event(dst_db, to, dst_key);
        h
    }

    /// Links under `dst_key` in `dst_db` a deep copy of `src`'s value with its expire (COPY),
    /// replacing `dst_existing` (server-del). The copy is a new object, never a shared integer
    /// (`dupStringObject`), with a new key's LRU/LFU field `lru` (createObject's). Event:
    /// "copy_to" on the destination. Returns the new handle.
    pub fn copy(
        &mut self,
        src: KeyRef,
        dst_db: usize,
        dst_key: &[u8],
        dst_existing: Option<KeyRef>,
        lru: u32,
    ) -> KeyRef {
        let e = self.check(src);
        if let Some(d) = dst_existing {
            assert!(
                self.check(d) != e,
                "copy onto itself must be answered by the caller"
            );
            self.delete(d, Deletion::Server, None);
        }
        // `delete` bumped the destination db's generation: re-read the source handle's entry
        // through its pointer, which deleting a different key cannot have freed.
        let exp = e.expire();
        // SAFETY: `e` is linked (another key was deleted, never this one) and the value is
        // copied or cloned by `alloc` before anything else changes.
        let n = unsafe {
            match e.value() {
                ValueRef::Int(v) => EntryPtr::alloc(dst_key, NewValue::Int(v), exp, lru),
                ValueRef::Inline(b) => EntryPtr::alloc(dst_key, NewValue::Inline(b), exp, lru),
                ValueRef::Boxed(v) => {
                    EntryPtr::alloc(dst_key, NewValue::Boxed(Box::new(v.clone())), exp, lru)
                }
            }
        };
        // SAFETY: `e` is linked (see above).
        let hfe = self.dbs[src.db()]
            .hexpires
            .by_key
            .get(unsafe { e.key() })
            .copied();
        let d = &mut self.dbs[dst_db];
        d.link(n, self.grow_headroom);
        if hfe.is_some() {
            d.hexpires.set(dst_key, hfe);
        }
        let h = d.handle(dst_db, n);
        let s = &mut self.signals;
        s.modified(dst_db, dst_key, true);
        s.ready(dst_db, dst_key);
        s.event(dst_db, ev::NEW, dst_key);
        s.event(dst_db, ev::COPY_TO, dst_key);
        h
    }

    /// Deletes every key of `db`, returning how many there were and the old table (for the
    /// caller to drop here or hand to the lazy-free thread: FLUSHDB / FLUSHALL ASYNC).
    /// WATCH needs the keys still there: callers run `multi::touch_all_watched_keys_in_db`
    /// first (Redis's `signalFlushedDb`).
    pub fn flush_db(&mut self, db: usize) -> (usize, impl Send) {
        let d = &mut self.dbs[db];
        let old = std::mem::take(&mut d.dict);
        d.avg_ttl = 0;
        d.expire_cursor = 0;
        d.hexpires = Hexpires::default();
        if let Some(c) = &mut d.slot_counts {
            c.fill(0);
        }
        d.bump();
        self.signals.flushed(db);
        if self.signals.want & want::MODIFIED != 0 {
            self.signals.flush_happened = true;
        }
        (old.len(), old)
    }

    /// Swaps the contents of two dbs (SWAPDB): every key of both counts as modified, and keys
    /// that blocked clients wait for may now be there. The caller runs
    /// `multi::touch_all_watched_keys_in_db` for both dbs first (it compares them).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(hi);
        let (x, y) = (&mut left[lo], &mut right[0]);
        std::mem::swap(&mut x.dict, &mut y.dict);
        std::mem::swap(&mut x.avg_ttl, &mut y.avg_ttl);
        std::mem::swap(&mut x.slot_counts, &mut y.slot_counts);
        std::mem::swap(&mut x.hexpires, &mut y.hexpires);
        x.expire_cursor = 0;
        y.expire_cursor = 0;
        x.bump();
        y.bump();
        self.signals.flushed(a);
        self.signals.flushed(b);
    }

    /// Registers the hash at `h` for the active expiry of fields at its earliest field TTL, or
    /// drops it when no field has one (`updateGlobalHfeDs`, without Redis's 17-minute
    /// hysteresis: the registration is exact). Called by the commands that set field TTLs.
    pub fn hfe_update(&mut self, h: KeyRef) {
        let e = self.check(h);
        let at = match Entry::new(e).value() {
            ValueRef::Boxed(Value::Hash(hv)) => hv.min_expire(),
            _ => None,
        };
        // SAFETY: live entry; the key is copied by `set`.
        self.dbs[h.db()].hexpires.set(unsafe { e.key() }, at);
    }

    /// The time the hash at `key` of `db` is registered with for the active expiry of fields,
    /// if it is (Redis's non-accurate `hashTypeGetMinExpire(o, 0)`, which may lag behind:
    /// RDB files and DUMP payloads carry it as the hash's minimum field TTL).
    pub fn hfe_registered(&self, db: usize, key: &[u8]) -> Option<i64> {
        let by_key = &self.dbs[db].hexpires.by_key;
        if by_key.is_empty() {
            return None;
        }
        by_key.get(key).copied()
    }

    /// Records hash fields of `key` deleted by their TTL (lazily, by a command): counted in
    /// `expired_subkeys`, propagated as `HDEL key field` each; the key counts as modified.
    /// The `hexpired` event is the caller's (Redis sends one per command, or none).
    pub fn fields_expired(&mut self, db: usize, key: &[u8], fields: Vec<Vec<u8>>) {
        let s = &mut self.signals;
        s.modified(db, key, true);
        for f in fields {
            s.field_expired(db, key, f);
        }
    }

    /// The active expiry of hash fields in `db` (`hashTypeDbActiveExpire`): visits the
    /// registered hashes whose earliest field TTL is `<= now_ms`, earliest first, deleting
    /// up to `quota` expired fields in all (a big hash is expired over several calls); each
    /// visited hash gets one `hexpired` event and is re-registered at its next field TTL,
    /// dropped when it has none, and deleted ("del") when it is left empty. Returns the
    /// number of fields deleted.
    pub fn active_expire_fields(&mut self, db: usize, now_ms: i64, quota: usize) -> usize {
        let mut done = 0;
        while done < quota {
            let Some(key) = self.dbs[db].hexpires.first_due(now_ms) else {
                break;
            };
            let Some(e) = self.dbs[db].dict.find(&key) else {
                self.dbs[db].hexpires.forget(&key);
                continue;
            };
            let h = self.dbs[db].handle(db, e);
            let mut names = Vec::new();
            let (next, empty) = match self.get_mut(h).into_value_mut() {
                Some(Value::Hash(hv)) => {
                    done += hv.expire_fields(now_ms, quota - done, &mut names);
                    (hv.min_expire(), hv.is_empty())
                }
                _ => (None, false),
            };
            if !names.is_empty() {
                self.fields_expired(db, &key, names);
                self.signals.event(db, ev::HEXPIRED, &key);
            }
            if empty {
                self.delete(h, Deletion::Server, Some(ev::DEL));
            } else {
                self.dbs[db].hexpires.set(&key, next);
            }
        }
        done
    }

    /// True if `db` has hashes registered for the active expiry of fields.
    pub fn has_hexpires(&self, db: usize) -> bool {
        !self.dbs[db].hexpires.by_key.is_empty()
    }

    /// One active-expire probe at position `i` of `db`'s volatile list (wrapped): a key whose
    /// TTL has passed is deleted through the expiry path.
    pub fn expire_probe(&mut self, db: usize, i: usize, now_ms: i64) -> Probe {
        let d = &self.dbs[db];
        let e = d.dict.volatile_at(i % d.dict.volatile_len());
        let when = e.expire().unwrap_or(i64::MAX);
        if when > now_ms {
            return Probe::Live(when - now_ms);
        }
        let h = d.handle(db, e);
        self.delete(h, Deletion::Expire, None);
        Probe::Expired
    }

    /// Calls `f` with up to `count` keys of `db` sampled for the eviction pool (evict.c's
    /// `evictionPoolPopulate`): from the whole db as Redis's `dictGetSomeKeys`, or, when
    /// `volatile`, from the keys with a TTL (Redis samples `db->expires`). Nothing is touched.
    pub fn evict_sample(
        &mut self,
        db: usize,
        volatile: bool,
        count: usize,
        mut f: impl FnMut(Entry<'_>),
    ) {
        let mut buf = std::mem::take(&mut self.sample_buf);
        let d = &mut self.dbs[db].dict;
        if volatile {
            d.some_volatile(count, &mut buf);
        } else {
            d.some_keys(count, &mut buf);
        }
        for &e in &buf {
            f(Entry::new(e));
        }
        buf.clear();
        self.sample_buf = buf;
    }

    /// Finds a key chosen from the eviction pool, without expiring or touching it: None when
    /// it is gone (a "ghost"), or when `volatile` and it no longer has a TTL.
    pub fn evict_find(&mut self, db: usize, key: &[u8], volatile: bool) -> Option<KeyRef> {
        let d = &mut self.dbs[db];
        let e = d.dict.find(key)?;
        if volatile && !e.has_expire() {
            return None;
        }
        Some(d.handle(db, e))
    }

    /// A random key of `db`, or of its keys with a TTL when `volatile` (the random eviction
    /// policies' `dictGetRandomKey`), without expiring or touching it.
    pub fn evict_random(&mut self, db: usize, volatile: bool) -> Option<KeyRef> {
        let d = &mut self.dbs[db];
        let e = if volatile {
            let n = d.dict.volatile_len();
            if n == 0 {
                return None;
            }
            d.dict.volatile_at(fastrand::usize(..n))
        } else {
            d.dict.random()?
        };
        Some(d.handle(db, e))
    }

    /// A random key of `db` (`dbRandomKey` without the expiry loop), or None if empty.
    pub fn random(&mut self, db: usize) -> Option<KeyRef> {
        let d = &mut self.dbs[db];
        let e = d.dict.random()?;
        Some(d.handle(db, e))
    }

    /// One SCAN step over `db` from `cursor` (Redis's `dictScan` guarantee); calls `f` with
    /// every key of the visited buckets and returns the next cursor (0 = done).
    pub fn scan<'a>(&'a self, db: usize, cursor: u64, mut f: impl FnMut(Entry<'a>)) -> u64 {
        self.dbs[db].dict.scan(cursor, |e| f(Entry::new(e)))
    }

    /// Calls `f` with every key of `db`.
    pub fn for_each<'a>(&'a self, db: usize, mut f: impl FnMut(Entry<'a>)) {
        self.dbs[db].dict.for_each(|e| f(Entry::new(e)))
    }

    /// Pre-sizes `db`'s table for `n` keys (DEBUG POPULATE, RDB loading).
    pub fn try_expand(&mut self, db: usize, n: usize) -> Result<(), ExpandError> {
        self.dbs[db].dict.try_expand(n)
    }

    /// Cron work on the tables: shrink sparse ones, then (with `activerehashing`) rehash the
    /// first resizing table for up to `rehash` (Redis `databasesCron`). Nothing shrinks while
    /// resizing is paused (a fork child shares pages).
    pub fn cron_resize(&mut self, rehash: Option<std::time::Duration>) {
        for d in &mut self.dbs {
            d.dict.resize_if_needed();
        }
        let Some(budget) = rehash else { return };
        for d in &mut self.dbs {
            if d.dict.is_rehashing() {
                d.dict.rehash_for(budget);
                break;
            }
        }
    }

    /// Pauses or resumes table resizing (while a fork child shares pages): of every dict
    /// this thread owns, the dbs' and the collections' tables alike, as Redis's global
    /// `dict_can_resize` (`dict::set_resize_avoid`).
    pub fn set_resize_paused(&mut self, paused: bool) {
        dict::set_resize_avoid(paused);
    }

    /// Frees the entries parked by lazy expiry (call at each drain).
    pub fn free_parked(&mut self) {
        for i in 0..self.dbs.len() {
            if self.dbs[i].parked.is_empty() {
                continue;
            }
            let parked = std::mem::take(&mut self.dbs[i].parked);
            self.dbs[i].bump();
            for e in parked {
                self.free_unlinked(e, Deletion::Expire);
            }
        }
    }

    /// Takes the values waiting for the lazy-free thread (each counts as one object).
    pub fn take_lazy_frees(&mut self) -> Vec<Box<dyn Send>> {
        std::mem::take(&mut self.signals.to_free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> Keyspace {
        Keyspace::new(2)
    }

    fn val(ks: &Keyspace, h: KeyRef) -> Vec<u8> {
        let mut buf = Vec::new();
        string_bytes(&ks.get(h).value(), &mut buf).unwrap().to_vec()
    }

    #[test]
    fn lazy_expiry_parks_and_misses() {
        let mut ks = ks();
        ks.signals.want = want::EXPIRED_KEYS;
        ks.add(0, b"a", string_value(b"1"), Some(100), 0, None);
        ks.add(0, b"b", string_value(b"hello"), None, 0, None);
        let hb = ks.lookup(0, b"b", 100, true, Touch::No).unwrap();
        assert!(ks.lookup(0, b"a", 50, true, Touch::No).is_some());
        assert!(
            ks.lookup(0, b"a", 100, false, Touch::No).is_none(),
            "replica: miss, keep"
        );
        assert_eq!(ks.db(0).len(), 2);
        assert!(ks.lookup(0, b"a", 100, true, Touch::No).is_none());
        assert_eq!(ks.db(0).len(), 1);
        assert_eq!(
            val(&ks, hb),
            b"hello",
            "earlier handles survive lazy expiry"
        );
        assert_eq!(ks.signals.expired, vec![(0, b"a".to_vec())]);
        assert_eq!(ks.signals.expired_count, 1);
        ks.free_parked();
        assert!(ks.db(0).parked.is_empty());
    }

    #[test]
    #[should_panic(expected = "stale KeyRef")]
    fn a_handle_does_not_survive_a_delete() {
        let mut ks = ks();
        let a = ks.add(0, b"a", string_value(b"1"), None, 0, None);
        let b = ks.add(0, b"b", string_value(b"2"), None, 0, None);
        ks.delete(b, Deletion::UserDel, Some(ev::DEL));
        let _ = ks.get(a);
    }

    #[test]
    fn expire_changes_keep_value() {
        let mut ks = ks();
        let long = vec![b'x'; 100];
        for (k, v) in [(&b"i"[..], &b"42"[..]), (b"e", b"short"), (b"r", &long[..])] {
            let h = ks.add(0, k, string_value(v), None, 3, None);
            let h = ks.set_expire(h, Some(1000), None);
            assert_eq!(ks.get(h).expire(), Some(1000));
            let h = ks.set_expire(h, Some(2000), None);
            assert_eq!(ks.get(h).expire(), Some(2000));
            let h = ks.set_expire(h, None, None);
            assert_eq!(ks.get(h).expire(), None);
            assert_eq!(ks.get(h).lru(), 3);
            assert_eq!(val(&ks, h), v);
        }
        assert_eq!(ks.db(0).volatile_len(), 0);
    }

    #[test]
    fn encodings_follow_try_object_encoding() {
        let mut ks = ks();
        let cases: [(&[u8], Encoding); 5] = [
            (b"12345", Encoding::Int),
            (b"-9223372036854775808", Encoding::Int),
            (b"012", Encoding::Embstr),
            (&[b'a'; 44], Encoding::Embstr),
            (&[b'a'; 45], Encoding::Raw),
        ];
        for (i, (v, enc)) in cases.iter().enumerate() {
            let h = ks.add(
                0,
                format!("k{i}").as_bytes(),
                string_value(v),
                None,
                0,
                None,
            );
            assert_eq!(
                ks.get(h).encoding(),
                *enc,
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn a_modified_key_observer_sees_every_write() {
        let mut ks = ks();
        ks.signals.want =
            want::MODIFIED | want::READY | (notify::ALL | notify::NEW | notify::KEYSPACE) as u64;
        let a = ks.add(0, b"a", string_value(b"1"), None, 0, Some(ev::SET));
        let a = ks.overwrite(a, string_value(b"2"), None, 0, Some(ev::SET));
        let a = ks.set_expire(a, Some(10), Some(ev::EXPIRE));
        ks.touched(a, ev::INCRBY);
        let b = ks.rename(a, 1, b"b", None, ev::MOVE_FROM, ev::MOVE_TO);
        let c = ks.copy(b, 1, b"c", None, 0);
        ks.delete(c, Deletion::UserDel, Some(ev::DEL));
        let b = ks.lookup(1, b"b", 0, true, Touch::No).unwrap();
        assert!(ks.expire_probe(1, 0, 10) == Probe::Expired);
        let _ = b;
        ks.add(0, b"z", string_value(b"1"), None, 0, None);
        ks.flush_db(0);
        ks.swap_dbs(0, 1);
        let m: Vec<(usize, &[u8], bool)> = ks
            .signals
            .modified
            .iter()
            .map(|(d, k, e)| (*d, &k[..], *e))
            .collect();
        // The third field: the key is in the db right after the change.
        assert_eq!(
            m,
            vec![
                (0, &b"a"[..], true),
                (0, b"a", true),
                (0, b"a", true),
                (0, b"a", true),
                (0, b"a", false),
                (1, b"b", true),
                (1, b"c", true),
                (1, b"c", false),
                (1, b"b", false),
                (0, b"z", true),
            ]
        );
        assert_eq!(ks.signals.flushed, vec![0, 0, 1]);
        let evs: Vec<(usize, &str, &[u8])> = ks
            .signals
            .events
            .iter()
            .map(|e| (e.db, e.ev.name, &e.key[..]))
            .collect();
        assert_eq!(
            evs,
            vec![
                (0, "new", &b"a"[..]),
                (0, "set", b"a"),
                (0, "set", b"a"),
                (0, "expire", b"a"),
                (0, "incrby", b"a"),
                (1, "new", b"b"),
                (0, "move_from", b"a"),
                (1, "move_to", b"b"),
                (1, "new", b"c"),
                (1, "copy_to", b"c"),
                (1, "del", b"c"),
                (1, "expired", b"b"),
                (0, "new", b"z"),
            ]
        );
        assert_eq!(ks.signals.expired_count, 1);
    }

    #[test]
    fn nobody_listening_records_nothing() {
        let mut ks = ks();
        let a = ks.add(0, b"a", string_value(b"1"), None, 0, Some(ev::SET));
        ks.touched(a, ev::INCRBY);
        ks.delete(a, Deletion::UserDel, Some(ev::DEL));
        assert!(!ks.signals.pending);
        assert!(ks.signals.events.is_empty() && ks.signals.modified.is_empty());
    }

    #[test]
    fn same_key_moves_are_safe() {
        // RENAME k k and COPY k k are answered before the keyspace; MOVE to the same db is
        // refused by the command. What reaches the keyspace with the same key in another db
        // must keep both values intact.
        let mut ks = ks();
        let a0 = ks.add(0, b"k", string_value(&[b'v'; 100]), None, 0, None);
        let a1 = ks.add(1, b"k", string_value(b"other"), None, 0, None);
        let c = ks.copy(a0, 1, b"k", Some(a1), 0);
        assert_eq!(val(&ks, c), vec![b'v'; 100]);
        let a0 = ks.lookup(0, b"k", 0, true, Touch::No).unwrap();
        assert_eq!(val(&ks, a0), vec![b'v'; 100]);
        let c = ks.lookup(1, b"k", 0, true, Touch::No).unwrap();
        let r = ks.rename(c, 1, b"k2", None, ev::RENAME_FROM, ev::RENAME_TO);
        assert_eq!(val(&ks, r), vec![b'v'; 100]);
        ks.swap_dbs(0, 0);
        ks.swap_dbs(0, 1);
        let k2 = ks.lookup(0, b"k2", 0, true, Touch::No).unwrap();
        assert_eq!(val(&ks, k2), vec![b'v'; 100]);
    }

    #[test]
    fn slot_counts_follow_every_change() {
        let mut ks = ks();
        ks.add(0, b"{a}1", string_value(b"1"), None, 0, None);
        ks.enable_slot_counts();
        let slot = pyrope_common::slot::key_slot(b"a");
        assert_eq!(ks.db(0).count_keys_in_slot(slot), Some(1));
        let h = ks.add(0, b"{a}2", string_value(b"1"), Some(5), 0, None);
        assert_eq!(ks.db(0).count_keys_in_slot(slot), Some(2));
        ks.rename(h, 1, b"{a}3", None, ev::MOVE_FROM, ev::MOVE_TO);
        assert_eq!(ks.db(0).count_keys_in_slot(slot), Some(1));
        assert_eq!(ks.db(1).count_keys_in_slot(slot), Some(1));
        assert!(ks.lookup(1, b"{a}3", 10, true, Touch::No).is_none());
        assert_eq!(ks.db(1).count_keys_in_slot(slot), Some(0));
        ks.flush_db(0);
        assert_eq!(ks.db(0).count_keys_in_slot(slot), Some(0));
    }

    #[test]
    fn big_values_go_to_the_lazy_free_queue_only_when_asked() {
        let mut ks = ks();
        // Strings have a free effort of 1: never lazy (Redis frees them inline too).
        ks.lazy.user_del = true;
        let h = ks.add(0, b"s", string_value(&[b'x'; 1000]), None, 0, None);
        ks.delete(h, Deletion::UserDel, None);
        assert!(ks.signals.to_free.is_empty());
    }
}
