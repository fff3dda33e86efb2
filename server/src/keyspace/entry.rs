//! Keyspace entries: **one allocation per key** holding the object metadata, the optional
//! expire, the key bytes and the value.
//!
//! Why: memory per key is a product target. Redis spends a dictEntry (24 B), a robj (16 B), a
//! key sds and, for volatile keys, a second dictEntry. Here the same information is packed into
//! one block with a 4-byte header and no chain pointer (the dict's buckets point at entries
//! directly, see `dict.rs`), so a 10-byte key with a 16-byte value takes exactly 32 bytes, one
//! jemalloc size class, plus its 8-byte bucket slot.
//!
//! Layout (byte offsets; multi-byte fields are little-endian and read unaligned):
//! ```text
//! 0..3    lru        24 bits   LRU clock (s) or LFU (16-bit minutes + 8-bit counter), as robj.lru
//! 3       meta       u8        bits 0..2 ObjType, bits 3..6 encoding code, bit 7 HAS_EXPIRE
//! 4..     [expire    i64 ms    absolute unix time in ms        ] only if HAS_EXPIRE
//!         [vindex    u32       position in the volatile-key list] only if HAS_EXPIRE
//!         keylen     varint    LEB128
//!         key        bytes
//!         value      int        -> i64 (8)
//!                    embstr     -> varint len + bytes
//!                    otherwise  -> *mut Value (8): raw strings and every collection type
//! ```
//! The encoding code is Redis's `OBJ_ENCODING_*` number, except that code 3 (Redis's retired
//! zipmap number) marks an int standing for one of Redis's shared integers.
//! Entries are created and freed only by [`super::dict::Dict`] and `Db`; everything else sees
//! them through [`EntryPtr`] accessors, valid until the next mutation of the dict.

use crate::object::{Encoding, ObjType, Value};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::{self, NonNull};

const OFF_LRU: usize = 0;
const OFF_META: usize = 3;
const OFF_BODY: usize = 4;

const META_EXPIRE: u8 = 1 << 7;
const META_TYPE_MASK: u8 = 0b111;
const META_ENC_SHIFT: u8 = 3;
const META_ENC_MASK: u8 = 0b1111 << META_ENC_SHIFT;
/// Encoding code of an int standing for a Redis shared integer.
const ENC_SHARED_INT: u8 = 3;

/// Bytes of the expire block (i64 ms + u32 volatile index).
const EXPIRE_LEN: usize = 12;

/// How the value bytes are stored inside the entry (derived from the encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    /// A 64-bit integer (int-encoded strings).
    Int,
    /// Length-prefixed bytes inside the entry (embstr).
    Inline,
    /// A pointer to a heap [`Value`].
    Boxed,
}

/// The value to store in a new entry.
pub enum NewValue<'a> {
    /// An integer-encoded string.
    Int(i64),
    /// An embstr-encoded string, stored inline.
    Inline(&'a [u8]),
    /// A heap value (raw string or collection) with its type and encoding.
    Boxed(Box<Value>, ObjType, Encoding),
}

/// A borrowed view of an entry's value.
pub enum ValueRef<'a> {
    /// Integer-encoded string.
    Int(i64),
    /// Embstr bytes.
    Inline(&'a [u8]),
    /// Heap value.
    Boxed(&'a Value),
}

#[inline]
fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[inline]
unsafe fn write_varint(mut p: *mut u8, mut v: usize) -> *mut u8 {
    while v >= 0x80 {
        *p = (v as u8) | 0x80;
        p = p.add(1);
        v >>= 7;
    }
    *p = v as u8;
    p.add(1)
}

#[inline]
unsafe fn read_varint(mut p: *const u8) -> (usize, *const u8) {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let b = *p;
        p = p.add(1);
        v |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (v, p);
        }
        shift += 7;
    }
}

/// A pointer to a live entry. Copyable; validity is the dict's business (see module docs).
/// Entries are at least 8-byte aligned (the dict uses the low bits of bucket slots as tags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EntryPtr(pub(crate) NonNull<u8>);

// Entries are plain memory owned by one dict; moving a whole dict to the lazy-free thread is
// safe because nothing else references its entries at that point.
unsafe impl Send for EntryPtr {}

impl EntryPtr {
    /// Allocation size of an entry with these parts.
    fn size_for(key_len: usize, has_expire: bool, value: &NewValue) -> usize {
        OFF_BODY
            + if has_expire { EXPIRE_LEN } else { 0 }
            + varint_len(key_len)
            + key_len
            + match value {
                NewValue::Int(_) | NewValue::Boxed(..) => 8,
                NewValue::Inline(b) => varint_len(b.len()) + b.len(),
            }
    }

    /// Allocates a new entry (not linked anywhere; volatile index 0).
    pub(crate) fn alloc(key: &[u8], value: NewValue, expire: Option<i64>, lru: u32) -> EntryPtr {
        let size = Self::size_for(key.len(), expire.is_some(), &value);
        let layout = Layout::from_size_align(size, 8).expect("entry layout");
        unsafe {
            let base = alloc(layout);
            if base.is_null() {
                handle_alloc_error(layout);
            }
            let (otype, enc) = match &value {
                NewValue::Int(_) => (ObjType::String, Encoding::Int),
                NewValue::Inline(_) => (ObjType::String, Encoding::Embstr),
                NewValue::Boxed(_, t, e) => (*t, *e),
            };
            let l = lru.to_le_bytes();
            *base.add(OFF_LRU) = l[0];
            *base.add(OFF_LRU + 1) = l[1];
            *base.add(OFF_LRU + 2) = l[2];
            let mut meta = (otype as u8) | ((enc as u8) << META_ENC_SHIFT);
            let mut p = base.add(OFF_BODY);
            if let Some(when) = expire {
                meta |= META_EXPIRE;
                ptr::write_unaligned(p as *mut i64, when);
                ptr::write_unaligned(p.add(8) as *mut u32, 0);
                p = p.add(EXPIRE_LEN);
            }
            *base.add(OFF_META) = meta;
            p = write_varint(p, key.len());
            ptr::copy_nonoverlapping(key.as_ptr(), p, key.len());
            p = p.add(key.len());
            match value {
                NewValue::Int(v) => ptr::write_unaligned(p as *mut i64, v),
                NewValue::Inline(b) => {
                    p = write_varint(p, b.len());
                    ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
                }
                NewValue::Boxed(v, _, _) => {
                    ptr::write_unaligned(p as *mut *mut Value, Box::into_raw(v));
                }
            }
            EntryPtr(NonNull::new_unchecked(base))
        }
    }

    #[inline]
    fn base(self) -> *mut u8 {
        self.0.as_ptr()
    }

    #[inline]
    fn meta(self) -> u8 {
        unsafe { *self.base().add(OFF_META) }
    }

    #[inline]
    fn enc_code(self) -> u8 {
        (self.meta() & META_ENC_MASK) >> META_ENC_SHIFT
    }

    /// True if the value stands for one of Redis's shared integer objects.
    #[inline]
    pub fn is_shared(self) -> bool {
        self.enc_code() == ENC_SHARED_INT
    }

    /// Marks an int value as a shared integer (or not); no effect on other encodings.
    #[inline]
    pub fn set_shared(self, shared: bool) {
        let code = self.enc_code();
        if code != Encoding::Int as u8 && code != ENC_SHARED_INT {
            return;
        }
        let new = if shared {
            ENC_SHARED_INT
        } else {
            Encoding::Int as u8
        };
        unsafe {
            let p = self.base().add(OFF_META);
            *p = (*p & !META_ENC_MASK) | (new << META_ENC_SHIFT);
        }
    }

    /// True if the key has a TTL.
    #[inline]
    pub fn has_expire(self) -> bool {
        self.meta() & META_EXPIRE != 0
    }

    /// The absolute expire time in unix ms, if any.
    #[inline]
    pub fn expire(self) -> Option<i64> {
        if self.has_expire() {
            unsafe { Some(ptr::read_unaligned(self.base().add(OFF_BODY) as *const i64)) }
        } else {
            None
        }
    }

    /// Overwrites the expire time of an entry that has one (no reallocation).
    #[inline]
    pub(crate) fn set_expire_in_place(self, when: i64) {
        debug_assert!(self.has_expire());
        unsafe { ptr::write_unaligned(self.base().add(OFF_BODY) as *mut i64, when) }
    }

    /// Position in the dict's volatile-key list (entries with an expire only).
    #[inline]
    pub(crate) fn volatile_index(self) -> usize {
        debug_assert!(self.has_expire());
        unsafe { ptr::read_unaligned(self.base().add(OFF_BODY + 8) as *const u32) as usize }
    }

    #[inline]
    pub(crate) fn set_volatile_index(self, i: usize) {
        debug_assert!(self.has_expire());
        unsafe { ptr::write_unaligned(self.base().add(OFF_BODY + 8) as *mut u32, i as u32) }
    }

    /// The 24-bit LRU/LFU field.
    #[inline]
    pub fn lru(self) -> u32 {
        unsafe {
            let p = self.base().add(OFF_LRU);
            (*p as u32) | ((*p.add(1) as u32) << 8) | ((*p.add(2) as u32) << 16)
        }
    }

    /// Sets the 24-bit LRU/LFU field (higher bits ignored).
    #[inline]
    pub fn set_lru(self, v: u32) {
        unsafe {
            let p = self.base().add(OFF_LRU);
            *p = v as u8;
            *p.add(1) = (v >> 8) as u8;
            *p.add(2) = (v >> 16) as u8;
        }
    }

    /// The value's type.
    #[inline]
    pub fn obj_type(self) -> ObjType {
        ObjType::from_u8(self.meta() & META_TYPE_MASK)
    }

    /// The value's encoding.
    #[inline]
    pub fn encoding(self) -> Encoding {
        match self.enc_code() {
            ENC_SHARED_INT => Encoding::Int,
            c => Encoding::from_u8(c),
        }
    }

    #[inline]
    fn storage(self) -> Storage {
        match self.enc_code() {
            c if c == Encoding::Int as u8 || c == ENC_SHARED_INT => Storage::Int,
            c if c == Encoding::Embstr as u8 => Storage::Inline,
            _ => Storage::Boxed,
        }
    }

    #[inline]
    fn key_start(self) -> (usize, *const u8) {
        unsafe {
            let off = OFF_BODY + if self.has_expire() { EXPIRE_LEN } else { 0 };
            read_varint(self.base().add(off))
        }
    }

    /// The key bytes.
    #[inline]
    pub fn key<'a>(self) -> &'a [u8] {
        let (len, p) = self.key_start();
        unsafe { std::slice::from_raw_parts(p, len) }
    }

    #[inline]
    fn value_ptr(self) -> *mut u8 {
        let (len, p) = self.key_start();
        unsafe { p.add(len) as *mut u8 }
    }

    /// A view of the value.
    #[inline]
    pub fn value<'a>(self) -> ValueRef<'a> {
        let p = self.value_ptr();
        unsafe {
            match self.storage() {
                Storage::Int => ValueRef::Int(ptr::read_unaligned(p as *const i64)),
                Storage::Inline => {
                    let (len, d) = read_varint(p);
                    ValueRef::Inline(std::slice::from_raw_parts(d, len))
                }
                Storage::Boxed => ValueRef::Boxed(&*ptr::read_unaligned(p as *const *const Value)),
            }
        }
    }

    /// Mutable access to a boxed value (None for int/inline storage).
    #[inline]
    pub fn boxed_mut<'a>(self) -> Option<&'a mut Value> {
        if self.storage() != Storage::Boxed {
            return None;
        }
        unsafe {
            Some(&mut *ptr::read_unaligned(
                self.value_ptr() as *const *mut Value
            ))
        }
    }

    /// Overwrites an integer-storage value in place. Returns false if the entry is not
    /// integer-stored.
    #[inline]
    pub fn set_int_in_place(self, v: i64) -> bool {
        if self.storage() != Storage::Int {
            return false;
        }
        unsafe { ptr::write_unaligned(self.value_ptr() as *mut i64, v) };
        true
    }

    /// Total allocation size in bytes (what was passed to the allocator).
    pub fn alloc_size(self) -> usize {
        let (klen, kp) = self.key_start();
        let head = kp as usize - self.base() as usize;
        head + klen
            + match self.storage() {
                Storage::Int | Storage::Boxed => 8,
                Storage::Inline => {
                    let (vlen, _) = unsafe { read_varint(self.value_ptr()) };
                    varint_len(vlen) + vlen
                }
            }
    }

    /// Takes the boxed value out (for moving it into a new entry) and replaces it by nothing.
    /// The entry must then be freed with [`EntryPtr::free_shell`].
    pub(crate) fn take_boxed(self) -> Option<Box<Value>> {
        if self.storage() != Storage::Boxed {
            return None;
        }
        unsafe {
            let p = self.value_ptr() as *mut *mut Value;
            let raw = ptr::read_unaligned(p);
            ptr::write_unaligned(p, ptr::null_mut());
            Some(Box::from_raw(raw))
        }
    }

    /// Frees the entry and its value.
    pub(crate) fn free(self) {
        if self.storage() == Storage::Boxed {
            unsafe {
                let raw = ptr::read_unaligned(self.value_ptr() as *const *mut Value);
                if !raw.is_null() {
                    drop(Box::from_raw(raw));
                }
            }
        }
        self.free_shell();
    }

    /// Frees the entry block only (its boxed value was taken or is null).
    pub(crate) fn free_shell(self) {
        let size = self.alloc_size();
        unsafe { dealloc(self.base(), Layout::from_size_align_unchecked(size, 8)) }
    }

    /// Heap bytes held by the value beyond the entry itself (for MEMORY-style estimates).
    pub fn value_heap_size(self) -> usize {
        match self.value() {
            ValueRef::Boxed(v) => v.heap_size(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let e = EntryPtr::alloc(b"key:1", NewValue::Inline(b"value:1"), None, 0x123456);
        assert_eq!(e.key(), b"key:1");
        assert!(!e.has_expire());
        assert_eq!(e.expire(), None);
        assert_eq!(e.lru(), 0x123456);
        assert_eq!(e.obj_type(), ObjType::String);
        assert_eq!(e.encoding(), Encoding::Embstr);
        assert!(matches!(e.value(), ValueRef::Inline(b"value:1")));
        assert_eq!(e.alloc_size(), 4 + 1 + 5 + 1 + 7);
        assert_eq!(e.0.as_ptr() as usize % 8, 0, "entries are 8-aligned");
        e.free();

        let long_key = vec![b'k'; 300];
        let e = EntryPtr::alloc(&long_key, NewValue::Int(-42), Some(1_700_000_000_000), 7);
        assert_eq!(e.key(), &long_key[..]);
        assert_eq!(e.expire(), Some(1_700_000_000_000));
        e.set_volatile_index(99);
        assert_eq!(e.volatile_index(), 99);
        e.set_expire_in_place(5);
        assert_eq!(e.expire(), Some(5));
        assert!(matches!(e.value(), ValueRef::Int(-42)));
        assert!(e.set_int_in_place(7));
        assert!(matches!(e.value(), ValueRef::Int(7)));
        assert_eq!(e.encoding(), Encoding::Int);
        assert!(!e.is_shared());
        e.set_shared(true);
        assert!(e.is_shared());
        assert_eq!(e.encoding(), Encoding::Int);
        assert!(
            matches!(e.value(), ValueRef::Int(7)),
            "shared ints keep int storage"
        );
        assert_eq!(e.expire(), Some(5), "meta changes keep the expire flag");
        e.free();

        let e = EntryPtr::alloc(
            b"r",
            NewValue::Boxed(
                Box::new(Value::Str(vec![1, 2, 3])),
                ObjType::String,
                Encoding::Raw,
            ),
            None,
            0,
        );
        e.set_shared(true);
        assert!(!e.is_shared(), "only ints can be shared");
        if let Some(Value::Str(v)) = e.boxed_mut() {
            v.push(4);
        }
        assert!(matches!(e.value(), ValueRef::Boxed(Value::Str(v)) if v == &[1, 2, 3, 4]));
        e.free();
    }

    #[test]
    fn the_benchmark_entry_fits_32_bytes() {
        // DEBUG POPULATE 1000000 key 16: "key:999999" and a 16-byte value.
        let e = EntryPtr::alloc(b"key:999999", NewValue::Inline(&[b'v'; 16]), None, 0);
        assert!(e.alloc_size() <= 32, "{}", e.alloc_size());
        e.free();
    }
}
