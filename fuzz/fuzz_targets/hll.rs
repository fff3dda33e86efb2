//! Fuzzes the HyperLogLog codec on untrusted bytes (`pyrope_common::hll`: the header check of
//! `isHLLObjectOrReply`, sparse walks, conversion, count, merge, in-place updates): no panic on
//! any input, and an accepted HLL agrees with itself across representations.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pyrope_common::hll::check_hll_invariants(data);
});
