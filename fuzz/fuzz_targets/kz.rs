//! Fuzz target `kz`: see `fuzz_kz` in `../kz_harness.rs` for the input layout and the invariants.
#![no_main]
#![allow(dead_code)]

include!("../kz_harness.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_kz(data));
