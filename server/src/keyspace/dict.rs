//! The keyspace dict: a hash table of pointer-sized items (keyspace entries today; the fields
//! of big hashes, sets and zsets with their H/S/ZSCAN later) with Redis's incremental
//! rehashing and Redis's SCAN cursor (dict.c), laid out for memory per key. Generic over
//! [`DictItem`]: anything that is one 8-byte-aligned pointer to an allocation carrying its key
//! (and, if it can expire, its index in the volatile list).
//!
//! - Each bucket is one 8-byte slot: empty, a pointer to the single entry of the bucket, or
//!   (low bit set) a pointer to a small overflow block `{len, cap, entries...}` when several
//!   keys collide. Entries therefore carry no chain pointer; at Redis's load factor of ~1, three
//!   buckets in four hold at most one key, and a collision costs one 32-byte block for up to
//!   three keys.
//! - Two tables during a resize; every lookup/insert/delete moves one bucket (`rehash_step`)
//!   and the cron moves more for up to 1 ms (`rehash_for`), so a resize of a table with
//!   millions of keys never stalls the event loop.
//! - Grows at load factor 1 to the next power of two, shrinks when under 1/8 full (Redis 7.4
//!   `HASHTABLE_MIN_FILL`), like Redis; resizing can be paused (during fork snapshots).
//! - [`Dict::scan`] walks buckets with the reverse-binary cursor of `dictScan()`, which
//!   guarantees that every key present for the whole scan is returned at least once, even
//!   across resizes (keys never move between buckets of one table).
//! - Keys with a TTL are also listed in `volatile` (each entry stores its index there), giving
//!   the active-expire cycle O(1) sampling without a second hash table.
//!
//! Invariant: the dict owns every item linked into it; an item obtained from it is valid until
//! the next call that takes `&mut self`. The dict is private to `keyspace/`; `Db` turns items
//! into borrow-checked views.

use super::entry::EntryPtr;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// What a [`Dict`] holds: a handle to a separately allocated item that carries its key and,
/// if it can expire, its position in the dict's volatile list.
///
/// # Safety
/// Implementors must be `#[repr(transparent)]` over a non-null, 8-byte-aligned pointer (the
/// dict stores items in tagged 8-byte slots and reads a slot as a one-item slice), and every
/// method must be callable on an item from its creation until [`DictItem::free_item`].
pub(crate) unsafe trait DictItem: Copy + Eq + Send {
    /// The item's key.
    ///
    /// # Safety
    /// The item must stay live for `'a`.
    unsafe fn item_key<'a>(self) -> &'a [u8];
    /// True if the item is listed in the volatile list.
    fn has_expire(self) -> bool;
    /// The item's position in the volatile list (only if `has_expire`).
    fn volatile_index(self) -> usize;
    /// Records the item's position in the volatile list (only if `has_expire`).
    fn set_volatile_index(self, i: usize);
    /// True when the volatile list is kept as a binary min-heap on [`DictItem::expire_at`]
    /// (hash fields: the earliest TTL in O(1), the active expiry pops in order); false keeps
    /// it unordered (keys: sampled at random by the active-expire cycle).
    const ORDERED: bool = false;
    /// The time the ordered volatile list sorts by (only called when `ORDERED` and
    /// `has_expire`).
    fn expire_at(self) -> i64 {
        0
    }
    /// Frees the item.
    ///
    /// # Safety
    /// The item must be unlinked and never used again.
    unsafe fn free_item(self);
}

// SAFETY: EntryPtr is a transparent NonNull<u8> to an 8-byte-aligned entry (entry.rs), live
// from `alloc` to `free`.
unsafe impl DictItem for EntryPtr {
    #[inline]
    unsafe fn item_key<'a>(self) -> &'a [u8] {
        // SAFETY: forwarded contract.
        unsafe { self.key() }
    }
    #[inline]
    fn has_expire(self) -> bool {
        EntryPtr::has_expire(self)
    }
    #[inline]
    fn volatile_index(self) -> usize {
        EntryPtr::volatile_index(self)
    }
    #[inline]
    fn set_volatile_index(self, i: usize) {
        EntryPtr::set_volatile_index(self, i)
    }
    #[inline]
    unsafe fn free_item(self) {
        // SAFETY: forwarded contract.
        unsafe { self.free() }
    }
}

const INITIAL_SIZE: usize = 4;
/// Shrink when `used * MIN_FILL <= size`.
const MIN_FILL: usize = 8;
/// Empty buckets a single rehash step may visit per bucket to move (Redis: 10).
const EMPTY_VISITS: usize = 10;
/// With resizing paused, grow anyway past this load factor (Redis `dict_force_resize_ratio`).
const FORCE_RESIZE_RATIO: usize = 4;
/// Up to this load factor (x1000) a table may stay ungrown to respect `grow_headroom`
/// (Redis `HASHTABLE_MAX_LOAD_FACTOR` 1.618).
const MAX_LOAD_FOR_GUARD: usize = 1618;

/// An overflow block: `len` and `cap` (u32 each) followed by `cap` entry pointers.
struct Overflow;

impl Overflow {
    fn layout(cap: usize) -> Layout {
        Layout::from_size_align(8 + 8 * cap, 8).expect("overflow layout")
    }

    /// A block with room for `cap` entries holding `items`.
    fn new<E: DictItem>(cap: usize, items: &[E]) -> NonNull<u8> {
        debug_assert!(items.len() <= cap);
        // SAFETY: the block is allocated with room for `cap >= items.len()` items after its
        // 8-byte header, and the writes stay inside it.
        unsafe {
            let l = Self::layout(cap);
            let p = alloc(l);
            if p.is_null() {
                handle_alloc_error(l);
            }
            (p as *mut u32).write(items.len() as u32);
            (p as *mut u32).add(1).write(cap as u32);
            std::ptr::copy_nonoverlapping(items.as_ptr(), p.add(8) as *mut E, items.len());
            NonNull::new_unchecked(p)
        }
    }

    #[inline]
    fn len(p: NonNull<u8>) -> usize {
        // SAFETY: `p` is a live overflow block; its first u32 is the length.
        unsafe { *(p.as_ptr() as *const u32) as usize }
    }

    #[inline]
    fn cap(p: NonNull<u8>) -> usize {
        // SAFETY: `p` is a live overflow block; its second u32 is the capacity.
        unsafe { *(p.as_ptr() as *const u32).add(1) as usize }
    }

    #[inline]
    fn set_len(p: NonNull<u8>, n: usize) {
        // SAFETY: `p` is a live overflow block; callers keep `n <= cap`.
        unsafe { *(p.as_ptr() as *mut u32) = n as u32 }
    }

    #[inline]
    fn items<'a, E: DictItem>(p: NonNull<u8>) -> &'a mut [E] {
        // SAFETY: `p` is a live block of `E`s (8-byte aligned after the header) holding `len`
        // initialised items; the dict never keeps two of these slices alive at once.
        unsafe { std::slice::from_raw_parts_mut(p.as_ptr().add(8) as *mut E, Self::len(p)) }
    }

    fn free(p: NonNull<u8>) {
        // SAFETY: `p` was allocated by `new` with this capacity's layout and is freed once.
        unsafe { dealloc(p.as_ptr(), Self::layout(Self::cap(p))) }
    }
}

/// One bucket: null = empty, an item pointer, or an overflow block pointer with bit 0 set.
/// It is a pointer, not an integer, so that the items keep their provenance (Strict
/// Provenance: the tag is set and cleared with `map_addr`; Miri checks this).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
struct Slot(*mut u8);

impl Slot {
    const EMPTY: Slot = Slot(std::ptr::null_mut());

    #[inline]
    fn is_empty(self) -> bool {
        self.0.is_null()
    }

    #[inline]
    fn single<E: DictItem>(self) -> Option<E> {
        if !self.0.is_null() && self.0.addr() & 1 == 0 {
            // SAFETY: E is a transparent non-null pointer (DictItem contract) and the slot
            // holds such a pointer, provenance included.
            Some(unsafe { std::mem::transmute_copy::<*mut u8, E>(&self.0) })
        } else {
            None
        }
    }

    #[inline]
    fn overflow(self) -> Option<NonNull<u8>> {
        if self.0.addr() & 1 == 1 {
            // SAFETY: a tagged slot holds a non-null overflow block pointer (plus the tag).
            Some(unsafe { NonNull::new_unchecked(self.0.map_addr(|a| a & !1)) })
        } else {
            None
        }
    }

    #[inline]
    fn of_entry<E: DictItem>(e: E) -> Slot {
        // SAFETY: E is a transparent pointer (DictItem contract).
        Slot(unsafe { std::mem::transmute_copy::<E, *mut u8>(&e) })
    }

    #[inline]
    fn of_overflow(p: NonNull<u8>) -> Slot {
        Slot(p.as_ptr().map_addr(|a| a | 1))
    }

    /// The entries of the bucket (borrowing the slot where it lives).
    #[inline]
    fn entries<E: DictItem>(&self) -> &[E] {
        if let Some(p) = self.overflow() {
            return Overflow::items(p);
        }
        if self.0.is_null() {
            return &[];
        }
        // SAFETY: Slot is a transparent pointer holding the item's pointer, and E is a
        // transparent non-null pointer of the same size (DictItem contract).
        unsafe { std::slice::from_raw_parts(self as *const Slot as *const E, 1) }
    }
}

#[derive(Default)]
struct Table {
    buckets: Vec<Slot>,
    used: usize,
}

impl Table {
    fn with_size(size: usize) -> Table {
        Table::try_with_size(size).unwrap_or_else(|| {
            handle_alloc_error(Layout::array::<Slot>(size).unwrap_or(Layout::new::<Slot>()))
        })
    }

    /// A table of `size` empty buckets, or None if the array cannot be allocated (size
    /// overflow or allocator refusal; as `dictTryExpand`). The array is zero-allocated, so
    /// a large table costs no page touching until used.
    fn try_with_size(size: usize) -> Option<Table> {
        let layout = Layout::array::<Slot>(size).ok()?;
        if layout.size() == 0 {
            return Some(Table::default());
        }
        // SAFETY: non-zero size; zero bits are `Slot::EMPTY` (a null pointer).
        let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut Slot;
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` was allocated by the global allocator with exactly `size` Slots' layout,
        // all initialised (zero).
        let buckets = unsafe { Vec::from_raw_parts(p, size, size) };
        Some(Table { buckets, used: 0 })
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// Adds `e` to bucket `i`.
    fn push<E: DictItem>(&mut self, i: usize, e: E) {
        let s = self.buckets[i];
        self.buckets[i] = if s.is_empty() {
            Slot::of_entry(e)
        } else if let Some(one) = s.single() {
            // A 32-byte block: room for three.
            Slot::of_overflow(Overflow::new(3, &[one, e]))
        } else {
            let p = s.overflow().unwrap();
            let (len, cap) = (Overflow::len(p), Overflow::cap(p));
            if len < cap {
                // SAFETY: len < cap: the write is inside the block.
                unsafe { (p.as_ptr().add(8) as *mut E).add(len).write(e) };
                Overflow::set_len(p, len + 1);
                s
            } else {
                // Grow to fill the next jemalloc size classes (48, 64, 80... bytes).
                let mut v = Overflow::items(p).to_vec();
                v.push(e);
                let q = Overflow::new(cap + 2, &v);
                Overflow::free(p);
                Slot::of_overflow(q)
            }
        };
        self.used += 1;
    }

    /// Removes `e` from bucket `i`. Returns false if it is not there.
    fn take<E: DictItem>(&mut self, i: usize, e: E) -> bool {
        let s = self.buckets[i];
        if s.single() == Some(e) {
            self.buckets[i] = Slot::EMPTY;
            self.used -= 1;
            return true;
        }
        let Some(p) = s.overflow() else { return false };
        let items = Overflow::items::<E>(p);
        let Some(pos) = items.iter().position(|x| *x == e) else {
            return false;
        };
        let last = items.len() - 1;
        items.swap(pos, last);
        Overflow::set_len(p, last);
        if last == 1 {
            self.buckets[i] = Slot::of_entry(Overflow::items::<E>(p)[0]);
            Overflow::free(p);
        }
        self.used -= 1;
        true
    }

    /// Replaces `old` by `new` in bucket `i`. Returns false if `old` is not there.
    fn swap_entry<E: DictItem>(&mut self, i: usize, old: E, new: E) -> bool {
        let s = self.buckets[i];
        if s.single() == Some(old) {
            self.buckets[i] = Slot::of_entry(new);
            return true;
        }
        if let Some(p) = s.overflow() {
            if let Some(x) = Overflow::items(p).iter_mut().find(|x| **x == old) {
                *x = new;
                return true;
            }
        }
        false
    }

    /// Empties bucket `i`, returning its entries' slot for the caller to walk (the overflow
    /// block, if any, must be freed by the caller after use).
    fn take_bucket<E: DictItem>(&mut self, i: usize) -> Slot {
        let s = self.buckets[i];
        self.buckets[i] = Slot::EMPTY;
        self.used -= s.entries::<E>().len();
        s
    }
}

/// Frees the overflow block of a slot taken with `take_bucket` (entries are untouched).
fn release(s: Slot) {
    if let Some(p) = s.overflow() {
        Overflow::free(p);
    }
}

/// The bucket array for a requested size cannot be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("OOM in dictTryExpand")]
pub struct ExpandError;

/// A hash table of [`DictItem`]s (the keyspace of one db by default).
pub(crate) struct Dict<E: DictItem = EntryPtr> {
    ht: [Table; 2],
    /// Next bucket of `ht[0]` to move, when rehashing.
    rehash_idx: Option<usize>,
    hasher: foldhash::fast::FixedState,
    volatile: Vec<E>,
    /// Bytes a new bucket array may take without going over `maxmemory` (`usize::MAX`: no
    /// limit). Below [`MAX_LOAD_FOR_GUARD`] the table does not grow past it (Redis's
    /// `dictResizeAllowed` / `overMaxmemoryAfterAlloc`): growing would only force evictions.
    pub grow_headroom: usize,
    _items: PhantomData<E>,
}

thread_local! {
    /// Set while a fork child shares the parent's pages: Redis's process-wide
    /// `dict_can_resize = DICT_RESIZE_AVOID` (`updateDictResizePolicy`). Every dict — the
    /// keyspace's and the tables of big hashes, sets and zsets — then grows only past
    /// [`FORCE_RESIZE_RATIO`], never shrinks, and leaves a resize in progress where it is,
    /// since moving entries writes pages the child shares. Per thread: the executor owns and
    /// changes every dict (the lazy-free thread only drops them), and unit tests on their own
    /// threads do not see each other's setting.
    static RESIZE_AVOID: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Pauses (true) or resumes resizing of every dict on this thread (see `RESIZE_AVOID`).
pub(crate) fn set_resize_avoid(on: bool) {
    RESIZE_AVOID.with(|f| f.set(on));
}

fn resize_avoided() -> bool {
    RESIZE_AVOID.with(|f| f.get())
}

// SAFETY: the dict exclusively owns its items and their allocations; moving it to another
// thread (the lazy-free thread) moves that ownership, and DictItem requires Send.
unsafe impl<E: DictItem> Send for Dict<E> {}

impl<E: DictItem> Default for Dict<E> {
    fn default() -> Self {
        Dict::new()
    }
}

impl<E: DictItem> Dict<E> {
    /// An empty dict with a random hash seed.
    pub fn new() -> Dict<E> {
        Dict {
            ht: [Table::default(), Table::default()],
            rehash_idx: None,
            hasher: foldhash::fast::FixedState::with_seed(fastrand::u64(..)),
            volatile: Vec::new(),
            grow_headroom: usize::MAX,
            _items: PhantomData,
        }
    }

    /// Number of keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.ht[0].used + self.ht[1].used
    }

    /// True if there are no keys.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys with an expire.
    #[inline]
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// The `i`-th key with an expire (`i < volatile_len()`), for expire sampling.
    #[inline]
    pub fn volatile_at(&self, i: usize) -> E {
        self.volatile[i]
    }

    /// (old, new) bucket counts (tests).
    #[cfg(test)]
    pub(crate) fn bucket_counts(&self) -> (usize, usize) {
        (self.ht[0].buckets.len(), self.ht[1].buckets.len())
    }

    /// True while a resize is in progress.
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Bytes used by the bucket arrays, overflow blocks and the volatile list.
    pub fn overhead_bytes(&self) -> usize {
        let mut n = (self.ht[0].buckets.capacity() + self.ht[1].buckets.capacity()) * 8
            + self.volatile.capacity() * 8;
        for t in &self.ht {
            for b in &t.buckets {
                if let Some(p) = b.overflow() {
                    n += 8 + 8 * Overflow::cap(p);
                }
            }
        }
        n
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Moves up to `n` buckets from the old table to the new one. Returns true if more
    /// rehashing is left. While resizing is paused (a fork child shares the pages), a resize
    /// in progress is left where it is unless the tables differ by the force ratio, as Redis
    /// 7.4's `dictRehash` under `DICT_RESIZE_AVOID`: moving entries would write the old
    /// table's buckets and so copy its pages. Returns false then (no progress is possible).
    pub fn rehash(&mut self, n: usize) -> bool {
        if resize_avoided() && self.rehash_idx.is_some() {
            let s0 = self.ht[0].buckets.len();
            let s1 = self.ht[1].buckets.len();
            if (s1 > s0 && s1 < FORCE_RESIZE_RATIO * s0)
                || (s1 < s0 && s0 < MIN_FILL * FORCE_RESIZE_RATIO * s1)
            {
                return false;
            }
        }
        self.rehash_unpaused(n)
    }

    /// [`Dict::rehash`] whatever the pause says (an explicit pre-size must finish a resize).
    fn rehash_unpaused(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * EMPTY_VISITS;
        let mut n = n;
        while n > 0 && self.ht[0].used > 0 {
            n -= 1;
            while self.ht[0].buckets[idx].is_empty() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let s = self.ht[0].take_bucket::<E>(idx);
            for &e in s.entries::<E>() {
                // SAFETY: a linked item is live.
                let h = self.hash(unsafe { e.item_key() }) as usize & self.ht[1].mask();
                self.ht[1].push(h, e);
            }
            release(s);
            idx += 1;
        }
        if self.ht[0].used == 0 {
            self.ht[0] = std::mem::take(&mut self.ht[1]);
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// Rehashes in batches of 100 buckets until done or `budget` has passed.
    /// Returns true if more is left.
    pub fn rehash_for(&mut self, budget: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        while self.rehash(100) {
            if start.elapsed() >= budget {
                return true;
            }
        }
        false
    }

    #[inline]
    fn rehash_step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash(1);
        }
    }

    fn start_resize(&mut self, target: usize) {
        let size = target.max(INITIAL_SIZE).next_power_of_two();
        if self.rehash_idx.is_some() || size == self.ht[0].buckets.len() {
            return;
        }
        if self.ht[0].buckets.is_empty() {
            self.ht[0] = Table::with_size(size);
            return;
        }
        self.ht[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = self.ht[0].buckets.len();
        if size == 0 {
            self.start_resize(INITIAL_SIZE);
        } else if self.ht[0].used >= size
            && (!resize_avoided() || self.ht[0].used / size > FORCE_RESIZE_RATIO)
        {
            let want = (self.ht[0].used + 1).next_power_of_two();
            if self.ht[0].used * 1000 <= size * MAX_LOAD_FOR_GUARD
                && want.saturating_mul(8) > self.grow_headroom
            {
                return;
            }
            self.start_resize(self.ht[0].used + 1);
        }
    }

    fn shrink_if_needed(&mut self) {
        if self.rehash_idx.is_some() || resize_avoided() {
            return;
        }
        let size = self.ht[0].buckets.len();
        if size > INITIAL_SIZE && self.ht[0].used * MIN_FILL <= size {
            self.start_resize(self.ht[0].used);
        }
    }

    /// Pre-sizes the table for `n` keys (Redis `dictTryExpand`), so bulk loads do not rehash.
    /// Errors, changing nothing, when the bucket array cannot be allocated (`n` absurdly
    /// large): the caller answers Redis 7.0's `OOM in dictTryExpand`.
    pub fn try_expand(&mut self, n: usize) -> Result<(), ExpandError> {
        if self.rehash_idx.is_some() {
            if n <= self.ht[1].buckets.len() {
                return Ok(());
            }
            // Growing past a resize in progress: finish it first (O(len), as an explicit
            // pre-size is only asked for by DEBUG POPULATE and loading), so that a size that
            // cannot be allocated is refused here and not discovered key by key.
            while self.rehash_unpaused(1000) {}
        }
        if n <= self.ht[0].buckets.len() {
            return Ok(());
        }
        let size = n
            .max(INITIAL_SIZE)
            .checked_next_power_of_two()
            .ok_or(ExpandError)?;
        let t = Table::try_with_size(size).ok_or(ExpandError)?;
        if self.ht[0].used == 0 {
            self.ht[0] = t;
        } else {
            self.ht[1] = t;
            self.rehash_idx = Some(0);
        }
        Ok(())
    }

    /// Resizes if the table is too sparse (called from cron, like `tryResizeHashTables`).
    pub fn resize_if_needed(&mut self) {
        self.shrink_if_needed();
    }

    /// (table, bucket) candidates for hash `h`, in lookup order.
    #[inline]
    fn buckets_for(&self, h: u64) -> [Option<(usize, usize)>; 2] {
        let t0 = &self.ht[0];
        if t0.buckets.is_empty() {
            return [None, None];
        }
        let i0 = h as usize & t0.mask();
        match self.rehash_idx {
            None => [Some((0, i0)), None],
            Some(r) => {
                let i1 = h as usize & self.ht[1].mask();
                // Buckets of ht[0] below the rehash index have already moved.
                [if i0 >= r { Some((0, i0)) } else { None }, Some((1, i1))]
            }
        }
    }

    #[inline]
    fn find_in(&self, h: u64, key: &[u8]) -> Option<E> {
        for (t, i) in self.buckets_for(h).into_iter().flatten() {
            for &e in self.ht[t].buckets[i].entries::<E>() {
                // SAFETY: a linked item is live; the reference ends with the comparison.
                if unsafe { e.item_key() } == key {
                    return Some(e);
                }
            }
        }
        None
    }

    /// Looks `key` up, doing one rehash step first (as `dictFind`).
    #[inline]
    pub fn find(&mut self, key: &[u8]) -> Option<E> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key);
        self.find_in(h, key)
    }

    /// Looks `key` up without rehashing (for `&self` readers).
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<E> {
        if self.is_empty() {
            return None;
        }
        self.find_in(self.hash(key), key)
    }

    /// Links a new entry whose key is not present. Takes ownership of it.
    pub fn insert(&mut self, e: E) {
        self.expand_if_needed();
        self.rehash_step();
        let t = if self.rehash_idx.is_some() { 1 } else { 0 };
        // SAFETY: the caller hands over a live item.
        let h = self.hash(unsafe { e.item_key() }) as usize & self.ht[t].mask();
        self.ht[t].push(h, e);
        if e.has_expire() {
            self.volatile_push(e);
        }
    }

    fn volatile_push(&mut self, e: E) {
        let i = self.volatile.len();
        e.set_volatile_index(i);
        self.volatile.push(e);
        if E::ORDERED {
            self.sift_up(i);
        }
    }

    fn volatile_remove(&mut self, e: E) {
        let i = e.volatile_index();
        debug_assert!(self.volatile[i] == e);
        self.volatile.swap_remove(i);
        if i < self.volatile.len() {
            self.volatile[i].set_volatile_index(i);
            if E::ORDERED {
                self.heap_fix(i);
            }
        }
    }

    /// Restores the heap order around position `i` after its item's time changed.
    fn heap_fix(&mut self, i: usize) {
        let i = self.sift_up(i);
        self.sift_down(i);
    }

    fn heap_swap(&mut self, a: usize, b: usize) {
        self.volatile.swap(a, b);
        self.volatile[a].set_volatile_index(a);
        self.volatile[b].set_volatile_index(b);
    }

    fn sift_up(&mut self, mut i: usize) -> usize {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.volatile[parent].expire_at() <= self.volatile[i].expire_at() {
                break;
            }
            self.heap_swap(parent, i);
            i = parent;
        }
        i
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.volatile.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.volatile[l].expire_at() < self.volatile[m].expire_at() {
                m = l;
            }
            if r < n && self.volatile[r].expire_at() < self.volatile[m].expire_at() {
                m = r;
            }
            if m == i {
                return;
            }
            self.heap_swap(i, m);
            i = m;
        }
    }

    /// Re-sorts a linked item of an ordered volatile list whose [`DictItem::expire_at`] was
    /// changed in place.
    pub fn volatile_changed(&mut self, e: E) {
        if E::ORDERED && e.has_expire() {
            self.heap_fix(e.volatile_index());
        }
    }

    /// The item with the earliest expire of an ordered volatile list (any item otherwise).
    pub fn volatile_first(&self) -> Option<E> {
        self.volatile.first().copied()
    }

    /// Replaces the linked entry `old` by `new` (same key) and frees `old` (its boxed value, if
    /// not taken with `take_boxed`, is dropped). Keeps the volatile list in step.
    pub fn replace(&mut self, old: E, new: E) {
        // SAFETY: `old` is linked (live) and `new` is handed over live.
        let h = self.hash(unsafe { old.item_key() });
        // SAFETY: both items are live here.
        debug_assert!(unsafe { old.item_key() == new.item_key() });
        let mut done = false;
        for (t, i) in self.buckets_for(h).into_iter().flatten() {
            if self.ht[t].swap_entry(i, old, new) {
                done = true;
                break;
            }
        }
        assert!(done, "replaced entry not linked in its dict");
        match (old.has_expire(), new.has_expire()) {
            (true, true) => {
                let i = old.volatile_index();
                new.set_volatile_index(i);
                self.volatile[i] = new;
                if E::ORDERED {
                    self.heap_fix(i);
                }
            }
            (true, false) => self.volatile_remove(old),
            (false, true) => self.volatile_push(new),
            (false, false) => {}
        }
        // SAFETY: `old` was just unlinked and the dict held its only copy.
        unsafe { old.free_item() };
    }

    #[cfg(test)]
    /// Unlinks the entry for `key` and returns it; the caller frees it (`E::free`) now or
    /// hands it to the lazy-free thread.
    pub fn remove(&mut self, key: &[u8]) -> Option<E> {
        let e = self.find(key)?;
        self.remove_entry(e);
        Some(e)
    }

    /// Unlinks a linked entry (see [`Dict::remove`]).
    pub fn remove_entry(&mut self, e: E) {
        // SAFETY: `e` is linked, hence live.
        let h = self.hash(unsafe { e.item_key() });
        let mut done = false;
        for (t, i) in self.buckets_for(h).into_iter().flatten() {
            if self.ht[t].take(i, e) {
                done = true;
                break;
            }
        }
        assert!(done, "removed entry not linked in its dict");
        if e.has_expire() {
            self.volatile_remove(e);
        }
        self.shrink_if_needed();
    }

    /// A random key, as `dictGetFairRandomKey` (uniform bucket, then uniform element).
    pub fn random(&mut self) -> Option<E> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        loop {
            let (t, idx) = match self.rehash_idx {
                Some(r) => {
                    let s0 = self.ht[0].buckets.len();
                    let total = s0 + self.ht[1].buckets.len();
                    let i = r + fastrand::usize(..total - r);
                    if i >= s0 {
                        (1, i - s0)
                    } else {
                        (0, i)
                    }
                }
                None => (0, fastrand::usize(..self.ht[0].buckets.len())),
            };
            let items = self.ht[t].buckets[idx].entries::<E>();
            if !items.is_empty() {
                return Some(items[fastrand::usize(..items.len())]);
            }
        }
    }

    /// Up to `count` items sampled for eviction, as Redis's `dictGetSomeKeys`: a few rehash
    /// steps, then a walk of consecutive buckets from a random index of the larger table
    /// (at most `10 * count` steps; a run of more than `max(5, count)` empty buckets jumps to
    /// another random index), every item of a visited bucket collected by reservoir sampling
    /// so a long bucket is sampled fairly. Items are appended to `out` (cleared first);
    /// possibly fewer than `count`, and (after a jump) possibly one twice, as in Redis.
    pub fn some_keys(&mut self, count: usize, out: &mut Vec<E>) {
        out.clear();
        let count = count.min(self.len());
        if count == 0 {
            return;
        }
        for _ in 0..count {
            if self.rehash_idx.is_none() {
                break;
            }
            self.rehash_step();
        }
        let tables = if self.rehash_idx.is_some() { 2 } else { 1 };
        let mut maxmask = self.ht[0].mask();
        if tables > 1 {
            maxmask = maxmask.max(self.ht[1].mask());
        }
        let mut i = fastrand::usize(..) & maxmask;
        let mut emptylen = 0usize;
        let mut stored = 0usize;
        let mut maxsteps = count * 10;
        while stored < count && maxsteps > 0 {
            maxsteps -= 1;
            for t in 0..tables {
                if tables == 2 && t == 0 {
                    let ridx = self.rehash_idx.unwrap_or(0);
                    if i < ridx {
                        // ht[0] below the rehash index is empty.
                        if i >= self.ht[1].buckets.len() {
                            i = ridx;
                        } else {
                            continue;
                        }
                    }
                }
                let table = &self.ht[t];
                if i >= table.buckets.len() {
                    continue;
                }
                let items = table.buckets[i].entries::<E>();
                if items.is_empty() {
                    emptylen += 1;
                    if emptylen >= 5 && emptylen > count {
                        i = fastrand::usize(..) & maxmask;
                        emptylen = 0;
                    }
                } else {
                    emptylen = 0;
                    for &e in items {
                        if stored < count {
                            out.push(e);
                        } else {
                            let r = fastrand::usize(..=stored);
                            if r < count {
                                out[r] = e;
                            }
                        }
                        stored += 1;
                    }
                    if stored >= count {
                        return;
                    }
                }
            }
            i = (i + 1) & maxmask;
        }
    }

    /// Up to `count` items of the volatile list at random positions (the expires-dict sample
    /// of `dictGetSomeKeys(db->expires, ...)`; duplicates possible when the list is short,
    /// harmless to the eviction pool).
    pub fn some_volatile(&self, count: usize, out: &mut Vec<E>) {
        out.clear();
        let n = self.volatile.len();
        if n == 0 {
            return;
        }
        if n <= count {
            out.extend_from_slice(&self.volatile);
            return;
        }
        for _ in 0..count {
            out.push(self.volatile[fastrand::usize(..n)]);
        }
    }

    /// One SCAN step from `cursor`: calls `f` for every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Algorithm and guarantee of
    /// Redis's `dictScan()` (reverse binary cursor increment).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(E)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let emit = |table: &Table, idx: usize, f: &mut dyn FnMut(E)| {
            for &e in table.buckets[idx].entries::<E>() {
                f(e);
            }
        };
        if self.rehash_idx.is_none() {
            let t0 = &self.ht[0];
            let m0 = t0.mask() as u64;
            emit(t0, (v & m0) as usize, &mut f);
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (small, big) = if self.ht[0].buckets.len() <= self.ht[1].buckets.len() {
                (&self.ht[0], &self.ht[1])
            } else {
                (&self.ht[1], &self.ht[0])
            };
            let m0 = small.mask() as u64;
            let m1 = big.mask() as u64;
            emit(small, (v & m0) as usize, &mut f);
            loop {
                emit(big, (v & m1) as usize, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// Calls `f` for every entry (no mutation possible meanwhile).
    pub fn for_each(&self, mut f: impl FnMut(E)) {
        for t in &self.ht {
            for b in &t.buckets {
                for &e in b.entries::<E>() {
                    f(e);
                }
            }
        }
    }

    /// Removes and frees every entry.
    pub fn clear(&mut self) {
        for t in 0..2 {
            for i in 0..self.ht[t].buckets.len() {
                let s = self.ht[t].buckets[i];
                if s.is_empty() {
                    continue;
                }
                self.ht[t].buckets[i] = Slot::EMPTY;
                for &e in s.entries::<E>() {
                    // SAFETY: the bucket was emptied above; each item is freed once.
                    unsafe { e.free_item() };
                }
                release(s);
            }
        }
        self.ht = [Table::default(), Table::default()];
        self.rehash_idx = None;
        self.volatile = Vec::new();
    }
}

impl<E: DictItem> Drop for Dict<E> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::entry::NewValue;
    use std::collections::HashSet;

    // The tests drive the raw dict: every entry they read is linked (live), and every entry
    // they free was just removed and is not used again.

    fn key<'a>(e: EntryPtr) -> &'a [u8] {
        // SAFETY: tests only read keys of linked entries, within the statement.
        unsafe { e.key() }
    }

    fn free(e: EntryPtr) {
        // SAFETY: called on entries just removed from the dict.
        unsafe { e.free() }
    }

    fn entry(k: &str, ttl: Option<i64>) -> EntryPtr {
        EntryPtr::alloc(k.as_bytes(), NewValue::Inline(b"v"), ttl, 0)
    }

    #[test]
    fn insert_find_remove_across_resizes() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            d.insert(entry(
                &format!("k{i}"),
                if i % 3 == 0 { Some(i) } else { None },
            ));
        }
        assert_eq!(d.len(), 10_000);
        assert_eq!(d.volatile_len(), 3334);
        for i in 0..10_000 {
            assert!(d.find(format!("k{i}").as_bytes()).is_some(), "k{i}");
        }
        assert!(d.find(b"nope").is_none());
        for i in 0..9_990 {
            free(d.remove(format!("k{i}").as_bytes()).unwrap());
        }
        assert_eq!(d.len(), 10);
        // As the cron does: finish the current resize, then shrink again if still sparse.
        for _ in 0..20 {
            while d.rehash(100) {}
            d.resize_if_needed();
        }
        assert!(d.bucket_counts().0 <= 64, "shrunk: {:?}", d.bucket_counts());
        for i in 9_990..10_000 {
            assert!(d.get(format!("k{i}").as_bytes()).is_some());
        }
        // The volatile list stays consistent through swap_remove.
        for i in 0..d.volatile_len() {
            assert_eq!(d.volatile_at(i).volatile_index(), i);
        }
    }

    /// A pre-size asked for during a resize (DEBUG POPULATE after keys were added) still
    /// refuses what cannot be allocated (the fuzzer's DEBUG POPULATE 2^63-1 ran out of memory
    /// key by key when this returned Ok mid-rehash), and still grows to what can.
    #[test]
    fn expanding_during_a_resize() {
        let mut d = Dict::new();
        let mut i = 0;
        while !d.is_rehashing() {
            d.insert(entry(&format!("r{i}"), None));
            i += 1;
        }
        assert_eq!(d.try_expand(1 << 62), Err(ExpandError));
        assert!(d.try_expand(4096).is_ok());
        assert!(d.bucket_counts().0 >= 4096 || d.bucket_counts().1 >= 4096);
        for j in 0..i {
            free(d.remove(format!("r{j}").as_bytes()).unwrap());
        }
        assert!(d.is_empty());
    }

    /// A resize in progress when a fork child starts is left as it is while resizing is
    /// paused (Redis 7.4's `dictRehash` under `DICT_RESIZE_AVOID`): no bucket moves, lookups
    /// and inserts still work across both tables, and the resize finishes once unpaused.
    #[test]
    fn rehash_waits_while_resizing_is_paused() {
        let mut d = Dict::new();
        let mut i = 0;
        while !d.is_rehashing() {
            d.insert(entry(&format!("p{i}"), None));
            i += 1;
        }
        set_resize_avoid(true);
        let before = d.bucket_counts();
        let idx = d.rehash_idx;
        assert!(!d.rehash(100), "no progress while paused");
        assert_eq!(d.rehash_idx, idx);
        for j in i..i + 20 {
            d.insert(entry(&format!("p{j}"), None));
        }
        assert!(d.is_rehashing());
        assert_eq!(d.bucket_counts(), before);
        for j in 0..i + 20 {
            assert!(d.get(format!("p{j}").as_bytes()).is_some(), "p{j}");
        }
        set_resize_avoid(false);
        while d.rehash(100) {}
        assert!(!d.is_rehashing());
        for j in 0..i + 20 {
            free(d.remove(format!("p{j}").as_bytes()).unwrap());
        }
        assert!(d.is_empty());
    }

    /// With resizing paused the table runs at up to 4 keys per bucket: overflow blocks grow,
    /// shrink back to single slots, and every operation still finds the right entry.
    #[test]
    fn crowded_buckets_with_overflow_blocks() {
        let mut d = Dict::new();
        d.try_expand(64).unwrap();
        set_resize_avoid(true);
        for i in 0..256 {
            d.insert(entry(&format!("c{i}"), None));
        }
        assert_eq!(
            d.bucket_counts().0,
            64,
            "no growth while paused below the force ratio"
        );
        for i in 0..256 {
            assert!(d.get(format!("c{i}").as_bytes()).is_some());
        }
        // Replace every other key (same key, new entry) and remove a third of them.
        for i in (0..256).step_by(2) {
            let k = format!("c{i}");
            let old = d.find(k.as_bytes()).unwrap();
            d.replace(old, entry(&k, Some(i)));
        }
        for i in (0..256).step_by(3) {
            free(d.remove(format!("c{i}").as_bytes()).unwrap());
        }
        let mut seen = HashSet::new();
        d.for_each(|e| {
            seen.insert(key(e).to_vec());
        });
        for i in 0..256 {
            assert_eq!(
                seen.contains(format!("c{i}").as_bytes()),
                i % 3 != 0,
                "c{i}"
            );
        }
        assert_eq!(d.len(), seen.len());
        for i in 0..d.volatile_len() {
            assert_eq!(d.volatile_at(i).volatile_index(), i);
        }
        set_resize_avoid(false);
        for i in 0..256 {
            if let Some(e) = d.remove(format!("c{i}").as_bytes()) {
                free(e);
            }
        }
        assert!(d.is_empty());
        assert_eq!(d.volatile_len(), 0);
    }

    #[test]
    fn replace_keeps_volatile_list_in_step() {
        let mut d = Dict::new();
        d.insert(entry("a", None));
        d.insert(entry("b", Some(5)));
        let old = d.find(b"a").unwrap();
        d.replace(old, entry("a", Some(10)));
        assert_eq!(d.volatile_len(), 2);
        let old = d.find(b"b").unwrap();
        d.replace(old, entry("b", None));
        assert_eq!(d.volatile_len(), 1);
        assert_eq!(key(d.volatile_at(0)), b"a");
        assert_eq!(d.find(b"a").unwrap().expire(), Some(10));
    }

    /// SCAN guarantee: keys present for the whole scan are returned at least once, even when
    /// the table grows and shrinks between calls.
    #[test]
    fn scan_survives_resizes() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(entry(&format!("stable{i}"), None));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |e| {
                seen.insert(key(e).to_vec());
            });
            step += 1;
            // Grow during the first half, shrink during the second.
            if step < 20 {
                for j in 0..200 {
                    d.insert(entry(&format!("tmp{step}_{j}"), None));
                }
            } else if step < 40 {
                for j in 0..200 {
                    if let Some(e) = d.remove(format!("tmp{}_{j}", step - 20).as_bytes()) {
                        free(e);
                    }
                }
            }
            d.rehash(3);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(
                seen.contains(format!("stable{i}").as_bytes()),
                "stable{i} missed"
            );
        }
    }

    #[test]
    fn random_returns_members() {
        let mut d = Dict::new();
        assert!(d.random().is_none());
        for i in 0..100 {
            d.insert(entry(&format!("k{i}"), None));
        }
        for _ in 0..100 {
            let e = d.random().unwrap();
            assert!(key(e).starts_with(b"k"));
        }
    }

    /// Without headroom under maxmemory a table stays ungrown up to load 1.618, then grows
    /// anyway (Redis's `dictResizeAllowed`).
    #[test]
    fn growth_respects_the_headroom_below_the_max_load() {
        let mut d = Dict::new();
        for i in 0..64 {
            d.insert(entry(&format!("k{i}"), None));
        }
        while d.is_rehashing() {
            d.rehash(100);
        }
        assert_eq!(d.bucket_counts(), (64, 0));
        d.grow_headroom = 0;
        // The check is made before each insertion, on the count so far.
        for i in 64..104 {
            d.insert(entry(&format!("k{i}"), None));
        }
        assert_eq!(
            d.bucket_counts(),
            (64, 0),
            "load 103/64 <= 1.618: no growth"
        );
        d.insert(entry("k104", None));
        assert!(d.is_rehashing(), "load 104/64 > 1.618: grows");
        d.grow_headroom = usize::MAX;
        for i in 0..105 {
            assert!(d.get(format!("k{i}").as_bytes()).is_some());
        }
        d.clear();
    }

    /// `some_keys` returns members, at most `count`, during a resize too, and over many
    /// draws reaches every key.
    #[test]
    fn some_keys_samples_distinct_members() {
        let mut d = Dict::new();
        let mut out = Vec::new();
        d.some_keys(5, &mut out);
        assert!(out.is_empty());
        let mut seen = HashSet::new();
        for i in 0..1000 {
            d.insert(entry(
                &format!("k{i}"),
                if i % 2 == 0 { Some(1) } else { None },
            ));
            d.some_keys(5, &mut out);
            // Fewer only when the step budget ran out (mostly empty buckets of a new table
            // while resizing), as Redis's.
            assert!(!out.is_empty() && out.len() <= (i + 1).min(5), "at {i}");
            // A jump after a run of empty buckets may revisit a bucket (as in Redis): the
            // eviction pool drops such duplicates as ghosts.
            seen.extend(out.iter().map(|e| key(*e).to_vec()));
        }
        for _ in 0..2000 {
            d.some_keys(16, &mut out);
            seen.extend(out.iter().map(|e| key(*e).to_vec()));
        }
        assert_eq!(seen.len(), 1000);
        d.some_volatile(5, &mut out);
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|e| e.has_expire()));
        d.clear();
    }
}

#[cfg(test)]
mod expand_tests {
    use super::*;

    #[test]
    fn absurd_expands_fail_cleanly() {
        let mut d: Dict = Dict::new();
        assert_eq!(d.try_expand(usize::MAX), Err(ExpandError));
        assert_eq!(d.try_expand(1 << 62), Err(ExpandError));
        assert!(d.try_expand(1000).is_ok());
        assert!(d.is_empty());
    }
}

/// The dict holds other items than keyspace entries (the members of big sets, hashes and
/// zsets will be such items): a minimal item type exercises the generic table.
#[cfg(test)]
mod generic_item_tests {
    use super::*;
    use std::collections::HashSet;

    /// A set member: a boxed key with an optional volatile index (field TTLs).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    #[repr(transparent)]
    struct Member(NonNull<MemberBody>);

    struct MemberBody {
        key: Vec<u8>,
        vindex: Option<usize>,
    }

    // SAFETY: a Member owns its box exclusively (moved into the dict, freed once).
    unsafe impl Send for Member {}

    impl Member {
        fn new(k: &[u8], volatile: bool) -> Member {
            let b = Box::new(MemberBody {
                key: k.to_vec(),
                vindex: volatile.then_some(0),
            });
            // SAFETY: Box::into_raw is never null.
            Member(unsafe { NonNull::new_unchecked(Box::into_raw(b)) })
        }
    }

    // SAFETY: transparent over a non-null pointer to a Box allocation (8-aligned: the body
    // holds a Vec), live from `new` to `free_item`.
    unsafe impl DictItem for Member {
        unsafe fn item_key<'a>(self) -> &'a [u8] {
            // SAFETY: live per the caller's contract.
            unsafe { &(*self.0.as_ptr()).key }
        }
        fn has_expire(self) -> bool {
            // SAFETY: live while linked.
            unsafe { (*self.0.as_ptr()).vindex.is_some() }
        }
        fn volatile_index(self) -> usize {
            // SAFETY: live while linked.
            unsafe { (*self.0.as_ptr()).vindex.unwrap() }
        }
        fn set_volatile_index(self, i: usize) {
            // SAFETY: live while linked; only the dict writes it.
            unsafe { (*self.0.as_ptr()).vindex = Some(i) }
        }
        unsafe fn free_item(self) {
            // SAFETY: unlinked and never used again per the caller's contract.
            drop(unsafe { Box::from_raw(self.0.as_ptr()) });
        }
    }

    #[test]
    fn members_insert_scan_expire_and_free() {
        let mut d: Dict<Member> = Dict::new();
        for i in 0..2000 {
            d.insert(Member::new(format!("m{i}").as_bytes(), i % 4 == 0));
        }
        assert_eq!(d.len(), 2000);
        assert_eq!(d.volatile_len(), 500);
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, |m| {
                // SAFETY: linked members are live during the scan.
                seen.insert(unsafe { m.item_key() }.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 2000);
        for i in (0..2000).step_by(2) {
            let m = d.find(format!("m{i}").as_bytes()).unwrap();
            d.remove_entry(m);
            // SAFETY: just unlinked, not used again.
            unsafe { m.free_item() };
        }
        assert_eq!(d.len(), 1000);
        assert_eq!(
            d.volatile_len(),
            0,
            "every volatile member had an even index"
        );
        for i in 0..d.volatile_len() {
            assert_eq!(d.volatile_at(i).volatile_index(), i);
        }
        // Dropping the dict frees the rest (valgrind/Miri check the frees).
    }
}
