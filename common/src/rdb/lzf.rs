//! LZF for RDB strings (`rdbLoadLzfStringObject` / `rdbSaveLzfStringObject` in rdb.c) and
//! compressed quicklist nodes, with the bounds that make untrusted input safe: the announced
//! decompressed length is checked against the most LZF can expand `clen` input bytes before
//! any buffer of that size exists. Both directions are our own code (liblzf 3.6's format,
//! lzf_c.c / lzf_d.c); the `lzf` crate is the tests' oracle for decompression.

/// The most output one input byte of LZF can produce: a 3-byte back reference copies at most
/// 264 bytes (lzf_d.c), so `len <= 88 * clen`.
pub const MAX_EXPANSION: u64 = 88;

/// Decompresses `data` to exactly `len` bytes. `None` when `len` is impossible for `data`'s
/// size, or the data is corrupt, or it decompresses to another length (Redis: "Invalid LZF
/// compressed string").
pub fn decompress(data: &[u8], len: u64) -> Option<Vec<u8>> {
    let len = usize::try_from(len).ok()?;
    let (mut out, op) = decode(data, len, len)?;
    out.truncate(len);
    (op == len).then_some(out)
}

/// The first bytes of `data`'s decompression to `len` bytes: decoding stops at the first
/// token boundary at or past `want` bytes, so the result holds at least `min(want, len)`
/// bytes (fewer only if `data` ends early) and at most `len`. A reader that needs one element
/// near the start of a compressed quicklist node decompresses only that far. `None` as
/// [`decompress`] for impossible lengths and corrupt tokens met on the way.
pub fn decompress_prefix(data: &[u8], len: u64, want: usize) -> Option<Vec<u8>> {
    let len = usize::try_from(len).ok()?;
    let (mut out, op) = decode(data, len, want.min(len))?;
    out.truncate(op);
    Some(out)
}

/// liblzf's `lzf_decompress`, stopping once `want` output bytes are written when `want` is
/// less than `len`: the output buffer (with slack past what was written) and the bytes
/// written.
fn decode(data: &[u8], len: usize, want: usize) -> Option<(Vec<u8>, usize)> {
    if len == 0 || data.is_empty() || len as u64 > (data.len() as u64).saturating_mul(MAX_EXPANSION)
    {
        return None;
    }
    // SLACK bytes past the end let short copies be fixed-size (inlined moves, no memmove
    // call; the bytes they write past a run are overwritten by the next one or cut at the
    // end). Decoding stops after the token that reaches `want`, which writes at most
    // MAX_TOKEN bytes from below `want`: the buffer need not hold all `len`.
    const SLACK: usize = 32;
    const MAX_TOKEN: usize = MAX_REF + 2;
    let cap = len.min(want.saturating_add(MAX_TOKEN));
    let mut out = vec![0u8; cap + SLACK];
    let (mut i, mut op) = (0, 0);
    // lzf_d.c: a control byte below 32 starts a literal run of ctrl + 1 bytes; otherwise its
    // top 3 bits are a length (7: plus the next byte), +2, of a back reference whose offset
    // (+1) is its low 5 bits and the next byte.
    // Stopping early only for a prefix: a whole decompression reads all the input, so bytes
    // past `len` are an error as in liblzf (E2BIG).
    let stop = if want < len { want } else { usize::MAX };
    while i < data.len() && op < stop {
        let ctrl = data[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            if i + run > data.len() || op + run > len {
                return None;
            }
            if i + 32 <= data.len() {
                out[op..op + 32].copy_from_slice(&data[i..i + 32]);
            } else {
                out[op..op + run].copy_from_slice(&data[i..i + run]);
            }
            i += run;
            op += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += *data.get(i)? as usize;
                i += 1;
            }
            run += 2;
            let off = ((ctrl & 0x1f) << 8) + *data.get(i)? as usize + 1;
            i += 1;
            if off > op || op + run > len {
                return None;
            }
            let from = op - off;
            if off >= 16 {
                // Each 16-byte chunk reads only bytes already final (off >= 16); the last
                // may write up to 15 bytes past the run, within the slack.
                let mut c = 0;
                while c < run {
                    out.copy_within(from + c..from + c + 16, op + c);
                    c += 16;
                }
            } else {
                // A repeated period shorter than a chunk: forward, byte by byte (LZ77).
                for j in 0..run {
                    out[op + j] = out[from + j];
                }
            }
            op += run;
        }
    }
    Some((out, op))
}

/// Compresses `data` as `rdbSaveLzfStringObject` would keep it: `None` unless the input is
/// longer than 4 bytes and Redis's `lzf_compress` succeeds with an output buffer of `len - 4`
/// bytes (Redis stores the string raw otherwise). The buffer size matters beyond the final
/// length: liblzf gives up as soon as a conservative in-loop bound is crossed, so the same
/// decision as Redis needs the same bound checks ([`compress_bounded`]).
pub fn compress(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() <= 4 {
        return None;
    }
    compress_bounded(data, data.len() - 4)
}

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// liblzf's hash slot of the 3 bytes in `h` (lzfP.h with `ULTRA_FAST 0`).
#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Redis 7.4's `lzf_compress(data, len, out, out_len)` (its lzf_c.c, liblzf 3.6 with Redis's
/// lzfP.h: HLOG 16, VERY_FAST, no ULTRA_FAST, hash slots as offsets), byte for byte,
/// including where it gives up: `None` when the output would not fit `out_len` bytes by
/// liblzf's own checks. (Redis does not clear its hash table between calls, `INIT_HTAB 0`:
/// stale slots can let a later compression of the same bytes find extra matches. We start
/// from a clear table, which is what a first compression sees.) Inputs shorter than 3 bytes
/// are refused (Redis never compresses strings of 20 bytes or less). The `lzf` crate differs
/// from it: it never matches in the last 4 input bytes and knows no output bound.
pub fn compress_bounded(data: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if data.len() < 3 || out_len == 0 {
        return None;
    }
    TABLE.with(|t| compress_with(data, out_len, &mut t.borrow_mut()))
}

/// The hash table, kept per thread and never cleared: zeroing 2^16 slots on every call made
/// saving many small listpacks ten times slower than Redis. Each call stamps its slots with
/// `base + position + 1` and moves `base` past its input, so slots of earlier calls read as
/// empty — the clear table a first compression sees.
struct Table {
    slots: Vec<u32>,
    base: u32,
}

thread_local! {
    static TABLE: std::cell::RefCell<Table> = std::cell::RefCell::new(Table {
        slots: vec![0; HSIZE],
        base: 0,
    });
}

/// A call's view of the table: positions in, positions out (0 = empty).
struct Slots<'a> {
    slots: &'a mut [u32],
    base: u32,
}

impl Slots<'_> {
    #[inline]
    fn get(&self, slot: usize) -> usize {
        let v = self.slots[slot];
        if v > self.base {
            (v - self.base - 1) as usize
        } else {
            0
        }
    }

    #[inline]
    fn set(&mut self, slot: usize, pos: usize) {
        self.slots[slot] = self.base + pos as u32 + 1;
    }
}

fn compress_with(data: &[u8], out_len: usize, t: &mut Table) -> Option<Vec<u8>> {
    let in_len = data.len();
    if t.base as u64 + in_len as u64 + 2 >= u32::MAX as u64 {
        t.slots.fill(0);
        t.base = 0;
    }
    let mut htab = Slots {
        slots: &mut t.slots,
        base: t.base,
    };
    t.base += in_len as u32 + 1;
    let mut out = vec![0u8; out_len + 16];
    let mut op = 1usize; // start run
    let mut lit = 0usize;
    let mut ip = 0usize;
    let frst = |i: usize| ((data[i] as u32) << 8) | data[i + 1] as u32;
    let mut hval = frst(0);
    while ip + 2 < in_len {
        hval = (hval << 8) | data[ip + 2] as u32;
        let slot = idx(hval);
        let r = htab.get(slot);
        htab.set(slot, ip);
        if r > 0
            && r < ip
            && ip - r - 1 < MAX_OFF
            && data[r] == data[ip]
            && data[r + 1] == data[ip + 1]
            && data[r + 2] == data[ip + 2]
        {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= (lit == 0) as usize; // undo run if length is zero
            if op + 3 + 1 >= out_len {
                return None;
            }
            // The unrolled 16-step scan, then the do-while (whose first step is unchecked
            // against maxlen, as in C).
            'scan: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if data[r + len] != data[ip + len] {
                            break 'scan;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && data[r + len] == data[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // len is now #octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // and start a run
            lit = 0;
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            ip -= 2;
            hval = frst(ip);
            hval = (hval << 8) | data[ip + 2] as u32;
            htab.set(idx(hval), ip);
            ip += 1;
            hval = (hval << 8) | data[ip + 2] as u32;
            htab.set(idx(hval), ip);
            ip += 1;
        } else {
            // one more literal byte we must copy
            if op >= out_len {
                return None;
            }
            lit += 1;
            out[op] = data[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8; // stop run
                lit = 0;
                op += 1; // start run
            }
        }
    }
    if op + 3 > out_len {
        return None; // at most 3 bytes can be missing here
    }
    while ip < in_len {
        lit += 1;
        out[op] = data[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= (lit == 0) as usize;
    out.truncate(op);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompression_matches_the_lzf_crate_on_any_input() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in 0..3000usize {
            // Our own output of many shapes, and garbage of many lengths: same answer as
            // liblzf's port (Some(bytes) of the announced length, or None).
            let period = 1 + (rnd() % 300) as usize;
            let alphabet = [2u64, 5, 26, 256][n % 4];
            let base: Vec<u8> = (0..period).map(|_| (rnd() % alphabet) as u8).collect();
            let data: Vec<u8> = (0..(n * 7) % 9000 + 3).map(|i| base[i % period]).collect();
            if let Some(c) = compress_bounded(&data, data.len() + 64) {
                assert_eq!(
                    decompress(&c, data.len() as u64).as_deref(),
                    Some(&data[..])
                );
                // Any prefix: at least what was asked for, and exactly the data's start.
                for want in [
                    0,
                    1,
                    data.len() / 3,
                    data.len() / 2 + 7,
                    data.len(),
                    data.len() + 5,
                ] {
                    let p = decompress_prefix(&c, data.len() as u64, want).unwrap();
                    assert!(p.len() >= want.min(data.len()) && p.len() <= data.len());
                    assert_eq!(&p[..], &data[..p.len()]);
                }
                for cut in [1, c.len() / 2] {
                    let want = ::lzf::decompress(&c[..c.len() - cut], data.len()).ok();
                    let want = want.filter(|o| o.len() == data.len());
                    assert_eq!(decompress(&c[..c.len() - cut], data.len() as u64), want);
                }
            }
            let junk: Vec<u8> = (0..n % 200 + 1).map(|_| rnd() as u8).collect();
            for len in [1usize, 10, 100, 1000, (rnd() % 4000) as usize + 1] {
                let want = ::lzf::decompress(&junk, len)
                    .ok()
                    .filter(|o| o.len() == len);
                assert_eq!(decompress(&junk, len as u64), want, "{junk:?} {len}");
            }
        }
    }

    #[test]
    fn round_trip_and_bounds() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(20);
        let c = compress(&data).unwrap();
        assert_eq!(decompress(&c, data.len() as u64).unwrap(), data);
        assert!(decompress(&c, data.len() as u64 + 1).is_none());
        assert!(decompress(&c, u64::MAX).is_none());
        assert!(decompress(&[], 5).is_none());
        assert!(compress(b"abcd").is_none());
        assert!(compress(b"\x01\x02\x03\x04\x05\x06\x07").is_none());
    }

    #[test]
    fn bounded_compression_round_trips() {
        // Inputs of many shapes: runs, periods, tails of 17-20 bytes after a long match.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in 3..400usize {
            for alphabet in [1u64, 2, 3, 7, 26, 256] {
                let period = 1 + (rnd() % 40) as usize;
                let base: Vec<u8> = (0..period).map(|_| (rnd() % alphabet) as u8).collect();
                let data: Vec<u8> = (0..n)
                    .map(|i| {
                        if rnd() % 13 == 0 {
                            (rnd() % alphabet) as u8
                        } else {
                            base[i % period]
                        }
                    })
                    .collect();
                if let Some(c) = compress_bounded(&data, data.len() + 64) {
                    assert_eq!(
                        decompress(&c, data.len() as u64).as_deref(),
                        Some(&data[..])
                    );
                }
                if let Some(c) = compress(&data) {
                    assert!(c.len() + 4 <= data.len());
                    assert_eq!(
                        decompress(&c, data.len() as u64).as_deref(),
                        Some(&data[..])
                    );
                }
            }
        }
        // A sparse HyperLogLog of 27 bytes: liblzf gives up inside 23 bytes, so Redis keeps
        // it raw, although 23 would do in the end.
        // A match in the last 3 bytes (the `lzf` crate leaves them literal): 8 literals, then
        // a 3-byte back reference to offset 7.
        let tail = b"Xabcdefgabc";
        let c = compress_bounded(tail, 64).unwrap();
        assert_eq!(c, b"\x07Xabcdefg\x20\x06");
        assert_eq!(
            decompress(&c, tail.len() as u64).as_deref(),
            Some(&tail[..])
        );
        // The table carries nothing from one call to the next.
        let a = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(3);
        let first = compress(&a);
        let _ = compress(&b"xyzxyzxyzxyzxyzxyzxyzxyzxyzxyzxyz".repeat(50));
        assert_eq!(compress(&a), first);
        let hll =
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ";
        assert_eq!(hll.len(), 27);
        assert!(compress(hll).is_none());
    }
}
