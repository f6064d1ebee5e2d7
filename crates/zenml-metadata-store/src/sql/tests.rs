//! Tests of the shared SQL: assembled queries, typed columns, checks.

use super::checks::*;
use super::read::in_list;
use super::rows::*;
use super::*;

#[test]
fn columns_report_values_of_the_wrong_kind_as_corrupt() {
    let mut columns = Columns::new(
        vec![
            SqlValue::Int(1),
            SqlValue::Null,
            SqlValue::Text("{".to_owned()),
        ],
        "run",
    );
    assert!(matches!(
        columns.text(),
        Err(MetadataStoreError::Corrupt { what: "run", .. })
    ));
    assert!(columns.next_is_null());
    assert!(columns.int().is_err());
    let err = columns.json().unwrap_err();
    assert!(err.to_string().contains("invalid JSON"), "{err}");
    assert!(columns.opt_text().is_err(), "no more columns");
}

#[test]
fn shared_queries_are_assembled_as_expected() {
    assert!(LIST_PIPELINES.contains(run_columns!()));
    assert!(SELECT_STEP_INPUTS.ends_with("ORDER BY i.input_name"));
    assert_eq!(INSERT_ARTIFACT.matches('?').count(), 12);
    assert_eq!(INSERT_STEP_RUN.matches('?').count(), 12);
    assert_eq!(INSERT_STEP_ATTEMPT.matches('?').count(), 7);
    assert_eq!(CACHE_CANDIDATES.matches('?').count(), 3);
    assert!(CACHE_CANDIDATES.ends_with("s.id DESC LIMIT ?"));
    assert!(ARTIFACT_CONSUMERS.contains(step_run_columns!()));
}

#[test]
fn in_lists_have_one_placeholder_per_value() {
    assert_eq!(in_list(1), "(?)");
    assert_eq!(in_list(3), "(?, ?, ?)");
    assert_eq!(in_list(IN_LIST_CHUNK).matches('?').count(), IN_LIST_CHUNK);
}

#[test]
fn lengths_are_checked_in_characters() {
    assert!(check_name("run", "name", &"é".repeat(255)).is_ok());
    let err = check_name("run", "name", &"x".repeat(256)).unwrap_err();
    assert!(matches!(
        err,
        MetadataStoreError::InvalidRecord { what: "run", .. }
    ));
    assert!(err.to_string().contains("at most 255"), "{err}");
    assert!(check_id("run", "id", &new_id()).is_ok());
}
