//! Fuzz target `ack`: see `fuzz_ack` in `../harness.rs` for the input layout and the invariants.
#![no_main]
#![allow(dead_code)]

include!("../harness.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_ack(data));
