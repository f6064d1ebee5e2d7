use std::fs;

use arrow_array::{Float64Array, Int32Array, StringArray};
use arrow_schema::Field;

use super::*;
use crate::{load, save};

fn table(values: &[i32]) -> RecordBatch {
    let schema = Schema::new(vec![Field::new("x", arrow_schema::DataType::Int32, false)]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(Int32Array::from(values.to_vec()))],
    )
    .unwrap()
}

#[test]
fn tables_are_parquet_files() {
    let dir = tempfile::tempdir().unwrap();
    save(&table(&[1, 2, 3]), dir.path()).unwrap();
    let bytes = fs::read(dir.path().join("table.parquet")).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    assert_eq!(load::<RecordBatch>(dir.path()).unwrap(), table(&[1, 2, 3]));
}

#[test]
fn batches_of_other_schemas_are_refused_and_several_batches_load_as_a_vec_only() {
    let dir = tempfile::tempdir().unwrap();
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "y",
            arrow_schema::DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![Some(1.0), None]))],
    )
    .unwrap();
    let err = save(&vec![table(&[1]), other], dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch 1 has another schema"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    save(&vec![table(&[1]), table(&[2, 3])], dir.path()).unwrap();
    let err = load::<RecordBatch>(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("it holds 2 batches; load it as a `Vec<RecordBatch>`"),
        "{err}"
    );
    assert_eq!(load::<Vec<RecordBatch>>(dir.path()).unwrap().len(), 2);
}

#[test]
fn a_file_that_is_not_parquet_or_of_another_layout_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("table.parquet"), b"PAR1 not really PAR1").unwrap();
    let err = load::<RecordBatch>(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("materializer `zenml.parquet` cannot load"),
        "{err}"
    );

    // A Parquet file written by another tool (no batch layout) loads as one table.
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "s",
        arrow_schema::DataType::Utf8,
        true,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![Some("a"), None]))],
    )
    .unwrap();
    let file = fs::File::create(dir.path().join("table.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    assert_eq!(load::<RecordBatch>(dir.path()).unwrap(), batch);
}

#[test]
fn every_table_type_is_registered() {
    let registered: Vec<_> = crate::registered()
        .into_iter()
        .filter(|d| d.id == ID)
        .map(|d| d.rust_type)
        .collect();
    assert_eq!(
        registered,
        ["Vec<arrow_array::RecordBatch>", "arrow_array::RecordBatch"]
    );
}

#[test]
fn dictionaries_that_cannot_come_back_exactly_are_refused() {
    use arrow_array::types::Int8Type;
    use arrow_array::{Array, DictionaryArray};
    let refuse = |values: Arc<dyn arrow_array::Array>, expected: &str| {
        let column =
            DictionaryArray::<Int8Type>::new(arrow_array::Int8Array::from(vec![0, 1]), values);
        let schema = Schema::new(vec![Field::new("c", column.data_type().clone(), true)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(column)]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = save(&batch, dir.path()).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert!(
            fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing written"
        );
    };
    refuse(
        Arc::new(Int32Array::from(vec![1, 2])),
        "a dictionary of Int32 values",
    );
    refuse(
        Arc::new(StringArray::from(vec!["a", "a"])),
        "holds the value `a` twice",
    );
    refuse(
        Arc::new(StringArray::from(vec![Some("a"), None])),
        "holds a null value",
    );
}
