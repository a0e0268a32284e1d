#![no_main]
//! Fuzz target `ext4`: see `diskimg::ops::exercise::run_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| diskimg::ops::exercise::run_target("ext4", data));
