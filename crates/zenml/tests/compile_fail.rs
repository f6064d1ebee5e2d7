//! Wiring mistakes in pipelines are compile errors, with messages that point at them.

#[test]
fn wiring_mistakes_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
