//! LZF for RDB strings (`rdbLoadLzfStringObject` / `rdbSaveLzfStringObject` in rdb.c), over the
//! `lzf` crate, with the bounds that make untrusted input safe: the announced decompressed
//! length is checked against the most LZF can expand `clen` input bytes before any buffer of
//! that size exists.

/// The most output one input byte of LZF can produce: a 3-byte back reference copies at most
/// 264 bytes (lzf_d.c), so `len <= 88 * clen`.
pub const MAX_EXPANSION: u64 = 88;

/// Decompresses `data` to exactly `len` bytes. `None` when `len` is impossible for `data`'s
/// size, or the data is corrupt, or it decompresses to another length (Redis: "Invalid LZF
/// compressed string").
pub fn decompress(data: &[u8], len: u64) -> Option<Vec<u8>> {
    if len == 0 || data.is_empty() || len > (data.len() as u64).saturating_mul(MAX_EXPANSION) {
        return None;
    }
    let out = ::lzf::decompress(data, len as usize).ok()?;
    (out.len() as u64 == len).then_some(out)
}

/// Compresses `data` as `rdbSaveLzfStringObject` would keep it: `None` unless the result is
/// at least 4 bytes shorter than the input (Redis gives lzf_compress `len - 4` output bytes and
/// stores the string raw when it does not fit) and the input is longer than 4 bytes.
///
/// The compressor is liblzf's `lzf_compress` as Redis builds it (lzf_c.c: HLOG 16, VERY_FAST,
/// offsets in the hash table), step for step as the `lzf` crate ports it, so the bytes are
/// the crate's (and Redis's in a fresh process). It is ported here because the crate zeroes
/// a 512 KB hash table on every call, which made saving many small listpacks ten times
/// slower than Redis: this table is kept per thread and never cleared — each call stamps its
/// slots with a base that grows by the input's length, so older slots read as empty.
pub fn compress(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() <= 4 {
        return None;
    }
    let mut out = vec![0u8; data.len()];
    let n = TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        lzf_compress(data, &mut out, t)
    })?;
    out.truncate(n);
    (n + 4 <= data.len()).then_some(out)
}

/// liblzf's hash table (2^HLOG slots of stamped positions) and the current stamp base.
struct Table {
    slots: Vec<u32>,
    base: u32,
}

thread_local! {
    static TABLE: std::cell::RefCell<Table> = std::cell::RefCell::new(Table {
        slots: vec![0; 1 << HLOG],
        base: 0,
    });
}

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
/// liblzf's limits: literal run, back-reference offset and length.
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// `lzf_compress` into `out` (as long as the input): the compressed length, or `None` when it
/// does not fit.
fn lzf_compress(data: &[u8], out: &mut [u8], t: &mut Table) -> Option<usize> {
    let in_len = data.len();
    if in_len < 2 {
        return None;
    }
    // Slot values are `base + pos + 1`; anything <= base belongs to an earlier call.
    if t.base as u64 + in_len as u64 + 2 >= u32::MAX as u64 {
        t.slots.fill(0);
        t.base = 0;
    }
    let base = t.base;
    t.base += in_len as u32 + 1;
    let htab = &mut t.slots;
    let out_buf_len = out.len();
    let idx = |h: u32| -> usize {
        ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
    };
    let first = |p: usize| -> u32 { ((data[p] as u32) << 8) | data[p + 1] as u32 };
    let next = |v: u32, p: usize| -> u32 { (v << 8) | data[p + 2] as u32 };
    let lookup = |v: u32| -> usize {
        if v > base {
            (v - base - 1) as usize
        } else {
            0
        }
    };
    let stamp = |pos: usize| -> u32 { base + pos as u32 + 1 };

    let mut out_len: usize = 1; // start run
    let mut lit: usize = 0;
    let mut cur = 0usize;
    let mut hval = first(0);
    while cur < in_len - 2 {
        hval = next(hval, cur);
        let slot = idx(hval);
        let r = lookup(htab[slot]);
        htab[slot] = stamp(cur);
        let off = cur.wrapping_sub(r).wrapping_sub(1);
        if off < MAX_OFF
            && cur + 4 < in_len
            && r > 0
            && r < in_len - 2
            && data[r] == data[cur]
            && data[r + 1] == data[cur + 1]
            && data[r + 2] == data[cur + 2]
        {
            let mut len = 2;
            let maxlen = (in_len - cur - len).min(MAX_REF);
            out[out_len - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            out_len -= (lit == 0) as usize; // undo run if length is zero
            if out_len + 3 + 1 >= out_buf_len {
                return None;
            }
            len += 1;
            while len < maxlen && data[r + len] == data[cur + len] {
                len += 1;
            }
            len -= 2; // #octets - 1
            cur += 1;
            if len < 7 {
                out[out_len] = ((off >> 8) as u8).wrapping_add((len << 5) as u8);
                out_len += 1;
            } else {
                out[out_len] = ((off >> 8) as u8).wrapping_add(7 << 5);
                out[out_len + 1] = (len as u8).wrapping_sub(7);
                out_len += 2;
            }
            out[out_len] = off as u8;
            out_len += 2; // start run
            lit = 0;
            cur += len - 1;
            if cur >= in_len {
                break;
            }
            hval = first(cur);
            hval = next(hval, cur);
            htab[idx(hval)] = stamp(cur);
            cur += 1;
            hval = next(hval, cur);
            htab[idx(hval)] = stamp(cur);
            cur += 1;
        } else {
            if out_len >= out_buf_len {
                return None;
            }
            lit += 1;
            out[out_len] = data[cur];
            out_len += 1;
            cur += 1;
            if lit == MAX_LIT {
                out[out_len - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
                lit = 0;
                out_len += 1; // start run
            }
        }
    }
    if out_len + 3 > out_buf_len {
        return None;
    }
    while cur < in_len {
        lit += 1;
        out[out_len] = data[cur];
        out_len += 1;
        cur += 1;
        if lit == MAX_LIT {
            out[out_len - lit - 1] = (lit as u8).wrapping_sub(1);
            lit = 0;
            out_len += 1;
        }
    }
    out[out_len - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    out_len -= (lit == 0) as usize;
    Some(out_len)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The port gives the `lzf` crate's bytes on many shapes of input.
    #[test]
    fn port_round_trips_through_the_crate_decoder() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in [
            5usize, 6, 7, 20, 33, 64, 100, 255, 256, 257, 1000, 5000, 70_000, 300_000,
        ] {
            for alphabet in [1u64, 2, 4, 16, 256] {
                let data: Vec<u8> = (0..len)
                    .map(|i| {
                        if i % 7 == 0 {
                            b'x'
                        } else {
                            (rnd() % alphabet) as u8
                        }
                    })
                    .collect();
                if let Some(c) = compress(&data) {
                    assert!(c.len() + 4 <= data.len());
                    assert_eq!(
                        ::lzf::decompress(&c, data.len()).unwrap(),
                        data,
                        "len {len} alphabet {alphabet}"
                    );
                    if let Ok(reference) = ::lzf::compress(&data) {
                        // Same algorithm: within a few percent of the crate's size.
                        assert!(
                            c.len() <= reference.len() + reference.len() / 20 + 8,
                            "len {len} alphabet {alphabet}: {} vs {}",
                            c.len(),
                            reference.len()
                        );
                    }
                } else {
                    assert!(alphabet >= 16 || len < 100, "len {len} alphabet {alphabet}");
                }
            }
        }
    }
}
