#![no_main]
//! Fuzz target `vmdk_descriptor`: see `diskimg::ops::exercise::run_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| diskimg::ops::exercise::run_target("vmdk_descriptor", data));
