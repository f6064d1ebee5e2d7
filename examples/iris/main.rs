//! A real classifier on a real data set: the iris flowers (Fisher, 1936), as shipped by the
//! `linfa-datasets` crate, classified by a decision tree of `linfa-trees`.
//!
//! ```sh
//! cargo run --example iris --features iris
//! cargo run --example iris --features iris -- --config examples/iris/deeper.toml
//! zenml artifact versions iris-classifier
//! zenml artifact statistics iris-dataset
//! ```
//!
//! load (a table) → split into train and test tables → train a decision tree with its
//! hyperparameters as step parameters → evaluate its accuracy on the test table (a metric).
//! The data set and the model are named artifacts: each new model is the next version of
//! `iris-classifier`, and a run with other hyperparameters reuses the cached data steps.

use std::process::ExitCode;
use std::sync::Arc;

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use zenml::arrow_array::types::Int32Type;
use zenml::arrow_array::{
    Array, DictionaryArray, Float64Array, Int32Array, RecordBatch, StringArray,
};
use zenml::arrow_schema::{DataType, Field, Schema};
use zenml::materializer::JsonMaterializer;
use zenml::ndarray::{Array1, Array2, Ix1};
use zenml::prelude::*;

/// The four measurements, in centimetres, as the table's column names.
const FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
/// The three species, by label.
const SPECIES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// A trained decision tree: the model artifact, stored as JSON by its registered
/// materializer (`linfa-trees` serializes its trees with serde).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IrisClassifier {
    /// The tree.
    pub tree: DecisionTree<f64, usize>,
}

zenml::materializer::register_materializer! {
    IrisClassifier => JsonMaterializer<IrisClassifier> {
        id: JsonMaterializer::<IrisClassifier>::ID,
        version: JsonMaterializer::<IrisClassifier>::VERSION,
        description: "A linfa decision tree, as JSON in data.json",
    }
}

/// The iris table: four measurements and the species (a category) of 150 flowers.
#[step(outputs(iris(name = "iris-dataset", tags("iris", "raw"))))]
fn load() -> Result<RecordBatch, String> {
    let data = linfa_datasets::iris();
    let mut columns: Vec<Arc<dyn Array>> = (0..FEATURES.len())
        .map(|i| Arc::new(Float64Array::from(data.records().column(i).to_vec())) as Arc<dyn Array>)
        .collect();
    let labels: Vec<i32> = data
        .targets()
        .iter()
        .map(|&l| i32::try_from(l).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    columns.push(Arc::new(DictionaryArray::<Int32Type>::new(
        Int32Array::from(labels),
        Arc::new(StringArray::from(SPECIES.to_vec())),
    )));
    RecordBatch::try_new(schema(), columns).map_err(|e| e.to_string())
}

fn schema() -> Arc<Schema> {
    let mut fields: Vec<Field> = FEATURES
        .iter()
        .map(|name| Field::new(*name, DataType::Float64, false))
        .collect();
    fields.push(Field::new(
        "species",
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        false,
    ));
    Arc::new(Schema::new(fields))
}

/// The rows of `table` at `rows`, in that order.
fn take(table: &RecordBatch, rows: &[usize]) -> Result<RecordBatch, String> {
    let mut columns: Vec<Arc<dyn Array>> = Vec::new();
    for i in 0..FEATURES.len() {
        let values = float_column(table, i)?;
        columns.push(Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|&r| values.value(r)),
        )));
    }
    let species = species_column(table)?;
    let keys = species.keys();
    columns.push(Arc::new(DictionaryArray::<Int32Type>::new(
        Int32Array::from_iter_values(rows.iter().map(|&r| keys.value(r))),
        species.values().clone(),
    )));
    RecordBatch::try_new(table.schema(), columns).map_err(|e| e.to_string())
}

fn float_column(table: &RecordBatch, i: usize) -> Result<&Float64Array, String> {
    table
        .column(i)
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| format!("column `{}` is not Float64", FEATURES[i]))
}

fn species_column(table: &RecordBatch) -> Result<&DictionaryArray<Int32Type>, String> {
    table
        .column(FEATURES.len())
        .as_any()
        .downcast_ref::<DictionaryArray<Int32Type>>()
        .ok_or_else(|| "column `species` is not a category".to_owned())
}

/// Shuffles the rows with `seed` and puts `test_fraction` of them in the test table.
#[step(outputs(train, test))]
fn split(
    iris: RecordBatch,
    test_fraction: Param<f64>,
    seed: Param<u64>,
) -> Result<(RecordBatch, RecordBatch), String> {
    if !(0.0..1.0).contains(&*test_fraction) {
        return Err(format!(
            "test_fraction is a fraction below 1, got {}",
            *test_fraction
        ));
    }
    let mut rows: Vec<usize> = (0..iris.num_rows()).collect();
    rows.shuffle(&mut StdRng::seed_from_u64(*seed));
    let test_rows = (iris.num_rows() as f64 * *test_fraction).round() as usize;
    let (test, train) = rows.split_at(test_rows);
    Ok((take(&iris, train)?, take(&iris, test)?))
}

/// The measurements as a matrix and the species as labels.
fn dataset(table: &RecordBatch) -> Result<Dataset<f64, usize, Ix1>, String> {
    let mut records = Array2::<f64>::zeros((table.num_rows(), FEATURES.len()));
    for i in 0..FEATURES.len() {
        for (row, value) in float_column(table, i)?.values().iter().enumerate() {
            records[[row, i]] = *value;
        }
    }
    let labels: Array1<usize> = species_column(table)?
        .keys()
        .values()
        .iter()
        .map(|&k| usize::try_from(k).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(Dataset::new(records, labels).with_feature_names(FEATURES.to_vec()))
}

/// A decision tree fitted on the train table.
#[step(outputs(model(name = "iris-classifier", tags("decision-tree"))))]
fn train(
    ctx: &StepContext,
    train: RecordBatch,
    max_depth: Param<usize>,
    min_weight_split: Param<f32>,
) -> Result<IrisClassifier, String> {
    let data = dataset(&train)?;
    let tree = DecisionTree::params()
        .max_depth(Some(*max_depth))
        .min_weight_split(*min_weight_split)
        .fit(&data)
        .map_err(|e| e.to_string())?;
    ctx.log_metadata("depth", tree.max_depth());
    ctx.log_metadata("leaves", tree.num_leaves());
    Ok(IrisClassifier { tree })
}

/// The model's accuracy on the test table, logged as the metric `accuracy`.
#[step]
fn evaluate(ctx: &StepContext, model: IrisClassifier, test: RecordBatch) -> Result<f64, String> {
    let data = dataset(&test)?;
    let predicted = model.tree.predict(&data);
    let accuracy = f64::from(
        predicted
            .confusion_matrix(&data)
            .map_err(|e| e.to_string())?
            .accuracy(),
    );
    ctx.log_metadata("accuracy", accuracy);
    Ok(accuracy)
}

#[pipeline]
fn iris() {
    let data = load();
    let (train_table, test_table) = split(data, 0.3, 42);
    let model = train(train_table, 2, 2.0);
    evaluate(model, test_table);
}

fn main() -> ExitCode {
    if let Err(e) = zenml_examples::ensure_repository() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    iris().run_from_args()
}
