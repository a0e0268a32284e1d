#![no_main]
//! Fuzz target `apfs`: see `diskimg::ops::exercise::run_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| diskimg::ops::exercise::run_target("apfs", data));
