//! Redis's intset (intset.c): the encoding of small sets whose members are all integers, byte
//! for byte as Redis lays it out, so a set built here can go into an RDB file or a DUMP payload
//! (RDB_TYPE_SET_INTSET, type 11) unchanged and one read from there can be used in place.
//!
//! Layout: `<encoding u32 LE> <length u32 LE> <contents>`, where the encoding is the width in
//! bytes of every member (2, 4 or 8) and the contents are `length` members, sorted ascending,
//! unique, little-endian two's complement. Adding a member too wide for the current encoding
//! rewrites every member at the wider width first (`intsetUpgradeAndAdd`); removing never
//! narrows it again. Lookups are binary searches (`intsetSearch`).
//!
//! [`Intset::from_bytes`] validates untrusted input as `intsetValidateIntegrity(..., deep=1)`
//! does and never panics; the other operations cannot fail on a validated or locally built set.

use std::fmt;

/// Size of the header: encoding (u32 LE) + length (u32 LE).
pub const INTSET_HDR_SIZE: usize = 8;
/// `INTSET_ENC_INT16`: members stored in 2 bytes.
pub const INTSET_ENC_INT16: u32 = 2;
/// `INTSET_ENC_INT32`: members stored in 4 bytes.
pub const INTSET_ENC_INT32: u32 = 4;
/// `INTSET_ENC_INT64`: members stored in 8 bytes.
pub const INTSET_ENC_INT64: u32 = 8;

/// Why a blob is not a valid intset (see [`IntsetError`] for where).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntsetErrorKind {
    /// Fewer than the 8 header bytes.
    #[error("{0} bytes is shorter than the 8-byte intset header")]
    TooShort(usize),
    /// The encoding field is not 2, 4 or 8.
    #[error("encoding {0} is not 2, 4 or 8")]
    BadEncoding(u32),
    /// `8 + length * encoding` differs from the blob length.
    #[error("{length} members of {encoding} bytes need {needed} bytes, the blob has {actual}")]
    LengthMismatch {
        length: u32,
        encoding: u32,
        needed: u64,
        actual: usize,
    },
    /// Zero members: Redis rejects an empty intset (an empty set is never stored).
    #[error("empty intset")]
    Empty,
    /// A member is not greater than the one before it.
    #[error("member {index} ({value}) is not greater than the previous one ({prev})")]
    NotSorted { index: usize, value: i64, prev: i64 },
}

/// A blob rejected by [`Intset::validate`]: byte offset (0 for header problems, the member's
/// offset for ordering problems) and reason. The checks of `intsetValidateIntegrity` with
/// `deep=1` in intset.c.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid intset at byte {offset}: {kind}")]
pub struct IntsetError {
    /// Byte offset into the blob.
    pub offset: usize,
    /// What is wrong there.
    pub kind: IntsetErrorKind,
}

/// The encoding (member width in bytes) `v` needs. `_intsetValueEncoding` in intset.c.
pub fn value_encoding(v: i64) -> u32 {
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        INTSET_ENC_INT64
    } else if v < i16::MIN as i64 || v > i16::MAX as i64 {
        INTSET_ENC_INT32
    } else {
        INTSET_ENC_INT16
    }
}

/// Reads the member at `pos` of `contents` stored `enc` bytes wide. `_intsetGetEncoded`.
fn get_encoded(contents: &[u8], pos: usize, enc: u32) -> i64 {
    let w = enc as usize;
    let b = &contents[pos * w..pos * w + w];
    match enc {
        INTSET_ENC_INT16 => i16::from_le_bytes([b[0], b[1]]) as i64,
        INTSET_ENC_INT32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        _ => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            i64::from_le_bytes(a)
        }
    }
}

/// Writes `v` (which fits `enc`) at `pos` of `contents`. `_intsetSet`.
fn set_encoded(contents: &mut [u8], pos: usize, enc: u32, v: i64) {
    let w = enc as usize;
    let b = &mut contents[pos * w..pos * w + w];
    match enc {
        INTSET_ENC_INT16 => b.copy_from_slice(&(v as i16).to_le_bytes()),
        INTSET_ENC_INT32 => b.copy_from_slice(&(v as i32).to_le_bytes()),
        _ => b.copy_from_slice(&v.to_le_bytes()),
    }
}

/// An owned intset: exactly the bytes Redis would hold (`intsetBlobLen` of them).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Intset {
    buf: Vec<u8>,
}

impl Default for Intset {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Intset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intset")
            .field("encoding", &self.encoding())
            .field("members", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl Intset {
    /// An empty intset with 16-bit encoding: `02000000 00000000`. `intsetNew`.
    pub fn new() -> Self {
        let mut buf = vec![0u8; INTSET_HDR_SIZE];
        buf[0] = INTSET_ENC_INT16 as u8;
        Intset { buf }
    }

    /// Validates `bytes` as an intset and returns its member count. The checks of
    /// `intsetValidateIntegrity(is, size, deep=1)`: a full header, encoding 2/4/8, the blob
    /// exactly `8 + length * encoding` bytes, at least one member, members strictly ascending.
    /// Never panics.
    pub fn validate(bytes: &[u8]) -> Result<usize, IntsetError> {
        let err = |offset, kind| Err(IntsetError { offset, kind });
        if bytes.len() < INTSET_HDR_SIZE {
            return err(0, IntsetErrorKind::TooShort(bytes.len()));
        }
        let encoding = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if !matches!(
            encoding,
            INTSET_ENC_INT16 | INTSET_ENC_INT32 | INTSET_ENC_INT64
        ) {
            return err(0, IntsetErrorKind::BadEncoding(encoding));
        }
        let length = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let needed = INTSET_HDR_SIZE as u64 + length as u64 * encoding as u64;
        if needed != bytes.len() as u64 {
            return err(
                4,
                IntsetErrorKind::LengthMismatch {
                    length,
                    encoding,
                    needed,
                    actual: bytes.len(),
                },
            );
        }
        if length == 0 {
            return err(4, IntsetErrorKind::Empty);
        }
        let contents = &bytes[INTSET_HDR_SIZE..];
        let mut prev = get_encoded(contents, 0, encoding);
        for i in 1..length as usize {
            let cur = get_encoded(contents, i, encoding);
            if cur <= prev {
                return err(
                    INTSET_HDR_SIZE + i * encoding as usize,
                    IntsetErrorKind::NotSorted {
                        index: i,
                        value: cur,
                        prev,
                    },
                );
            }
            prev = cur;
        }
        Ok(length as usize)
    }

    /// Validates `bytes` (see [`Intset::validate`]) and copies them into an intset, unchanged.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IntsetError> {
        Self::validate(bytes)?;
        Ok(Intset {
            buf: bytes.to_vec(),
        })
    }

    /// [`Intset::from_bytes`] without the copy.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, IntsetError> {
        Self::validate(&bytes)?;
        Ok(Intset { buf: bytes })
    }

    /// The intset's bytes, exactly as Redis stores them (what RDB/DUMP carry).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Gives back the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Member width in bytes: 2, 4 or 8 (`INTSET_ENC_INT16/32/64`).
    pub fn encoding(&self) -> u32 {
        u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
    }

    /// Number of members. `intsetLen`.
    pub fn len(&self) -> usize {
        u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes, header included. `intsetBlobLen`.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes reserved for the blob (at least [`Self::bytes`]): what the buffer asked the
    /// allocator for, for MEMORY USAGE.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn contents(&self) -> &[u8] {
        &self.buf[INTSET_HDR_SIZE..]
    }

    fn set_header(&mut self, encoding: u32, len: usize) {
        self.buf[0..4].copy_from_slice(&encoding.to_le_bytes());
        let len = u32::try_from(len).expect("intset of more than u32::MAX members");
        self.buf[4..8].copy_from_slice(&len.to_le_bytes());
    }

    fn at(&self, pos: usize) -> i64 {
        get_encoded(self.contents(), pos, self.encoding())
    }

    /// Binary search: `Ok(index)` if `v` is a member, else `Err(index it would be inserted
    /// at)`. `intsetSearch` in intset.c (including its shortcuts past either end).
    pub fn search(&self, v: i64) -> Result<usize, usize> {
        let len = self.len();
        if len == 0 {
            return Err(0);
        }
        if v > self.at(len - 1) {
            return Err(len);
        }
        if v < self.at(0) {
            return Err(0);
        }
        let (mut min, mut max) = (0usize, len - 1);
        while min <= max {
            let mid = (min + max) / 2;
            let cur = self.at(mid);
            if v > cur {
                min = mid + 1;
            } else if v < cur {
                // cur > v >= at(0) means mid > 0.
                max = mid - 1;
            } else {
                return Ok(mid);
            }
        }
        Err(min)
    }

    /// Whether `v` is a member. `intsetFind`.
    pub fn contains(&self, v: i64) -> bool {
        value_encoding(v) <= self.encoding() && self.search(v).is_ok()
    }

    /// Adds `v`; `false` if it was already a member. Upgrades the encoding when `v` needs a
    /// wider one (then `v` is the new minimum or maximum). `intsetAdd` /
    /// `intsetUpgradeAndAdd`.
    pub fn add(&mut self, v: i64) -> bool {
        let enc = self.encoding();
        let len = self.len();
        let valenc = value_encoding(v);
        if valenc > enc {
            // Rewrite back to front at the new width, leaving a slot at the start (negative v)
            // or the end (positive v).
            let prepend = usize::from(v < 0);
            let total = INTSET_HDR_SIZE + (len + 1) * valenc as usize;
            self.buf.reserve_exact(total - self.buf.len());
            self.buf.resize(total, 0);
            let contents = &mut self.buf[INTSET_HDR_SIZE..];
            for i in (0..len).rev() {
                let x = get_encoded(contents, i, enc);
                set_encoded(contents, i + prepend, valenc, x);
            }
            set_encoded(contents, if prepend == 1 { 0 } else { len }, valenc, v);
            self.set_header(valenc, len + 1);
            return true;
        }
        let Err(pos) = self.search(v) else {
            return false;
        };
        let w = enc as usize;
        let at = INTSET_HDR_SIZE + pos * w;
        let mut bytes = [0u8; 8];
        set_encoded(&mut bytes, 0, enc, v);
        // Exact growth, as intsetResize's realloc (a Vec's doubling would waste up to half).
        self.buf.reserve_exact(w);
        self.buf.splice(at..at, bytes[..w].iter().copied());
        self.set_header(enc, len + 1);
        true
    }

    /// Removes `v`; `false` if it was not a member. The encoding never narrows.
    /// `intsetRemove`.
    pub fn remove(&mut self, v: i64) -> bool {
        let enc = self.encoding();
        if value_encoding(v) > enc {
            return false;
        }
        let Ok(pos) = self.search(v) else {
            return false;
        };
        let w = enc as usize;
        let at = INTSET_HDR_SIZE + pos * w;
        self.buf.drain(at..at + w);
        if self.buf.capacity() > 64
            && self.buf.capacity() - self.buf.len() > self.buf.capacity() / 4
        {
            self.buf.shrink_to_fit();
        }
        let len = self.len();
        self.set_header(enc, len - 1);
        true
    }

    /// Member `index` in ascending order, `None` past the end. `intsetGet`.
    pub fn get(&self, index: usize) -> Option<i64> {
        (index < self.len()).then(|| self.at(index))
    }

    /// The member at `r % len()`, for a caller-supplied random `r`; `None` when empty.
    /// `intsetRandom` (which uses `rand() % length`).
    pub fn random(&self, r: u64) -> Option<i64> {
        let len = self.len() as u64;
        (len > 0).then(|| self.at((r % len) as usize))
    }

    /// Smallest member. `intsetMin`.
    pub fn min(&self) -> Option<i64> {
        self.get(0)
    }

    /// Largest member. `intsetMax`.
    pub fn max(&self) -> Option<i64> {
        self.len().checked_sub(1).map(|i| self.at(i))
    }

    /// Iterates the members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + ExactSizeIterator + '_ {
        let enc = self.encoding();
        let contents = self.contents();
        (0..self.len()).map(move |i| get_encoded(contents, i, enc))
    }
}

/// Fuzzing oracle (used by `fuzz/fuzz_targets/intset.rs` and the corpus replay test):
/// validation never panics; when it accepts, the intset round-trips byte for byte, iteration is
/// strictly ascending and agrees with `get`/`search`/`contains`, and add/remove keep it valid.
#[doc(hidden)]
pub fn check_intset_invariants(data: &[u8]) {
    let mut is = match Intset::from_bytes(data) {
        Ok(is) => is,
        Err(e) => {
            assert!(e.offset <= data.len(), "error offset past the input: {e}");
            return;
        }
    };
    assert_eq!(is.as_bytes(), data);
    let members: Vec<i64> = is.iter().collect();
    assert_eq!(members.len(), is.len());
    assert!(members.windows(2).all(|w| w[0] < w[1]));
    for (i, &m) in members.iter().enumerate() {
        assert_eq!(is.get(i), Some(m));
        assert_eq!(is.search(m), Ok(i));
        assert!(is.contains(m));
    }
    assert_eq!(is.min(), members.first().copied());
    assert_eq!(is.max(), members.last().copied());
    let mut rebuilt = Intset::new();
    for &m in &members {
        rebuilt.add(m);
    }
    assert!(rebuilt.iter().eq(members.iter().copied()));
    let probe = members[members.len() / 2].wrapping_add(1);
    let added = is.add(probe);
    assert_eq!(added, !members.contains(&probe));
    assert!(is.remove(members[0]));
    // members had at least one element and probe differs from members[0]: never empty here.
    assert_eq!(Intset::validate(is.as_bytes()), Ok(is.len()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listpack::tests::{hex, replay_fuzz_corpus};

    #[test]
    fn add_search_remove_and_upgrades() {
        let mut is = Intset::new();
        assert_eq!(is.as_bytes(), hex("02000000 00000000"));
        assert!(is.add(5));
        assert!(is.add(-3));
        assert!(!is.add(5));
        assert_eq!(is.as_bytes(), hex("02000000 02000000 fdff 0500"));
        assert!(is.add(70000)); // 32-bit: appended after the upgrade
        assert_eq!(
            is.as_bytes(),
            hex("04000000 03000000 fdffffff 05000000 70110100")
        );
        assert!(is.add(-5_000_000_000)); // 64-bit: prepended
        assert_eq!(is.encoding(), INTSET_ENC_INT64);
        assert_eq!(
            is.iter().collect::<Vec<_>>(),
            [-5_000_000_000, -3, 5, 70000]
        );
        assert_eq!(is.search(4), Err(2));
        assert_eq!(is.search(i64::MAX), Err(4));
        assert_eq!(is.search(i64::MIN), Err(0));
        assert!(is.remove(70000));
        assert!(!is.remove(70000));
        assert_eq!(is.encoding(), INTSET_ENC_INT64); // never narrows
        assert!(!is.contains(1 << 40));
        assert_eq!(is.random(7), Some(-3)); // 7 % 3 == 1: index 1 of [-5e9, -3, 5]
        assert_eq!(is.min(), Some(-5_000_000_000));
        assert_eq!(is.max(), Some(5));
    }

    #[test]
    fn validation_errors() {
        use IntsetErrorKind::*;
        let short = LengthMismatch {
            length: 2,
            encoding: 2,
            needed: 12,
            actual: 10,
        };
        let huge = LengthMismatch {
            length: u32::MAX,
            encoding: 8,
            needed: 8 + 8 * u32::MAX as u64,
            actual: 8,
        };
        let dup = NotSorted {
            index: 2,
            value: 2,
            prev: 2,
        };
        let cases: &[(&str, usize, IntsetErrorKind)] = &[
            ("0200", 0, TooShort(2)),
            ("03000000 01000000 00", 0, BadEncoding(3)),
            ("02000000 02000000 0100", 4, short),
            ("08000000 ffffffff", 4, huge),
            ("02000000 00000000", 4, Empty),
            ("02000000 03000000 0100 0200 0200", 12, dup),
        ];
        for &(blob, offset, kind) in cases {
            assert_eq!(
                Intset::validate(&hex(blob)),
                Err(IntsetError { offset, kind }),
                "{blob}"
            );
        }
        assert_eq!(Intset::validate(&hex("02000000 01000000 ffff")), Ok(1));
    }

    #[test]
    fn fuzz_corpus_replays() {
        replay_fuzz_corpus("intset", check_intset_invariants);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;

        fn value() -> impl Strategy<Value = i64> {
            prop_oneof![
                -300i64..300,
                any::<i16>().prop_map(i64::from),
                any::<i32>().prop_map(i64::from),
                any::<i64>(),
                prop::sample::select(vec![
                    i16::MIN as i64,
                    i16::MAX as i64,
                    i16::MIN as i64 - 1,
                    i16::MAX as i64 + 1,
                    i32::MIN as i64,
                    i32::MAX as i64,
                    i32::MIN as i64 - 1,
                    i32::MAX as i64 + 1,
                    i64::MIN,
                    i64::MAX,
                ]),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn ops_match_sorted_set_model(ops in prop::collection::vec((any::<bool>(), value()), 1..80)) {
                let mut is = Intset::new();
                let mut model = BTreeSet::new();
                let mut widest = INTSET_ENC_INT16;
                for (add, v) in ops {
                    if add {
                        prop_assert_eq!(is.add(v), model.insert(v));
                        widest = widest.max(value_encoding(v));
                    } else {
                        prop_assert_eq!(is.remove(v), model.remove(&v));
                    }
                    prop_assert_eq!(is.len(), model.len());
                    prop_assert_eq!(is.encoding(), widest);
                    prop_assert_eq!(is.contains(v), model.contains(&v));
                }
                prop_assert!(is.iter().eq(model.iter().copied()));
                prop_assert!(is.iter().rev().eq(model.iter().rev().copied()));
                prop_assert_eq!(is.bytes(), 8 + model.len() * widest as usize);
                if !model.is_empty() {
                    let again = Intset::from_bytes(is.as_bytes()).unwrap();
                    prop_assert_eq!(&again, &is);
                    check_intset_invariants(is.as_bytes());
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..48)) {
                check_intset_invariants(&data);
            }

            #[test]
            fn sorted_blobs_validate(set in prop::collection::btree_set(value(), 1..40)) {
                let enc = set.iter().map(|&v| value_encoding(v)).max().unwrap();
                let mut b = enc.to_le_bytes().to_vec();
                b.extend_from_slice(&(set.len() as u32).to_le_bytes());
                for &v in &set {
                    b.extend_from_slice(&v.to_le_bytes()[..enc as usize]);
                }
                prop_assert_eq!(Intset::validate(&b), Ok(set.len()));
                check_intset_invariants(&b);
            }
        }
    }
}
