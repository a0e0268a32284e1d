#![no_main]
//! Fuzz target `iso9660`: see `diskimg::ops::exercise::run_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| diskimg::ops::exercise::run_target("iso9660", data));
