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
    let neg = v.is_sign_negative();
    // fpconv's terms: value = digits * 10^k.
    let (mut digits, k) = grisu2(v.abs());
    let mut nd = digits.len() as i32;
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
        // Scientific notation keeps at most 18 digits (17 for a negative value), and the
        // exponent's sign is taken after that cut, as `emit_digits` does.
        nd = nd.min(18 - neg as i32);
        digits.truncate(nd as usize);
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

/// Grisu's cached powers of ten (fpconv's `powers_ten`): 10^(-348 + 8i) as a 64-bit
/// significand and a binary exponent, rounded to nearest.
const POWERS_TEN: [(u64, i32); 87] = [
    (18054884314459144840, -1220),
    (13451937075301367670, -1193),
    (10022474136428063862, -1166),
    (14934650266808366570, -1140),
    (11127181549972568877, -1113),
    (16580792590934885855, -1087),
    (12353653155963782858, -1060),
    (18408377700990114895, -1034),
    (13715310171984221708, -1007),
    (10218702384817765436, -980),
    (15227053142812498563, -954),
    (11345038669416679861, -927),
    (16905424996341287883, -901),
    (12595523146049147757, -874),
    (9384396036005875287, -847),
    (13983839803942852151, -821),
    (10418772551374772303, -794),
    (15525180923007089351, -768),
    (11567161174868858868, -741),
    (17236413322193710309, -715),
    (12842128665889583758, -688),
    (9568131466127621947, -661),
    (14257626930069360058, -635),
    (10622759856335341974, -608),
    (15829145694278690180, -582),
    (11793632577567316726, -555),
    (17573882009934360870, -529),
    (13093562431584567480, -502),
    (9755464219737475723, -475),
    (14536774485912137811, -449),
    (10830740992659433045, -422),
    (16139061738043178685, -396),
    (12024538023802026127, -369),
    (17917957937422433684, -343),
    (13349918974505688015, -316),
    (9946464728195732843, -289),
    (14821387422376473014, -263),
    (11042794154864902060, -236),
    (16455045573212060422, -210),
    (12259964326927110867, -183),
    (18268770466636286478, -157),
    (13611294676837538539, -130),
    (10141204801825835212, -103),
    (15111572745182864684, -77),
    (11258999068426240000, -50),
    (16777216000000000000, -24),
    (12500000000000000000, 3),
    (9313225746154785156, 30),
    (13877787807814456755, 56),
    (10339757656912845936, 83),
    (15407439555097886824, 109),
    (11479437019748901445, 136),
    (17105694144590052135, 162),
    (12744735289059618216, 189),
    (9495567745759798747, 216),
    (14149498560666738074, 242),
    (10542197943230523224, 269),
    (15709099088952724970, 295),
    (11704190886730495818, 322),
    (17440603504673385349, 348),
    (12994262207056124023, 375),
    (9681479787123295682, 402),
    (14426529090290212157, 428),
    (10748601772107342003, 455),
    (16016664761464807395, 481),
    (11933345169920330789, 508),
    (17782069995880619868, 534),
    (13248674568444952270, 561),
    (9871031767461413346, 588),
    (14708983551653345445, 614),
    (10959046745042015199, 641),
    (16330252207878254650, 667),
    (12166986024289022870, 694),
    (18130221999122236476, 720),
    (13508068024458167312, 747),
    (10064294952495520794, 774),
    (14996968138956309548, 800),
    (11173611982879273257, 827),
    (16649979327439178909, 853),
    (12405201291620119593, 880),
    (9242595204427927429, 907),
    (13772540099066387757, 933),
    (10261342003245940623, 960),
    (15290591125556738113, 986),
    (11392378155556871081, 1013),
    (16975966327722178521, 1039),
    (12648080533535911531, 1066),
];

/// A 64-bit significand and binary exponent (fpconv's `Fp`).
#[derive(Clone, Copy)]
struct Fp {
    frac: u64,
    exp: i32,
}

const HIDDEN_BIT: u64 = 0x0010_0000_0000_0000;

/// fpconv's `multiply`: the upper 64 bits of the 128-bit product, rounded.
fn fp_mul(a: Fp, b: Fp) -> Fp {
    const LO: u64 = 0xFFFF_FFFF;
    let ah_bl = (a.frac >> 32) * (b.frac & LO);
    let al_bh = (a.frac & LO) * (b.frac >> 32);
    let al_bl = (a.frac & LO) * (b.frac & LO);
    let ah_bh = (a.frac >> 32) * (b.frac >> 32);
    let mut tmp = (ah_bl & LO) + (al_bh & LO) + (al_bl >> 32);
    tmp += 1 << 31;
    Fp {
        frac: ah_bh + (ah_bl >> 32) + (al_bh >> 32) + (tmp >> 32),
        exp: a.exp + b.exp + 64,
    }
}

/// fpconv's `round_digit`.
fn round_digit(digits: &mut [u8], delta: u64, mut rem: u64, kappa: u64, frac: u64) {
    let n = digits.len();
    while rem < frac
        && delta - rem >= kappa
        && (rem + kappa < frac || frac - rem > rem + kappa - frac)
    {
        digits[n - 1] -= 1;
        rem += kappa;
    }
}

/// Grisu2 as Redis's fpconv_dtoa.c runs it (Florian Loitsch's algorithm, fpconv's code): the
/// digits of a positive finite `d` and the power of ten `K` with `d ~= digits * 10^K`. Not
/// always the shortest round-trip digits (Rust's formatter gives those): Redis prints
/// `211.41807149038561` where the shortest is `211.4180714903856`, and so must we.
fn grisu2(d: f64) -> (Vec<u8>, i32) {
    const TENS: [u64; 20] = [
        10000000000000000000,
        1000000000000000000,
        100000000000000000,
        10000000000000000,
        1000000000000000,
        100000000000000,
        10000000000000,
        1000000000000,
        100000000000,
        10000000000,
        1000000000,
        100000000,
        10000000,
        1000000,
        100000,
        10000,
        1000,
        100,
        10,
        1,
    ];
    let bits = d.to_bits();
    let mut w = Fp {
        frac: bits & 0x000F_FFFF_FFFF_FFFF,
        exp: ((bits >> 52) & 0x7FF) as i32,
    };
    if w.exp != 0 {
        w.frac += HIDDEN_BIT;
        w.exp -= 1023 + 52;
    } else {
        w.exp = -(1023 + 52) + 1;
    }
    // get_normalized_boundaries
    let mut upper = Fp {
        frac: (w.frac << 1) + 1,
        exp: w.exp - 1,
    };
    while upper.frac & (HIDDEN_BIT << 1) == 0 {
        upper.frac <<= 1;
        upper.exp -= 1;
    }
    let u_shift = 64 - 52 - 2;
    upper.frac <<= u_shift;
    upper.exp -= u_shift;
    let l_shift = if w.frac == HIDDEN_BIT { 2 } else { 1 };
    let mut lower = Fp {
        frac: (w.frac << l_shift) - 1,
        exp: w.exp - l_shift,
    };
    lower.frac <<= lower.exp - upper.exp;
    lower.exp = upper.exp;
    // normalize
    while w.frac & HIDDEN_BIT == 0 {
        w.frac <<= 1;
        w.exp -= 1;
    }
    let shift = 64 - 52 - 1;
    w.frac <<= shift;
    w.exp -= shift;
    // find_cachedpow10
    let approx = (-(upper.exp + 87) as f64 * 0.30102999566398114) as i32;
    let mut idx = ((approx + 348) / 8) as usize;
    let k = loop {
        let current = upper.exp + POWERS_TEN[idx].1 + 64;
        if current < -60 {
            idx += 1;
            continue;
        }
        if current > -32 {
            idx -= 1;
            continue;
        }
        break -348 + idx as i32 * 8;
    };
    let cp = Fp {
        frac: POWERS_TEN[idx].0,
        exp: POWERS_TEN[idx].1,
    };
    let w = fp_mul(w, cp);
    let mut upper = fp_mul(upper, cp);
    let mut lower = fp_mul(lower, cp);
    lower.frac += 1;
    upper.frac -= 1;
    let mut kk = -k;
    // generate_digits
    let wfrac = upper.frac - w.frac;
    let mut delta = upper.frac - lower.frac;
    let one_exp = upper.exp;
    let one_frac = 1u64 << -one_exp;
    let mut part1 = upper.frac >> -one_exp;
    let mut part2 = upper.frac & (one_frac - 1);
    let mut digits: Vec<u8> = Vec::with_capacity(18);
    let mut kappa = 10;
    for &div in &TENS[10..] {
        let digit = part1 / div;
        if digit != 0 || !digits.is_empty() {
            digits.push(b'0' + digit as u8);
        }
        part1 -= digit * div;
        kappa -= 1;
        let tmp = (part1 << -one_exp) + part2;
        if tmp <= delta {
            kk += kappa;
            round_digit(&mut digits, delta, tmp, div << -one_exp, wfrac);
            return (digits, kk);
        }
        if kappa == 0 {
            break;
        }
    }
    let mut unit = 18usize;
    loop {
        part2 = part2.wrapping_mul(10);
        delta = delta.wrapping_mul(10);
        kappa -= 1;
        let digit = part2 >> -one_exp;
        if digit != 0 || !digits.is_empty() {
            digits.push(b'0' + digit as u8);
        }
        part2 &= one_frac - 1;
        if part2 < delta {
            kk += kappa;
            round_digit(
                &mut digits,
                delta,
                part2,
                one_frac,
                wfrac.wrapping_mul(TENS[unit]),
            );
            return (digits, kk);
        }
        unit -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_size_classes_are_jemallocs() {
        let want = [
            (0, 8),
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (100, 112),
            (128, 128),
            (129, 160),
            (256, 256),
            (257, 320),
            (4096, 4096),
            (4097, 5120),
            (8193, 10240),
            (14336, 14336),
            (14337, 16384),
            (32769, 36864),
            ((1 << 20) + 1, (1 << 20) + 4096),
        ];
        for (n, c) in want {
            assert_eq!(alloc_size_class(n), c, "n={n}");
        }
    }

    /// Values whose Grisu2 digits are not the shortest ones, as Redis 7.4.1 prints them
    /// (ZADD then ZSCORE on the oracle), and ordinary ones.
    #[test]
    fn grisu_digits_are_redis_digits() {
        assert_eq!(fpconv_dtoa(211.4180714903856), "211.41807149038561");
        assert_eq!(fpconv_dtoa(1.5), "1.5");
        assert_eq!(fpconv_dtoa(0.1), "0.1");
        assert_eq!(fpconv_dtoa(-2.5e-10), "-2.5e-10");
        assert_eq!(fpconv_dtoa(1e21), "1e+21");
        assert_eq!(fpconv_dtoa(5e-324), "5e-324");
        assert_eq!(fpconv_dtoa(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(fpconv_dtoa(123456.789), "123456.789");
    }

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

/// The size class jemalloc (5.3, as the server links it through tikv-jemallocator) rounds a
/// request of `n` bytes up to, what `nallocx(n, 0)` returns: 8, 16, then multiples of 16 up to
/// 128, then four small classes per doubling (160, 192, 224, 256, 320, ... 14336), and above
/// 14 KiB whole 4 KiB pages (the server's test `common_size_classes_match_nallocx` holds the
/// two together). Buffers that grow in place (listpacks) reserve a
/// whole class, so the room the allocator gives anyway is used before the next reallocation;
/// under another allocator this is only a rounding. Saturates at `usize::MAX`.
pub fn alloc_size_class(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.next_multiple_of(16);
    }
    if n > 14336 {
        return n.checked_next_multiple_of(4096).unwrap_or(usize::MAX);
    }
    let lg = usize::BITS - 1 - (n - 1).leading_zeros();
    let spacing = 1usize << (lg - 2);
    n.checked_next_multiple_of(spacing).unwrap_or(usize::MAX)
}
