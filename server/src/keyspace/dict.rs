//! The keyspace dict: a chained hash table of [`EntryPtr`]s with Redis's incremental rehashing
//! and Redis's SCAN cursor (dict.c).
//!
//! - Two tables during a resize; every lookup/insert/delete moves one bucket (`rehash_step`)
//!   and the cron moves more for up to 1 ms (`rehash_for`), so a resize of a table with
//!   millions of keys never stalls the event loop.
//! - Grows at load factor 1 to the next power of two, shrinks when under 1/8 full (Redis 7.4
//!   `HASHTABLE_MIN_FILL`), like Redis; resizing can be paused (during fork snapshots).
//! - [`Dict::scan`] walks buckets with the reverse-binary cursor of `dictScan()`, which
//!   guarantees that every key present for the whole scan is returned at least once, even
//!   across resizes.
//! - Keys with a TTL are also listed in `volatile` (each entry stores its index there), giving
//!   the active-expire cycle O(1) sampling without a second hash table.
//!
//! Invariant: the dict owns every entry linked into it; an [`EntryPtr`] obtained from it is
//! valid until the next call that takes `&mut self`.

use super::entry::EntryPtr;
use std::hash::BuildHasher;

const INITIAL_SIZE: usize = 4;
/// Shrink when `used * MIN_FILL <= size`.
const MIN_FILL: usize = 8;
/// Empty buckets a single rehash step may visit per bucket to move (Redis: 10).
const EMPTY_VISITS: usize = 10;
/// With resizing paused, grow anyway past this load factor (Redis `dict_force_resize_ratio`).
const FORCE_RESIZE_RATIO: usize = 4;

#[derive(Default)]
struct Table {
    buckets: Vec<Option<EntryPtr>>,
    used: usize,
}

impl Table {
    fn with_size(size: usize) -> Table {
        Table {
            buckets: vec![None; size],
            used: 0,
        }
    }
    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }
}

/// The keyspace hash table of one db.
pub struct Dict {
    ht: [Table; 2],
    /// Next bucket of `ht[0]` to move, when rehashing.
    rehash_idx: Option<usize>,
    hasher: foldhash::fast::FixedState,
    volatile: Vec<EntryPtr>,
    /// When true, only grow past [`FORCE_RESIZE_RATIO`] and never shrink (a fork child is
    /// sharing pages copy-on-write).
    pub resize_paused: bool,
}

// The dict exclusively owns its entries (see `EntryPtr`'s Send rationale).
unsafe impl Send for Dict {}

impl Default for Dict {
    fn default() -> Self {
        Dict::new()
    }
}

impl Dict {
    /// An empty dict with a random hash seed.
    pub fn new() -> Dict {
        Dict {
            ht: [Table::default(), Table::default()],
            rehash_idx: None,
            hasher: foldhash::fast::FixedState::with_seed(fastrand::u64(..)),
            volatile: Vec::new(),
            resize_paused: false,
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
    pub fn volatile_at(&self, i: usize) -> EntryPtr {
        self.volatile[i]
    }

    /// Bucket counts of the main and the rehash target table (for DEBUG HTSTATS-style output).
    pub fn bucket_counts(&self) -> (usize, usize) {
        (self.ht[0].buckets.len(), self.ht[1].buckets.len())
    }

    /// True while a resize is in progress.
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Bytes used by the bucket arrays and the volatile list.
    pub fn overhead_bytes(&self) -> usize {
        (self.ht[0].buckets.capacity() + self.ht[1].buckets.capacity()) * 8
            + self.volatile.capacity() * 8
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Moves up to `n` buckets from the old table to the new one. Returns true if more
    /// rehashing is left.
    pub fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * EMPTY_VISITS;
        let mut n = n;
        while n > 0 && self.ht[0].used > 0 {
            n -= 1;
            while self.ht[0].buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut e = self.ht[0].buckets[idx].take();
            while let Some(cur) = e {
                e = cur.next();
                let h = self.hash(cur.key()) as usize & self.ht[1].mask();
                cur.set_next(self.ht[1].buckets[h]);
                self.ht[1].buckets[h] = Some(cur);
                self.ht[0].used -= 1;
                self.ht[1].used += 1;
            }
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
            && (!self.resize_paused || self.ht[0].used / size > FORCE_RESIZE_RATIO)
        {
            self.start_resize(self.ht[0].used + 1);
        }
    }

    fn shrink_if_needed(&mut self) {
        if self.rehash_idx.is_some() || self.resize_paused {
            return;
        }
        let size = self.ht[0].buckets.len();
        if size > INITIAL_SIZE && self.ht[0].used * MIN_FILL <= size {
            self.start_resize(self.ht[0].used);
        }
    }

    /// Pre-sizes the table for `n` keys (Redis `dictExpand`), so bulk loads do not rehash.
    pub fn expand(&mut self, n: usize) {
        if self.rehash_idx.is_none() && n > self.ht[0].buckets.len() {
            if self.ht[0].used == 0 {
                self.ht[0] = Table::with_size(n.max(INITIAL_SIZE).next_power_of_two());
            } else {
                self.start_resize(n);
            }
        }
    }

    /// Resizes if the table is too sparse (called from cron, like `tryResizeHashTables`).
    pub fn resize_if_needed(&mut self) {
        self.shrink_if_needed();
    }

    #[inline]
    fn find_in(&self, h: u64, key: &[u8]) -> Option<EntryPtr> {
        for t in 0..2 {
            let table = &self.ht[t];
            if table.buckets.is_empty() {
                break;
            }
            let idx = h as usize & table.mask();
            if t == 0 && self.rehash_idx.is_some_and(|r| idx < r) {
                // Already moved to ht[1].
            } else {
                let mut e = table.buckets[idx];
                while let Some(cur) = e {
                    if cur.key() == key {
                        return Some(cur);
                    }
                    e = cur.next();
                }
            }
            if self.rehash_idx.is_none() {
                break;
            }
        }
        None
    }

    /// Looks `key` up, doing one rehash step first (as `dictFind`).
    #[inline]
    pub fn find(&mut self, key: &[u8]) -> Option<EntryPtr> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key);
        self.find_in(h, key)
    }

    /// Looks `key` up without rehashing (for `&self` readers).
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<EntryPtr> {
        if self.is_empty() {
            return None;
        }
        self.find_in(self.hash(key), key)
    }

    /// Links a new entry whose key is not present. Takes ownership of it.
    pub fn insert(&mut self, e: EntryPtr) {
        self.expand_if_needed();
        self.rehash_step();
        let t = if self.rehash_idx.is_some() { 1 } else { 0 };
        let h = self.hash(e.key()) as usize & self.ht[t].mask();
        e.set_next(self.ht[t].buckets[h]);
        self.ht[t].buckets[h] = Some(e);
        self.ht[t].used += 1;
        if e.has_expire() {
            e.set_volatile_index(self.volatile.len());
            self.volatile.push(e);
        }
    }

    /// Finds the link that points at `target` (bucket slot or previous entry's `next`).
    fn unlink(&mut self, target: EntryPtr) -> (usize, Option<EntryPtr>) {
        let h = self.hash(target.key());
        for t in 0..2 {
            if self.ht[t].buckets.is_empty() {
                continue;
            }
            let idx = h as usize & self.ht[t].mask();
            let mut prev: Option<EntryPtr> = None;
            let mut e = self.ht[t].buckets[idx];
            while let Some(cur) = e {
                if cur == target {
                    match prev {
                        None => self.ht[t].buckets[idx] = cur.next(),
                        Some(p) => p.set_next(cur.next()),
                    }
                    return (t, prev);
                }
                prev = Some(cur);
                e = cur.next();
            }
        }
        unreachable!("entry not linked in its dict");
    }

    fn volatile_remove(&mut self, e: EntryPtr) {
        let i = e.volatile_index();
        debug_assert_eq!(self.volatile[i], e);
        self.volatile.swap_remove(i);
        if i < self.volatile.len() {
            self.volatile[i].set_volatile_index(i);
        }
    }

    /// Replaces the linked entry `old` by `new` (same key) and frees `old` (its boxed value, if
    /// not taken with `take_boxed`, is dropped). Keeps the volatile list in step.
    pub fn replace(&mut self, old: EntryPtr, new: EntryPtr) {
        debug_assert_eq!(old.key(), new.key());
        let h = self.hash(old.key());
        'found: for t in 0..2 {
            if self.ht[t].buckets.is_empty() {
                continue;
            }
            let idx = h as usize & self.ht[t].mask();
            let mut prev: Option<EntryPtr> = None;
            let mut e = self.ht[t].buckets[idx];
            while let Some(cur) = e {
                if cur == old {
                    new.set_next(cur.next());
                    match prev {
                        None => self.ht[t].buckets[idx] = Some(new),
                        Some(p) => p.set_next(Some(new)),
                    }
                    break 'found;
                }
                prev = Some(cur);
                e = cur.next();
            }
        }
        match (old.has_expire(), new.has_expire()) {
            (true, true) => {
                let i = old.volatile_index();
                new.set_volatile_index(i);
                self.volatile[i] = new;
            }
            (true, false) => self.volatile_remove(old),
            (false, true) => {
                new.set_volatile_index(self.volatile.len());
                self.volatile.push(new);
            }
            (false, false) => {}
        }
        old.free();
    }

    /// Unlinks the entry for `key` and returns it; the caller frees it (`EntryPtr::free`) now or
    /// hands it to the lazy-free thread.
    pub fn remove(&mut self, key: &[u8]) -> Option<EntryPtr> {
        let e = self.find(key)?;
        self.remove_entry(e);
        Some(e)
    }

    /// Unlinks a linked entry (see [`Dict::remove`]).
    pub fn remove_entry(&mut self, e: EntryPtr) {
        let (t, _) = self.unlink(e);
        self.ht[t].used -= 1;
        if e.has_expire() {
            self.volatile_remove(e);
        }
        self.shrink_if_needed();
    }

    /// A random key, as `dictGetFairRandomKey` (uniform bucket, then uniform chain element).
    pub fn random(&mut self) -> Option<EntryPtr> {
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
            let Some(head) = self.ht[t].buckets[idx] else {
                continue;
            };
            let mut n = 0;
            let mut e = Some(head);
            while let Some(c) = e {
                n += 1;
                e = c.next();
            }
            let mut pick = fastrand::usize(..n);
            let mut e = head;
            while pick > 0 {
                e = e.next().unwrap();
                pick -= 1;
            }
            return Some(e);
        }
    }

    /// One SCAN step from `cursor`: calls `f` for every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Algorithm and guarantee of
    /// Redis's `dictScan()` (reverse binary cursor increment).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(EntryPtr)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let emit = |table: &Table, idx: usize, f: &mut dyn FnMut(EntryPtr)| {
            let mut e = table.buckets[idx];
            while let Some(c) = e {
                e = c.next();
                f(c);
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
    pub fn for_each(&self, mut f: impl FnMut(EntryPtr)) {
        for t in &self.ht {
            for b in &t.buckets {
                let mut e = *b;
                while let Some(c) = e {
                    e = c.next();
                    f(c);
                }
            }
        }
    }

    /// Removes and frees every entry.
    pub fn clear(&mut self) {
        for t in 0..2 {
            for b in self.ht[t].buckets.iter_mut() {
                let mut e = b.take();
                while let Some(c) = e {
                    e = c.next();
                    c.free();
                }
            }
        }
        self.ht = [Table::default(), Table::default()];
        self.rehash_idx = None;
        self.volatile = Vec::new();
    }
}

impl Drop for Dict {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::entry::NewValue;
    use std::collections::HashSet;

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
            d.remove(format!("k{i}").as_bytes()).unwrap().free();
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
        assert_eq!(d.volatile_at(0).key(), b"a");
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
                seen.insert(e.key().to_vec());
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
                        e.free();
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
            assert!(e.key().starts_with(b"k"));
        }
    }
}
