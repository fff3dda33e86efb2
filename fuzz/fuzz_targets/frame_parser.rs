//! Fuzzes the client-side reply parser: no panic; a parsed frame re-encodes to bytes that parse
//! to the same frame.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(Some((f, _))) = pyrope_common::resp::parse_frame(data) {
        let mut again = Vec::new();
        f.encode(&mut again);
        let (g, n) = pyrope_common::resp::parse_frame(&again).unwrap().unwrap();
        assert_eq!(n, again.len());
        assert_eq!(f, g);
    }
});
