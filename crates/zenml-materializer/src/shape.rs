//! Finds out whether a serde type is, at its top level, one of the scalars plain JSON cannot
//! hold exactly: a float (NaN, ±infinity) or a 128-bit integer.
//!
//! Both probes look only at the first call a type's `Serialize` or `Deserialize` makes: they
//! see `f64` and `#[serde(transparent)]` wrappers of it, not a float inside a struct.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{self, Impossible, Serialize, Serializer};

/// What a type's `Deserialize` asks for first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `i128`.
    I128,
    /// `u128`.
    U128,
    /// Anything else.
    Other,
}

/// The top-level scalar a value serializes as, if it is one that needs care.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    /// A float, widened to `f64` (exact).
    Float(f64),
    /// A signed 128-bit integer.
    I128(i128),
    /// An unsigned 128-bit integer.
    U128(u128),
    /// Anything else.
    Other,
}

/// The shape `T`'s `Deserialize` asks for.
pub(crate) fn shape_of<'de, T: Deserialize<'de>>() -> Shape {
    match T::deserialize(ShapeProbe) {
        Err(Probed(shape)) => shape,
        Ok(_) => Shape::Other,
    }
}

/// The scalar `value` serializes as.
pub(crate) fn scalar_of<T: Serialize + ?Sized>(value: &T) -> Scalar {
    value.serialize(ScalarProbe).unwrap_or(Scalar::Other)
}

/// The probes' error, carrying what a deserializer was asked for.
#[derive(Debug)]
struct Probed(Shape);

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "probed {:?}", self.0)
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<M: fmt::Display>(_msg: M) -> Self {
        Probed(Shape::Other)
    }
}

impl ser::Error for Probed {
    fn custom<M: fmt::Display>(_msg: M) -> Self {
        Probed(Shape::Other)
    }
}

/// A deserializer that records the first method called and fails.
struct ShapeProbe;

impl<'de> Deserializer<'de> for ShapeProbe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed(Shape::Other))
    }

    fn deserialize_f32<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed(Shape::F32))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed(Shape::F64))
    }

    fn deserialize_i128<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed(Shape::I128))
    }

    fn deserialize_u128<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed(Shape::U128))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// A serializer that captures a top-level float or 128-bit integer.
struct ScalarProbe;

/// Implements serializer methods that answer [`Scalar::Other`].
macro_rules! other_scalars {
    ($($method:ident($($arg:ty),*);)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Scalar, Probed> {
            Ok(Scalar::Other)
        }
    )*};
}

/// Implements serializer methods for compound values, which the probe does not enter.
macro_rules! no_compounds {
    ($($method:ident($($arg:ty),*) -> $ret:ident;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::$ret, Probed> {
            Err(Probed(Shape::Other))
        }
    )*};
}

impl Serializer for ScalarProbe {
    type Ok = Scalar;
    type Error = Probed;
    type SerializeSeq = Impossible<Scalar, Probed>;
    type SerializeTuple = Impossible<Scalar, Probed>;
    type SerializeTupleStruct = Impossible<Scalar, Probed>;
    type SerializeTupleVariant = Impossible<Scalar, Probed>;
    type SerializeMap = Impossible<Scalar, Probed>;
    type SerializeStruct = Impossible<Scalar, Probed>;
    type SerializeStructVariant = Impossible<Scalar, Probed>;

    fn serialize_f32(self, v: f32) -> Result<Scalar, Probed> {
        Ok(Scalar::Float(f64::from(v)))
    }

    fn serialize_f64(self, v: f64) -> Result<Scalar, Probed> {
        Ok(Scalar::Float(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Scalar, Probed> {
        Ok(Scalar::I128(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Scalar, Probed> {
        Ok(Scalar::U128(v))
    }

    other_scalars! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<Scalar, Probed> {
        Ok(Scalar::Other)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<Scalar, Probed> {
        Ok(Scalar::Other)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Scalar, Probed> {
        Ok(Scalar::Other)
    }

    no_compounds! {
        serialize_seq(Option<usize>) -> SerializeSeq;
        serialize_tuple(usize) -> SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> SerializeTupleVariant;
        serialize_map(Option<usize>) -> SerializeMap;
        serialize_struct(&'static str, usize) -> SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> SerializeStructVariant;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(transparent)]
    struct Loss(f64);

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Metrics {
        loss: f64,
    }

    #[test]
    fn probes_see_top_level_scalars_only() {
        assert_eq!(shape_of::<f32>(), Shape::F32);
        assert_eq!(shape_of::<f64>(), Shape::F64);
        assert_eq!(shape_of::<Loss>(), Shape::F64);
        assert_eq!(shape_of::<i128>(), Shape::I128);
        assert_eq!(shape_of::<u128>(), Shape::U128);
        assert_eq!(shape_of::<u64>(), Shape::Other);
        assert_eq!(shape_of::<String>(), Shape::Other);
        assert_eq!(shape_of::<Metrics>(), Shape::Other);

        assert_eq!(scalar_of(&1.5f32), Scalar::Float(1.5));
        assert_eq!(scalar_of(&Loss(2.0)), Scalar::Float(2.0));
        assert_eq!(scalar_of(&-3i128), Scalar::I128(-3));
        assert_eq!(scalar_of(&3u128), Scalar::U128(3));
        assert_eq!(scalar_of(&7u8), Scalar::Other);
        assert_eq!(scalar_of(&Metrics { loss: 1.0 }), Scalar::Other);
        assert_eq!(scalar_of("text"), Scalar::Other);
    }
}
