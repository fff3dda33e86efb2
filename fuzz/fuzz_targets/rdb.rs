//! Fuzzes the RDB reader and the DUMP payload decoder (`pyrope_common::rdb`): no panic, no
//! allocation of a claimed length, error offsets inside the input, and every accepted value
//! written back reads again (`check_rdb_invariants`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::rdb::check_rdb_invariants(data);
});
