//! Fuzzes the multi-part AOF manifest parser (`pyrope_common::aof::Manifest::parse`): no panic,
//! and a parsed manifest written back parses to the same manifest.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::aof::manifest::check_manifest_invariants(data);
});
