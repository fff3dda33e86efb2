//! CRC-64/Jones as Redis computes it (crc64.c, crcspeed.c): polynomial 0xad93d23594c935a9,
//! reflected input and output, initial value 0, no final xor. It guards RDB files (the 8-byte
//! little-endian trailer after `RDB_OPCODE_EOF`) and DUMP payloads (the last 8 bytes).
//!
//! The table-driven "slice-by-8" form processes 8 bytes per step, as Redis's `crcspeed` does.

/// The reflected Jones polynomial (0xad93d23594c935a9 bit-reversed).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut n = 0;
    while n < 256 {
        let mut crc = n as u64;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[0][n] = crc;
        n += 1;
    }
    let mut n = 0;
    while n < 256 {
        let mut crc = t[0][n];
        let mut k = 1;
        while k < 8 {
            crc = t[0][(crc & 0xff) as usize] ^ (crc >> 8);
            t[k][n] = crc;
            k += 1;
        }
        n += 1;
    }
    t
}

static TABLES: [[u64; 256]; 8] = make_tables();

/// Continues a CRC-64/Jones over `data` from `crc` (0 to start). `crc64(crc, s, l)` in crc64.c:
/// `update(update(0, a), b) == update(0, a ++ b)`.
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = crc ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        crc = t[7][(v & 0xff) as usize]
            ^ t[6][((v >> 8) & 0xff) as usize]
            ^ t[5][((v >> 16) & 0xff) as usize]
            ^ t[4][((v >> 24) & 0xff) as usize]
            ^ t[3][((v >> 32) & 0xff) as usize]
            ^ t[2][((v >> 40) & 0xff) as usize]
            ^ t[1][((v >> 48) & 0xff) as usize]
            ^ t[0][(v >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_test_vector() {
        // crc64.c's self test: crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn incremental_equals_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let a = crc64(crc64(0, &data[..split]), &data[split..]);
            assert_eq!(a, crc64(0, &data));
        }
    }
}
