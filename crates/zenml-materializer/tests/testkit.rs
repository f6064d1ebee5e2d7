//! The built-in materializers against the materializer suite of zenml-testkit.

use zenml_materializer::{BytesMaterializer, JsonMaterializer};

#[test]
fn the_built_in_materializers_pass_the_testkit_suite() {
    let report = zenml_testkit::materializer::run_all();
    report.assert_passed();
    // Every built-in registration has a typed check.
    assert!(report.skips().is_empty(), "{:?}", report.skips());
    let checked = report
        .checks()
        .filter(|(g, _)| g.name != "registry")
        .count();
    assert_eq!(checked, zenml_materializer::registered().len());
}

#[test]
fn the_json_and_bytes_materializers_pass_on_other_values() {
    zenml_testkit::materializer::check_materializer(
        &JsonMaterializer::<Vec<(String, i64)>>::new(),
        &[
            vec![],
            vec![("a".to_owned(), -1), ("ü".to_owned(), i64::MAX)],
        ],
    );
    zenml_testkit::materializer::check_materializer(&BytesMaterializer, &[vec![0; 3], vec![]]);
}
