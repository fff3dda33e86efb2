//! Redis's strict number conversions (util.c): the exact rules decide which inputs are
//! "not an integer", so they are shared by every command that takes a number.

/// Parses a signed 64-bit integer the way Redis's `string2ll()` does: optional `-`, no `+`, no
/// leading zeros (except `"0"` itself), no spaces, no empty string, no overflow.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    if digits.len() <= 18 {
        // At most 18 digits cannot overflow: skip the checked arithmetic (the hot path of
        // every RESP length).
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + d as u64;
        }
        return Some(if neg { -(v as i64) } else { v as i64 });
    }
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Like [`string2ll`] but for unsigned values (Redis `string2ull()` without the sign).
pub fn string2ull(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// Redis's `string2ull()` (used for SCAN cursors) on a C string (bytes up to the first NUL):
/// a strict `string2ll` that must be >= 0, or else `strtoull()`: optional leading whitespace,
/// optional sign (a minus negates modulo 2^64, as C does), at least one digit, nothing after,
/// no overflow.
pub fn c_string2ull(s: &[u8]) -> Option<u64> {
    let s = match memchr::memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    };
    if let Some(v) = string2ll(s) {
        return if v < 0 { None } else { Some(v as u64) };
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Appends the decimal form of `v` to `out` without allocating.
#[inline]
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Number of bytes of the decimal form of `v` (Redis `sdigits10()`), for reply sizing.
pub fn digits10(v: i64) -> usize {
    let mut n = v.unsigned_abs();
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d + (v < 0) as usize
}

/// Redis's spelling of the doubles every formatter special-cases: `nan`, `inf`, `-inf`, and
/// the zeros `0` / `-0`; None for any other value.
pub fn special_double(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("nan")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "inf" } else { "-inf" })
    } else if v == 0.0 {
        Some(if v.is_sign_negative() { "-0" } else { "0" })
    } else {
        None
    }
}

/// Formats a double as Redis 7.2+ does in replies and stored scores (`d2string()` in util.c):
/// `nan`, `inf`, `-inf`, `0`/`-0`; integral values with |v| <= i64::MAX/2 as plain integers;
/// everything else as `fpconv_dtoa()` lays out the shortest round-trip digits: plain notation
/// for integers of fewer than `digits + 7` places and for fractions whose last digit is within
/// 6 places of the point (or whose exponent is > -4), otherwise `d.ddde+X` with no zero
/// padding of the exponent.
pub fn format_double(v: f64) -> String {
    if let Some(t) = special_double(v) {
        return t.into();
    }
    const HALF: f64 = (i64::MAX / 2) as f64;
    if (-HALF..=HALF).contains(&v) && (v as i64) as f64 == v {
        return (v as i64).to_string();
    }
    fpconv_dtoa(v)
}

/// `fpconv_dtoa()` (Redis's fpconv library) alone, without `d2string`'s integer shortcut:
/// the shortest round-trip digits laid out as described at [`format_double`] (so `1e15` is
/// `1e+15`); `0`, `-0`, `inf`, `-inf`, `nan` for the special values. DEBUG DIGEST mixes zset
/// scores in this form.
pub fn fpconv_dtoa(v: f64) -> String {
    if let Some(t) = special_double(v) {
        return t.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-d.ddddde<exp10>".
    let e = format!("{v:e}");
    let (mant, exp10) = e.split_once('e').unwrap();
    let exp10: i32 = exp10.parse().unwrap();
    let neg = mant.starts_with('-');
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    // fpconv's terms: value = digits * 10^k.
    let k = exp10 - nd + 1;
    let exp = (k + nd - 1).abs();
    let mut out = Vec::with_capacity(32);
    if neg {
        out.push(b'-');
    }
    if k >= 0 && exp < nd + 7 {
        out.extend_from_slice(&digits);
        out.resize(out.len() + k as usize, b'0');
    } else if k < 0 && (k > -7 || exp < 4) {
        let offset = nd + k;
        if offset <= 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-offset) as usize, b'0');
            out.extend_from_slice(&digits);
        } else {
            out.extend_from_slice(&digits[..offset as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[offset as usize..]);
        }
    } else {
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if k + nd - 1 < 0 { b'-' } else { b'+' });
        out.extend_from_slice(exp.to_string().as_bytes());
    }
    String::from_utf8(out).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"-0",
            b"9223372036854775808",
            b"1a",
            b"00",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn scan_cursor_parsing_as_redis() {
        assert_eq!(c_string2ull(b"0"), Some(0));
        assert_eq!(c_string2ull(b" 0"), Some(0));
        assert_eq!(c_string2ull(b"+0"), Some(0));
        assert_eq!(c_string2ull(b"-0"), Some(0));
        assert_eq!(c_string2ull(b"00"), Some(0));
        assert_eq!(c_string2ull(b"0\x00junk"), Some(0));
        assert_eq!(c_string2ull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(c_string2ull(b"18446744073709551616"), None);
        assert_eq!(c_string2ull(b"-1"), None);
        assert_eq!(c_string2ull(b"abc"), None);
        assert_eq!(c_string2ull(b""), None);
        assert_eq!(c_string2ull(b"1 "), None);
    }

    #[test]
    fn push_and_digits() {
        for v in [0i64, 7, -7, 10, 12345, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_i64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
            assert_eq!(digits10(v), v.to_string().len());
        }
    }

    #[test]
    fn doubles_like_redis_7_4() {
        // Each pair is what ZADD z <v> m; ZSCORE z m prints on Redis 7.4.1.
        let cases = [
            (1.5, "1.5"),
            (3.0, "3"),
            (0.1, "0.1"),
            (std::f64::consts::PI, "3.141592653589793"),
            (1e21, "1e+21"),
            (1e16, "10000000000000000"),
            (1e17, "100000000000000000"),
            (1e18, "1000000000000000000"),
            (1e19, "1e+19"),
            (1.5e20, "1.5e+20"),
            (1e-4, "0.0001"),
            (1e-5, "0.00001"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.25e-6, "1.25e-6"),
            (0.00012345678, "1.2345678e-4"),
            (0.000123, "0.000123"),
            (-2.5e-10, "-2.5e-10"),
            (123456789.125, "123456789.125"),
            (12345678901234567.0, "12345678901234568"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (v, s) in cases {
            assert_eq!(format_double(v), s, "{v}");
        }
    }
}
