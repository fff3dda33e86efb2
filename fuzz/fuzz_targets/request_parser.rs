//! Fuzzes the server's RESP request parser: no panic, and split reads agree with whole reads.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::resp::request::check_parser_invariants(data);
});
