#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dstore_fuzz::dstore_checks::pin(data));
