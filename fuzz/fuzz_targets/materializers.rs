//! Fuzzes `zenml_fuzz::materializers` (see crates/zenml-fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zenml_fuzz::materializers(data);
});
