//! Fuzzes the client-side reply parser: no panic; a parsed frame re-encodes to bytes that parse
//! to the same frame.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::resp::frame::check_frame_roundtrip(data);
});
