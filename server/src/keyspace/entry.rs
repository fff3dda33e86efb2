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
//! 3       meta       u8        bits 0..1 storage (int, shared int, inline, boxed), bit 7 HAS_EXPIRE
//! 4..     [expire    i64 ms    absolute unix time in ms        ] only if HAS_EXPIRE
//!         [vindex    u32       position in the volatile-key list] only if HAS_EXPIRE
//!         keylen     varint    LEB128
//!         key        bytes
//!         value      int        -> i64 (8)
//!                    inline     -> varint len + bytes (embstr)
//!                    boxed      -> pad to 8, then the `Value` itself (32 bytes, moved in):
//!                                  raw strings and every collection type
//! ```
//! A boxed value lives *inside* the entry (no second allocation, no pointer): for a
//! 10-byte key that is 48 bytes in one jemalloc size class, where a pointer to a separate
//! `Box<Value>` took 32 + 32. "Boxed" names the storage kind (a heap [`Value`] enum), not a
//! `Box`. A value moved out for a new entry ([`EntryPtr::take_boxed`]) leaves the TAKEN meta
//! bit, so freeing the shell does not drop it twice.
//! The entry records how the value is *stored*, not its encoding: int storage reports `int`,
//! inline storage `embstr`, and a boxed value reports what its representation is
//! ([`Value::encoding`]), so a collection that converts (listpack -> hashtable, ...) changes
//! `OBJECT ENCODING` without anyone rewriting a tag. "Shared int" is int storage standing for
//! one of Redis's shared integers (`OBJECT REFCOUNT` reports `INT_MAX`).
//!
//! Safety model: an [`EntryPtr`] is a raw pointer and this type is private to `keyspace/`.
//! Its invariant, kept by `Dict` and `Db`, is that a pointer held by them designates a live
//! allocation made by [`EntryPtr::alloc`]; entries are freed only after being unlinked. The
//! accessors that hand out references (`key`, `value`, `value_mut`) are `unsafe fn`: their
//! callers choose the lifetime and must tie it to a borrow of the owning dict (that is what
//! `Db`'s views [`super::Entry`] / [`super::EntryMut`] do). Everything outside `keyspace/` sees
//! entries only through those views, so safe code cannot keep a value across a mutation.

use crate::object::{Encoding, ObjType, Value};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::{self, NonNull};

const OFF_LRU: usize = 0;
const OFF_META: usize = 3;
const OFF_BODY: usize = 4;

const META_EXPIRE: u8 = 1 << 7;
/// The embedded value was moved out (`take_boxed`): the shell must not drop it.
const META_TAKEN: u8 = 1 << 6;
const META_STORAGE_MASK: u8 = 0b11;

/// Bytes of the expire block (i64 ms + u32 volatile index).
const EXPIRE_LEN: usize = 12;

/// How the value bytes are stored inside the entry (meta bits 0..1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Storage {
    /// A 64-bit integer (int-encoded strings).
    Int = 0,
    /// A 64-bit integer standing for one of Redis's shared integer objects.
    SharedInt = 1,
    /// Length-prefixed bytes inside the entry (embstr).
    Inline = 2,
    /// A [`Value`] embedded in the entry (8-aligned, after the key).
    Boxed = 3,
}

/// The value to store in a new entry.
pub enum NewValue<'a> {
    /// An integer-encoded string.
    Int(i64),
    /// An embstr-encoded string, stored inline.
    Inline(&'a [u8]),
    /// A heap value (raw string or collection); its type and encoding come from the value.
    /// It is moved into the entry.
    Boxed(Box<Value>),
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

/// # Safety
/// `p` must be valid for writes of `varint_len(v)` bytes.
#[inline]
unsafe fn write_varint(mut p: *mut u8, mut v: usize) -> *mut u8 {
    while v >= 0x80 {
        // SAFETY: the caller sized the buffer with varint_len(v).
        unsafe { *p = (v as u8) | 0x80 };
        // SAFETY: as above, still inside the sized region.
        p = unsafe { p.add(1) };
        v >>= 7;
    }
    // SAFETY: last byte of the sized region.
    unsafe {
        *p = v as u8;
        p.add(1)
    }
}

/// # Safety
/// `p` must point at a varint written by [`write_varint`] inside a live allocation.
#[inline]
pub(super) unsafe fn read_varint(mut p: *const u8) -> (usize, *const u8) {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        // SAFETY: the caller guarantees a complete varint at p.
        let b = unsafe { *p };
        // SAFETY: the varint continues (or ends) inside the allocation.
        p = unsafe { p.add(1) };
        v |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (v, p);
        }
        shift += 7;
    }
}

/// Bytes an embedded `Value` takes after `head` bytes of entry: padding to 8, then the value.
#[inline]
const fn embedded_len(head: usize) -> usize {
    head.next_multiple_of(8) - head + std::mem::size_of::<Value>()
}

// The embedded value's slot is aligned to 8 only.
const _: () = assert!(std::mem::align_of::<Value>() <= 8);

/// `p` rounded up to a multiple of 8 (entries are 8-aligned, so offsets and addresses agree).
#[inline]
fn align8(p: *mut u8) -> *mut u8 {
    let pad = (p as usize).next_multiple_of(8) - p as usize;
    p.wrapping_add(pad)
}

/// A pointer to a live entry (see the module's safety model). Copyable; private to
/// `keyspace/`. Entries are at least 8-byte aligned (the dict uses the low bits of bucket
/// slots as tags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub(crate) struct EntryPtr(NonNull<u8>);

// SAFETY: an entry is plain memory exclusively owned by one dict (or, once unlinked, by the
// one owner that unlinked it); moving a whole dict or an unlinked entry to the lazy-free
// thread moves that ownership, and `Value` is `Send` (checked at compile time in object.rs).
unsafe impl Send for EntryPtr {}

impl EntryPtr {
    /// Allocation size of an entry with these parts.
    fn size_for(key_len: usize, has_expire: bool, value: &NewValue) -> usize {
        let head =
            OFF_BODY + if has_expire { EXPIRE_LEN } else { 0 } + varint_len(key_len) + key_len;
        head + match value {
            NewValue::Int(_) => 8,
            NewValue::Inline(b) => varint_len(b.len()) + b.len(),
            NewValue::Boxed(..) => embedded_len(head),
        }
    }

    /// Allocates a new entry (not linked anywhere; volatile index 0, not shared).
    pub(crate) fn alloc(key: &[u8], value: NewValue, expire: Option<i64>, lru: u32) -> EntryPtr {
        let size = Self::size_for(key.len(), expire.is_some(), &value);
        let layout = Layout::from_size_align(size, 8).expect("entry layout");
        // SAFETY: `layout` has a non-zero size (at least OFF_BODY + 1 + 8 bytes).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            handle_alloc_error(layout);
        }
        let storage = match &value {
            NewValue::Int(_) => Storage::Int,
            NewValue::Inline(_) => Storage::Inline,
            NewValue::Boxed(_) => Storage::Boxed,
        };
        let l = lru.to_le_bytes();
        // SAFETY: every write below stays inside the `size` bytes just allocated: the offsets
        // add up exactly to `size_for` (header, optional expire block, varint key length, key,
        // value field), and unaligned writes are used for the multi-byte fields.
        unsafe {
            *base.add(OFF_LRU) = l[0];
            *base.add(OFF_LRU + 1) = l[1];
            *base.add(OFF_LRU + 2) = l[2];
            let mut meta = storage as u8;
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
                NewValue::Boxed(v) => {
                    // The value's slot is 8-aligned (entries are), inside `size` by
                    // `embedded_len`.
                    let slot = align8(p);
                    ptr::write(slot as *mut Value, *v);
                }
            }
            EntryPtr(NonNull::new_unchecked(base))
        }
    }

    /// The raw address (DEBUG OBJECT prints it).
    #[inline]
    pub(crate) fn as_ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }

    #[inline]
    fn base(self) -> *mut u8 {
        self.0.as_ptr()
    }

    #[inline]
    fn meta(self) -> u8 {
        // SAFETY: live entry (module invariant); the meta byte is inside the header.
        unsafe { *self.base().add(OFF_META) }
    }

    #[inline]
    fn set_meta(self, m: u8) {
        // SAFETY: as `meta`.
        unsafe { *self.base().add(OFF_META) = m }
    }

    /// How the value is stored.
    #[inline]
    pub(crate) fn storage(self) -> Storage {
        match self.meta() & META_STORAGE_MASK {
            0 => Storage::Int,
            1 => Storage::SharedInt,
            2 => Storage::Inline,
            _ => Storage::Boxed,
        }
    }

    /// True if the value stands for one of Redis's shared integer objects.
    #[inline]
    pub(crate) fn is_shared(self) -> bool {
        self.storage() == Storage::SharedInt
    }

    /// Marks an int value as a shared integer (or not); no effect on other storage.
    #[inline]
    pub(crate) fn set_shared(self, shared: bool) {
        let s = self.storage();
        if s != Storage::Int && s != Storage::SharedInt {
            return;
        }
        let new = if shared {
            Storage::SharedInt
        } else {
            Storage::Int
        };
        self.set_meta((self.meta() & !META_STORAGE_MASK) | new as u8);
    }

    /// True if the key has a TTL.
    #[inline]
    pub(crate) fn has_expire(self) -> bool {
        self.meta() & META_EXPIRE != 0
    }

    /// The absolute expire time in unix ms, if any.
    #[inline]
    pub(crate) fn expire(self) -> Option<i64> {
        if self.has_expire() {
            // SAFETY: live entry with HAS_EXPIRE: the i64 follows the header.
            unsafe { Some(ptr::read_unaligned(self.base().add(OFF_BODY) as *const i64)) }
        } else {
            None
        }
    }

    /// Overwrites the expire time of an entry that has one (no reallocation).
    #[inline]
    pub(crate) fn set_expire_in_place(self, when: i64) {
        assert!(self.has_expire());
        // SAFETY: checked above that the expire block exists.
        unsafe { ptr::write_unaligned(self.base().add(OFF_BODY) as *mut i64, when) }
    }

    /// Position in the dict's volatile-key list (entries with an expire only).
    #[inline]
    pub(crate) fn volatile_index(self) -> usize {
        assert!(self.has_expire());
        // SAFETY: checked above that the expire block (i64 + u32) exists.
        unsafe { ptr::read_unaligned(self.base().add(OFF_BODY + 8) as *const u32) as usize }
    }

    /// Records the entry's position in the volatile-key list.
    #[inline]
    pub(crate) fn set_volatile_index(self, i: usize) {
        assert!(self.has_expire());
        // SAFETY: checked above that the expire block exists.
        unsafe { ptr::write_unaligned(self.base().add(OFF_BODY + 8) as *mut u32, i as u32) }
    }

    /// The 24-bit LRU/LFU field.
    #[inline]
    pub(crate) fn lru(self) -> u32 {
        // SAFETY: live entry; bytes 0..3 are the LRU field.
        unsafe {
            let p = self.base().add(OFF_LRU);
            (*p as u32) | ((*p.add(1) as u32) << 8) | ((*p.add(2) as u32) << 16)
        }
    }

    /// Sets the 24-bit LRU/LFU field (higher bits ignored).
    #[inline]
    pub(crate) fn set_lru(self, v: u32) {
        // SAFETY: live entry; bytes 0..3 are the LRU field.
        unsafe {
            let p = self.base().add(OFF_LRU);
            *p = v as u8;
            *p.add(1) = (v >> 8) as u8;
            *p.add(2) = (v >> 16) as u8;
        }
    }

    /// The value's type (boxed values are asked).
    #[inline]
    pub(crate) fn obj_type(self) -> ObjType {
        match self.storage() {
            Storage::Int | Storage::SharedInt | Storage::Inline => ObjType::String,
            // SAFETY: the reference does not outlive this call.
            Storage::Boxed => unsafe { self.boxed_ref() }.obj_type(),
        }
    }

    /// The value's encoding, derived from its representation.
    #[inline]
    pub(crate) fn encoding(self) -> Encoding {
        match self.storage() {
            Storage::Int | Storage::SharedInt => Encoding::Int,
            Storage::Inline => Encoding::Embstr,
            // SAFETY: the reference does not outlive this call.
            Storage::Boxed => unsafe { self.boxed_ref() }.encoding(),
        }
    }

    #[inline]
    fn key_start(self) -> (usize, *const u8) {
        let off = OFF_BODY + if self.has_expire() { EXPIRE_LEN } else { 0 };
        // SAFETY: live entry; the key length varint starts right after the header/expire.
        unsafe { read_varint(self.base().add(off)) }
    }

    /// The key bytes.
    ///
    /// # Safety
    /// The entry must stay allocated for `'a`: tie `'a` to a borrow of the owning dict.
    #[inline]
    pub(crate) unsafe fn key<'a>(self) -> &'a [u8] {
        let (len, p) = self.key_start();
        // SAFETY: `len` key bytes follow the varint inside the allocation; lifetime per caller.
        unsafe { std::slice::from_raw_parts(p, len) }
    }

    #[inline]
    fn value_ptr(self) -> *mut u8 {
        let (len, p) = self.key_start();
        // SAFETY: the value field follows the key inside the allocation.
        unsafe { p.add(len) as *mut u8 }
    }

    /// Address of the embedded value of boxed storage.
    #[inline]
    fn value_slot(self) -> *mut Value {
        align8(self.value_ptr()) as *mut Value
    }

    /// # Safety
    /// Boxed storage only; the caller bounds the lifetime as for [`EntryPtr::key`].
    #[inline]
    unsafe fn boxed_ref<'a>(self) -> &'a Value {
        debug_assert_eq!(self.storage(), Storage::Boxed);
        debug_assert_eq!(self.meta() & META_TAKEN, 0, "embedded value was moved out");
        // SAFETY: boxed storage holds an initialised, aligned `Value` at `value_slot` (not
        // taken while linked).
        unsafe { &*self.value_slot() }
    }

    /// A view of the value.
    ///
    /// # Safety
    /// As [`EntryPtr::key`].
    #[inline]
    pub(crate) unsafe fn value<'a>(self) -> ValueRef<'a> {
        let p = self.value_ptr();
        // SAFETY: the value field matches the storage kind written by `alloc`; lifetime per
        // caller.
        unsafe {
            match self.storage() {
                Storage::Int | Storage::SharedInt => {
                    ValueRef::Int(ptr::read_unaligned(p as *const i64))
                }
                Storage::Inline => {
                    let (len, d) = read_varint(p);
                    ValueRef::Inline(std::slice::from_raw_parts(d, len))
                }
                Storage::Boxed => ValueRef::Boxed(self.boxed_ref()),
            }
        }
    }

    /// Mutable access to a boxed value (None for int/inline storage).
    ///
    /// # Safety
    /// As [`EntryPtr::key`], and `'a` must be tied to an exclusive borrow of the owning dict
    /// (no other reference into this entry's value may exist meanwhile).
    #[inline]
    pub(crate) unsafe fn value_mut<'a>(self) -> Option<&'a mut Value> {
        if self.storage() != Storage::Boxed {
            return None;
        }
        debug_assert_eq!(self.meta() & META_TAKEN, 0, "embedded value was moved out");
        // SAFETY: boxed storage holds an initialised, aligned `Value` owned by this entry;
        // exclusivity and lifetime per caller.
        unsafe { Some(&mut *self.value_slot()) }
    }

    /// Overwrites an integer-storage value in place. Returns false if the entry is not
    /// integer-stored.
    #[inline]
    pub(crate) fn set_int_in_place(self, v: i64) -> bool {
        if !matches!(self.storage(), Storage::Int | Storage::SharedInt) {
            return false;
        }
        // SAFETY: int storage has an 8-byte value field.
        unsafe { ptr::write_unaligned(self.value_ptr() as *mut i64, v) };
        true
    }

    /// Total allocation size in bytes (what was passed to the allocator).
    pub(crate) fn alloc_size(self) -> usize {
        let (klen, kp) = self.key_start();
        let head = kp as usize - self.base() as usize;
        head + klen
            + match self.storage() {
                Storage::Int | Storage::SharedInt => 8,
                Storage::Boxed => embedded_len(head + klen),
                Storage::Inline => {
                    // SAFETY: inline storage starts with the value's length varint.
                    let (vlen, _) = unsafe { read_varint(self.value_ptr()) };
                    varint_len(vlen) + vlen
                }
            }
    }

    /// Moves the embedded value out (for a new entry, or the lazy-free thread) and marks it
    /// taken. The entry must then be freed ([`EntryPtr::free`] or [`EntryPtr::free_shell`]),
    /// which will not drop it again.
    pub(crate) fn take_boxed(self) -> Option<Box<Value>> {
        if self.storage() != Storage::Boxed {
            return None;
        }
        assert_eq!(self.meta() & META_TAKEN, 0, "boxed value taken twice");
        // SAFETY: boxed storage holds an initialised `Value` at `value_slot`; the TAKEN bit set
        // right after makes this read the only move out of it.
        let v = unsafe { ptr::read(self.value_slot()) };
        self.set_meta(self.meta() | META_TAKEN);
        Some(Box::new(v))
    }

    /// Frees the entry and its value.
    ///
    /// # Safety
    /// The entry must be unlinked and no copy of this pointer may be used afterwards.
    pub(crate) unsafe fn free(self) {
        if self.storage() == Storage::Boxed && self.meta() & META_TAKEN == 0 {
            // SAFETY: an initialised value not moved out; dropped exactly once, here.
            unsafe { ptr::drop_in_place(self.value_slot()) };
        }
        // SAFETY: forwarded contract.
        unsafe { self.free_shell() }
    }

    /// Frees the entry block only (its boxed value was taken).
    ///
    /// # Safety
    /// As [`EntryPtr::free`].
    pub(crate) unsafe fn free_shell(self) {
        let size = self.alloc_size();
        // SAFETY: same size and alignment as the allocation in `alloc`.
        unsafe { dealloc(self.base(), Layout::from_size_align_unchecked(size, 8)) }
    }

    /// Allocations freeing this entry's value takes (Redis `lazyfreeGetFreeEffort`).
    pub(crate) fn free_effort(self) -> usize {
        match self.storage() {
            // SAFETY: the reference does not outlive this call.
            Storage::Boxed => unsafe { self.boxed_ref() }.free_effort(),
            _ => 1,
        }
    }

    /// Heap bytes held by the value beyond the entry itself (for MEMORY-style estimates).
    pub(crate) fn value_heap_size(self) -> usize {
        match self.storage() {
            // SAFETY: the reference does not outlive this call.
            Storage::Boxed => unsafe { self.boxed_ref() }.heap_size(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These tests drive the raw layer directly; each entry is freed exactly once and never
    // touched after, which is the contract of the unsafe accessors.

    #[test]
    fn layout_round_trips() {
        let e = EntryPtr::alloc(b"key:1", NewValue::Inline(b"value:1"), None, 0x123456);
        // SAFETY (whole test): `e` stays allocated until its `free`, and no reference taken
        // from it is used after that.
        unsafe {
            assert_eq!(e.key(), b"key:1");
            assert!(!e.has_expire());
            assert_eq!(e.expire(), None);
            assert_eq!(e.lru(), 0x123456);
            assert_eq!(e.obj_type(), ObjType::String);
            assert_eq!(e.encoding(), Encoding::Embstr);
            assert!(matches!(e.value(), ValueRef::Inline(b"value:1")));
            assert_eq!(e.alloc_size(), 4 + 1 + 5 + 1 + 7);
            assert_eq!(e.as_ptr() as usize % 8, 0, "entries are 8-aligned");
            e.free();
        }

        let long_key = vec![b'k'; 300];
        let e = EntryPtr::alloc(&long_key, NewValue::Int(-42), Some(1_700_000_000_000), 7);
        // SAFETY: as above.
        unsafe {
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
        }

        let e = EntryPtr::alloc(
            b"r",
            NewValue::Boxed(Box::new(Value::Str(vec![1, 2, 3]))),
            None,
            0,
        );
        // SAFETY: as above.
        unsafe {
            e.set_shared(true);
            assert!(!e.is_shared(), "only ints can be shared");
            assert_eq!(e.encoding(), Encoding::Raw, "derived from the value");
            if let Some(Value::Str(v)) = e.value_mut() {
                v.push(4);
            }
            assert!(matches!(e.value(), ValueRef::Boxed(Value::Str(v)) if v == &[1, 2, 3, 4]));
            let b = e.take_boxed().unwrap();
            e.free_shell();
            assert_eq!(*b, Value::Str(vec![1, 2, 3, 4]));
        }
    }

    /// A collection's value is embedded: key and value in one 48-byte block for a 10-byte
    /// key, at an 8-aligned slot whatever the key length, dropped once (valgrind/Miri check).
    #[test]
    fn boxed_values_are_embedded_and_aligned() {
        let e = EntryPtr::alloc(
            b"set:123456",
            NewValue::Boxed(Box::new(Value::Str(vec![7; 100]))),
            None,
            0,
        );
        assert_eq!(e.alloc_size(), 48);
        // SAFETY: freed once, not used after.
        unsafe { e.free() };
        for klen in 0..20 {
            let key = vec![b'k'; klen];
            for expire in [None, Some(5)] {
                let e = EntryPtr::alloc(
                    &key,
                    NewValue::Boxed(Box::new(Value::Str(vec![1; klen]))),
                    expire,
                    0,
                );
                assert_eq!(e.value_slot() as usize % 8, 0);
                // SAFETY: live until the free below; references end before it.
                unsafe {
                    assert_eq!(e.key(), &key[..]);
                    assert!(matches!(e.value(), ValueRef::Boxed(Value::Str(v)) if v.len() == klen));
                    if klen % 2 == 0 {
                        e.free();
                    } else {
                        let v = e.take_boxed().unwrap();
                        e.free();
                        assert_eq!(*v, Value::Str(vec![1; klen]));
                    }
                }
            }
        }
    }

    #[test]
    fn the_benchmark_entry_fits_32_bytes() {
        // DEBUG POPULATE 1000000 key 16: "key:999999" and a 16-byte value.
        let e = EntryPtr::alloc(b"key:999999", NewValue::Inline(&[b'v'; 16]), None, 0);
        assert!(e.alloc_size() <= 32, "{}", e.alloc_size());
        // SAFETY: freed once, not used after.
        unsafe { e.free() };
    }
}
