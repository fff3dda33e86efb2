//! Doubles printed as Redis 7.4.1 prints them (`d2string` / `fpconv_dtoa`, Grisu2 digits): a
//! few thousand pseudo-random scores of every magnitude, stored with ZADD and read back with
//! ZRANGE WITHSCORES and ZSCORE on both servers, byte for byte.

use pyrope_tests::*;

#[test]
fn zset_scores_print_as_redis_prints_them() {
    require_reference();
    let r = TestServer::redis(&[]);
    let p = TestServer::pyrope(&[]);
    let (mut rc, mut pc) = (r.client(), p.client());
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut args: Vec<String> = vec!["ZADD".into(), "z".into()];
    for i in 0..3000 {
        let v = match i % 4 {
            // Any finite bit pattern.
            0 => loop {
                let f = f64::from_bits(next());
                if f.is_finite() {
                    break f;
                }
            },
            // Human-scale values with many digits.
            1 => (next() % 2_000_000) as f64 / 7.0 - 100_000.0,
            2 => (next() % 1_000_000_000) as f64 * 1e-9,
            _ => ((next() >> 11) as f64) * 2f64.powi((next() % 200) as i32 - 100),
        };
        args.push(format!("{v:e}"));
        args.push(format!("m{i}"));
    }
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    assert_eq!(call(&mut rc, &a), call(&mut pc, &a));
    let q = ["ZRANGE", "z", "0", "-1", "WITHSCORES"];
    let (rr, pr) = (call(&mut rc, &q), call(&mut pc, &q));
    assert_eq!(rr, pr);
    for i in (0..3000).step_by(37) {
        let m = format!("m{i}");
        let q = ["ZSCORE", "z", &m];
        assert_eq!(call(&mut rc, &q), call(&mut pc, &q), "{m}");
    }
}
