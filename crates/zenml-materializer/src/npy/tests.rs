use std::fs;

use ndarray::{Array1, Array2, ArrayD, IxDyn, array};

use super::*;
use crate::{load, save};

#[test]
fn arrays_are_npy_files_with_numpy_headers() {
    let dir = tempfile::tempdir().unwrap();
    let value: Array2<f64> = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    save(&value, dir.path()).unwrap();
    let bytes = fs::read(dir.path().join("array.npy")).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY"), "the npy magic");
    let header = String::from_utf8_lossy(&bytes[10..80]);
    assert!(header.contains("'descr': '<f8'"), "{header}");
    assert!(header.contains("'shape': (2, 3)"), "{header}");
    assert_eq!(load::<Array2<f64>>(dir.path()).unwrap(), value);
}

#[test]
fn a_file_of_another_type_or_dimension_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    save(&Array1::from(vec![1i32, 2, 3]), dir.path()).unwrap();
    let err = load::<Array1<f64>>(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("materializer `zenml.npy` cannot load a value of type `ndarray::")
            && err.contains("'<i4'"),
        "{err}"
    );
    let err = load::<Array2<i32>>(dir.path()).unwrap_err().to_string();
    assert!(err.contains("an array of 1 dimensions, not 2"), "{err}");
    // Any number of dimensions loads as ArrayD.
    let any: ArrayD<i32> = load(dir.path()).unwrap();
    assert_eq!(any.shape(), [3]);
}

#[test]
fn a_header_that_claims_more_data_than_the_file_holds_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    save(&Array1::from(vec![1.0f64; 4]), dir.path()).unwrap();
    let path = dir.path().join("array.npy");
    let bytes = fs::read(&path).unwrap();
    // The same header length with a shape of 10^15 elements (8 PB): the longer shape takes
    // the place of padding spaces.
    let shape = bytes.windows(4).position(|w| w == b"(4,)").unwrap();
    let newline = bytes.iter().position(|&b| b == b'\n').unwrap();
    let long = b"(1000000000000000,)";
    let mut forged_bytes = bytes[..shape].to_vec();
    forged_bytes.extend(long);
    forged_bytes.extend(&bytes[shape + 4..newline - (long.len() - 4)]);
    forged_bytes.extend(&bytes[newline..]);
    assert_eq!(forged_bytes.len(), bytes.len());
    fs::write(&path, &forged_bytes).unwrap();
    let err = load::<Array1<f64>>(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("zenml.npy") && err.contains("describes 8000000000000"),
        "{err}"
    );
    // A truncated file is refused the same way.
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let err = load::<Array1<f64>>(dir.path()).unwrap_err().to_string();
    assert!(err.contains("describes"), "{err}");
    fs::write(&path, b"not an npy file").unwrap();
    let err = load::<Array1<f64>>(dir.path()).unwrap_err().to_string();
    assert!(err.contains("zenml.npy"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_link_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    save(&Array1::from(vec![1u8]), elsewhere.path()).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("array.npy"),
        dir.path().join("array.npy"),
    )
    .unwrap();
    let err = load::<Array1<u8>>(dir.path()).unwrap_err().to_string();
    assert!(err.contains("a link, which is not followed"), "{err}");
}

#[test]
fn arrays_describe_their_shape_dtype_and_values() {
    let value = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f32, f32::NAN, 3.0, 3.0]).unwrap();
    let d = NpyMaterializer::<f32, IxDyn>::new()
        .describe(&value, true)
        .unwrap()
        .unwrap();
    assert_eq!(d.schema.kind, DataKind::Array);
    assert_eq!(
        (d.schema.rows, d.schema.shape.clone()),
        (4, Some(vec![2, 2]))
    );
    assert_eq!(d.schema.columns[0].data_type, "float32");
    let column = &d.statistics.unwrap().columns[0];
    let numeric = column.numeric.as_ref().unwrap();
    assert_eq!((column.count, numeric.nan), (4, 1));
    assert_eq!((numeric.min, numeric.max), (Some(1.0), Some(3.0)));
    assert_eq!(column.distinct.unwrap().value, 2);

    let flags = Array1::from(vec![true, false, true]);
    let d = NpyMaterializer::<bool, ndarray::Ix1>::new()
        .describe(&flags, true)
        .unwrap()
        .unwrap();
    let top = d.statistics.unwrap().columns[0].top_values.clone().unwrap();
    assert_eq!(top.values[0].value, "true");
    assert_eq!(top.values[0].count, 2);
}

#[test]
fn every_element_type_is_registered_once() {
    let registered: Vec<_> = crate::registered()
        .into_iter()
        .filter(|d| d.id == "zenml.npy")
        .map(|d| d.rust_type)
        .collect();
    assert_eq!(registered.len(), 11, "{registered:?}");
    assert!(registered.contains(&"ndarray::Array<f64, D>"));
}
