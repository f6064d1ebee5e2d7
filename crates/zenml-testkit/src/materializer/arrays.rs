//! Typed checks of the `zenml.npy` materializer (feature `ndarray`): every element type,
//! at 0, 1, 2, 3 and a dynamic number of dimensions, with edge values (empty arrays, 0-d
//! arrays, extremes, NaN, Fortran order), and its descriptions.

use std::fmt::Debug;

use zenml_materializer::DefaultMaterializer;
use zenml_materializer::ndarray::{
    Array, Array0, Array1, Array2, Array3, ArrayD, Dimension, IxDyn, ShapeBuilder,
};
use zenml_materializer::npy::NpyElement;

use super::{Bounded, Float, check_default, check_description};

/// The element values the array checks use, and their comparison.
pub trait ArrayElement: NpyElement + Copy + Debug {
    /// Edge values of the type (extremes, zero, NaN and infinities for floats).
    fn edges() -> Vec<Self>;
    /// A value made from an index, for filling larger arrays.
    fn from_index(i: usize) -> Self;
    /// The same value (NaN equals NaN, `-0.0` is not `0.0`).
    fn same_element(&self, other: &Self) -> bool;
}

macro_rules! integer_elements {
    ($($t:ty),+) => {$(
        impl ArrayElement for $t {
            fn edges() -> Vec<Self> {
                let mut values = vec![<$t as Bounded>::ZERO, <$t as Bounded>::ONE, <$t as Bounded>::MIN, <$t as Bounded>::MAX];
                values.extend(<$t as Bounded>::MINUS_ONE);
                values
            }
            fn from_index(i: usize) -> Self {
                (i % 100) as $t
            }
            fn same_element(&self, other: &Self) -> bool {
                self == other
            }
        }
    )+};
}

integer_elements!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! float_elements {
    ($($t:ty),+) => {$(
        impl ArrayElement for $t {
            fn edges() -> Vec<Self> {
                <$t as Float>::specials()
            }
            fn from_index(i: usize) -> Self {
                i as $t / 7.0
            }
            fn same_element(&self, other: &Self) -> bool {
                self.same(other)
            }
        }
    )+};
}

float_elements!(f32, f64);

impl ArrayElement for bool {
    fn edges() -> Vec<Self> {
        vec![true, false]
    }
    fn from_index(i: usize) -> Self {
        i.is_multiple_of(3)
    }
    fn same_element(&self, other: &Self) -> bool {
        self == other
    }
}

/// The same shape and the same elements.
fn same_array<T: ArrayElement, D: Dimension>(a: &Array<T, D>, b: &Array<T, D>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(x, y)| x.same_element(y))
}

fn filled<T: ArrayElement, Sh: ShapeBuilder>(shape: Sh) -> Array<T, Sh::Dim> {
    let mut i = 0;
    Array::from_shape_simple_fn(shape, || {
        i += 1;
        T::from_index(i)
    })
}

/// `ndarray::Array<T, D>` with its default materializer (registered as `rust_type`, e.g.
/// `ndarray::Array<f64, D>`) at every dimension, with edge values, and its descriptions.
pub fn check_arrays<T: ArrayElement>(rust_type: &str)
where
    Array<T, IxDyn>: DefaultMaterializer,
{
    let edges = T::edges();
    let zero_d: Vec<Array0<T>> = edges.iter().map(|&v| Array0::from_elem((), v)).collect();
    check_default(rust_type, &zero_d, same_array);
    check_default(
        rust_type,
        &[
            Array1::from(edges.clone()),
            Array1::from(Vec::<T>::new()),
            filled(10_000),
        ],
        same_array,
    );
    let fortran: Array2<T> = filled((3, 5).f());
    check_default(
        rust_type,
        &[
            filled((4, 3)),
            fortran,
            Array2::from_shape_vec((0, 3), Vec::new()).expect("an empty shape"),
        ],
        same_array,
    );
    let three_d: Array3<T> = filled((2, 3, 4));
    check_default(rust_type, &[three_d], same_array);
    let dynamic: ArrayD<T> = filled(IxDyn(&[2, 1, 3, 2]));
    check_default(
        rust_type,
        &[dynamic.clone(), ArrayD::from_elem(IxDyn(&[]), edges[0])],
        same_array,
    );

    // Descriptions: shape and dtype, and statistics over every element.
    let materializer = <ArrayD<T> as DefaultMaterializer>::Materializer::default();
    let description = check_description(&materializer, &dynamic, 12);
    let schema = description.schema;
    assert_eq!(
        schema.shape,
        Some(vec![2, 1, 3, 2]),
        "{rust_type}: the shape"
    );
    assert_eq!(
        schema.columns.len(),
        1,
        "{rust_type}: one column of elements"
    );
    assert_eq!(
        schema.columns[0].data_type,
        T::DTYPE,
        "{rust_type}: the dtype"
    );
    let empty = check_description(
        &materializer,
        &ArrayD::from_shape_vec(IxDyn(&[0, 2]), Vec::new()).expect("an empty shape"),
        0,
    );
    assert_eq!(empty.schema.shape, Some(vec![0, 2]));
    let edge_array = ArrayD::from_shape_vec(IxDyn(&[edges.len()]), edges.clone()).expect("a shape");
    let described = check_description(&materializer, &edge_array, edges.len() as u64);
    let column = &described
        .statistics
        .expect("statistics were asked for")
        .columns[0];
    assert_eq!(
        column.count,
        edges.len() as u64,
        "{rust_type}: every element counted"
    );
    assert_eq!(column.nulls, 0, "{rust_type}: arrays hold no nulls");
}
