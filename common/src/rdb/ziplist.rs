//! Ziplists and zipmaps, the compact encodings of RDB files written before Redis 7 (ziplist.c,
//! zipmap.c). They are only read: each blob is validated deeply (`ziplistValidateIntegrity`
//! and `zipmapValidateIntegrity` with `deep=1`) and converted to a listpack, as Redis 7 does
//! when it loads them. Nothing here panics on bad bytes.

use crate::listpack::{Listpack, ListpackEntry, LISTPACK_MAX_SAFETY_SIZE};

/// One ziplist element: a string or an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZipEntry<'a> {
    /// A string element.
    Str(&'a [u8]),
    /// An integer element.
    Int(i64),
}

impl<'a> ZipEntry<'a> {
    fn as_lp(self) -> ListpackEntry<'a> {
        match self {
            ZipEntry::Str(s) => ListpackEntry::Str(s),
            ZipEntry::Int(v) => ListpackEntry::Int(v),
        }
    }
}

const ZIPLIST_HEADER_SIZE: usize = 10;
const ZIP_END: u8 = 0xFF;
const ZIP_BIG_PREVLEN: u8 = 254;

/// Validates a ziplist (`ziplistValidateIntegrity(zl, size, deep=1)`) and returns its
/// elements. `None` when anything is wrong: header bytes or tail offset or count disagree, an
/// entry runs past the end, a prevlen does not match the previous entry's size, or a bad
/// encoding byte.
pub fn ziplist_entries(zl: &[u8]) -> Option<Vec<ZipEntry<'_>>> {
    let size = zl.len();
    if size < ZIPLIST_HEADER_SIZE + 1 {
        return None;
    }
    let bytes = u32::from_le_bytes(zl[0..4].try_into().ok()?) as usize;
    if bytes != size || zl[size - 1] != ZIP_END {
        return None;
    }
    let tail = u32::from_le_bytes(zl[4..8].try_into().ok()?) as usize;
    if tail > size - 1 {
        return None;
    }
    let count = u16::from_le_bytes([zl[8], zl[9]]);
    let end = size - 1;
    let mut p = ZIPLIST_HEADER_SIZE;
    let mut prev_size = 0usize;
    let mut prev_start = ZIPLIST_HEADER_SIZE;
    let mut out = Vec::new();
    while p < end {
        // prevlen
        let (prevlen, plen) = if zl[p] < ZIP_BIG_PREVLEN {
            (zl[p] as usize, 1)
        } else if zl[p] == ZIP_BIG_PREVLEN {
            if p + 5 > end {
                return None;
            }
            (
                u32::from_le_bytes(zl[p + 1..p + 5].try_into().ok()?) as usize,
                5,
            )
        } else {
            return None;
        };
        if prevlen != prev_size {
            return None;
        }
        let q = p + plen;
        if q >= end {
            return None;
        }
        let enc = zl[q];
        let (hlen, entry, dlen): (usize, Option<ZipEntry>, usize) = match enc >> 6 {
            0 => (1, None, (enc & 0x3f) as usize),
            1 => {
                if q + 2 > end {
                    return None;
                }
                (2, None, (((enc & 0x3f) as usize) << 8) | zl[q + 1] as usize)
            }
            2 => {
                if enc != 0x80 || q + 5 > end {
                    return None;
                }
                (
                    5,
                    None,
                    u32::from_be_bytes(zl[q + 1..q + 5].try_into().ok()?) as usize,
                )
            }
            _ => {
                let need = match enc {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return None,
                };
                let d = q + 1;
                if d + need > end {
                    return None;
                }
                let b = &zl[d..d + need];
                let v: i64 = match enc {
                    0xC0 => i16::from_le_bytes([b[0], b[1]]) as i64,
                    0xD0 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                    0xE0 => i64::from_le_bytes(b.try_into().ok()?),
                    0xF0 => (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as i64,
                    0xFE => b[0] as i8 as i64,
                    _ => ((enc & 0x0f) as i64) - 1,
                };
                (1 + need, Some(ZipEntry::Int(v)), 0)
            }
        };
        let data = q + hlen;
        if data.checked_add(dlen)? > end {
            return None;
        }
        out.push(entry.unwrap_or(ZipEntry::Str(&zl[data..data + dlen])));
        prev_start = p;
        prev_size = data + dlen - p;
        p = data + dlen;
    }
    if p != end {
        return None;
    }
    let last = if out.is_empty() {
        ZIPLIST_HEADER_SIZE
    } else {
        prev_start
    };
    if tail != last {
        return None;
    }
    if count != u16::MAX && count as usize != out.len() {
        return None;
    }
    Some(out)
}

/// Builds a listpack from elements (`lpAppend`/`lpAppendInteger` one by one). `None` if the
/// result would pass `LISTPACK_MAX_SAFETY_SIZE`.
pub fn listpack_from(entries: &[ZipEntry<'_>]) -> Option<Listpack> {
    let approx: usize = entries
        .iter()
        .map(|e| match e {
            ZipEntry::Str(s) => s.len() + 10,
            ZipEntry::Int(_) => 10,
        })
        .sum();
    if approx > LISTPACK_MAX_SAFETY_SIZE {
        return None;
    }
    let items: Vec<ListpackEntry<'_>> = entries.iter().map(|e| e.as_lp()).collect();
    let mut lp = Listpack::new();
    lp.push_back_all(&items);
    Some(lp)
}

/// Validates a ziplist and converts it to a listpack with the same elements.
pub fn ziplist_to_listpack(zl: &[u8]) -> Option<Listpack> {
    listpack_from(&ziplist_entries(zl)?)
}

/// Validates a zipmap (`zipmapValidateIntegrity(zm, size, deep=1)`) and returns its
/// (field, value) pairs. Layout: `zmlen` byte, then `len field len free value <free bytes>`
/// records (a length is one byte < 254, or 254 + 4 bytes little-endian), then `0xFF`.
pub fn zipmap_pairs(zm: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    fn len_at(zm: &[u8], p: usize) -> Option<(usize, usize)> {
        let b = *zm.get(p)?;
        if b < 254 {
            Some((b as usize, 1))
        } else if b == 254 {
            let s = zm.get(p + 1..p + 5)?;
            Some((u32::from_le_bytes(s.try_into().ok()?) as usize, 5))
        } else {
            None
        }
    }
    if zm.len() < 2 || zm[zm.len() - 1] != 0xFF {
        return None;
    }
    let zmlen = zm[0];
    let end = zm.len() - 1;
    let mut p = 1;
    let mut out = Vec::new();
    while p < end {
        let (kl, h) = len_at(zm, p)?;
        p += h;
        let k = zm.get(p..p.checked_add(kl)?)?;
        p += kl;
        if p >= end {
            return None;
        }
        let (vl, h) = len_at(zm, p)?;
        p += h;
        let free = *zm.get(p)? as usize;
        p += 1;
        let v = zm.get(p..p.checked_add(vl)?)?;
        p = p.checked_add(vl)?.checked_add(free)?;
        if p > end {
            return None;
        }
        out.push((k, v));
    }
    if p != end {
        return None;
    }
    if zmlen < 254 && zmlen as usize != out.len() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a ziplist of the given entries the way ziplist.c lays it out.
    fn build(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = ZIPLIST_HEADER_SIZE;
        for e in entries {
            let start = ZIPLIST_HEADER_SIZE + body.len();
            tail = start;
            let mut ent = Vec::new();
            if prev < 254 {
                ent.push(prev as u8);
            } else {
                ent.push(254);
                ent.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            assert!(e.len() < 64);
            ent.push(e.len() as u8);
            ent.extend_from_slice(e);
            prev = ent.len();
            body.extend_from_slice(&ent);
        }
        let total = ZIPLIST_HEADER_SIZE + body.len() + 1;
        let mut zl = Vec::new();
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xFF);
        zl
    }

    #[test]
    fn ziplist_round() {
        let zl = build(&[b"a", b"hello", b"123"]);
        let e = ziplist_entries(&zl).unwrap();
        assert_eq!(e.len(), 3);
        let lp = ziplist_to_listpack(&zl).unwrap();
        let v: Vec<Vec<u8>> = lp.iter().map(|x| x.to_vec()).collect();
        assert_eq!(v, vec![b"a".to_vec(), b"hello".to_vec(), b"123".to_vec()]);
        // Every truncation and every single-byte corruption is handled without panic.
        for cut in 0..zl.len() {
            let _ = ziplist_entries(&zl[..cut]);
        }
        for i in 0..zl.len() {
            for b in [0u8, 1, 0x3f, 0x80, 0xC0, 0xF0, 0xFE, 0xFF] {
                let mut z = zl.clone();
                z[i] = b;
                let _ = ziplist_entries(&z);
            }
        }
        let empty = build(&[]);
        assert_eq!(ziplist_entries(&empty).unwrap().len(), 0);
    }

    #[test]
    fn zipmap_basic() {
        // zmlen=1, "f" -> "vv" with 1 free byte.
        let zm = [1u8, 1, b'f', 2, 1, b'v', b'v', 0, 0xFF];
        assert_eq!(zipmap_pairs(&zm).unwrap(), vec![(&b"f"[..], &b"vv"[..])]);
        for cut in 0..zm.len() {
            let _ = zipmap_pairs(&zm[..cut]);
        }
    }
}
