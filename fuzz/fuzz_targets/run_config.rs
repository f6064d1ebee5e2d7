//! Fuzzes `zenml_fuzz::run_config` (see crates/zenml-fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zenml_fuzz::run_config(data);
});
