//! Fuzzes `zenml_fuzz::names` (see crates/zenml-fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zenml_fuzz::names(data);
});
