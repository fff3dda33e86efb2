//! Bitmap and bitfield commands (Redis bitops.c): SETBIT GETBIT BITCOUNT BITPOS BITOP
//! BITFIELD BITFIELD_RO.
//!
//! Bitmaps are ordinary strings; bit 0 is the most significant bit of byte 0. Writers grow
//! the string with zero bytes up to the highest bit they touch (`lookupStringForBitCommand`),
//! after unsharing it into a raw string, so OBJECT ENCODING reports `raw` afterwards even
//! when nothing changed — as Redis. Offsets are bounded by `proto-max-bulk-len` (in bytes)
//! with Redis's `bit offset is not an integer or out of range`.
//!
//! Events and propagation as 7.4.1: SETBIT and BITFIELD emit `setbit` (and count as a
//! change) only when the string grew or a bit actually changed; BITOP emits `set` on its
//! destination, or `del` when every source is empty and the destination existed.
//!
//! BITOP also has Redis 8.2's DIFF, DIFF1, ANDOR and ONE (the 7.4 oracle answers them with a
//! syntax error; their semantics are Redis 8.2's documentation and bitops.c).
//!
//! Speed: popcount and the BITPOS scan work on 8-byte words (the popcount in 32-byte blocks
//! of four independent accumulators, which the compiler vectorizes); BITOP folds whole words
//! while every source has data.

use crate::command::{Ctx, Handler};
use crate::keyspace::{ev, raw_string_value, Deletion, KeyRef, ValueRef};
use crate::object::{ObjType, Value};
use crate::reply::errors;
use crate::types::string::{raw_mut, unshare};
use pyrope_common::util::string2ll;
use std::borrow::Cow;

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// Number of set bits in `s` (`redisPopcount`).
pub(crate) fn popcount(s: &[u8]) -> u64 {
    let mut blocks = s.chunks_exact(32);
    let mut acc = [0u64; 4];
    for b in &mut blocks {
        for (k, a) in acc.iter_mut().enumerate() {
            let w = u64::from_ne_bytes(b[k * 8..k * 8 + 8].try_into().expect("8 bytes"));
            *a += w.count_ones() as u64;
        }
    }
    let mut n = acc.iter().sum::<u64>();
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        n += u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones() as u64;
    }
    n + words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>()
}

/// Position of the first bit equal to `bit` in `s` (`redisBitpos`): -1 when looking for a 1
/// and there is none; `8 * len` when looking for a 0 and there is none (the string is taken
/// as zero-padded on the right).
pub(crate) fn bitpos(s: &[u8], bit: bool) -> i64 {
    let skip: u8 = if bit { 0 } else { 0xff };
    let skipw = u64::from_ne_bytes([skip; 8]);
    let mut i = 0;
    while i + 8 <= s.len() && u64::from_ne_bytes(s[i..i + 8].try_into().expect("8")) == skipw {
        i += 8;
    }
    while i < s.len() && s[i] == skip {
        i += 1;
    }
    if i == s.len() {
        return if bit { -1 } else { s.len() as i64 * 8 };
    }
    let b = if bit { s[i] } else { !s[i] };
    (i * 8) as i64 + b.leading_zeros() as i64
}

/// Parses a bit offset (`getBitOffsetFromArgument`): `#N` means N * `bits` when `hash`
/// (BITFIELD); negative offsets and offsets past `proto-max-bulk-len` bytes are refused.
fn bit_offset(c: &mut Ctx, i: usize, hash: bool, bits: u32) -> Option<u64> {
    let p = c.arg(i);
    let usehash = hash && bits > 0 && p.first() == Some(&b'#');
    let Some(mut off) = string2ll(&p[usehash as usize..]) else {
        c.out.error(BIT_OFFSET_ERR);
        return None;
    };
    if usehash {
        off = off.wrapping_mul(bits as i64);
    }
    if off < 0 || (off >> 3) as u64 >= c.srv.settings.proto_max_bulk_len {
        c.out.error(BIT_OFFSET_ERR);
        return None;
    }
    Some(off as u64)
}

/// The bytes of a string value (an integer formatted as decimal, as
/// `getObjectReadOnlyString`).
fn value_bytes(v: ValueRef<'_>) -> Cow<'_, [u8]> {
    match v {
        ValueRef::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        ValueRef::Inline(b) => Cow::Borrowed(b),
        ValueRef::Boxed(Value::Str(s)) => Cow::Borrowed(&s[..]),
        ValueRef::Boxed(_) => Cow::Borrowed(&[]),
    }
}

/// Looks `key` up for reading; Err(()) after replying WRONGTYPE.
fn lookup_read_string(c: &mut Ctx, key: &[u8]) -> Result<Option<KeyRef>, ()> {
    match c.lookup_read(key) {
        Some(h) if c.srv.ks.get(h).obj_type() != ObjType::String => {
            c.out.wrong_type();
            Err(())
        }
        h => Ok(h),
    }
}

/// `lookupStringForBitCommand`: the string at argv[1] made raw and zero-padded so bit
/// `maxbit` exists (created when missing, "new" event only). Returns the handle and whether
/// the string was created or grew; None after replying WRONGTYPE.
fn string_for_bits(c: &mut Ctx, maxbit: u64) -> Option<(KeyRef, bool)> {
    let key = c.arg(1);
    let need = (maxbit >> 3) as usize + 1;
    match c.lookup_write(key) {
        None => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            let h = c
                .srv
                .ks
                .add(db, key, raw_string_value(vec![0; need]), None, lru, None);
            Some((h, true))
        }
        Some(h) if c.srv.ks.get(h).obj_type() != ObjType::String => {
            c.out.wrong_type();
            None
        }
        Some(h) => {
            let h = unshare(c, h);
            let s = raw_mut(c, h);
            let grew = s.len() < need;
            if grew {
                s.resize(need, 0);
            }
            Some((h, grew))
        }
    }
}

/// SETBIT key offset 0|1: the bit's old value.
fn setbit(c: &mut Ctx) {
    let Some(off) = bit_offset(c, 2, false, 0) else {
        return;
    };
    let on = match string2ll(c.arg(3)) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return c.out.error("ERR bit is not an integer or out of range"),
    };
    let Some((h, grew)) = string_for_bits(c, off) else {
        return;
    };
    let s = raw_mut(c, h);
    let byte = (off >> 3) as usize;
    let bit = 7 - (off & 7) as u8;
    let old = (s[byte] >> bit) & 1;
    if grew || old != on {
        s[byte] = (s[byte] & !(1 << bit)) | (on << bit);
        c.srv.ks.touched(h, ev::SETBIT);
        c.dirty(1);
    }
    c.out.int(old as i64);
}

/// GETBIT key offset.
fn getbit(c: &mut Ctx) {
    let Some(off) = bit_offset(c, 2, false, 0) else {
        return;
    };
    let h = match lookup_read_string(c, c.arg(1)) {
        Err(()) => return,
        Ok(None) => return c.out.int(0),
        Ok(Some(h)) => h,
    };
    let s = value_bytes(c.srv.ks.get(h).value());
    let byte = (off >> 3) as usize;
    let v = s.get(byte).map_or(0, |b| (b >> (7 - (off & 7))) & 1);
    c.out.int(v as i64);
}

/// Parses `BIT|BYTE` (argument `i`); None after a syntax error.
fn bit_or_byte(c: &mut Ctx, i: usize) -> Option<bool> {
    match crate::command::opt(c.arg(i)).as_slice() {
        b"bit" => Some(true),
        b"byte" => Some(false),
        _ => {
            c.out.syntax_error();
            None
        }
    }
}

/// Turns a user range into byte bounds and edge masks, as BITCOUNT/BITPOS do: negative
/// indexes count from the end, the end is clamped; in BIT mode the bounds are bit indexes
/// converted to bytes plus the masks of the out-of-range bits in the first / last byte.
fn range(mut start: i64, mut end: i64, len: usize, isbit: bool) -> (i64, i64, u8, u8) {
    let mut totlen = len as i64;
    if isbit {
        totlen <<= 3;
    }
    if start < 0 {
        start += totlen;
    }
    if end < 0 {
        end += totlen;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= totlen {
        end = totlen - 1;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if isbit && start <= end {
        first_mask = !((1u32 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u32 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    (start, end, first_mask, last_mask)
}

/// BITCOUNT key [start end [BYTE|BIT]].
fn bitcount(c: &mut Ctx) {
    let argc = c.argc();
    let mut given = None;
    if argc == 4 || argc == 5 {
        let Some(start) = c.int_arg(2) else { return };
        let Some(end) = c.int_arg(3) else { return };
        let isbit = if argc == 5 {
            match bit_or_byte(c, 4) {
                Some(b) => b,
                None => return,
            }
        } else {
            false
        };
        given = Some((start, end, isbit));
    } else if argc != 2 {
        return c.out.syntax_error();
    }
    let h = match lookup_read_string(c, c.arg(1)) {
        Err(()) => return,
        Ok(h) => h,
    };
    if let Some((start, end, _)) = given {
        if start < 0 && end < 0 && start > end {
            return c.out.int(0);
        }
    }
    let Some(h) = h else { return c.out.int(0) };
    let p = value_bytes(c.srv.ks.get(h).value());
    let (start, end, fm, lm) = match given {
        Some((s, e, isbit)) => range(s, e, p.len(), isbit),
        None => (0, p.len() as i64 - 1, 0, 0),
    };
    if start > end {
        drop(p);
        return c.out.int(0);
    }
    let (s, e) = (start as usize, end as usize);
    let mut n = popcount(&p[s..=e]);
    n -= (p[s] & fm).count_ones() as u64 + (p[e] & lm).count_ones() as u64;
    drop(p);
    c.out.int(n as i64);
}

/// BITPOS key bit [start [end [BYTE|BIT]]].
fn bitpos_cmd(c: &mut Ctx) {
    let Some(bit) = c.int_arg(2) else { return };
    if bit != 0 && bit != 1 {
        return c.out.error("ERR The bit argument must be 1 or 0.");
    }
    let bit = bit == 1;
    let argc = c.argc();
    let mut given = None;
    let mut end_given = false;
    if (4..=6).contains(&argc) {
        let Some(start) = c.int_arg(3) else { return };
        let mut isbit = false;
        if argc == 6 {
            match bit_or_byte(c, 5) {
                Some(b) => isbit = b,
                None => return,
            }
        }
        let mut end = None;
        if argc >= 5 {
            let Some(e) = c.int_arg(4) else { return };
            end = Some(e);
            end_given = true;
        }
        given = Some((start, end, isbit));
    } else if argc != 3 {
        return c.out.syntax_error();
    }
    let h = match lookup_read_string(c, c.arg(1)) {
        Err(()) => return,
        Ok(None) => return c.out.int(if bit { -1 } else { 0 }),
        Ok(Some(h)) => h,
    };
    let p = value_bytes(c.srv.ks.get(h).value());
    let (mut start, end, fm, lm) = match given {
        Some((s, e, isbit)) => {
            let e = e.unwrap_or(if isbit {
                ((p.len() as i64) << 3) + 7
            } else {
                p.len() as i64 - 1
            });
            range(s, e, p.len(), isbit)
        }
        None => (0, p.len() as i64 - 1, 0, 0),
    };
    if start > end {
        drop(p);
        return c.out.int(-1);
    }
    let mut bytes = end - start + 1;
    let one = |b: u8| bitpos(&[b], bit);
    let pos = 'result: {
        let mut pos;
        if fm != 0 {
            let mut tmp = if bit {
                p[start as usize] & !fm
            } else {
                p[start as usize] | fm
            };
            if lm != 0 && bytes == 1 {
                tmp = if bit { tmp & !lm } else { tmp | lm };
            }
            pos = one(tmp);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'result pos;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - (lm != 0) as i64;
        if cur > 0 {
            pos = bitpos(&p[start as usize..(start + cur) as usize], bit);
            if bytes == cur || (pos != -1 && pos != cur << 3) {
                break 'result pos;
            }
            start += cur;
            bytes -= cur;
        }
        let tmp = if bit {
            p[end as usize] & !lm
        } else {
            p[end as usize] | lm
        };
        one(tmp)
    };
    drop(p);
    if end_given && !bit && pos == bytes << 3 {
        return c.out.int(-1);
    }
    c.out.int(if pos != -1 { pos + (start << 3) } else { pos });
}

/// BITOP operations (`BITOP_*`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    Xor,
    Not,
    /// X & !(A1 | ... | An)
    Diff,
    /// !X & (A1 | ... | An)
    Diff1,
    /// X & (A1 | ... | An)
    AndOr,
    /// Bits set in exactly one source.
    One,
}

/// Combines one word (or byte, in the low bits) of every source.
#[inline]
fn fold(op: Op, first: u64, rest: impl Iterator<Item = u64>) -> u64 {
    match op {
        Op::And => rest.fold(first, |a, b| a & b),
        Op::Or => rest.fold(first, |a, b| a | b),
        Op::Xor => rest.fold(first, |a, b| a ^ b),
        Op::Not => !first,
        Op::Diff => first & !rest.fold(0, |a, b| a | b),
        Op::Diff1 => !first & rest.fold(0, |a, b| a | b),
        Op::AndOr => first & rest.fold(0, |a, b| a | b),
        Op::One => {
            let (mut out, mut common) = (first, 0u64);
            for b in rest {
                common |= out & b;
                out ^= b;
                out &= !common;
            }
            out
        }
    }
}

/// BITOP AND|OR|XOR|NOT|DIFF|DIFF1|ANDOR|ONE destkey key [key ...]: the length of the
/// result (the longest source; shorter ones are zero-padded).
fn bitop(c: &mut Ctx) {
    let name = crate::command::cstr(c.arg(1));
    let op = match crate::command::opt(name).as_slice() {
        b"and" => Op::And,
        b"or" => Op::Or,
        b"xor" => Op::Xor,
        b"not" => Op::Not,
        b"diff" => Op::Diff,
        b"diff1" => Op::Diff1,
        b"andor" => Op::AndOr,
        b"one" => Op::One,
        _ => return c.out.syntax_error(),
    };
    if op == Op::Not && c.argc() != 4 {
        return c
            .out
            .error("ERR BITOP NOT must be called with a single source key.");
    }
    if matches!(op, Op::Diff | Op::Diff1 | Op::AndOr) && c.argc() < 5 {
        let msg = format!(
            "ERR BITOP {} must be called with at least two source keys.",
            String::from_utf8_lossy(name).to_ascii_uppercase()
        );
        return c.out.error(&msg);
    }
    let mut handles = Vec::with_capacity(c.argc() - 3);
    for j in 3..c.argc() {
        match lookup_read_string(c, c.arg(j)) {
            Err(()) => return,
            Ok(h) => handles.push(h),
        }
    }
    let res = {
        let ks = &c.srv.ks;
        let srcs: Vec<Cow<'_, [u8]>> = handles
            .iter()
            .map(|h| h.map_or(Cow::Borrowed(&[][..]), |h| value_bytes(ks.get(h).value())))
            .collect();
        let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
        let minlen = srcs.iter().map(|s| s.len()).min().unwrap_or(0);
        let mut res = vec![0u8; maxlen];
        let word = |s: &[u8], j: usize| u64::from_ne_bytes(s[j..j + 8].try_into().expect("8"));
        let mut j = 0;
        while j + 8 <= minlen {
            let w = fold(op, word(&srcs[0], j), srcs[1..].iter().map(|s| word(s, j)));
            res[j..j + 8].copy_from_slice(&w.to_ne_bytes());
            j += 8;
        }
        let byte = |s: &[u8], j: usize| s.get(j).copied().unwrap_or(0) as u64;
        while j < maxlen {
            let b = fold(op, byte(&srcs[0], j), srcs[1..].iter().map(|s| byte(s, j)));
            res[j] = b as u8;
            j += 1;
        }
        res
    };
    let maxlen = res.len();
    let dest = c.arg(2);
    let existing = c.lookup_write(dest);
    if maxlen > 0 {
        let lru = c.srv.new_key_lru();
        let db = c.db;
        c.srv.ks.set(
            db,
            dest,
            existing,
            raw_string_value(res),
            None,
            false,
            lru,
            Some(ev::SET),
        );
        c.dirty(1);
    } else if let Some(h) = existing {
        c.srv.ks.delete(h, Deletion::Server, Some(ev::DEL));
        c.dirty(1);
    }
    c.out.int(maxlen as i64);
}

/// Overflow behaviours of BITFIELD (`BFOVERFLOW_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Reads `bits` bits at bit `offset` of `p` as an unsigned integer (`getUnsignedBitfield`);
/// bytes past the end read 0.
pub(crate) fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for j in 0..bits as u64 {
        let o = offset + j;
        let byte = p.get((o >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | ((byte >> (7 - (o & 7))) & 1) as u64;
    }
    v
}

/// Reads a two's complement signed field (`getSignedBitfield`).
pub(crate) fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

/// Writes the low `bits` bits of `value` at bit `offset` (`setUnsignedBitfield`); the
/// string must be long enough.
pub(crate) fn set_bits(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bitval = ((value >> (bits as u64 - 1 - j)) & 1) as u8;
        let o = offset + j;
        let byte = &mut p[(o >> 3) as usize];
        let bit = 7 - (o & 7) as u8;
        *byte = (*byte & !(1 << bit)) | (bitval << bit);
    }
}

/// `checkUnsignedBitfieldOverflow`: 0, 1 (overflow) or -1 (underflow), and the value to
/// store for WRAP / SAT.
pub(crate) fn check_unsigned(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        (-1, if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        (0, 0)
    }
}

/// `checkSignedBitfieldOverflow`: 0, 1 (overflow) or -1 (underflow), and the value to store
/// for WRAP / SAT.
pub(crate) fn check_signed(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        (-1, if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        (0, 0)
    }
}

/// One BITFIELD operation (`struct bitfieldOp`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldOp {
    /// Bit offset.
    pub offset: u64,
    /// SET value or INCRBY increment.
    pub arg: i64,
    /// GET, SET or INCRBY.
    pub kind: FieldKind,
    /// Overflow behaviour in force.
    pub ow: Overflow,
    /// Width in bits (1..=64 signed, 1..=63 unsigned).
    pub bits: u32,
    /// Signed (`i`) or unsigned (`u`).
    pub signed: bool,
}

/// BITFIELD subcommands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FieldKind {
    Get,
    Set,
    IncrBy,
}

/// Runs one SET/INCRBY on `p` (long enough): the reply value (None = FAIL overflow) and
/// whether the stored field changed. GET reads (zero-padded).
pub(crate) fn apply_field(p: &mut [u8], op: &FieldOp) -> (Option<i64>, bool) {
    if op.kind == FieldKind::Get {
        let v = if op.signed {
            get_signed(p, op.offset, op.bits)
        } else {
            get_unsigned(p, op.offset, op.bits) as i64
        };
        return (Some(v), false);
    }
    if op.signed {
        let old = get_signed(p, op.offset, op.bits);
        let (ov, newval, ret) = if op.kind == FieldKind::IncrBy {
            let (ov, w) = check_signed(old, op.arg, op.bits, op.ow);
            let n = if ov != 0 { w } else { old.wrapping_add(op.arg) };
            (ov, n, n)
        } else {
            let (ov, w) = check_signed(op.arg, 0, op.bits, op.ow);
            (ov, if ov != 0 { w } else { op.arg }, old)
        };
        if ov != 0 && op.ow == Overflow::Fail {
            return (None, false);
        }
        set_bits(p, op.offset, op.bits, newval as u64);
        (Some(ret), old != newval)
    } else {
        let old = get_unsigned(p, op.offset, op.bits);
        let (ov, newval, ret) = if op.kind == FieldKind::IncrBy {
            let (ov, w) = check_unsigned(old, op.arg, op.bits, op.ow);
            let n = if ov != 0 {
                w
            } else {
                old.wrapping_add(op.arg as u64)
            };
            (ov, n, n)
        } else {
            let v = op.arg as u64;
            let (ov, w) = check_unsigned(v, 0, op.bits, op.ow);
            (ov, if ov != 0 { w } else { v }, old)
        };
        if ov != 0 && op.ow == Overflow::Fail {
            return (None, false);
        }
        set_bits(p, op.offset, op.bits, newval);
        (Some(ret as i64), old != newval)
    }
}

/// Parses a BITFIELD type `i<bits>` / `u<bits>` (`getBitfieldTypeFromArgument`).
fn field_type(c: &mut Ctx, i: usize) -> Option<(bool, u32)> {
    let p = c.arg(i);
    let signed = match p.first() {
        Some(b'i') => Some(true),
        Some(b'u') => Some(false),
        _ => None,
    };
    let bits = signed.and_then(|s| {
        string2ll(crate::command::cstr(&p[1..]))
            .filter(|&b| b >= 1 && ((s && b <= 64) || (!s && b <= 63)))
    });
    match (signed, bits) {
        (Some(s), Some(b)) => Some((s, b as u32)),
        _ => {
            c.out.error(
                "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not \
                 supported but i64 is.",
            );
            None
        }
    }
}

/// BITFIELD / BITFIELD_RO (`bitfieldGeneric`): parse every operation first, then look the
/// key up (read-only when there are only GETs), then run them in order.
fn bitfield_generic(c: &mut Ctx, ro: bool) {
    let mut ops: Vec<FieldOp> = Vec::new();
    let mut ow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest: u64 = 0;
    let argc = c.argc();
    let mut j = 2;
    while j < argc {
        let remargs = argc - j - 1;
        let kind = match crate::command::opt(c.arg(j)).as_slice() {
            b"get" if remargs >= 2 => FieldKind::Get,
            b"set" if remargs >= 3 => FieldKind::Set,
            b"incrby" if remargs >= 3 => FieldKind::IncrBy,
            b"overflow" if remargs >= 1 => {
                ow = match crate::command::opt(c.arg(j + 1)).as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return c.out.error("ERR Invalid OVERFLOW type specified"),
                };
                j += 2;
                continue;
            }
            _ => return c.out.syntax_error(),
        };
        let Some((signed, bits)) = field_type(c, j + 1) else {
            return;
        };
        let Some(offset) = bit_offset(c, j + 2, true, bits) else {
            return;
        };
        let mut arg = 0;
        if kind != FieldKind::Get {
            readonly = false;
            highest = highest.max(offset + bits as u64 - 1);
            match string2ll(c.arg(j + 3)) {
                Some(v) => arg = v,
                None => return c.out.error(errors::NOT_INTEGER),
            }
        }
        ops.push(FieldOp {
            offset,
            arg,
            kind,
            ow,
            bits,
            signed,
        });
        j += if kind == FieldKind::Get { 3 } else { 4 };
    }
    if readonly {
        let h = match lookup_read_string(c, c.arg(1)) {
            Err(()) => return,
            Ok(h) => h,
        };
        let bytes = h.map(|h| value_bytes(c.srv.ks.get(h).value()).into_owned());
        c.out.array(ops.len());
        for op in &ops {
            // GET copies at most 9 bytes from the field's first byte: zero-padded reads.
            let byte = (op.offset >> 3) as usize;
            let mut buf = [0u8; 9];
            if let Some(b) = bytes.as_deref().and_then(|b| b.get(byte..)) {
                let n = b.len().min(9);
                buf[..n].copy_from_slice(&b[..n]);
            }
            let local = FieldOp {
                offset: op.offset - (byte as u64) * 8,
                ..*op
            };
            let (v, _) = apply_field(&mut buf, &local);
            c.out.int(v.unwrap_or(0));
        }
        return;
    }
    if ro {
        return c
            .out
            .error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let Some((h, grew)) = string_for_bits(c, highest) else {
        return;
    };
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    let mut changes = 0u64;
    {
        let s = raw_mut(c, h);
        for op in &ops {
            let (v, changed) = apply_field(s, op);
            if op.kind != FieldKind::Get && v.is_some() && (grew || changed) {
                changes += 1;
            }
            replies.push(v);
        }
    }
    c.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => c.out.int(v),
            None => c.out.null(),
        }
    }
    if changes > 0 {
        c.srv.ks.touched(h, ev::SETBIT);
        c.dirty(changes);
    }
}

fn bitfield(c: &mut Ctx) {
    bitfield_generic(c, false);
}

fn bitfield_ro(c: &mut Ctx) {
    bitfield_generic(c, true);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("setbit", setbit),
    ("getbit", getbit),
    ("bitcount", bitcount),
    ("bitpos", bitpos_cmd),
    ("bitop", bitop),
    ("bitfield", bitfield),
    ("bitfield_ro", bitfield_ro),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Harness;
    use proptest::prelude::*;
    use pyrope_common::resp::frame::{parse_frame, Frame};

    fn call(h: &mut Harness, argv: &[&[u8]]) -> Frame {
        let out = h.run(argv);
        let (f, n) = parse_frame(&out).unwrap().expect("one reply");
        assert_eq!(n, out.len(), "exactly one reply");
        f
    }

    fn get(h: &mut Harness, k: &[u8]) -> Vec<u8> {
        call(h, &[b"GET", k])
            .as_bytes()
            .map(|b| b.to_vec())
            .unwrap_or_default()
    }

    /// Redis 8.2's BITOP DIFF DIFF1 ANDOR ONE (bitops.c; the 7.4 oracle lacks them), on
    /// sources of different lengths so both the word loop and the zero-padded tail run.
    #[test]
    fn bitop_redis_8_2_operations() {
        let mut h = Harness::new(&[]).unwrap();
        fastrand::seed(7);
        let srcs: Vec<Vec<u8>> = [37usize, 20, 41, 3]
            .iter()
            .map(|&n| (0..n).map(|_| fastrand::u8(..)).collect())
            .collect();
        for (i, s) in srcs.iter().enumerate() {
            call(&mut h, &[b"SET", format!("s{i}").as_bytes(), s]);
        }
        let byte = |s: &Vec<u8>, j: usize| s.get(j).copied().unwrap_or(0);
        let maxlen = 41;
        type Model = fn(u8, &[u8]) -> u8;
        let cases: [(&str, Model); 4] = [
            ("DIFF", |x, r| x & !r.iter().fold(0, |a, b| a | b)),
            ("diff1", |x, r| !x & r.iter().fold(0, |a, b| a | b)),
            ("AndOr", |x, r| x & r.iter().fold(0, |a, b| a | b)),
            ("ONE", |x, r| {
                // Bits set in exactly one of all the keys.
                let mut out = 0u8;
                for bit in 0..8 {
                    let n = (x >> bit & 1) + r.iter().map(|b| b >> bit & 1).sum::<u8>();
                    out |= ((n == 1) as u8) << bit;
                }
                out
            }),
        ];
        for (name, model) in cases {
            for nkeys in 2..=4 {
                let mut argv: Vec<Vec<u8>> = vec![b"BITOP".to_vec(), name.into(), b"dst".to_vec()];
                argv.extend((0..nkeys).map(|i| format!("s{i}").into_bytes()));
                let refs: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
                let n = srcs[..nkeys].iter().map(|s| s.len()).max().unwrap();
                assert_eq!(call(&mut h, &refs), Frame::Integer(n as i64), "{name}");
                let want: Vec<u8> = (0..n)
                    .map(|j| {
                        let rest: Vec<u8> = srcs[1..nkeys].iter().map(|s| byte(s, j)).collect();
                        model(byte(&srcs[0], j), &rest)
                    })
                    .collect();
                assert_eq!(get(&mut h, b"dst"), want, "{name} over {nkeys} keys");
                assert!(n <= maxlen);
            }
        }
        // ONE with a single key copies it; DIFF-family need two sources.
        call(&mut h, &[b"BITOP", b"ONE", b"dst", b"s0"]);
        assert_eq!(get(&mut h, b"dst"), srcs[0]);
        for (op, up) in [("diff", "DIFF"), ("Diff1", "DIFF1"), ("andor", "ANDOR")] {
            let r = call(&mut h, &[b"BITOP", op.as_bytes(), b"dst", b"s0"]);
            let want = format!("ERR BITOP {up} must be called with at least two source keys.");
            assert_eq!(r, Frame::Error(want.into_bytes()));
        }
        // Every source empty: the destination is deleted, the reply is 0.
        assert_eq!(
            call(&mut h, &[b"BITOP", b"DIFF", b"dst", b"none1", b"none2"]),
            Frame::Integer(0)
        );
        assert_eq!(call(&mut h, &[b"EXISTS", b"dst"]), Frame::Integer(0));
    }

    /// One BITFIELD sub-operation of the model test.
    #[derive(Clone, Debug)]
    struct MOp {
        kind: u8, // 0 GET, 1 SET, 2 INCRBY
        signed: bool,
        bits: u32,
        offset: u64,
        arg: i64,
        ow: u8, // 0 WRAP, 1 SAT, 2 FAIL
    }

    fn mop() -> impl Strategy<Value = MOp> {
        (
            0u8..3,
            any::<bool>(),
            1u32..=64,
            0u64..200,
            prop_oneof![
                -300i64..300,
                any::<i64>(),
                Just(i64::MIN),
                Just(i64::MAX),
                Just(-1i64)
            ],
            0u8..3,
        )
            .prop_map(|(kind, signed, bits, offset, arg, ow)| MOp {
                kind,
                signed,
                bits: if signed { bits } else { bits.min(63) },
                offset,
                arg,
                ow,
            })
    }

    /// The model: a bit vector, with integer ranges computed in i128.
    fn model_apply(bits: &mut Vec<bool>, op: &MOp) -> Option<i64> {
        let w = op.bits as usize;
        let off = op.offset as usize;
        if bits.len() < off + w {
            bits.resize(off + w, false);
        }
        let raw: u128 = (0..w).fold(0, |a, j| a << 1 | bits[off + j] as u128);
        let (min, max): (i128, i128) = if op.signed {
            (-(1i128 << (w - 1)), (1i128 << (w - 1)) - 1)
        } else {
            (0, (1i128 << w) - 1)
        };
        let cur: i128 = if op.signed && raw >> (w - 1) & 1 == 1 {
            raw as i128 - (1i128 << w)
        } else {
            raw as i128
        };
        let wrap = |v: i128| -> i128 {
            let m = v.rem_euclid(1i128 << w);
            if op.signed && m > max {
                m - (1i128 << w)
            } else {
                m
            }
        };
        let target: i128 = match op.kind {
            0 => return Some(cur as i64),
            1 if !op.signed => op.arg as u64 as i128, // SET on unsigned sees the u64 cast
            1 => op.arg as i128,
            _ => cur + op.arg as i128,
        };
        // Redis's quirk (checkSignedBitfieldOverflow): for a signed SET below
        // `max - i64::MAX`, `max - value` wraps and the value saturates to the maximum.
        let sat_max = target > max
            || (op.kind == 1 && op.signed && w < 64 && target < max - i64::MAX as i128);
        let new = if target > max || target < min {
            match op.ow {
                0 => wrap(target),
                1 if sat_max => max,
                1 => min,
                _ => return None,
            }
        } else {
            target
        };
        let enc = new.rem_euclid(1i128 << w) as u128;
        for j in 0..w {
            bits[off + j] = enc >> (w - 1 - j) & 1 == 1;
        }
        Some(if op.kind == 1 { cur } else { new } as i64)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// BITFIELD against a model bit array: every reply, then the string's bytes.
        #[test]
        fn bitfield_matches_a_model(cmds in proptest::collection::vec(
            proptest::collection::vec(mop(), 1..5), 1..12)) {
            let mut h = Harness::new(&[]).unwrap();
            let mut model: Vec<bool> = Vec::new();
            let mut len = 0usize;
            for ops in &cmds {
                let mut argv: Vec<Vec<u8>> = vec![b"BITFIELD".to_vec(), b"k".to_vec()];
                let mut want = Vec::new();
                let mut highest = None;
                for op in ops {
                    argv.push(b"OVERFLOW".to_vec());
                    argv.push(["WRAP", "SAT", "FAIL"][op.ow as usize].into());
                    argv.push(["GET", "SET", "INCRBY"][op.kind as usize].into());
                    argv.push(format!("{}{}", if op.signed { 'i' } else { 'u' }, op.bits).into());
                    argv.push(op.offset.to_string().into());
                    if op.kind != 0 {
                        argv.push(op.arg.to_string().into());
                        let top = op.offset + op.bits as u64 - 1;
                        highest = Some(highest.map_or(top, |h: u64| h.max(top)));
                    }
                }
                if let Some(top) = highest {
                    len = len.max((top >> 3) as usize + 1);
                }
                for op in ops {
                    want.push(match model_apply(&mut model, op) {
                        Some(v) => Frame::Integer(v),
                        None => Frame::Null,
                    });
                }
                let refs: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
                let got = call(&mut h, &refs);
                let got: Vec<Frame> = got.as_array().unwrap().iter().map(|f| match f {
                    Frame::Bulk(None) => Frame::Null,
                    f => f.clone(),
                }).collect();
                prop_assert_eq!(got, want, "{:?}", ops);
            }
            model.resize(len * 8, false);
            let bytes: Vec<u8> = model[..len * 8]
                .chunks(8)
                .map(|c| c.iter().fold(0u8, |a, &b| a << 1 | b as u8))
                .collect();
            prop_assert_eq!(get(&mut h, b"k"), bytes);
        }
    }

    #[test]
    fn popcount_and_bitpos_match_bit_loops() {
        fastrand::seed(3);
        for n in 0..100 {
            let mut s: Vec<u8> = (0..n).map(|_| fastrand::u8(..)).collect();
            let ones: u64 = s.iter().map(|b| b.count_ones() as u64).sum();
            assert_eq!(popcount(&s), ones);
            if n > 3 && fastrand::bool() {
                let k = fastrand::usize(..n);
                s[..k].fill(if fastrand::bool() { 0 } else { 0xff });
            }
            for bit in [false, true] {
                let naive = (0..s.len() * 8)
                    .find(|&i| ((s[i / 8] >> (7 - i % 8)) & 1 == 1) == bit)
                    .map_or(if bit { -1 } else { s.len() as i64 * 8 }, |i| i as i64);
                assert_eq!(bitpos(&s, bit), naive);
            }
        }
    }
}
