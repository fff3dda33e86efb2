//! Fuzzes the whole command table (DEBUG included) on one in-process server kept across
//! inputs: each input is decoded into a few commands by `pyrope_server::harness::fuzz_one`,
//! which checks every reply (complete RESP frames, the right protocol) and runs the cron.
//! Any panic is a server bug: a client must never be able to crash the server.
#![no_main]
use std::cell::RefCell;

thread_local! {
    static HARNESS: RefCell<pyrope_server::harness::Harness> = RefCell::new({
        pyrope_server::harness::quiet_logs();
        pyrope_server::harness::Harness::for_fuzzing()
    });
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    HARNESS.with(|h| pyrope_server::harness::fuzz_one(&mut h.borrow_mut(), data));
});
