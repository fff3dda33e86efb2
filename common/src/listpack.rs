//! Redis 7's listpack (listpack.c, listpack.md): the contiguous byte format that small lists,
//! hashes, sets and sorted sets are stored in, byte for byte as Redis lays it out, so a value
//! built here can go into an RDB file or a DUMP payload unchanged and a blob read from one can be
//! used in place after one validation pass.
//!
//! Layout: a 6-byte header (`<total-bytes u32 LE> <num-elements u16 LE>`, 65535 meaning "count
//! unknown, scan"), the entries, then the `0xFF` terminator. Each entry is `<encoding+data>
//! <backlen>`: the encoding byte says integer (7-bit uint, 13/16/24/32/64-bit signed) or string
//! (6-bit, 12-bit or 32-bit length prefix), and the backlen is the size of `<encoding+data>`
//! written as 1..5 bytes readable from right to left, which is what makes backward iteration
//! possible. A string that is a canonical decimal integer (`string2ll` rules) is always stored as
//! an integer, as `lpEncodeGetType` does.
//!
//! [`Listpack`] owns the bytes; [`Listpack::from_bytes`] validates untrusted input the way
//! `lpValidateIntegrity(..., deep=1)` does and never panics. Once validated (or built here), all
//! reads index the buffer with entry sizes that were checked, so they cannot fail.

use std::fmt;

use crate::util::{alloc_size_class, push_i64, string2ll};

/// Size of the listpack header: total bytes (u32 LE) + number of elements (u16 LE).
/// `LP_HDR_SIZE` in listpack.c.
pub const LP_HDR_SIZE: usize = 6;
/// The header's element count meaning "unknown, count by scanning" (`LP_HDR_NUMELE_UNKNOWN`).
pub const LP_HDR_NUMELE_UNKNOWN: u16 = u16::MAX;
/// The terminator byte (`LP_EOF`). No entry starts with it.
pub const LP_EOF: u8 = 0xFF;
/// Bytes of an empty listpack: header + terminator.
pub const LP_EMPTY_BYTES: usize = LP_HDR_SIZE + 1;
/// `LISTPACK_MAX_SAFETY_SIZE` (listpack.h): the size Redis never lets a listpack grow past
/// (1 GiB), checked by [`Listpack::safe_to_add`] before an insertion.
pub const LISTPACK_MAX_SAFETY_SIZE: usize = 1 << 30;

/// One element as stored: an integer, or a string borrowed from the listpack bytes.
/// Redis's `listpackEntry` (`sval`/`slen` or `lval`), as returned by `lpGet(p, &v, NULL)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListpackEntry<'a> {
    /// An integer-encoded element (any of the 7/13/16/24/32/64-bit encodings).
    Int(i64),
    /// A string-encoded element (6/12/32-bit length encodings); the bytes inside the listpack.
    Str(&'a [u8]),
}

impl ListpackEntry<'_> {
    /// Appends the element's string form (integers in decimal, as `lpGet` with an `intbuf`).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match *self {
            ListpackEntry::Int(v) => push_i64(out, v),
            ListpackEntry::Str(s) => out.extend_from_slice(s),
        }
    }

    /// The element's string form as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    /// Whether the element equals the string `s`: strings byte for byte, integers when `s`
    /// parses (strictly, `string2ll`) to the same value. `lpCompare` in listpack.c.
    pub fn eq_bytes(&self, s: &[u8]) -> bool {
        match *self {
            ListpackEntry::Str(v) => v == s,
            ListpackEntry::Int(v) => string2ll(s) == Some(v),
        }
    }
}

/// Why a blob is not a valid listpack (see [`ListpackError`] for where).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListpackErrorKind {
    /// Fewer than 7 bytes: no room for the header and terminator.
    #[error("{0} bytes is shorter than an empty listpack (7)")]
    TooShort(usize),
    /// The header's total-bytes field disagrees with the blob length.
    #[error("header says {header} total bytes but the blob has {actual}")]
    TotalBytesMismatch { header: u32, actual: usize },
    /// The last byte is not `0xFF`.
    #[error("last byte is {0:#04x}, not the 0xFF terminator")]
    NoTerminator(u8),
    /// An entry starts with a byte no encoding uses (`0xF5..=0xFE`).
    #[error("unknown entry encoding byte {0:#04x}")]
    BadEncoding(u8),
    /// An entry's length (or its length bytes) reaches the terminator or beyond.
    #[error("entry runs past the end of the listpack")]
    EntryOutOfRange,
    /// The backlen after an entry does not decode to the entry's size (`None`: more than 5
    /// backlen bytes, which `lpDecodeBacklen` reports as `UINT64_MAX`).
    #[error("backlen decodes to {found:?}, the entry is {expected} bytes")]
    BacklenMismatch { expected: u64, found: Option<u64> },
    /// A `0xFF` byte where an entry should start, before the last byte.
    #[error("terminator before the end of the listpack")]
    EarlyTerminator,
    /// The header's element count is neither 65535 (unknown) nor the number of entries.
    #[error("header counts {header} elements but there are {counted}")]
    CountMismatch { header: u16, counted: usize },
}

/// A blob rejected by [`Listpack::validate`]: the byte offset of the problem (0 for header
/// problems, the entry's first byte for entry problems) and the reason. The checks are those of
/// `lpValidateIntegrity` with `deep=1` and `lpValidateNext` in listpack.c.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid listpack at byte {offset}: {kind}")]
pub struct ListpackError {
    /// Byte offset into the blob.
    pub offset: usize,
    /// What is wrong there.
    pub kind: ListpackErrorKind,
}

/// The position of an element inside a [`Listpack`]: its byte offset and its index. Returned by
/// [`Listpack::seek`], [`Listpack::find`], [`Listpack::next_pos`]...; the analogue of the `p`
/// element pointers of listpack.c. A `Pos` is valid only until the listpack is next modified
/// (other than through the method that returned it); a stale one reads garbage or panics, but
/// never reads outside the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    offset: usize,
    index: usize,
}

impl Pos {
    /// Byte offset of the element's first (encoding) byte from the start of the listpack.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Zero-based index of the element.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// An owned listpack: exactly the bytes Redis would hold, plus the cached element count.
///
/// Mutations keep the header exact: the count field is the element count while it is below
/// 65535 and 65535 ("unknown") from then on. Redis's `lpInsert` leaves an "unknown" count
/// alone until the next `lpLength()` call rewrites it; Redis calls `lpLength` on every length
/// query, so both agree on any listpack Redis has counted.
///
/// Mutating methods panic if the listpack would exceed `u32::MAX` bytes (where `lpInsert`
/// returns NULL and Redis aborts); callers keep listpacks small with [`Listpack::safe_to_add`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Listpack {
    buf: LpBuf,
}

/// A listpack's bytes in a `Vec<u8>` that may keep free room before them (a front gap) as well
/// as after them (the `Vec`'s spare capacity), so that a change of size moves the shorter side
/// of the buffer: LPUSH or LPOP at the head of an 8 KB quicklist node moves the 6-byte header
/// instead of every entry (`lpInsert`/`lpDelete` memmove the whole tail). When the buffer must
/// grow it takes a whole allocator size class ([`alloc_size_class`]), and the spare room goes
/// to the side that grew, so the next insertions there need neither a move nor a realloc.
///
/// The gap's length is kept in the gap itself, so the buffer stays one `Vec` (24 bytes, whose
/// capacity niche keeps the enums holding a listpack small): the `Vec`'s first four bytes are
/// either the listpack's total-bytes header, equal to the `Vec`'s length (no gap), or the
/// length of a gap of at least 4 bytes (always less than the `Vec`'s length, since a listpack
/// is at least 7 bytes). [`LpBuf::resize_at`], the only way the size changes, rewrites the
/// total-bytes header at once, which keeps that reading unambiguous.
struct LpBuf(Vec<u8>);

impl LpBuf {
    /// Takes the bytes of a listpack whose total-bytes header equals `v.len()` (checked by
    /// [`Listpack::validate`], or built here).
    fn new(v: Vec<u8>) -> Self {
        debug_assert!(v.len() >= LP_EMPTY_BYTES);
        debug_assert_eq!(
            u32::from_le_bytes(v[..4].try_into().unwrap()) as usize,
            v.len()
        );
        LpBuf(v)
    }

    /// Length of the front gap (0, or at least 4).
    #[inline]
    fn start(&self) -> usize {
        let v = &self.0;
        let x = u32::from_le_bytes(v[..4].try_into().expect("4 bytes")) as usize;
        if x == v.len() {
            0
        } else {
            x
        }
    }

    /// The listpack's bytes as a `Vec` of their own length (the gap removed).
    fn into_vec(mut self) -> Vec<u8> {
        let s = self.start();
        if s > 0 {
            self.0.drain(..s);
        }
        self.0
    }

    /// Bytes allocated, gap and spare capacity included.
    fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// Drops the gap and the spare capacity.
    fn shrink_to_fit(&mut self) {
        let s = self.start();
        if s > 0 {
            self.0.drain(..s);
        }
        self.0.shrink_to_fit();
    }

    /// Makes the `old` bytes at offset `p` of the listpack into `new` bytes and returns them
    /// for the caller to fill (their content is unspecified), moving whichever side of the
    /// change is shorter. `p` is an entry's offset (never inside the 6-byte header). When the
    /// buffer must grow, it is reallocated to `alloc_size_class(new size)` bytes. Rewrites the total-bytes header; the caller fixes the count.
    fn resize_at(&mut self, p: usize, old: usize, new: usize) -> &mut [u8] {
        let (mut s, mut e) = (self.start(), self.0.len());
        let n = e - s;
        debug_assert!(p >= LP_HDR_SIZE && p + old <= n);
        let tail = n - p - old;
        // Move the bytes before the change when they are fewer than those after it.
        let front = p < tail;
        if new < old {
            let d = old - new;
            if front && s + d >= 4 {
                self.0.copy_within(s..s + p, s + d);
                s += d;
            } else {
                self.0.copy_within(s + p + old..e, s + p + new);
                e -= d;
                self.0.truncate(e);
            }
        } else if new > old {
            let d = new - old;
            let cap = self.0.capacity();
            let back_room = cap - e;
            // A gap is 0 or at least 4 bytes long (it holds its own length).
            let fits_front = |s: usize| s == d || s >= d + 4;
            if front {
                if !fits_front(s) && s + back_room >= d + 4 {
                    // All the room to the front: one move now, none for the next few.
                    self.0.resize(cap, 0);
                    self.0.copy_within(s..e, cap - n);
                    (s, e) = (cap - n, cap);
                }
                if fits_front(s) {
                    self.0.copy_within(s..s + p, s - d);
                    s -= d;
                } else {
                    (s, e) = self.regrow(s, e, p, old, new);
                }
            } else {
                if back_room < d && s + back_room >= d {
                    self.0.copy_within(s..e, 0);
                    self.0.truncate(n);
                    (s, e) = (0, n);
                }
                if self.0.capacity() - e >= d {
                    self.0.resize(e + d, 0);
                    self.0.copy_within(s + p + old..e, s + p + new);
                    e += d;
                } else {
                    (s, e) = self.regrow(s, e, p, old, new);
                }
            }
        }
        let total = u32::try_from(e - s).expect("listpack larger than 4 GiB");
        self.0[s..s + 4].copy_from_slice(&total.to_le_bytes());
        if s > 0 {
            self.0[..4].copy_from_slice(&(s as u32).to_le_bytes());
        }
        &mut self.0[s + p..s + p + new]
    }

    /// [`Self::resize_at`]'s reallocation: copies the bytes around the change into a new
    /// buffer of a whole size class, the spare room before the listpack when the change is
    /// nearer its head. Returns the new (start, end).
    fn regrow(&mut self, s: usize, e: usize, p: usize, old: usize, new: usize) -> (usize, usize) {
        let n = e - s;
        let total = n - old + new;
        let cap = alloc_size_class(total).min(u32::MAX as usize).max(total);
        let room = cap - total;
        let gap = if p < n - p - old && room >= 4 {
            room
        } else {
            0
        };
        let mut w = Vec::with_capacity(cap);
        w.resize(gap, 0);
        w.extend_from_slice(&self.0[s..s + p]);
        w.resize(gap + p + new, 0);
        w.extend_from_slice(&self.0[s + p + old..e]);
        self.0 = w;
        (gap, gap + total)
    }
}

impl std::ops::Deref for LpBuf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        let s = self.start();
        &self.0[s..]
    }
}

impl std::ops::DerefMut for LpBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let s = self.start();
        &mut self.0[s..]
    }
}

impl Clone for LpBuf {
    /// A copy of the bytes alone (no gap, no spare capacity).
    fn clone(&self) -> Self {
        LpBuf(self.to_vec())
    }
}

impl PartialEq for LpBuf {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for LpBuf {}

impl std::hash::Hash for LpBuf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Listpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listpack")
            .field("bytes", &self.buf.len())
            .field("entries", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

// --- encoding primitives (listpack.c) ---------------------------------------------------

/// Number of bytes the backlen of an entry of `l` bytes takes (1..=5).
/// `lpEncodeBacklen(NULL, l)` in listpack.c; note its thresholds are `< 16383`, `< 2097151` and
/// `< 268435455`, one below the powers of two.
pub fn backlen_size(l: u64) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

/// Writes the backlen of an entry of `l` bytes into `buf` (left to right, most significant 7
/// bits first; every byte but the leftmost has bit 7 set) and returns how many bytes it used.
/// `lpEncodeBacklen` in listpack.c.
pub fn encode_backlen(buf: &mut [u8; 5], l: u64) -> usize {
    let n = backlen_size(l);
    for (i, b) in buf[..n].iter_mut().enumerate() {
        let shift = 7 * (n - 1 - i);
        let bits = (l >> shift) as u8;
        *b = if i == 0 { bits } else { (bits & 127) | 128 };
    }
    n
}

/// Reads a backlen right to left, its last byte at `buf[end]`. `None` if it would take more than
/// 5 bytes (`lpDecodeBacklen` returns `UINT64_MAX`) or run off the start of `buf`.
pub fn decode_backlen(buf: &[u8], end: usize) -> Option<u64> {
    let mut val: u64 = 0;
    let mut shift = 0;
    let mut p = end;
    loop {
        let b = *buf.get(p)?;
        val |= ((b & 127) as u64) << shift;
        if b & 128 == 0 {
            return Some(val);
        }
        shift += 7;
        if shift > 28 || p == 0 {
            return None;
        }
        p -= 1;
    }
}

/// Encodes `v` with the smallest integer encoding into `out`, returning the length (1..=9).
/// `lpEncodeGetType` (integer branch) / `lpEncodeIntegerGetType` in listpack.c.
fn encode_int(v: i64, out: &mut [u8; 9]) -> usize {
    if (0..=127).contains(&v) {
        out[0] = v as u8;
        1
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64) & 0x1FFF;
        out[0] = ((u >> 8) as u8) | 0xC0;
        out[1] = u as u8;
        2
    } else if (-32768..=32767).contains(&v) {
        out[0] = 0xF1;
        out[1..3].copy_from_slice(&(v as i16).to_le_bytes());
        3
    } else if (-8388608..=8388607).contains(&v) {
        out[0] = 0xF2;
        out[1..4].copy_from_slice(&(v as i32).to_le_bytes()[..3]);
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        out[0] = 0xF3;
        out[1..5].copy_from_slice(&(v as i32).to_le_bytes());
        5
    } else {
        out[0] = 0xF4;
        out[1..9].copy_from_slice(&v.to_le_bytes());
        9
    }
}

/// Encodes the string-length prefix for a string of `len` bytes, returning its length (1, 2 or
/// 5). `lpEncodeString` in listpack.c.
fn encode_str_header(len: usize, out: &mut [u8; 9]) -> usize {
    if len < 64 {
        out[0] = 0x80 | len as u8;
        1
    } else if len < 4096 {
        out[0] = 0xE0 | (len >> 8) as u8;
        out[1] = len as u8;
        2
    } else {
        let len = u32::try_from(len).expect("listpack string longer than 4 GiB");
        out[0] = 0xF0;
        out[1..5].copy_from_slice(&len.to_le_bytes());
        5
    }
}

/// Bytes of the encoding header of an entry starting with `b` (encoding byte plus length bytes),
/// 0 for an unknown encoding. `lpCurrentEncodedSizeBytes` in listpack.c (without the EOF case).
fn header_len(b: u8) -> usize {
    if b & 0x80 == 0 || b & 0xC0 == 0x80 || b & 0xE0 == 0xC0 {
        1
    } else if b & 0xF0 == 0xE0 {
        2
    } else {
        match b {
            0xF0 => 5,
            0xF1..=0xF4 => 1,
            _ => 0,
        }
    }
}

/// Size of `<encoding+data>` of the entry at `p`, given that its header bytes are in `buf`.
/// `lpCurrentEncodedSizeUnsafe` in listpack.c. 0 for an unknown encoding.
fn encoded_size(buf: &[u8], p: usize) -> u64 {
    let b = buf[p];
    if b & 0x80 == 0 {
        1
    } else if b & 0xC0 == 0x80 {
        1 + (b & 0x3F) as u64
    } else if b & 0xE0 == 0xC0 {
        2
    } else if b & 0xF0 == 0xE0 {
        2 + ((((b & 0x0F) as u64) << 8) | buf[p + 1] as u64)
    } else {
        match b {
            0xF0 => 5 + u32::from_le_bytes([buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]]) as u64,
            0xF1 => 3,
            0xF2 => 4,
            0xF3 => 5,
            0xF4 => 9,
            _ => 0,
        }
    }
}

/// Whole size of the (valid) entry at `p`: encoding, data and backlen. `lpSkip` distance.
fn entry_size(buf: &[u8], p: usize) -> usize {
    let l = encoded_size(buf, p);
    l as usize + backlen_size(l)
}

/// Element `index` of a listpack of which only `prefix`, its first bytes, is at hand (as a
/// partial decompression of a compressed quicklist node gives), walking from the head;
/// `None` when the prefix ends before that element does (its backlen included). The bytes
/// must be the start of a valid listpack: a prefix is only checked for its length.
pub fn entry_in_prefix(prefix: &[u8], index: usize) -> Option<ListpackEntry<'_>> {
    let size = |p: usize| -> Option<usize> {
        let b = *prefix.get(p)?;
        let h = header_len(b);
        if b == LP_EOF || h == 0 || p + h > prefix.len() {
            return None;
        }
        let n = entry_size(prefix, p);
        (p + n <= prefix.len()).then_some(n)
    };
    let mut p = LP_HDR_SIZE;
    for _ in 0..index {
        p += size(p)?;
    }
    size(p)?;
    Some(entry_at(prefix, p))
}

/// Decodes the (valid) entry at `p`. `lpGet` in listpack.c.
fn entry_at(buf: &[u8], p: usize) -> ListpackEntry<'_> {
    let b = buf[p];
    let int = if b & 0x80 == 0 {
        b as i64
    } else if b & 0xC0 == 0x80 {
        let len = (b & 0x3F) as usize;
        return ListpackEntry::Str(&buf[p + 1..p + 1 + len]);
    } else if b & 0xE0 == 0xC0 {
        let u = (((b & 0x1F) as u64) << 8) | buf[p + 1] as u64;
        ((u << 51) as i64) >> 51
    } else if b & 0xF0 == 0xE0 {
        let len = (((b & 0x0F) as usize) << 8) | buf[p + 1] as usize;
        return ListpackEntry::Str(&buf[p + 2..p + 2 + len]);
    } else {
        match b {
            0xF0 => {
                let len =
                    u32::from_le_bytes([buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]]) as usize;
                return ListpackEntry::Str(&buf[p + 5..p + 5 + len]);
            }
            0xF1 => i16::from_le_bytes([buf[p + 1], buf[p + 2]]) as i64,
            0xF2 => {
                let u = u32::from_le_bytes([0, buf[p + 1], buf[p + 2], buf[p + 3]]);
                ((u as i32) >> 8) as i64
            }
            0xF3 => i32::from_le_bytes([buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]]) as i64,
            0xF4 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&buf[p + 1..p + 9]);
                i64::from_le_bytes(a)
            }
            // lpGet's "badly encoded" value; unreachable on a validated listpack.
            _ => 12345678900000000 + b as i64,
        }
    };
    ListpackEntry::Int(int)
}

/// An element to write: a string (stored as an integer when canonical) or an integer.
#[derive(Clone, Copy)]
enum Ele<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Ele<'a> {
    /// `lpEncodeGetType`: canonical integers (`lpStringToInt64`, i.e. `string2ll`) become
    /// integers.
    fn from_bytes(s: &'a [u8]) -> Self {
        match string2ll(s) {
            Some(v) => Ele::Int(v),
            None => Ele::Str(s),
        }
    }

    /// Encoding header (or whole integer encoding) and the payload that follows it.
    fn encode(self, hdr: &mut [u8; 9]) -> (usize, &'a [u8]) {
        match self {
            Ele::Int(v) => (encode_int(v, hdr), &[]),
            Ele::Str(s) => (encode_str_header(s.len(), hdr), s),
        }
    }
}

/// Bytes an element `s` takes once stored (encoding, data and backlen): what an insertion adds.
/// `lpEncodeGetType` + `lpEncodeBacklen` sizes, as `lpEntrySizeString` in listpack.c.
pub fn stored_size(s: &[u8]) -> usize {
    let mut hdr = [0u8; 9];
    let (h, payload) = Ele::from_bytes(s).encode(&mut hdr);
    let l = (h + payload.len()) as u64;
    l as usize + backlen_size(l)
}

// --- validation ----------------------------------------------------------------------------

impl Listpack {
    /// Validates `bytes` as a listpack and returns its element count. The checks of
    /// `lpValidateIntegrity(lp, size, deep=1)`: length >= 7, header total == blob length, last byte
    /// `0xFF`, every entry has a known encoding, lies before the terminator and ends with a backlen
    /// that decodes to its size, the first `0xFF` at an entry start is the last byte, and the header
    /// count is 65535 or exact. Never panics.
    pub fn validate(bytes: &[u8]) -> Result<usize, ListpackError> {
        let err = |offset, kind| Err(ListpackError { offset, kind });
        let size = bytes.len();
        if size < LP_EMPTY_BYTES {
            return err(0, ListpackErrorKind::TooShort(size));
        }
        let total = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if total as usize != size {
            return err(
                0,
                ListpackErrorKind::TotalBytesMismatch {
                    header: total,
                    actual: size,
                },
            );
        }
        if bytes[size - 1] != LP_EOF {
            return err(size - 1, ListpackErrorKind::NoTerminator(bytes[size - 1]));
        }
        let numele = u16::from_le_bytes([bytes[4], bytes[5]]);
        let eof = size - 1;
        let mut p = LP_HDR_SIZE;
        let mut count = 0usize;
        // lpValidateNext: every read below is bounded by `eof`, the terminator's offset.
        while bytes[p] != LP_EOF {
            let hl = header_len(bytes[p]);
            if hl == 0 {
                return err(p, ListpackErrorKind::BadEncoding(bytes[p]));
            }
            if p + hl > eof {
                return err(p, ListpackErrorKind::EntryOutOfRange);
            }
            let enc = encoded_size(bytes, p);
            let bl = backlen_size(enc) as u64;
            let whole = enc + bl;
            if p as u64 + whole > eof as u64 {
                return err(p, ListpackErrorKind::EntryOutOfRange);
            }
            let next = p + whole as usize;
            let found = decode_backlen(bytes, next - 1);
            if found.map(|f| f + bl) != Some(whole) {
                return err(
                    p,
                    ListpackErrorKind::BacklenMismatch {
                        expected: enc,
                        found,
                    },
                );
            }
            p = next;
            count += 1;
        }
        if p != eof {
            return err(p, ListpackErrorKind::EarlyTerminator);
        }
        if numele != LP_HDR_NUMELE_UNKNOWN && numele as usize != count {
            return err(
                4,
                ListpackErrorKind::CountMismatch {
                    header: numele,
                    counted: count,
                },
            );
        }
        Ok(count)
    }
}

// --- the owned listpack ----------------------------------------------------------------------

impl Listpack {
    /// An empty listpack: `07 00 00 00 00 00 ff`. `lpNew` in listpack.c.
    pub fn new() -> Self {
        Listpack {
            buf: LpBuf::new(vec![LP_EMPTY_BYTES as u8, 0, 0, 0, 0, 0, LP_EOF]),
        }
    }

    /// Validates `bytes` (see [`Listpack::validate`]) and copies them into a listpack. The bytes are kept
    /// exactly as given (an "unknown" count header stays until the first mutation).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ListpackError> {
        Listpack::validate(bytes)?;
        Ok(Listpack {
            buf: LpBuf::new(bytes.to_vec()),
        })
    }

    /// [`Listpack::from_bytes`] without the copy.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, ListpackError> {
        Listpack::validate(&bytes)?;
        Ok(Listpack {
            buf: LpBuf::new(bytes),
        })
    }

    /// [`Listpack::from_vec`] without the validation, for bytes that were a valid listpack
    /// when this process produced them (a quicklist node's own LZF form, decompressed): a
    /// walk over bytes that are no listpack panics or returns garbage, never touches memory
    /// outside the buffer.
    pub fn from_trusted_vec(bytes: Vec<u8>) -> Self {
        debug_assert!(Listpack::validate(&bytes).is_ok());
        Listpack {
            buf: LpBuf::new(bytes),
        }
    }

    /// The listpack's bytes, exactly as Redis stores them (what RDB/DUMP carry).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Gives back the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf.into_vec()
    }

    /// Number of elements. `lpLength`: the header's count, or a walk of the entries when the
    /// header says "unknown" (65535: at least that many elements), as Redis. The count is not
    /// cached beside the bytes, so that a `Listpack` is one `Vec` (24 bytes) and the value
    /// enums holding it stay small.
    pub fn len(&self) -> usize {
        let n = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        if n != LP_HDR_NUMELE_UNKNOWN {
            return n as usize;
        }
        let mut count = 0;
        let mut p = LP_HDR_SIZE;
        while self.buf[p] != LP_EOF {
            p += entry_size(&self.buf, p);
            count += 1;
        }
        count
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.buf[LP_HDR_SIZE] == LP_EOF
    }

    /// Total size in bytes, header and terminator included. `lpBytes`.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes reserved for the blob (at least [`Self::bytes`]): what the buffer asked the
    /// allocator for, for MEMORY USAGE.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Gives back spare buffer capacity and any front gap (Redis reallocates a listpack to
    /// its exact size on every change; growth here takes a whole size class, and head
    /// insertions may leave room before the bytes). Callers shrink after a batch of
    /// insertions.
    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Whether `add` more bytes keep the listpack within [`LISTPACK_MAX_SAFETY_SIZE`].
    /// `lpSafeToAdd` in listpack.c.
    pub fn safe_to_add(&self, add: usize) -> bool {
        self.buf.len().saturating_add(add) <= LISTPACK_MAX_SAFETY_SIZE
    }

    fn eof(&self) -> usize {
        self.buf.len() - 1
    }

    /// Rewrites the total-bytes header, and moves the element count by `delta` unless it is
    /// "unknown" (`lpInsert`/`lpDelete`: an unknown count stays unknown; a count reaching
    /// 65535 becomes unknown).
    fn set_header(&mut self, delta: isize) {
        let total = u32::try_from(self.buf.len()).expect("listpack larger than 4 GiB");
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let n = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        if n != LP_HDR_NUMELE_UNKNOWN && delta != 0 {
            let m = (n as isize + delta).clamp(0, LP_HDR_NUMELE_UNKNOWN as isize) as u16;
            self.buf[4..6].copy_from_slice(&m.to_le_bytes());
        }
    }

    /// Writes `ele` at byte offset `p`, replacing the `replaced` bytes there (an entry, or 0 to
    /// insert before `p`). `lpInsert` in listpack.c.
    fn put(&mut self, p: usize, replaced: usize, ele: Ele<'_>) {
        let mut hdr = [0u8; 9];
        let (h, payload) = ele.encode(&mut hdr);
        let enclen = h + payload.len();
        let mut bl = [0u8; 5];
        let b = encode_backlen(&mut bl, enclen as u64);
        let new_total = self.buf.len() - replaced + enclen + b;
        assert!(
            new_total <= u32::MAX as usize,
            "listpack would exceed u32::MAX bytes"
        );
        // A counter rewritten in place (a stream node's master count) keeps its size: no
        // bytes move. Otherwise the shorter side moves, and growth takes a whole size class
        // (see `LpBuf`) instead of lpInsert's realloc to the exact new total.
        let room = self.buf.resize_at(p, replaced, enclen + b);
        room[..h].copy_from_slice(&hdr[..h]);
        room[h..enclen].copy_from_slice(payload);
        room[enclen..].copy_from_slice(&bl[..b]);
        self.trim_capacity();
    }

    /// Gives back memory after deletions, as lpDelete's realloc does (only when a quarter or
    /// more of the buffer is unused, so alternating pushes and pops do not reallocate).
    fn trim_capacity(&mut self) {
        let (len, cap) = (self.buf.len(), self.buf.capacity());
        if cap > 64 && cap - len > cap / 4 {
            self.buf.shrink_to_fit();
        }
    }

    fn insert_ele(&mut self, p: usize, ele: Ele<'_>) {
        self.put(p, 0, ele);
        self.set_header(1);
    }

    /// Appends a string (stored as an integer if it is a canonical one). `lpAppend`.
    pub fn push_back(&mut self, s: &[u8]) {
        self.insert_ele(self.eof(), Ele::from_bytes(s));
    }

    /// Appends an integer. `lpAppendInteger`.
    pub fn push_back_int(&mut self, v: i64) {
        self.insert_ele(self.eof(), Ele::Int(v));
    }

    /// Appends several elements with one growth of the buffer (`lpBatchAppend`): `Int`s as
    /// `lpAppendInteger`, `Str`s as `lpAppend` (canonical integers stored as integers). The
    /// bytes are those of the same elements appended one by one.
    pub fn push_back_all<'a>(&mut self, items: &[ListpackEntry<'a>]) {
        self.push_back_each(items.iter().copied());
    }

    /// [`Self::push_back_all`] over an iterator (walked twice: sizes, then bytes), so callers
    /// need not collect their elements into a `Vec` first (XADD's entry).
    ///
    /// When the buffer must grow it takes a whole allocator size class (see `LpBuf`): the
    /// block an exact realloc would get, and the next appends that fit in it (a stream's tail
    /// node) need no realloc.
    pub fn push_back_each<'a, I>(&mut self, items: I)
    where
        I: IntoIterator<Item = ListpackEntry<'a>>,
        I::IntoIter: Clone,
    {
        fn ele<'a>(it: &ListpackEntry<'a>) -> Ele<'a> {
            match *it {
                ListpackEntry::Int(v) => Ele::Int(v),
                ListpackEntry::Str(s) => Ele::from_bytes(s),
            }
        }
        let items = items.into_iter();
        let mut add = 0usize;
        let mut count = 0usize;
        for it in items.clone() {
            count += 1;
            let mut hdr = [0u8; 9];
            let (h, payload) = ele(&it).encode(&mut hdr);
            let enclen = h + payload.len();
            add += enclen + backlen_size(enclen as u64);
        }
        assert!(
            self.buf.len() + add <= u32::MAX as usize,
            "listpack would exceed u32::MAX bytes"
        );
        let eof = self.eof();
        let room = self.buf.resize_at(eof, 0, add);
        let mut q = 0;
        for it in items {
            let mut hdr = [0u8; 9];
            let (h, payload) = ele(&it).encode(&mut hdr);
            let enclen = h + payload.len();
            room[q..q + h].copy_from_slice(&hdr[..h]);
            room[q + h..q + enclen].copy_from_slice(payload);
            q += enclen;
            let mut bl = [0u8; 5];
            let b = encode_backlen(&mut bl, enclen as u64);
            room[q..q + b].copy_from_slice(&bl[..b]);
            q += b;
        }
        debug_assert_eq!(q, add);
        self.set_header(count as isize);
    }

    /// Prepends a string (stored as an integer if it is a canonical one). `lpPrepend`.
    pub fn push_front(&mut self, s: &[u8]) {
        self.insert_ele(LP_HDR_SIZE, Ele::from_bytes(s));
    }

    /// Prepends an integer. `lpPrependInteger`.
    pub fn push_front_int(&mut self, v: i64) {
        self.insert_ele(LP_HDR_SIZE, Ele::Int(v));
    }

    /// Inserts `s` so that it becomes element `index` (`index == len()` appends).
    /// Panics if `index > len()`, like `Vec::insert`. `lpInsertString(..., LP_BEFORE)`.
    pub fn insert(&mut self, index: usize, s: &[u8]) {
        assert!(
            index <= self.len(),
            "listpack insert index {index} > len {}",
            self.len()
        );
        let p = if index == self.len() {
            self.eof()
        } else {
            self.seek_index(index).offset
        };
        self.insert_ele(p, Ele::from_bytes(s));
    }

    /// Inserts `s` before the element at `pos` (which then moves right); returns the new
    /// element's position. `lpInsertString(lp, s, len, p, LP_BEFORE, &newp)`.
    pub fn insert_before(&mut self, pos: Pos, s: &[u8]) -> Pos {
        self.check_pos(pos);
        self.insert_ele(pos.offset, Ele::from_bytes(s));
        pos
    }

    /// Inserts `s` after the element at `pos`; returns the new element's position.
    /// `lpInsertString(lp, s, len, p, LP_AFTER, &newp)`.
    pub fn insert_after(&mut self, pos: Pos, s: &[u8]) -> Pos {
        self.check_pos(pos);
        let p = pos.offset + entry_size(&self.buf, pos.offset);
        self.insert_ele(p, Ele::from_bytes(s));
        Pos {
            offset: p,
            index: pos.index + 1,
        }
    }

    /// Replaces element `index` with `s`. Panics if `index >= len()`. `lpReplace`.
    pub fn replace(&mut self, index: usize, s: &[u8]) {
        assert!(
            index < self.len(),
            "listpack replace index {index} >= len {}",
            self.len()
        );
        let pos = self.seek_index(index);
        self.replace_at(pos, s);
    }

    /// Replaces the element at `pos` with `s`; `pos` stays valid. `lpReplace`.
    pub fn replace_at(&mut self, pos: Pos, s: &[u8]) {
        self.check_pos(pos);
        let old = entry_size(&self.buf, pos.offset);
        self.put(pos.offset, old, Ele::from_bytes(s));
        self.set_header(0);
    }

    /// Replaces the element at `pos` with the integer `v`. `lpReplaceInteger`.
    pub fn replace_int_at(&mut self, pos: Pos, v: i64) {
        self.check_pos(pos);
        let old = entry_size(&self.buf, pos.offset);
        self.put(pos.offset, old, Ele::Int(v));
        self.set_header(0);
    }

    /// Deletes the element at `pos` and returns the position of the one that followed it
    /// (`None` if it was the last). `lpDelete(lp, p, &newp)`.
    pub fn delete_at(&mut self, pos: Pos) -> Option<Pos> {
        self.check_pos(pos);
        let size = entry_size(&self.buf, pos.offset);
        self.buf.resize_at(pos.offset, size, 0);
        self.set_header(-1);
        self.trim_capacity();
        (self.buf[pos.offset] != LP_EOF).then_some(pos)
    }

    /// Deletes up to `num` elements starting at `index` (negative counts from the tail, -1 the
    /// last); an out-of-range `index` deletes nothing, a `num` past the end deletes to the end.
    /// `lpDeleteRange` in listpack.c.
    pub fn delete_range(&mut self, index: i64, num: usize) {
        if num == 0 {
            return;
        }
        let Some(first) = self.seek(index) else {
            return;
        };
        let len = self.len();
        let n = num.min(len - first.index);
        let mut end = first.offset;
        if n == len - first.index {
            end = self.eof();
        } else {
            for _ in 0..n {
                end += entry_size(&self.buf, end);
            }
        }
        self.buf.resize_at(first.offset, end - first.offset, 0);
        self.set_header(-(n as isize));
        self.trim_capacity();
    }

    /// Panics unless `pos` could point at an element of this listpack (a cheap sanity check:
    /// it does not detect a stale position that lands inside another entry).
    fn check_pos(&self, pos: Pos) {
        assert!(
            pos.offset >= LP_HDR_SIZE && pos.offset < self.eof(),
            "listpack position {pos:?} out of range"
        );
        // The index is bookkeeping only (the bytes are reached through the offset); counting
        // the elements (a walk once there are 65535 or more) on every step is debug-only.
        debug_assert!(
            pos.index < self.len(),
            "listpack position {pos:?} out of range"
        );
    }

    // --- reading ------------------------------------------------------------------------

    /// Element `index` (0-based from the head), or `None` past the end.
    pub fn get(&self, index: usize) -> Option<ListpackEntry<'_>> {
        (index < self.len()).then(|| entry_at(&self.buf, self.seek_index(index).offset))
    }

    /// The element at `pos`. `lpGet`.
    pub fn entry(&self, pos: Pos) -> ListpackEntry<'_> {
        self.check_pos(pos);
        entry_at(&self.buf, pos.offset)
    }

    /// First element. `lpFirst` + `lpGet`.
    pub fn first(&self) -> Option<ListpackEntry<'_>> {
        self.first_pos().map(|p| entry_at(&self.buf, p.offset))
    }

    /// Last element. `lpLast` + `lpGet`.
    pub fn last(&self) -> Option<ListpackEntry<'_>> {
        self.last_pos().map(|p| entry_at(&self.buf, p.offset))
    }

    /// Position of the first element. `lpFirst`.
    pub fn first_pos(&self) -> Option<Pos> {
        (!self.is_empty()).then_some(Pos {
            offset: LP_HDR_SIZE,
            index: 0,
        })
    }

    /// Position of the last element, found through the last backlen. `lpLast`.
    pub fn last_pos(&self) -> Option<Pos> {
        (!self.is_empty()).then(|| Pos {
            offset: self.prev_offset(self.eof()),
            index: self.len() - 1,
        })
    }

    /// Position of the element after `pos`, `None` at the end. `lpNext`.
    pub fn next_pos(&self, pos: Pos) -> Option<Pos> {
        self.check_pos(pos);
        let offset = pos.offset + entry_size(&self.buf, pos.offset);
        (self.buf[offset] != LP_EOF).then_some(Pos {
            offset,
            index: pos.index + 1,
        })
    }

    /// Position of the element before `pos`, `None` at the head. `lpPrev`.
    pub fn prev_pos(&self, pos: Pos) -> Option<Pos> {
        self.check_pos(pos);
        (pos.index > 0).then(|| Pos {
            offset: self.prev_offset(pos.offset),
            index: pos.index - 1,
        })
    }

    /// Offset of the entry that ends just before offset `p` (an entry or the terminator),
    /// read from its backlen. `lpPrev`.
    fn prev_offset(&self, p: usize) -> usize {
        let l = decode_backlen(&self.buf, p - 1).expect("listpack backlen");
        p - (l as usize + backlen_size(l))
    }

    /// Position of element `index`, negative counting from the tail (-1 the last); `None` out
    /// of range. Walks from whichever end is nearer, as `lpSeek`.
    pub fn seek(&self, index: i64) -> Option<Pos> {
        let len = self.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then(|| self.seek_index(i as usize))
    }

    fn seek_index(&self, index: usize) -> Pos {
        let len = self.len();
        debug_assert!(index < len);
        if index <= len / 2 {
            let mut p = LP_HDR_SIZE;
            for _ in 0..index {
                p += entry_size(&self.buf, p);
            }
            Pos { offset: p, index }
        } else {
            let mut p = self.eof();
            for _ in index..len {
                p = self.prev_offset(p);
            }
            Pos { offset: p, index }
        }
    }

    /// Finds the first element equal to `s` (see [`ListpackEntry::eq_bytes`]) starting at
    /// `from` and comparing one element, then skipping `skip`, then comparing the next, and so
    /// on (`skip = 1` compares only the fields of a hash's field/value pairs). `lpFind` in
    /// listpack.c.
    pub fn find(&self, from: Pos, s: &[u8], skip: usize) -> Option<Pos> {
        self.check_pos(from);
        // lpFind converts the needle once; only strings shorter than 32 bytes can be integers.
        let as_int = if s.is_empty() || s.len() >= 32 {
            None
        } else {
            string2ll(s)
        };
        let mut p = from.offset;
        let mut index = from.index;
        let mut skipcnt = 0;
        while self.buf[p] != LP_EOF {
            if skipcnt == 0 {
                let hit = match entry_at(&self.buf, p) {
                    ListpackEntry::Str(v) => v == s,
                    ListpackEntry::Int(v) => as_int == Some(v),
                };
                if hit {
                    return Some(Pos { offset: p, index });
                }
                skipcnt = skip;
            } else {
                skipcnt -= 1;
            }
            p += entry_size(&self.buf, p);
            index += 1;
        }
        None
    }

    /// Iterates the elements head to tail (`lpFirst`/`lpNext`); `.rev()` goes tail to head
    /// through the backlens (`lpLast`/`lpPrev`).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            front: LP_HDR_SIZE,
            back: self.buf.len() - 1,
            remaining: self.len(),
        }
    }
}

impl<'a> IntoIterator for &'a Listpack {
    type Item = ListpackEntry<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a listpack's elements, from both ends. See [`Listpack::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    buf: &'a [u8],
    /// Offset of the next element from the head.
    front: usize,
    /// Offset just past the next element from the tail (an entry start or the terminator).
    back: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = ListpackEntry<'a>;

    fn next(&mut self) -> Option<ListpackEntry<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let e = entry_at(self.buf, self.front);
        self.front += entry_size(self.buf, self.front);
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<ListpackEntry<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let l = decode_backlen(self.buf, self.back - 1).expect("listpack backlen");
        self.back -= l as usize + backlen_size(l);
        Some(entry_at(self.buf, self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Fuzzing oracle (used by `fuzz/fuzz_targets/listpack.rs` and the corpus replay test):
/// validation never panics on `data`; when it accepts, the listpack round-trips byte for byte,
/// forward and backward iteration agree with `get`, `seek` (both signs) and `find`, rebuilding
/// it from its elements' strings gives the same elements, and a few mutations leave it valid.
#[doc(hidden)]
pub fn check_listpack_invariants(data: &[u8]) {
    let mut lp = match Listpack::from_bytes(data) {
        Ok(lp) => lp,
        Err(e) => {
            assert!(e.offset <= data.len(), "error offset past the input: {e}");
            return;
        }
    };
    assert_eq!(lp.as_bytes(), data, "from_bytes must keep the bytes");
    let fwd: Vec<ListpackEntry<'_>> = lp.iter().collect();
    let mut bwd: Vec<ListpackEntry<'_>> = lp.iter().rev().collect();
    bwd.reverse();
    assert_eq!(fwd, bwd, "forward and backward iteration disagree");
    assert_eq!(fwd.len(), lp.len());
    let n = lp.len() as i64;
    for (i, e) in fwd.iter().enumerate() {
        assert_eq!(lp.get(i).as_ref(), Some(e));
        let pos = lp.seek(i as i64 - n).expect("negative seek");
        assert_eq!(pos.index(), i);
        assert_eq!(lp.entry(pos), *e);
        let s = e.to_vec();
        let hit = lp
            .find(lp.first_pos().unwrap(), &s, 0)
            .expect("find an element");
        assert!(hit.index() <= i && lp.entry(hit).eq_bytes(&s));
    }
    assert_eq!(lp.first(), fwd.first().copied());
    assert_eq!(lp.last(), fwd.last().copied());
    let strings: Vec<Vec<u8>> = fwd.iter().map(|e| e.to_vec()).collect();
    let mut rebuilt = Listpack::new();
    for s in &strings {
        rebuilt.push_back(s);
    }
    assert_eq!(Listpack::validate(rebuilt.as_bytes()), Ok(strings.len()));
    assert!(rebuilt.iter().zip(&strings).all(|(e, s)| e.eq_bytes(s)));
    lp.push_front(b"x");
    lp.push_back(b"-12345");
    lp.delete_range(1, 2);
    if let Some(p) = lp.last_pos() {
        lp.replace_at(p, &[b'y'; 70]);
    }
    assert_eq!(Listpack::validate(lp.as_bytes()), Ok(lp.len()));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn entries_read_from_any_prefix() {
        let mut lp = Listpack::new();
        for i in 0..200i64 {
            match i % 4 {
                0 => lp.push_back_int(i * 1_000_003),
                1 => lp.push_back(&vec![b'a' + (i % 26) as u8; (i * 7) as usize % 90]),
                2 => lp.push_back(&vec![b'z'; 70 + i as usize * 13]),
                _ => lp.push_back_int(-i),
            }
        }
        let b = lp.as_bytes();
        let want: Vec<ListpackEntry<'_>> = lp.iter().collect();
        for (i, e) in want.iter().enumerate() {
            assert_eq!(entry_in_prefix(b, i), Some(*e));
        }
        assert_eq!(entry_in_prefix(b, want.len()), None);
        // A cut anywhere gives the element or None, never another element or a panic.
        for cut in 0..b.len() {
            for i in [0, 1, 7, 50, 120, 199] {
                let got = entry_in_prefix(&b[..cut], i);
                assert!(got.is_none() || got == Some(want[i]), "cut {cut} index {i}");
            }
        }
        assert_eq!(entry_in_prefix(&b[..b.len() - 1], 199), Some(want[199]));
    }

    #[test]
    fn buffers_with_spare_capacity_take_changes_at_either_end() {
        // A decompressed node arrives with spare capacity after its bytes: the first head
        // insertion moves the bytes to the back of the buffer to open a front gap.
        for spare in [0usize, 3, 4, 5, 31, 32, 33, 200] {
            let mut base = Listpack::new();
            for i in 0..40 {
                base.push_back(format!("e{i}").as_bytes());
            }
            let mut v = base.as_bytes().to_vec();
            v.reserve_exact(spare);
            let mut lp = Listpack::from_vec(v).unwrap();
            let mut model: Vec<Vec<u8>> = (0..40).map(|i| format!("e{i}").into_bytes()).collect();
            for i in 0..30 {
                let e = format!("h{i}").into_bytes();
                if i % 3 == 2 {
                    lp.push_back(&e);
                    model.push(e);
                } else {
                    lp.push_front(&e);
                    model.insert(0, e);
                }
                if i % 5 == 4 {
                    lp.delete_at(lp.first_pos().unwrap());
                    model.remove(0);
                }
                assert_eq!(Listpack::validate(lp.as_bytes()), Ok(model.len()));
            }
            let got: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
            assert_eq!(got, model, "spare {spare}");
        }
    }

    #[test]
    fn head_insertions_use_a_front_gap_of_at_most_a_size_class() {
        let mut lp = Listpack::new();
        let mut fresh = Listpack::new();
        for i in 0..3000 {
            lp.push_front(format!("x{i}").as_bytes());
            // Growth takes a whole size class, never more.
            assert!(lp.capacity() <= alloc_size_class(lp.bytes()).max(64));
            assert!(lp.capacity() >= lp.bytes());
        }
        for i in (0..3000).rev() {
            fresh.push_back(format!("x{i}").as_bytes());
        }
        assert_eq!(lp.as_bytes(), fresh.as_bytes());
        assert_eq!(lp.clone().into_bytes(), fresh.as_bytes());
        // Pops from the head move the header right; a quarter of the buffer unused is given
        // back (lpDelete's realloc), so the gap never grows past that.
        for i in (0..3000).rev() {
            let first = lp.first_pos().unwrap();
            assert!(lp.entry(first).eq_bytes(format!("x{i}").as_bytes()));
            lp.delete_at(first);
            if lp.capacity() > 64 {
                assert!(lp.capacity() - lp.bytes() <= lp.capacity() / 4);
            }
        }
        assert_eq!(lp.as_bytes(), Listpack::new().as_bytes());
    }

    #[test]
    fn push_back_all_equals_one_by_one() {
        let mut a = Listpack::new();
        let mut b = Listpack::new();
        let long = [b'x'; 300];
        let items = [
            ListpackEntry::Int(3),
            ListpackEntry::Str(b"12"),
            ListpackEntry::Str(b"hello"),
            ListpackEntry::Int(-70000),
            ListpackEntry::Str(&long),
        ];
        for it in &items {
            match *it {
                ListpackEntry::Int(v) => a.push_back_int(v),
                ListpackEntry::Str(s) => a.push_back(s),
            }
        }
        b.push_back_all(&items);
        assert_eq!(a.as_bytes(), b.as_bytes());
        check_listpack_invariants(b.as_bytes());
    }

    /// Bytes from hex digits, whitespace ignored (shared with the intset tests).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Runs `check` on every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
    /// (the cargo-fuzz corpus and crash regressions, replayed as a regular test); panics if
    /// there are none.
    pub(crate) fn replay_fuzz_corpus(target: &str, check: fn(&[u8])) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut n = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for e in rd {
                check(&std::fs::read(e.unwrap().path()).unwrap());
                n += 1;
            }
        }
        assert!(n > 0, "no {target} fuzz corpus under {}", root.display());
    }

    fn strings(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter().map(|e| e.to_vec()).collect()
    }

    #[test]
    fn empty() {
        let lp = Listpack::new();
        assert_eq!(lp.as_bytes(), hex("07000000 0000 ff"));
        assert_eq!(lp.len(), 0);
        assert_eq!(lp.first(), None);
        assert_eq!(lp.last(), None);
        assert_eq!(lp.seek(0), None);
        assert_eq!(lp.seek(-1), None);
        assert_eq!(Listpack::from_bytes(lp.as_bytes()).unwrap(), lp);
    }

    /// Each encoding's exact bytes, from the tables in listpack.md / `lpEncodeGetType`.
    #[test]
    fn integer_encodings() {
        let cases: &[(i64, &str)] = &[
            (0, "00"),
            (127, "7f"),
            (128, "c080"),
            (-1, "dfff"),
            (4095, "cfff"),
            (-4096, "d000"),
            (4096, "f10010"),
            (-4097, "f1ffef"),
            (32767, "f1ff7f"),
            (-32768, "f10080"),
            (32768, "f2008000"),
            (8388607, "f2ffff7f"),
            (-8388608, "f2000080"),
            (8388608, "f300008000"),
            (i32::MAX as i64, "f3ffffff7f"),
            (i32::MIN as i64, "f300000080"),
            (i32::MAX as i64 + 1, "f40000008000000000"),
            (i64::MAX, "f4ffffffffffffff7f"),
            (i64::MIN, "f40000000000000080"),
        ];
        for &(v, enc) in cases {
            let enc = hex(enc);
            let mut want = vec![0, 0, 0, 0, 1, 0];
            want.extend_from_slice(&enc);
            want.push(enc.len() as u8);
            want.push(0xff);
            let n = want.len() as u8;
            want[0] = n;
            let mut lp = Listpack::new();
            lp.push_back(v.to_string().as_bytes());
            assert_eq!(lp.as_bytes(), want, "{v}");
            let mut lp2 = Listpack::new();
            lp2.push_back_int(v);
            assert_eq!(lp2, lp);
            assert_eq!(lp.get(0), Some(ListpackEntry::Int(v)));
            assert_eq!(
                Listpack::from_bytes(&want).unwrap().get(0),
                Some(ListpackEntry::Int(v))
            );
        }
    }

    #[test]
    fn non_canonical_integers_stay_strings() {
        for s in [
            &b"007"[..],
            b"-0",
            b"+1",
            b" 1",
            b"1 ",
            b"1.5",
            b"",
            b"-",
            b"9223372036854775808",
            b"-9223372036854775809",
        ] {
            let mut lp = Listpack::new();
            lp.push_back(s);
            assert_eq!(lp.get(0), Some(ListpackEntry::Str(s)), "{s:?}");
        }
    }

    #[test]
    fn string_encodings_and_backlen() {
        // (string length, encoding header bytes, backlen bytes)
        for (len, hdr, bl) in [
            (0usize, 1usize, 1usize),
            (63, 1, 1),
            (64, 2, 1),
            (125, 2, 1), // entry 127: last 1-byte backlen
            (126, 2, 2), // entry 128
            (4095, 2, 2),
            (4096, 5, 2),
            (16377, 5, 2), // entry 16382
            (16378, 5, 3), // entry 16383: Redis's `< 16383` puts it in 3 bytes
        ] {
            let s = vec![b'a'; len];
            let mut lp = Listpack::new();
            lp.push_back(&s);
            lp.push_back(b"z");
            assert_eq!(lp.bytes(), 7 + hdr + len + bl + 3, "len {len}");
            assert_eq!(lp.get(0), Some(ListpackEntry::Str(&s[..])));
            assert_eq!(lp.iter().rev().nth(1), Some(ListpackEntry::Str(&s[..])));
            assert_eq!(Listpack::validate(lp.as_bytes()), Ok(2));
        }
    }

    #[test]
    fn backlen_roundtrip_at_boundaries() {
        for l in [
            0u64,
            1,
            127,
            128,
            16382,
            16383,
            16384,
            2097150,
            2097151,
            2097152,
            268435454,
            268435455,
            268435456,
            u32::MAX as u64,
        ] {
            let mut b = [0u8; 5];
            let n = encode_backlen(&mut b, l);
            assert_eq!(n, backlen_size(l));
            let mut buf = vec![0x00];
            buf.extend_from_slice(&b[..n]);
            assert_eq!(decode_backlen(&buf, buf.len() - 1), Some(l), "{l}");
        }
        assert_eq!(
            decode_backlen(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80], 5),
            None
        );
        assert_eq!(decode_backlen(&[0x80, 0x80], 1), None);
    }

    #[test]
    fn push_insert_replace_delete() {
        let mut lp = Listpack::new();
        lp.push_back(b"b");
        lp.push_front(b"a");
        lp.push_back(b"100000");
        lp.insert(1, b"mid");
        lp.insert(4, b"end");
        assert_eq!(strings(&lp), [&b"a"[..], b"mid", b"b", b"100000", b"end"]);
        lp.replace(0, &[b'x'; 200]);
        lp.replace(2, b"-5");
        assert_eq!(lp.get(2), Some(ListpackEntry::Int(-5)));
        assert_eq!(lp.get(0), Some(ListpackEntry::Str(&[b'x'; 200])));
        lp.delete_range(-2, 1);
        assert_eq!(strings(&lp), [&[b'x'; 200][..], b"mid", b"-5", b"end"]);
        lp.delete_range(1, 100);
        assert_eq!(lp.len(), 1);
        lp.delete_range(5, 1);
        lp.delete_range(-2, 1);
        assert_eq!(lp.len(), 1);
        lp.delete_range(0, 1);
        assert_eq!(lp, Listpack::new());
    }

    #[test]
    fn positions_and_find() {
        let mut lp = Listpack::new();
        for s in ["f1", "v1", "12", "v2", "f3", "12"] {
            lp.push_back(s.as_bytes());
        }
        let first = lp.first_pos().unwrap();
        // skip=1 compares fields only (hash field lookups).
        assert_eq!(lp.find(first, b"12", 1).map(|p| p.index()), Some(2));
        assert_eq!(lp.find(first, b"v2", 1), None);
        assert_eq!(lp.find(first, b"v2", 0).map(|p| p.index()), Some(3));
        assert_eq!(lp.find(first, b"012", 0), None);
        let p3 = lp.seek(3).unwrap();
        assert_eq!(lp.find(p3, b"12", 0).map(|p| p.index()), Some(5));
        assert_eq!(lp.seek(-6), lp.first_pos());
        assert_eq!(lp.seek(-7), None);
        assert_eq!(lp.seek(6), None);
        let last = lp.last_pos().unwrap();
        assert_eq!(lp.seek(-1), Some(last));
        assert_eq!(lp.prev_pos(last), lp.seek(4));
        assert_eq!(lp.next_pos(last), None);
        assert_eq!(lp.prev_pos(first), None);
        // delete while walking (LREM style)
        let mut p = lp.first_pos();
        while let Some(pos) = p {
            p = if lp.entry(pos).eq_bytes(b"12") {
                lp.delete_at(pos)
            } else {
                lp.next_pos(pos)
            };
        }
        assert_eq!(strings(&lp), [&b"f1"[..], b"v1", b"v2", b"f3"]);
        let p = lp.insert_after(lp.seek(0).unwrap(), b"after");
        assert_eq!(lp.entry(p), ListpackEntry::Str(b"after"));
        let p = lp.insert_before(lp.seek(-1).unwrap(), b"before");
        assert_eq!(p.index(), 4);
        assert_eq!(
            strings(&lp),
            [&b"f1"[..], b"after", b"v1", b"v2", b"before", b"f3"]
        );
        lp.replace_int_at(p, 7);
        assert_eq!(lp.get(4), Some(ListpackEntry::Int(7)));
    }

    #[test]
    fn count_header_saturates_at_65535() {
        let mut lp = Listpack::new();
        for _ in 0..65536 {
            lp.push_back_int(1);
        }
        assert_eq!(&lp.as_bytes()[4..6], &[0xff, 0xff]);
        assert_eq!(Listpack::from_bytes(lp.as_bytes()).unwrap().len(), 65536);
        lp.delete_range(0, 2);
        // As Redis's lpDelete: an unknown count stays unknown; lpLength walks the entries.
        assert_eq!(&lp.as_bytes()[4..6], &[0xff, 0xff]);
        assert_eq!(lp.len(), 65534);
        // An "unknown" header on a short listpack is valid, as in Redis.
        let mut b = hex("0900000000ff 0101 ff");
        b[4] = 0xff;
        b[5] = 0xff;
        assert_eq!(Listpack::from_bytes(&b).unwrap().len(), 1);
    }

    #[test]
    fn validation_errors() {
        use ListpackErrorKind::*;
        let mismatch = TotalBytesMismatch {
            header: 8,
            actual: 7,
        };
        let backlen = BacklenMismatch {
            expected: 1,
            found: Some(2),
        };
        let count = CountMismatch {
            header: 2,
            counted: 1,
        };
        let cases: &[(&str, usize, ListpackErrorKind)] = &[
            ("070000", 0, TooShort(3)),
            ("08000000 0000 ff", 0, mismatch),
            ("07000000 0000 00", 6, NoTerminator(0)),
            ("09000000 0100 f5 01 ff", 6, BadEncoding(0xf5)),
            // a 6-bit string of 5 bytes in a 9-byte listpack
            ("09000000 0100 85 01 ff", 6, EntryOutOfRange),
            // a 32-bit string length whose own bytes reach the terminator
            ("0a000000 0100 f0 01 02 ff", 6, EntryOutOfRange),
            // a 32-bit string length near u32::MAX must not overflow the bounds check
            ("0d000000 0100 f0 ff ff ff ff 00 ff", 6, EntryOutOfRange),
            ("09000000 0100 05 02 ff", 6, backlen),
            ("0a000000 0100 05 01 ff ff", 8, EarlyTerminator),
            ("09000000 0200 05 01 ff", 4, count),
        ];
        for &(blob, offset, kind) in cases {
            assert_eq!(
                Listpack::validate(&hex(blob)),
                Err(ListpackError { offset, kind }),
                "{blob}"
            );
        }
        let msg = Listpack::validate(&hex("07000000 0000 00"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "invalid listpack at byte 6: last byte is 0x00, not the 0xFF terminator"
        );
    }

    #[test]
    fn fuzz_corpus_replays() {
        replay_fuzz_corpus("listpack", check_listpack_invariants);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        /// Elements biased to the encoding boundaries.
        fn element() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                any::<i64>().prop_map(|v| v.to_string().into_bytes()),
                (-70000i64..70000).prop_map(|v| v.to_string().into_bytes()),
                prop::sample::select(vec![
                    0i64,
                    127,
                    128,
                    -1,
                    4095,
                    4096,
                    -4096,
                    -4097,
                    32767,
                    32768,
                    -32768,
                    -32769,
                    8388607,
                    8388608,
                    -8388608,
                    -8388609,
                    2147483647,
                    2147483648,
                    -2147483648,
                    -2147483649,
                    i64::MAX,
                    i64::MIN,
                ])
                .prop_map(|v| v.to_string().into_bytes()),
                prop::collection::vec(any::<u8>(), 0..80),
                (0usize..5000).prop_map(|n| vec![b'q'; n]),
                prop::sample::select(vec!["007", "-0", "+1", "1.0", ""])
                    .prop_map(|s| s.as_bytes().to_vec()),
            ]
        }

        #[derive(Debug, Clone)]
        enum Op {
            PushBack(Vec<u8>),
            PushFront(Vec<u8>),
            Insert(usize, Vec<u8>),
            Replace(usize, Vec<u8>),
            DeleteRange(i64, usize),
            DeleteAt(usize),
            /// LPUSH-like runs of small elements, which live off the front gap.
            FrontRun(u8),
            /// LPOP-like runs, which move the header right.
            FrontPops(u8),
            PushBackAll(Vec<Vec<u8>>),
            Clone,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                element().prop_map(Op::PushBack),
                element().prop_map(Op::PushFront),
                (any::<usize>(), element()).prop_map(|(i, e)| Op::Insert(i, e)),
                (any::<usize>(), element()).prop_map(|(i, e)| Op::Replace(i, e)),
                (-20i64..20, 0usize..5).prop_map(|(i, n)| Op::DeleteRange(i, n)),
                any::<usize>().prop_map(Op::DeleteAt),
                any::<u8>().prop_map(Op::FrontRun),
                any::<u8>().prop_map(Op::FrontPops),
                prop::collection::vec(element(), 0..6).prop_map(Op::PushBackAll),
                Just(Op::Clone),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn ops_match_vec_model(ops in prop::collection::vec(op(), 1..60)) {
                let mut lp = Listpack::new();
                let mut model: Vec<Vec<u8>> = Vec::new();
                for op in ops {
                    match op {
                        Op::PushBack(e) => { lp.push_back(&e); model.push(e); }
                        Op::PushFront(e) => { lp.push_front(&e); model.insert(0, e); }
                        Op::Insert(i, e) => {
                            let i = i % (model.len() + 1);
                            lp.insert(i, &e);
                            model.insert(i, e);
                        }
                        Op::Replace(i, e) => if !model.is_empty() {
                            let i = i % model.len();
                            lp.replace(i, &e);
                            model[i] = e;
                        }
                        Op::DeleteRange(i, n) => {
                            lp.delete_range(i, n);
                            let len = model.len() as i64;
                            let s = if i < 0 { len + i } else { i };
                            if (0..len).contains(&s) {
                                let s = s as usize;
                                let end = (s + n).min(model.len());
                                model.drain(s..end);
                            }
                        }
                        Op::DeleteAt(i) => if !model.is_empty() {
                            let i = i % model.len();
                            let next = lp.delete_at(lp.seek(i as i64).unwrap());
                            model.remove(i);
                            prop_assert_eq!(next.map(|p| p.index()), (i < model.len()).then_some(i));
                        }
                        Op::FrontRun(n) => for j in 0..n {
                            let e = format!("f{j}").into_bytes();
                            lp.push_front(&e);
                            model.insert(0, e);
                        }
                        Op::FrontPops(n) => for _ in 0..(n as usize).min(model.len()) {
                            lp.delete_at(lp.first_pos().unwrap());
                            model.remove(0);
                        }
                        Op::PushBackAll(v) => {
                            let items: Vec<ListpackEntry<'_>> =
                                v.iter().map(|e| ListpackEntry::Str(e)).collect();
                            lp.push_back_all(&items);
                            model.extend(v.iter().cloned());
                        }
                        Op::Clone => {
                            let c = lp.clone();
                            prop_assert_eq!(c.as_bytes(), lp.as_bytes());
                            prop_assert_eq!(c.clone().into_bytes(), lp.clone().into_bytes());
                            lp = c;
                        }
                    }
                    prop_assert_eq!(lp.len(), model.len());
                    // The bytes are a valid listpack after every change, whatever the gap.
                    prop_assert_eq!(Listpack::validate(lp.as_bytes()), Ok(model.len()));
                    prop_assert!(lp.capacity() >= lp.bytes());
                }
                let got: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
                prop_assert_eq!(&got, &model);
                let back: Vec<Vec<u8>> = lp.iter().rev().map(|e| e.to_vec()).collect();
                prop_assert!(back.iter().rev().eq(model.iter()));
                for (i, m) in model.iter().enumerate() {
                    prop_assert!(lp.get(i).unwrap().eq_bytes(m));
                    let hit = lp.find(lp.first_pos().unwrap(), m, 0).unwrap();
                    prop_assert_eq!(Some(hit.index()), model.iter().position(|x| x == m));
                }
                // A fresh build of the same elements gives the same bytes.
                let mut fresh = Listpack::new();
                for m in &model { fresh.push_back(m); }
                prop_assert_eq!(fresh.as_bytes(), lp.as_bytes());
                let again = Listpack::from_bytes(lp.as_bytes()).unwrap();
                prop_assert_eq!(&again, &lp);
                check_listpack_invariants(lp.as_bytes());
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
                check_listpack_invariants(&data);
            }

            #[test]
            fn corrupted_listpacks_never_panic(
                elems in prop::collection::vec(element(), 0..8),
                flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            ) {
                let mut lp = Listpack::new();
                for e in &elems { lp.push_back(e); }
                let mut b = lp.into_bytes();
                for (i, v) in flips { let n = b.len(); b[i % n] = v; }
                check_listpack_invariants(&b);
            }
        }
    }
}
