//! Redis's HyperLogLog representation (hyperloglog.c), byte for byte: the value is a string
//! that starts with a 16-byte header and holds 16384 6-bit registers, either *dense* (12288
//! bytes, registers packed LSB first) or *sparse* (run-length opcodes ZERO / XZERO / VAL).
//!
//! Header: `HYLL`, one encoding byte (0 dense, 1 sparse), 3 unused bytes, the cached
//! cardinality as a little-endian u64 whose most significant bit marks it stale.
//!
//! Sparse opcodes (hyperloglog.c `HLL_SPARSE_*`):
//! - ZERO  `00xxxxxx`: 1..=64 registers at 0;
//! - XZERO `01xxxxxx yyyyyyyy`: 1..=16384 registers at 0 (14 bits, big end first);
//! - VAL   `1vvvvvxx`: 1..=4 registers at value 1..=32.
//!
//! Everything here is a pure codec over untrusted bytes: the walks use 64-bit indexes and
//! bounds-checked reads, so a corrupt value (a hand-made `HYLL...` string) is reported as
//! invalid exactly where Redis reports it, and never panics. Where Redis reads the implicit
//! NUL terminator of its sds strings (one byte past the end), these functions read 0.
//!
//! The hash is MurmurHash64A with seed `0xadc83b19` (`hllPatLen`); the estimator is
//! Otmar Ertl's improved one that Redis uses (`hllCount`: `hllSigma`, `hllTau`, α∞).

/// Register index bits (`HLL_P`).
pub const P: u32 = 14;
/// Hash bits left after the index (`HLL_Q`).
pub const Q: u32 = 64 - P;
/// Number of registers (`HLL_REGISTERS`).
pub const REGISTERS: usize = 1 << P;
/// Bits per dense register (`HLL_BITS`).
pub const BITS: usize = 6;
/// Largest register value (`HLL_REGISTER_MAX`).
pub const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Header size in bytes (`HLL_HDR_SIZE`).
pub const HDR_SIZE: usize = 16;
/// Size of a dense HLL, header included (`HLL_DENSE_SIZE`): 12304 bytes.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
/// Encoding byte of the dense representation (`HLL_DENSE`).
pub const DENSE: u8 = 0;
/// Encoding byte of the sparse representation (`HLL_SPARSE`).
pub const SPARSE: u8 = 1;
/// Largest value a sparse VAL opcode holds (`HLL_SPARSE_VAL_MAX_VALUE`).
pub const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
/// Redis's seed for MurmurHash64A in `hllPatLen`.
pub const SEED: u32 = 0xadc8_3b19;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// MurmurHash2, 64-bit version, as Redis's `MurmurHash64A` (endian-neutral: 8-byte blocks
/// read little endian).
pub fn murmurhash64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h: u64 = (seed as u64) ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// `hllPatLen`: the register an element maps to (low 14 bits of its hash) and the length of
/// the `000..1` pattern of the remaining 50 bits (1..=51).
#[inline]
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmurhash64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new empty HLL (`createHLLObject`): sparse, one `XZERO:16384` opcode, 18 bytes.
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR_SIZE + 2);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.extend_from_slice(&[0; 11]);
    let l = REGISTERS - 1;
    v.push((l >> 8) as u8 | 0x40);
    v.push((l & 0xff) as u8);
    v
}

/// The header checks of `isHLLObjectOrReply` (the caller checks the type): at least a
/// header, `HYLL`, a known encoding, and exactly [`DENSE_SIZE`] bytes when dense. The sparse
/// opcodes are only validated when walked (count, merge, conversion).
pub fn is_hll(v: &[u8]) -> bool {
    v.len() >= HDR_SIZE
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

/// The cached cardinality if it is valid (`HLL_VALID_CACHE`); `v` has a header.
pub fn cached_card(v: &[u8]) -> Option<u64> {
    (v[15] & 0x80 == 0).then(|| u64::from_le_bytes(v[8..16].try_into().expect("8 bytes")))
}

/// Stores `card` in the header cache (valid).
pub fn set_cached_card(v: &mut [u8], card: u64) {
    v[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale (`HLL_INVALIDATE_CACHE`).
pub fn invalidate_cache(v: &mut [u8]) {
    v[15] |= 0x80;
}

/// Reads dense register `i` from the register bytes (`HLL_DENSE_GET_REGISTER`); the byte
/// past the end reads 0 (Redis's sds terminator).
#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs.get(byte).copied().unwrap_or(0) as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u32) as u8
}

/// Writes dense register `i` (`HLL_DENSE_SET_REGISTER`); `v` <= 63.
#[inline]
pub fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = v as u32;
    let m = REGISTER_MAX as u32;
    if let Some(b) = regs.get_mut(byte) {
        *b = ((*b as u32 & !(m << fb)) | (v << fb)) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = ((*b as u32 & !(m >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// `hllDenseSet`: raises register `index` to `count`; true if it changed.
#[inline]
pub fn dense_update(regs: &mut [u8], index: usize, count: u8) -> bool {
    if count > dense_get(regs, index) {
        dense_set(regs, index, count);
        true
    } else {
        false
    }
}

/// One decoded sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ZERO` / `XZERO`: this many registers at 0 (and the opcode's size in bytes).
    Zero(usize, usize),
    /// `VAL`: value, run length.
    Val(u8, usize),
}

/// Decodes the opcode at `p` of the sparse payload `s` (`p < s.len()`); a truncated XZERO
/// reads 0 for its missing byte, as Redis reads the sds terminator.
#[inline]
fn op_at(s: &[u8], p: usize) -> Op {
    let b = s[p];
    if b & 0xc0 == 0 {
        Op::Zero((b & 0x3f) as usize + 1, 1)
    } else if b & 0x80 != 0 {
        Op::Val(((b >> 2) & 0x1f) + 1, (b & 3) as usize + 1)
    } else {
        let lo = s.get(p + 1).copied().unwrap_or(0) as usize;
        Op::Zero((((b & 0x3f) as usize) << 8 | lo) + 1, 2)
    }
}

/// The opcodes of a sparse payload in order.
pub fn ops(sparse: &[u8]) -> impl Iterator<Item = Op> + '_ {
    let mut p = 0;
    std::iter::from_fn(move || {
        if p >= sparse.len() {
            return None;
        }
        let op = op_at(sparse, p);
        p += match op {
            Op::Zero(_, n) => n,
            Op::Val(..) => 1,
        };
        Some(op)
    })
}

fn val_byte(val: u8, len: usize) -> u8 {
    ((val - 1) << 2 | (len as u8 - 1)) | 0x80
}

fn push_zero_run(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        seq.push((l >> 8) as u8 | 0x40);
        seq.push((l & 0xff) as u8);
    } else {
        seq.push(len as u8 - 1);
    }
}

/// `hllSparseToDense`: the dense form of a sparse HLL (header copied, encoding set to
/// dense), or None when the opcodes do not cover exactly 16384 registers. A dense input is
/// returned as is.
pub fn to_dense(v: &[u8]) -> Option<Vec<u8>> {
    if v[4] == DENSE {
        return Some(v.to_vec());
    }
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR_SIZE].copy_from_slice(&v[..HDR_SIZE]);
    d[4] = DENSE;
    let regs = &mut d[HDR_SIZE..];
    let mut idx: u64 = 0;
    for op in ops(&v[HDR_SIZE..]) {
        match op {
            Op::Zero(n, _) => idx += n as u64,
            Op::Val(val, n) => {
                if idx + n as u64 > REGISTERS as u64 {
                    break;
                }
                for _ in 0..n {
                    dense_set(regs, idx as usize, val);
                    idx += 1;
                }
            }
        }
    }
    (idx == REGISTERS as u64).then_some(d)
}

/// Result of [`update`] (`hllSparseSet` / `hllDenseSet` return values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// The register already held a value >= the count.
    Unchanged,
    /// The register was raised (the sparse form may have been promoted to dense).
    Updated,
    /// The sparse representation is corrupt (`-1`): the caller answers INVALIDOBJ.
    Invalid,
}

/// Raises register `index` to `count` in the HLL `v` (either encoding), as `hllSparseSet` /
/// `hllDenseSet`: a sparse HLL is edited in place (split runs, then adjacent equal VALs
/// merged), and promoted to dense when `count` > 32 or when it would grow past
/// `sparse_max_bytes` (header included, `hll-sparse-max-bytes`). A sparse update marks the
/// cached cardinality stale; a promotion keeps the header as it was (PFADD/PFMERGE
/// invalidate it afterwards).
pub fn update(v: &mut Vec<u8>, index: usize, count: u8, sparse_max_bytes: usize) -> Update {
    if v[4] == DENSE {
        return if dense_update(&mut v[HDR_SIZE..], index, count) {
            Update::Updated
        } else {
            Update::Unchanged
        };
    }
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    let end = v.len();
    // Step 1: the opcode covering `index`.
    let mut p = HDR_SIZE;
    let mut first: usize = 0;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while p < end {
        let op = op_at(v, p);
        let oplen;
        (span, oplen) = match op {
            Op::Zero(n, l) => (n, l),
            Op::Val(_, n) => (n, 1),
        };
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Update::Invalid;
    }
    let op = op_at(v, p);
    let oldlen = match op {
        Op::Zero(_, l) => l,
        Op::Val(..) => 1,
    };
    let next = (p + oldlen < end).then_some(p + oldlen);
    let mut in_place = false;
    match op {
        Op::Val(old, runlen) => {
            if old >= count {
                return Update::Unchanged;
            }
            if runlen == 1 {
                v[p] = val_byte(count, 1);
                in_place = true;
            }
        }
        Op::Zero(runlen, 1) if runlen == 1 => {
            v[p] = val_byte(count, 1);
            in_place = true;
        }
        Op::Zero(..) => {}
    }
    let mut end = end;
    if !in_place {
        // Step 2: split the opcode into up to three.
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        match op {
            Op::Zero(..) => {
                if index != first {
                    push_zero_run(&mut seq, index - first);
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    push_zero_run(&mut seq, last - index);
                }
            }
            Op::Val(cur, _) => {
                if index != first {
                    seq.push(val_byte(cur, index - first));
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    seq.push(val_byte(cur, last - index));
                }
            }
        }
        // Step 3: put the new sequence in place of the old opcode.
        let delta = seq.len() as isize - oldlen as isize;
        if delta > 0 && v.len() + delta as usize > sparse_max_bytes {
            return promote(v, index, count);
        }
        let new_len = (v.len() as isize + delta) as usize;
        // Grow as Redis's `sdsMakeRoomFor(o->ptr, 3)` does (to twice the needed length, only
        // when fewer than 3 bytes are spare), not by Vec's doubling of the capacity: the
        // sparse value's memory then follows Redis's.
        if delta > 0 && v.capacity() - v.len() < 3 {
            let target = (v.len() + 3) * 2;
            v.reserve_exact(target - v.len());
        }
        match next {
            Some(n) => {
                v.splice(p..n, seq);
            }
            None => {
                v.truncate(p);
                v.extend_from_slice(&seq);
                v.resize(new_len, 0);
            }
        }
        debug_assert_eq!(v.len(), new_len);
        end = new_len;
    }
    // Step 4: merge adjacent VALs of the same value, scanning up to 5 opcodes from prev.
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scanlen = 5;
    while p < end && scanlen > 0 {
        scanlen -= 1;
        let b = v[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        } else if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < end && v[p + 1] & 0x80 != 0 {
            let (Op::Val(v1, l1), Op::Val(v2, l2)) = (op_at(v, p), op_at(v, p + 1)) else {
                unreachable!("both are VAL opcodes")
            };
            if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                v[p + 1] = val_byte(v1, l1 + l2);
                v.remove(p);
                end -= 1;
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(v);
    Update::Updated
}

/// The `promote:` path of `hllSparseSet`: convert to dense, then set the register there.
fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Update {
    let Some(mut d) = to_dense(v) else {
        return Update::Invalid;
    };
    let changed = dense_update(&mut d[HDR_SIZE..], index, count);
    *v = d;
    if changed {
        Update::Updated
    } else {
        Update::Unchanged
    }
}

/// `hllAdd`: hashes `ele` and raises its register (see [`update`]).
#[inline]
pub fn add(v: &mut Vec<u8>, ele: &[u8], sparse_max_bytes: usize) -> Update {
    let (index, count) = pat_len(ele);
    update(v, index, count, sparse_max_bytes)
}

/// Register histogram (`reghisto[64]`) of a header-checked HLL; for a sparse one, None when
/// its opcodes do not cover exactly 16384 registers (`hllSparseRegHisto`'s `invalid`).
pub fn histogram(v: &[u8]) -> Option<[u64; 64]> {
    let mut h = [0u64; 64];
    if v[4] == DENSE {
        let regs = &v[HDR_SIZE..];
        for c in regs.chunks_exact(3) {
            let w = c[0] as u32 | (c[1] as u32) << 8 | (c[2] as u32) << 16;
            h[(w & 63) as usize] += 1;
            h[((w >> 6) & 63) as usize] += 1;
            h[((w >> 12) & 63) as usize] += 1;
            h[((w >> 18) & 63) as usize] += 1;
        }
        return Some(h);
    }
    let mut idx: u64 = 0;
    for op in ops(&v[HDR_SIZE..]) {
        match op {
            Op::Zero(n, _) => {
                idx += n as u64;
                h[0] += n as u64;
            }
            Op::Val(val, n) => {
                idx += n as u64;
                h[val as usize] += n as u64;
            }
        }
    }
    (idx == REGISTERS as u64).then_some(h)
}

/// Histogram of one register per byte (`hllRawRegHisto`, the multi-key PFCOUNT path).
pub fn raw_histogram(regs: &[u8; REGISTERS]) -> [u64; 64] {
    let mut h = [0u64; 64];
    for &r in regs {
        h[(r & 63) as usize] += 1;
    }
    h
}

/// `hllSigma` (Ertl, arXiv:1702.01284).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

/// `hllTau` (Ertl, arXiv:1702.01284).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a register histogram (`hllCount` after the histogram):
/// `llroundl(α∞·m²/z)` with Ertl's σ/τ corrections.
pub fn estimate(h: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    let e = ALPHA_INF * m * m / z;
    // llroundl: half away from zero, saturating like the C conversion on x86 for huge values.
    e.round() as i64 as u64
}

/// `hllCount` of one header-checked HLL; None when a sparse one is corrupt.
pub fn count(v: &[u8]) -> Option<u64> {
    histogram(v).map(|h| estimate(&h))
}

/// `hllMerge`: raises `max[i]` to register i of the header-checked HLL `v`; false when a
/// sparse `v` is corrupt (registers before the corruption are merged, as Redis).
pub fn merge(max: &mut [u8; REGISTERS], v: &[u8]) -> bool {
    if v[4] == DENSE {
        let regs = &v[HDR_SIZE..];
        for (i, m) in max.iter_mut().enumerate() {
            let r = dense_get(regs, i);
            if r > *m {
                *m = r;
            }
        }
        return true;
    }
    let mut i: u64 = 0;
    for op in ops(&v[HDR_SIZE..]) {
        match op {
            Op::Zero(n, _) => i += n as u64,
            Op::Val(val, n) => {
                if i + n as u64 > REGISTERS as u64 {
                    break;
                }
                for _ in 0..n {
                    let m = &mut max[i as usize];
                    if val > *m {
                        *m = val;
                    }
                    i += 1;
                }
            }
        }
    }
    i == REGISTERS as u64
}

/// `PFDEBUG DECODE` text of a sparse payload: `z:<n>`, `Z:<n>`, `v:<val>,<len>` joined by
/// spaces.
pub fn decode(sparse: &[u8]) -> String {
    let mut out = String::new();
    let mut p = 0;
    while p < sparse.len() {
        let b = sparse[p];
        let op = op_at(sparse, p);
        match op {
            Op::Zero(n, 1) => out.push_str(&format!("z:{n} ")),
            Op::Zero(n, _) => out.push_str(&format!("Z:{n} ")),
            Op::Val(v, n) => out.push_str(&format!("v:{v},{n} ")),
        }
        p += if b & 0xc0 == 0x40 { 2 } else { 1 };
    }
    out.trim_matches(' ').to_string()
}

/// Fuzzing oracle (used by `fuzz/fuzz_targets/hll.rs` and the corpus replay test): on any
/// bytes, the header check, count, merge, conversion, decode and updates never panic; for an
/// accepted HLL, sparse and dense forms agree on every register and on the count, and
/// updates keep a valid sparse HLL valid with the register raised.
#[doc(hidden)]
pub fn check_hll_invariants(data: &[u8]) {
    if !is_hll(data) {
        return;
    }
    let c = count(data);
    let mut max = [0u8; REGISTERS];
    let merged = merge(&mut max, data);
    let dense = to_dense(data);
    if data[4] == SPARSE {
        let _ = decode(&data[HDR_SIZE..]);
        // Like Redis, conversion and merge stop at a VAL that overflows and accept the
        // registers so far; the histogram walk counts it and refuses.
        assert!(
            c.is_none() || dense.is_some(),
            "countable but not convertible"
        );
    }
    assert_eq!(merged, dense.is_some(), "merge and to_dense disagree");
    if let Some(d) = &dense {
        for (i, &m) in max.iter().enumerate() {
            assert!(dense_get(&d[HDR_SIZE..], i) == m, "register {i}");
        }
        if c.is_some() {
            assert!(count(d) == c, "dense and sparse counts differ");
            assert!(estimate(&raw_histogram(&max)) == c.unwrap());
        }
    }
    // Updates on the raw bytes must never panic, valid or not.
    let mut v = data.to_vec();
    let mut c = c;
    for (k, &b) in data.iter().take(8).enumerate() {
        let index = (b as usize * 131 + k * 2048) % REGISTERS;
        let cnt = (b % 52).max(1);
        let r = update(&mut v, index, cnt, 3000);
        // Only an exactly covering HLL is sure to stay valid: one that converts because a
        // trailing VAL overflowed (accepted by Redis's conversion) may not after a split.
        if c.is_some() {
            assert_ne!(r, Update::Invalid, "a valid HLL became invalid");
            let d = to_dense(&v).expect("stays valid");
            assert!(dense_get(&d[HDR_SIZE..], index) >= cnt);
        }
        if !is_hll(&v) {
            break;
        }
        c = count(&v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_bytes() {
        // Redis 7.4.1: PFADD x hello; PFDEBUG DECODE x
        assert_eq!(pat_len(b"hello"), (9216, 1));
        assert_eq!(pat_len(b""), (5938, 2));
        // PFADD y a b c d e f g h i j; GET y
        let mut v = new_sparse();
        for e in b"abcdefghij" {
            assert_eq!(add(&mut v, &[*e], 3000), Update::Updated);
        }
        let want: &[u8] = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80Fm\x80I\xe8\x80L\"\x80D<\x848\x80B=\x80K\x83\x80B\xed\x84I\x8c\x80Bm\x80BZ";
        assert_eq!(v, want);
        assert_eq!(count(&v), Some(10));
    }

    #[test]
    fn empty_sparse() {
        let v = new_sparse();
        assert_eq!(v.len(), 18);
        assert!(is_hll(&v));
        assert_eq!(decode(&v[HDR_SIZE..]), "Z:16384");
        assert_eq!(count(&v), Some(0));
        assert_eq!(to_dense(&v).unwrap().len(), DENSE_SIZE);
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = new_sparse();
        let mut d = to_dense(&new_sparse()).unwrap();
        for i in 0..5000u32 {
            let e = i.to_le_bytes();
            let a = add(&mut s, &e, 3000);
            let b = add(&mut d, &e, 3000);
            assert_eq!(a, b, "element {i}");
            assert_eq!(count(&s), count(&d), "after {i}");
        }
        assert_eq!(s[4], DENSE, "promoted past 3000 bytes");
        assert!(s[HDR_SIZE..] == d[HDR_SIZE..]);
    }

    #[test]
    fn corrupt_values_are_invalid() {
        let mut v = new_sparse();
        v.truncate(17); // XZERO cut in half: reads 0, covers 16129 registers.
        assert_eq!(count(&v), None);
        assert_eq!(update(&mut v.clone(), 16383, 3, 3000), Update::Invalid);
        let mut v = new_sparse();
        v.push(0x80); // one register too many: counted as corrupt, converted as Redis does
        assert_eq!(count(&v), None);
        assert!(to_dense(&v).is_some());
        let mut v = new_sparse();
        v.extend_from_slice(&[0x40, 0x00]); // XZERO:1 past the end
        assert!(to_dense(&v).is_none());
        assert!(!is_hll(b"HYLL\x00"));
        assert!(!is_hll(b"HYLL\x02aaaaaaaaaaaaaaa"));
    }

    /// Relative error over 1M distinct elements stays within Redis's own PFSELFTEST bound
    /// (6 standard errors, 1.04/sqrt(m)) at every power of ten.
    #[test]
    fn relative_error_within_bounds() {
        let mut d = to_dense(&new_sparse()).unwrap();
        let relerr = 1.04 / (REGISTERS as f64).sqrt();
        let seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut checkpoint = 1u64;
        let n = 1_000_000;
        for j in 1..=n as u64 {
            let e = (j ^ seed).to_le_bytes();
            let (i, c) = pat_len(&e);
            dense_update(&mut d[HDR_SIZE..], i, c);
            if j == checkpoint || j == n as u64 {
                let est = count(&d).unwrap() as f64;
                let err = (est - j as f64).abs() / j as f64;
                assert!(
                    err <= (relerr * 6.0).max(if j <= 10 { 0.1 } else { 0.0 }),
                    "card {j}: estimate {est}"
                );
                checkpoint *= 10;
            }
        }
    }

    #[test]
    fn fuzz_corpus_replays() {
        crate::listpack::tests::replay_fuzz_corpus("hll", check_hll_invariants);
    }
}
