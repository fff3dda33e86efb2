//! Fuzzes the AOF command-stream reader and redis-check-aof's scan (`pyrope_common::aof`):
//! no panic, no allocation of a claimed length, canonical re-encoding reads back the same.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::aof::check_aof_invariants(data);
});
