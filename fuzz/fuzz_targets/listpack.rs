//! Fuzzes listpack validation (`Listpack::from_bytes`, Redis's `lpValidateIntegrity` with
//! deep=1): no panic on any input, and an accepted blob round-trips, iterates the same both
//! ways, and stays valid through mutations.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::listpack::check_listpack_invariants(data);
});
