//! Keyspace entries: **one allocation per key** holding the bucket-chain link, the object
//! metadata, the optional expire, the key bytes and the value.
//!
//! Why: memory per key is a product target (<= 63 bytes for a 10-byte key with a 16-byte value,
//! against ~104 for Redis 7.0). Redis spends a dictEntry (24 B), a robj (16 B), a key sds and,
//! for volatile keys, a second dictEntry. Here the same information is packed into one block
//! whose size class is usually 48 bytes, plus an 8-byte bucket slot.
//!
//! Layout (byte offsets; multi-byte fields are little-endian and read unaligned):
//! ```text
//! 0..8    next       *mut u8   next entry in the same bucket (intrusive chain)
//! 8..11   lru        24 bits   LRU clock (s) or LFU (16-bit minutes + 8-bit counter), as robj.lru
//! 11      kind       u8        low nibble ObjType, high nibble Encoding (OBJECT ENCODING)
//! 12      flags      u8        bit 0 HAS_EXPIRE; bits 1..2 Storage; bit 3 SHARED (int)
//! 13..    [expire    i64 ms    absolute unix time in ms        ] only if HAS_EXPIRE
//!         [vindex    u32       position in the volatile-key list] only if HAS_EXPIRE
//!         keylen     varint    LEB128
//!         key        bytes
//!         value      Storage::Int    -> i64 (8)
//!                    Storage::Inline -> varint len + bytes (embstr)
//!                    Storage::Boxed  -> *mut Value (8): raw strings and every collection type
//! ```
//! Entries are created and freed only by [`super::dict::Dict`]; everything else sees them
//! through [`EntryPtr`] accessors, valid until the next mutation of the dict.

use crate::object::{Encoding, ObjType, Value};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::{self, NonNull};

const OFF_NEXT: usize = 0;
const OFF_LRU: usize = 8;
const OFF_KIND: usize = 11;
const OFF_FLAGS: usize = 12;
const OFF_BODY: usize = 13;

const FLAG_EXPIRE: u8 = 1;
/// The value is one of Redis's shared integers (OBJECT REFCOUNT reports INT_MAX).
const FLAG_SHARED: u8 = 1 << 3;
const STORAGE_SHIFT: u8 = 1;
const STORAGE_MASK: u8 = 0b110;

/// Bytes of the expire block (i64 ms + u32 volatile index).
const EXPIRE_LEN: usize = 12;

/// How the value bytes are stored inside the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A 64-bit integer (Encoding::Int strings).
    Int = 0,
    /// Length-prefixed bytes inside the entry (Encoding::Embstr strings).
    Inline = 1,
    /// A pointer to a heap [`Value`].
    Boxed = 2,
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

    /// Allocates a new entry (not linked anywhere: `next` is null, volatile index 0).
    pub(crate) fn alloc(key: &[u8], value: NewValue, expire: Option<i64>, lru: u32) -> EntryPtr {
        let size = Self::size_for(key.len(), expire.is_some(), &value);
        let layout = Layout::from_size_align(size, 8).expect("entry layout");
        unsafe {
            let base = alloc(layout);
            if base.is_null() {
                handle_alloc_error(layout);
            }
            ptr::write_unaligned(base.add(OFF_NEXT) as *mut *mut u8, ptr::null_mut());
            let (otype, enc, storage) = match &value {
                NewValue::Int(_) => (ObjType::String, Encoding::Int, Storage::Int),
                NewValue::Inline(_) => (ObjType::String, Encoding::Embstr, Storage::Inline),
                NewValue::Boxed(_, t, e) => (*t, *e, Storage::Boxed),
            };
            let l = lru.to_le_bytes();
            *base.add(OFF_LRU) = l[0];
            *base.add(OFF_LRU + 1) = l[1];
            *base.add(OFF_LRU + 2) = l[2];
            *base.add(OFF_KIND) = (otype as u8) | ((enc as u8) << 4);
            let mut flags = (storage as u8) << STORAGE_SHIFT;
            let mut p = base.add(OFF_BODY);
            if let Some(when) = expire {
                flags |= FLAG_EXPIRE;
                ptr::write_unaligned(p as *mut i64, when);
                ptr::write_unaligned(p.add(8) as *mut u32, 0);
                p = p.add(EXPIRE_LEN);
            }
            *base.add(OFF_FLAGS) = flags;
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
    fn flags(self) -> u8 {
        unsafe { *self.base().add(OFF_FLAGS) }
    }

    /// The next entry in the bucket chain.
    #[inline]
    pub(crate) fn next(self) -> Option<EntryPtr> {
        unsafe { NonNull::new(ptr::read_unaligned(self.base() as *const *mut u8)).map(EntryPtr) }
    }

    /// Sets the chain link.
    #[inline]
    pub(crate) fn set_next(self, next: Option<EntryPtr>) {
        let raw = next.map_or(ptr::null_mut(), |e| e.base());
        unsafe { ptr::write_unaligned(self.base() as *mut *mut u8, raw) }
    }

    /// True if the value stands for one of Redis's shared integer objects.
    #[inline]
    pub fn is_shared(self) -> bool {
        self.flags() & FLAG_SHARED != 0
    }

    /// Marks the value as a shared integer (or not).
    #[inline]
    pub fn set_shared(self, shared: bool) {
        unsafe {
            let p = self.base().add(OFF_FLAGS);
            *p = if shared {
                *p | FLAG_SHARED
            } else {
                *p & !FLAG_SHARED
            };
        }
    }

    /// True if the key has a TTL.
    #[inline]
    pub fn has_expire(self) -> bool {
        self.flags() & FLAG_EXPIRE != 0
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
        ObjType::from_u8(unsafe { *self.base().add(OFF_KIND) } & 0x0f)
    }

    /// The value's encoding.
    #[inline]
    pub fn encoding(self) -> Encoding {
        Encoding::from_u8(unsafe { *self.base().add(OFF_KIND) } >> 4)
    }

    #[inline]
    fn storage(self) -> Storage {
        match (self.flags() & STORAGE_MASK) >> STORAGE_SHIFT {
            0 => Storage::Int,
            1 => Storage::Inline,
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
        assert_eq!(e.alloc_size(), 13 + 1 + 5 + 1 + 7);
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
        if let Some(Value::Str(v)) = e.boxed_mut() {
            v.push(4);
        }
        assert!(matches!(e.value(), ValueRef::Boxed(Value::Str(v)) if v == &[1, 2, 3, 4]));
        e.free();
    }

    #[test]
    fn the_benchmark_entry_fits_48_bytes() {
        // DEBUG POPULATE 1000000 key 16: "key:999999" and a 16-byte value.
        let e = EntryPtr::alloc(b"key:999999", NewValue::Inline(&[b'v'; 16]), None, 0);
        assert!(e.alloc_size() <= 48, "{}", e.alloc_size());
        e.free();
    }
}
