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
pub fn compress(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() <= 4 {
        return None;
    }
    let out = ::lzf::compress(data).ok()?;
    (out.len() + 4 <= data.len()).then_some(out)
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
}
