#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dstore_fuzz::ingest_checks::ipc(data);
});
