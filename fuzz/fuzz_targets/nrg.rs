#![no_main]
//! Fuzz target `nrg`: see `diskimg::ops::exercise::run_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| diskimg::ops::exercise::run_target("nrg", data));
