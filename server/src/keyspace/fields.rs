//! [`FieldTable`]: the hashtable encoding of big sets and hashes (Redis's `OBJ_ENCODING_HT`), a
//! safe table of fields (set members, hash fields) with optional values, built on the same
//! [`Dict`] as the keyspace: incremental rehashing, Redis's SCAN cursor (so SSCAN/HSCAN keep
//! the guarantee that every field present for the whole scan is returned at least once),
//! fair random sampling (SRANDMEMBER, SPOP, HRANDFIELD), and hash field TTLs (Redis 7.4's
//! HFE): fields with a TTL are listed in the dict's volatile list, kept as a binary min-heap on
//! the expire time, so the earliest one is found in O(1) and the active expiry removes fields
//! in expire order, a bounded number at a time (Redis keeps them in per-hash `ebuckets`).
//!
//! Each field is one allocation: `[vindex u32][flen varint][field][vlen varint][value]` and,
//! only for a field with a TTL (`vindex != NONE`), `[expire i64 LE, unix ms]` after the value;
//! fields without a TTL do not pay for it. Setting or removing a TTL replaces the allocation
//! (a new TTL on a field that has one is written in place). The value is empty for set
//! members. The raw pointers never leave this file; callers get `&[u8]` views borrowed from
//! the table.

use super::dict::{Dict, DictItem};
use super::entry::read_varint;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

/// One field allocation (see the module docs for the layout). Private to this file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
struct FieldPtr(NonNull<u8>);

// SAFETY: a field is plain memory exclusively owned by one table; moving the table (to the
// lazy-free thread) moves that ownership.
unsafe impl Send for FieldPtr {}

const VINDEX_NONE: u32 = u32::MAX;

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl FieldPtr {
    /// A new field; with `expire`, its TTL (unix ms) is stored after the value and the
    /// volatile index starts at 0 (any value but NONE: the dict sets it when linking).
    fn alloc(field: &[u8], value: &[u8], expire: Option<i64>) -> FieldPtr {
        let mut body = Vec::with_capacity(4 + 10 + field.len() + value.len() + 8);
        let vindex = if expire.is_some() { 0 } else { VINDEX_NONE };
        body.extend_from_slice(&vindex.to_le_bytes());
        put_varint(&mut body, field.len());
        body.extend_from_slice(field);
        put_varint(&mut body, value.len());
        body.extend_from_slice(value);
        if let Some(t) = expire {
            body.extend_from_slice(&t.to_le_bytes());
        }
        let layout = Layout::from_size_align(body.len(), 8).expect("field layout");
        // SAFETY: non-zero size (at least 4 + 2 bytes).
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: `p` has room for `body.len()` bytes; the regions do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), p, body.len()) };
        // SAFETY: checked non-null above.
        FieldPtr(unsafe { NonNull::new_unchecked(p) })
    }

    /// (field, value, total size).
    ///
    /// # Safety
    /// The field must be live for `'a`.
    unsafe fn parts<'a>(self) -> (&'a [u8], &'a [u8], usize) {
        let base = self.0.as_ptr();
        let ttl = if self.vindex() != VINDEX_NONE { 8 } else { 0 };
        // SAFETY: layout written by `alloc`: vindex, then two length-prefixed byte strings
        // (then the 8-byte expire when the field has a TTL).
        unsafe {
            let (flen, fp) = read_varint(base.add(4));
            let field = std::slice::from_raw_parts(fp, flen);
            let (vlen, vp) = read_varint(fp.add(flen));
            let value = std::slice::from_raw_parts(vp, vlen);
            let total = vp.add(vlen) as usize - base as usize + ttl;
            (field, value, total)
        }
    }

    /// Pointer to the 8-byte expire of a field with a TTL.
    ///
    /// # Safety
    /// The field must be live and have a TTL (`vindex != NONE`).
    unsafe fn expire_ptr(self) -> *mut u8 {
        // SAFETY: forwarded contract; the expire is the allocation's last 8 bytes.
        unsafe {
            let (_, _, total) = self.parts();
            self.0.as_ptr().add(total - 8)
        }
    }

    /// The field's TTL (unix ms), if it has one.
    ///
    /// # Safety
    /// The field must be live.
    unsafe fn expire(self) -> Option<i64> {
        if self.vindex() == VINDEX_NONE {
            return None;
        }
        // SAFETY: live field with a TTL: 8 readable bytes, possibly unaligned.
        Some(unsafe { std::ptr::read_unaligned(self.expire_ptr() as *const i64) })
    }

    /// Overwrites the TTL of a field that has one.
    ///
    /// # Safety
    /// The field must be live and have a TTL.
    unsafe fn set_expire_in_place(self, t: i64) {
        // SAFETY: forwarded contract; the table owns the field exclusively.
        unsafe { std::ptr::write_unaligned(self.expire_ptr() as *mut i64, t) }
    }

    fn vindex(self) -> u32 {
        // SAFETY: the first 4 bytes of a live field are its volatile index.
        unsafe { std::ptr::read_unaligned(self.0.as_ptr() as *const u32) }
    }
}

// SAFETY: transparent over a non-null pointer to an 8-aligned allocation, live from `alloc`
// to `free_item`.
unsafe impl DictItem for FieldPtr {
    unsafe fn item_key<'a>(self) -> &'a [u8] {
        // SAFETY: forwarded contract.
        unsafe { self.parts().0 }
    }
    fn has_expire(self) -> bool {
        self.vindex() != VINDEX_NONE
    }
    fn volatile_index(self) -> usize {
        self.vindex() as usize
    }
    fn set_volatile_index(self, i: usize) {
        debug_assert!(i < VINDEX_NONE as usize, "volatile index overflow");
        // SAFETY: the first 4 bytes of a live field are its volatile index.
        unsafe { std::ptr::write_unaligned(self.0.as_ptr() as *mut u32, i as u32) }
    }
    const ORDERED: bool = true;
    fn expire_at(self) -> i64 {
        // SAFETY: the dict calls this only on linked (live) items with a TTL.
        unsafe { self.expire() }.unwrap_or(i64::MAX)
    }
    unsafe fn free_item(self) {
        // SAFETY: same size/alignment as in `alloc`; the caller frees each field once.
        unsafe {
            let (_, _, total) = self.parts();
            dealloc(self.0.as_ptr(), Layout::from_size_align_unchecked(total, 8));
        }
    }
}

/// The hashtable encoding of a set or a hash: fields with (for hashes) values.
pub struct FieldTable {
    dict: Dict<FieldPtr>,
    /// Bytes of field and value data (for MEMORY USAGE-style estimates).
    bytes: usize,
}

impl Default for FieldTable {
    fn default() -> Self {
        FieldTable::new()
    }
}

impl std::fmt::Debug for FieldTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldTable")
            .field("len", &self.len())
            .finish()
    }
}

impl Clone for FieldTable {
    fn clone(&self) -> Self {
        let mut t = FieldTable::new();
        t.reserve(self.len());
        self.for_each_ex(|f, v, exp| {
            t.insert_ex(f, v, exp);
        });
        t
    }
}

impl PartialEq for FieldTable {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut same = true;
        self.for_each_ex(|f, v, exp| {
            if other.get_ex(f) != Some((v, exp)) {
                same = false;
            }
        });
        same
    }
}

impl FieldTable {
    /// An empty table.
    pub fn new() -> FieldTable {
        FieldTable {
            dict: Dict::new(),
            bytes: 0,
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Pre-sizes for `n` fields (conversions from a listpack, RDB loading). Ignores sizes
    /// that cannot be allocated (the table then grows as usual).
    pub fn reserve(&mut self, n: usize) {
        let _ = self.dict.try_expand(n);
    }

    /// The value of `field` (empty for set members), if present.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        // SAFETY: a linked field is live while `self` is borrowed.
        self.dict.get(field).map(|p| unsafe { p.parts() }.1)
    }

    /// True if `field` is present.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.dict.get(field).is_some()
    }

    /// The value of `field` and its TTL (unix ms), if present.
    pub fn get_ex(&self, field: &[u8]) -> Option<(&[u8], Option<i64>)> {
        // SAFETY: a linked field is live while `self` is borrowed.
        self.dict
            .get(field)
            .map(|p| unsafe { (p.parts().1, p.expire()) })
    }

    /// Sets `field` to `value` (use `b""` for set members), without a TTL (a TTL it had is
    /// cleared, as `hashTypeSet`). Returns true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.insert_ex(field, value, None)
    }

    /// Sets `field` to `value` with the TTL `expire` (unix ms; None: no TTL). Returns true if
    /// the field is new.
    pub fn insert_ex(&mut self, field: &[u8], value: &[u8], expire: Option<i64>) -> bool {
        let new = FieldPtr::alloc(field, value, expire);
        match self.dict.find(field) {
            Some(old) => {
                // SAFETY: `old` is linked (live) until `replace` frees it.
                let (_, ov, _) = unsafe { old.parts() };
                self.bytes = self.bytes - ov.len() + value.len();
                self.dict.replace(old, new);
                false
            }
            None => {
                self.bytes += field.len() + value.len();
                self.dict.insert(new);
                true
            }
        }
    }

    /// Sets `field`'s value keeping its TTL (HINCRBY, HINCRBYFLOAT). Returns true if the
    /// field is new (then without a TTL).
    pub fn insert_keep_ttl(&mut self, field: &[u8], value: &[u8]) -> bool {
        let exp = self.get_ex(field).and_then(|(_, e)| e);
        self.insert_ex(field, value, exp)
    }

    /// Gives an existing `field` the TTL `expire` (None removes it). Returns false if the
    /// field is absent.
    pub fn set_expire(&mut self, field: &[u8], expire: Option<i64>) -> bool {
        let Some(p) = self.dict.find(field) else {
            return false;
        };
        // SAFETY: `p` is linked (live) until `replace` frees it; its bytes are copied first.
        let (f, v, old) = unsafe {
            let (f, v, _) = p.parts();
            (f, v, p.expire())
        };
        match (old, expire) {
            (None, None) => {}
            (Some(_), Some(t)) => {
                // SAFETY: live field with a TTL, exclusively borrowed through `self`.
                unsafe { p.set_expire_in_place(t) };
                self.dict.volatile_changed(p);
            }
            _ => {
                let new = FieldPtr::alloc(f, v, expire);
                self.dict.replace(p, new);
            }
        }
        true
    }

    /// Number of fields with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.dict.volatile_len()
    }

    /// The earliest field TTL (unix ms), if any field has one.
    pub fn min_expire(&self) -> Option<i64> {
        // SAFETY: linked fields are live.
        self.dict
            .volatile_first()
            .and_then(|p| unsafe { p.expire() })
    }

    /// Removes the field with the earliest TTL if that TTL is `<= now_ms`, returning its
    /// name (the active expiry's step, in expire order).
    pub fn pop_expired(&mut self, now_ms: i64) -> Option<Vec<u8>> {
        let p = self.dict.volatile_first()?;
        // SAFETY: linked, live.
        let (f, exp) = unsafe { (p.parts().0, p.expire()) };
        if exp? > now_ms {
            return None;
        }
        let name = f.to_vec();
        self.remove(&name);
        Some(name)
    }

    /// Removes `field`. Returns true if it was present.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some(p) = self.dict.find(field) else {
            return false;
        };
        self.dict.remove_entry(p);
        // SAFETY: just unlinked: live until freed here, once.
        unsafe {
            let (f, v, _) = p.parts();
            self.bytes -= f.len() + v.len();
            p.free_item();
        }
        true
    }

    /// A uniformly chosen field and its value (`dictGetFairRandomKey`), None if empty.
    pub fn random(&mut self) -> Option<(&[u8], &[u8])> {
        let p = self.dict.random()?;
        // SAFETY: linked, live while `self` is borrowed.
        let (f, v, _) = unsafe { p.parts() };
        Some((f, v))
    }

    /// One SCAN step (HSCAN/SSCAN) from `cursor`; calls `f(field, value)` for every field of
    /// the visited buckets and returns the next cursor (0 when done). Same guarantee as the
    /// keyspace's SCAN (Redis `dictScan`).
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        self.dict.scan(cursor, |p| {
            // SAFETY: linked, live while `self` is borrowed for 'a.
            let (k, v, _) = unsafe { p.parts() };
            f(k, v)
        })
    }

    /// One SCAN step, as [`FieldTable::scan`], also passing each field's TTL.
    pub fn scan_ex<'a>(
        &'a self,
        cursor: u64,
        mut f: impl FnMut(&'a [u8], &'a [u8], Option<i64>),
    ) -> u64 {
        self.dict.scan(cursor, |p| {
            // SAFETY: linked, live while `self` is borrowed for 'a.
            let ((k, v, _), exp) = unsafe { (p.parts(), p.expire()) };
            f(k, v, exp)
        })
    }

    /// Calls `f(field, value, ttl)` for every field (in table order).
    pub fn for_each_ex<'a>(&'a self, mut f: impl FnMut(&'a [u8], &'a [u8], Option<i64>)) {
        self.dict.for_each(|p| {
            // SAFETY: linked, live while `self` is borrowed for 'a.
            let ((k, v, _), exp) = unsafe { (p.parts(), p.expire()) };
            f(k, v, exp)
        })
    }

    /// Calls `f(field, value)` for every field (in table order).
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(&'a [u8], &'a [u8])) {
        self.dict.for_each(|p| {
            // SAFETY: linked, live while `self` is borrowed for 'a.
            let (k, v, _) = unsafe { p.parts() };
            f(k, v)
        })
    }

    /// MEMORY USAGE sampling: calls `f(bytes)` with the allocation size (requested bytes)
    /// of up to `limit` fields, visited in SCAN order from cursor 0 (Redis's `dictNext` walk
    /// from the start of the table).
    pub fn sample_alloc_sizes(&self, limit: usize, mut f: impl FnMut(usize)) {
        let mut seen = 0usize;
        let mut cursor = 0u64;
        loop {
            cursor = self.dict.scan(cursor, |p| {
                if seen < limit {
                    // SAFETY: linked, live while `self` is borrowed.
                    let (_, _, size) = unsafe { p.parts() };
                    f(size);
                    seen += 1;
                }
            });
            if cursor == 0 || seen >= limit {
                break;
            }
        }
    }

    /// Bytes of the table's bucket arrays, overflow blocks and volatile list.
    pub fn table_overhead_bytes(&self) -> usize {
        self.dict.overhead_bytes()
    }

    /// Approximate heap bytes (fields, values, table overhead).
    pub fn heap_size(&self) -> usize {
        self.bytes + self.len() * 16 + self.volatile_len() * 8 + self.dict.overhead_bytes()
    }

    /// Incremental rehash work for the cron (returns true if more is left).
    pub fn rehash_for(&mut self, budget: std::time::Duration) -> bool {
        self.dict.rehash_for(budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    /// A big set's or hash's table obeys the same pause as the keyspace while a fork child
    /// lives (Redis's `dict_can_resize` is global): no growth below the force ratio, no
    /// shrink, and everything still found; it catches up once resumed.
    #[test]
    fn collection_tables_pause_resizing_while_a_child_lives() {
        let mut t = FieldTable::new();
        for i in 0..64u32 {
            t.insert(format!("f{i}").as_bytes(), b"");
        }
        while t.dict.is_rehashing() {
            t.dict.rehash(100);
        }
        let before = t.dict.bucket_counts();
        super::super::dict::set_resize_avoid(true);
        for i in 64..200u32 {
            t.insert(format!("f{i}").as_bytes(), b"");
        }
        assert_eq!(t.dict.bucket_counts(), before, "no growth while paused");
        for i in 0..190u32 {
            t.remove(format!("f{i}").as_bytes());
        }
        assert_eq!(t.dict.bucket_counts(), before, "no shrink while paused");
        super::super::dict::set_resize_avoid(false);
        for i in 200..210u32 {
            t.insert(format!("f{i}").as_bytes(), b"");
        }
        // 20 fields in 64 buckets; down to 6 (at most 1/8 full) shrinks now.
        for i in 190..204u32 {
            t.remove(format!("f{i}").as_bytes());
        }
        assert_ne!(t.dict.bucket_counts(), before, "resizes again once resumed");
        assert_eq!(t.len(), 6);
        for i in 190..210u32 {
            assert_eq!(
                t.get(format!("f{i}").as_bytes()).is_some(),
                i >= 204,
                "f{i}"
            );
        }
    }

    #[test]
    fn samples_field_allocation_sizes() {
        let mut t = FieldTable::new();
        for i in 0..100u32 {
            t.insert(format!("f{i:03}").as_bytes(), b"value");
        }
        assert!(t.set_expire(b"f000", Some(1)));
        let mut n = 0;
        t.sample_alloc_sizes(5, |_| n += 1);
        assert_eq!(n, 5);
        let (mut all, mut n) = (0, 0);
        t.sample_alloc_sizes(usize::MAX, |s| {
            all += s;
            n += 1;
        });
        assert_eq!(n, 100);
        // vindex 4 + length 1 + 4 field bytes + length 1 + 5 value bytes; 8 more for the TTL.
        assert_eq!(all, 100 * 15 + 8);
        assert!(t.table_overhead_bytes() >= 100 * 8);
    }

    #[test]
    fn behaves_as_a_map_through_resizes() {
        let mut t = FieldTable::new();
        let mut model = BTreeMap::new();
        for i in 0..5000u32 {
            let f = format!("f{}", i % 3000).into_bytes();
            let v = vec![b'v'; (i % 300) as usize];
            assert_eq!(t.insert(&f, &v), model.insert(f.clone(), v).is_none());
            if i % 7 == 0 {
                let g = format!("f{}", i / 2).into_bytes();
                assert_eq!(t.remove(&g), model.remove(&g).is_some());
            }
        }
        assert_eq!(t.len(), model.len());
        for (f, v) in &model {
            assert_eq!(t.get(f), Some(&v[..]));
        }
        let mut seen = HashSet::new();
        let mut c = 0;
        loop {
            c = t.scan(c, |f, _| {
                seen.insert(f.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), model.len());
        let copy = t.clone();
        assert_eq!(copy, t);
        assert!(t.random().is_some());
        for f in model.keys() {
            assert!(t.remove(f));
        }
        assert!(t.is_empty());
        assert!(t.random().is_none());
    }

    #[test]
    fn ttls_match_a_model_and_expire_in_order() {
        let mut t = FieldTable::new();
        let mut model: BTreeMap<Vec<u8>, (Vec<u8>, Option<i64>)> = BTreeMap::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..4000 {
            let f = format!("f{}", rng.u32(..300)).into_bytes();
            match rng.u8(..6) {
                0 => {
                    let v = vec![b'x'; rng.usize(..20)];
                    assert_eq!(t.insert(&f, &v), !model.contains_key(&f));
                    model.insert(f, (v, None));
                }
                1 | 2 => {
                    let e = Some(rng.i64(0..1000)).filter(|_| rng.bool());
                    assert_eq!(t.set_expire(&f, e), model.contains_key(&f));
                    if let Some(m) = model.get_mut(&f) {
                        m.1 = e;
                    }
                }
                3 => {
                    let v = vec![b'y'; rng.usize(..20)];
                    let e = rng.i64(0..1000);
                    t.insert_ex(&f, &v, Some(e));
                    model.insert(f, (v, Some(e)));
                }
                4 => {
                    let v = b"k".to_vec();
                    t.insert_keep_ttl(&f, &v);
                    let old = model.get(&f).and_then(|m| m.1);
                    model.insert(f, (v, old));
                }
                _ => {
                    assert_eq!(t.remove(&f), model.remove(&f).is_some());
                }
            }
        }
        assert_eq!(t.len(), model.len());
        let with_ttl = model.values().filter(|m| m.1.is_some()).count();
        assert_eq!(t.volatile_len(), with_ttl);
        for (f, (v, e)) in &model {
            assert_eq!(t.get_ex(f), Some((&v[..], *e)));
        }
        assert_eq!(t.min_expire(), model.values().filter_map(|m| m.1).min());
        assert_eq!(t.clone(), t);
        // Expiry pops fields in TTL order, only those due.
        let mut last = i64::MIN;
        while let Some(f) = t.pop_expired(500) {
            let e = model.remove(&f).unwrap().1.unwrap();
            assert!(e >= last && e <= 500);
            last = e;
        }
        assert!(model.values().all(|m| m.1.is_none_or(|e| e > 500)));
        assert_eq!(t.len(), model.len());
    }
}
