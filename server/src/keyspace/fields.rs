//! [`FieldTable`]: the hashtable encoding of big sets and hashes (Redis's `OBJ_ENCODING_HT`), a
//! safe table of fields (set members, hash fields) with optional values, built on the same
//! [`Dict`] as the keyspace: incremental rehashing, Redis's SCAN cursor (so SSCAN/HSCAN keep
//! the guarantee that every field present for the whole scan is returned at least once),
//! fair random sampling (SRANDMEMBER, SPOP, HRANDFIELD), and a volatile list ready for hash
//! field TTLs.
//!
//! Each field is one allocation: `[vindex u32][flen varint][field][vlen varint][value]`, with
//! the value absent for set members (`vlen` = 0 and the table's `has_values` false). The raw
//! pointers never leave this file; callers get `&[u8]` views borrowed from the table.

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
    fn alloc(field: &[u8], value: &[u8]) -> FieldPtr {
        let mut body = Vec::with_capacity(4 + 10 + field.len() + value.len());
        body.extend_from_slice(&VINDEX_NONE.to_le_bytes());
        put_varint(&mut body, field.len());
        body.extend_from_slice(field);
        put_varint(&mut body, value.len());
        body.extend_from_slice(value);
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
        // SAFETY: layout written by `alloc`: vindex, then two length-prefixed byte strings.
        unsafe {
            let (flen, fp) = read_varint(base.add(4));
            let field = std::slice::from_raw_parts(fp, flen);
            let (vlen, vp) = read_varint(fp.add(flen));
            let value = std::slice::from_raw_parts(vp, vlen);
            let total = vp.add(vlen) as usize - base as usize;
            (field, value, total)
        }
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
        // SAFETY: the first 4 bytes of a live field are its volatile index.
        unsafe { std::ptr::write_unaligned(self.0.as_ptr() as *mut u32, i as u32) }
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
        self.for_each(|f, v| {
            t.insert(f, v);
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
        self.for_each(|f, v| {
            if other.get(f) != Some(v) {
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

    /// Sets `field` to `value` (use `b""` for set members). Returns true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let new = FieldPtr::alloc(field, value);
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

    /// Calls `f(field, value)` for every field (in table order).
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(&'a [u8], &'a [u8])) {
        self.dict.for_each(|p| {
            // SAFETY: linked, live while `self` is borrowed for 'a.
            let (k, v, _) = unsafe { p.parts() };
            f(k, v)
        })
    }

    /// Approximate heap bytes (fields, values, table overhead).
    pub fn heap_size(&self) -> usize {
        self.bytes + self.len() * 16 + self.dict.overhead_bytes()
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
}
