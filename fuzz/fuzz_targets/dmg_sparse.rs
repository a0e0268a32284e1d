#![no_main]
//! Fuzz target `dmg_sparse`: see `diskimg::ops::exercise::run_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| diskimg::ops::exercise::run_target("dmg_sparse", data));
