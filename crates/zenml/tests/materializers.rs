//! Materializers in pipelines: chosen by type (built-in or registered), or named for an
//! input or output; ids and versions recorded with every artifact.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use zenml::materializer::{Materializer, MaterializerError, register_materializer};
use zenml::prelude::*;
use zenml::stack::Repository;

/// A matrix, stored by its own registered materializer.
#[derive(Debug, Clone, PartialEq)]
struct Matrix {
    rows: usize,
    values: Vec<f32>,
}

/// Writes a matrix as `shape.txt` and little-endian `values.bin`.
#[derive(Debug, Default)]
struct MatrixMaterializer;

fn io_error(dir: &Path, source: std::io::Error) -> MaterializerError {
    MaterializerError::Io {
        action: "matrix file",
        path: dir.to_path_buf(),
        source,
    }
}

impl Materializer for MatrixMaterializer {
    type Value = Matrix;

    fn id(&self) -> &'static str {
        "test.matrix"
    }

    fn version(&self) -> u32 {
        3
    }

    fn save(&self, value: &Matrix, dir: &Path) -> Result<(), MaterializerError> {
        std::fs::write(dir.join("shape.txt"), value.rows.to_string())
            .map_err(|e| io_error(dir, e))?;
        let bytes: Vec<u8> = value.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join("values.bin"), bytes).map_err(|e| io_error(dir, e))
    }

    fn load(&self, dir: &Path) -> Result<Matrix, MaterializerError> {
        let rows = std::fs::read_to_string(dir.join("shape.txt")).map_err(|e| io_error(dir, e))?;
        let bytes = std::fs::read(dir.join("values.bin")).map_err(|e| io_error(dir, e))?;
        Ok(Matrix {
            rows: rows.trim().parse().unwrap_or(0),
            values: bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        })
    }
}

register_materializer! {
    Matrix => MatrixMaterializer {
        id: "test.matrix",
        version: 3,
        description: "Shape in shape.txt, values in values.bin",
    }
}

/// Stores text upper-cased, and gives it back lower-cased: named explicitly per output.
#[derive(Debug, Default)]
struct ShoutingText;

impl Materializer for ShoutingText {
    type Value = String;

    fn id(&self) -> &'static str {
        "test.shouting"
    }

    fn version(&self) -> u32 {
        1
    }

    fn save(&self, value: &String, dir: &Path) -> Result<(), MaterializerError> {
        std::fs::write(dir.join("text.txt"), value.to_uppercase()).map_err(|e| io_error(dir, e))
    }

    fn load(&self, dir: &Path) -> Result<String, MaterializerError> {
        let text = std::fs::read_to_string(dir.join("text.txt")).map_err(|e| io_error(dir, e))?;
        Ok(text.to_lowercase())
    }
}

#[step]
fn identity(size: Param<usize>) -> Matrix {
    let values = (0..*size * *size)
        .map(|i| if i % (*size + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    Matrix {
        rows: *size,
        values,
    }
}

#[step]
fn trace(matrix: Matrix) -> f32 {
    (0..matrix.rows)
        .map(|i| matrix.values[i * matrix.rows + i])
        .sum()
}

#[step]
fn nested(ctx: &StepContext) -> std::collections::HashMap<String, Option<(u8, String)>> {
    ctx.log_output_metadata("output", "entries", 2);
    [
        ("a".to_owned(), Some((1, "one".to_owned()))),
        ("b".to_owned(), None),
    ]
    .into_iter()
    .collect()
}

#[step]
fn blob(len: Param<usize>) -> Vec<u8> {
    (0..*len).map(|i| (i % 251) as u8).collect()
}

#[step(materializers(output = ShoutingText))]
fn greet(name: Param<String>) -> String {
    format!("hello {}", *name)
}

#[step(materializers(text = ShoutingText))]
fn length(text: String) -> usize {
    assert_eq!(
        text, "hello ada",
        "the input comes back through the named materializer"
    );
    text.len()
}

#[pipeline]
fn kinds() {
    let matrix = identity(3);
    trace(matrix);
    blob(1000);
    nested();
    let text = greet("ada".to_owned());
    length(text);
}

#[test]
fn each_output_is_written_by_the_right_materializer() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let options = RunOptions {
        repository: Some(dir.path().to_path_buf()),
        quiet: true,
        ..RunOptions::default()
    };
    let outcome = kinds().run(&options).unwrap();
    let client = Client::open(&repo, None).unwrap();
    let run = client.run(&outcome.run.name).unwrap();

    // A registered type uses its materializer, downstream too.
    let matrix = run
        .step("identity")
        .unwrap()
        .output_artifact("output")
        .unwrap();
    assert_eq!(
        (matrix.materializer_id.as_str(), matrix.materializer_version),
        ("test.matrix", 3)
    );
    assert_eq!(
        client
            .load_with::<MatrixMaterializer>(&matrix)
            .unwrap()
            .rows,
        3
    );
    let trace: f32 = run.step("trace").unwrap().output("output").unwrap();
    assert_eq!(trace, 3.0);
    // `load` does not guess at materializers it does not know.
    assert!(matches!(
        client.load::<f32>(&matrix),
        Err(zenml::pipeline::ClientError::WrongType { .. })
    ));

    // Containers of serde types go through JSON; output metadata lands on the artifact.
    let nested = run.step("nested").unwrap();
    let map: std::collections::HashMap<String, Option<(u8, String)>> =
        nested.output("output").unwrap();
    assert_eq!(map["a"], Some((1, "one".to_owned())));
    assert_eq!(map["b"], None);
    let artifact = nested.output_artifact("output").unwrap();
    let metadata = client
        .stack()
        .metadata_store
        .metadata(&zenml::metadata_store::Resource::Artifact(
            artifact.id.clone(),
        ))
        .unwrap();
    assert_eq!(metadata, vec![("entries".to_owned(), serde_json::json!(2))]);

    // Bytes are stored raw.
    let blob = run.step("blob").unwrap().output_artifact("output").unwrap();
    assert_eq!(blob.materializer_id, "zenml.bytes");
    assert_eq!(blob.size, 1000);
    let bytes: Vec<u8> = client.load(&blob).unwrap();
    assert_eq!(bytes[250..252], [250, 0]);

    // A named materializer writes the output and reads the input.
    let text = run
        .step("greet")
        .unwrap()
        .output_artifact("output")
        .unwrap();
    assert_eq!(text.materializer_id, "test.shouting");
    let stored = std::fs::read_to_string(
        dir.path()
            .join(".zen/artifacts")
            .join(&text.path)
            .join("text.txt"),
    )
    .unwrap();
    assert_eq!(stored, "HELLO ADA");
    assert_eq!(
        client.load_with::<ShoutingText>(&text).unwrap(),
        "hello ada"
    );
    let length: usize = run.step("length").unwrap().output("output").unwrap();
    assert_eq!(length, 9);

    // The registry lists the registered type.
    assert!(
        zenml::materializer::registered()
            .iter()
            .any(|m| m.rust_type == "Matrix" && m.id == "test.matrix")
    );
}
