//! Fuzzes `zenml_fuzz::stack_export` (see crates/zenml-fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zenml_fuzz::stack_export(data);
});
