//! Fuzzes `zenml_fuzz::repository` (see crates/zenml-fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zenml_fuzz::repository(data);
});
