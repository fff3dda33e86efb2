//! Fuzzes intset validation (`Intset::from_bytes`, Redis's `intsetValidateIntegrity` with
//! deep=1): no panic on any input, and an accepted blob round-trips, is sorted, and stays valid
//! through add/remove.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::intset::check_intset_invariants(data);
});
