#![no_main]
//! Fuzz target `qcow2`: see `diskimg::ops::exercise::run_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| diskimg::ops::exercise::run_target("qcow2", data));
