//! Finding the floats JSON cannot hold (NaN, infinities) in any serializable value, before
//! `serde_json` silently writes them as `null`.

use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize};

/// The path (`.field`, `[index]`, `.key`) of the first NaN or infinite float in `value`,
/// `Some("")` when `value` itself is one; `None` when every float in it is finite.
pub(crate) fn non_finite_path<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    let mut finder = Finder {
        path: Vec::new(),
        found: None,
    };
    // The finder never fails; its "errors" only stop the walk early.
    let _ = value.serialize(&mut finder);
    finder.found
}

struct Finder {
    path: Vec<String>,
    found: Option<String>,
}

/// Stops the walk once something is found; never shown.
#[derive(Debug)]
struct Stop;

impl Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<M: Display>(_message: M) -> Stop {
        Stop
    }
}

impl Finder {
    fn float(&mut self, finite: bool) -> Result<(), Stop> {
        if finite {
            return Ok(());
        }
        self.found = Some(self.path.concat());
        Err(Stop)
    }

    fn nested<T: Serialize + ?Sized>(&mut self, segment: String, value: &T) -> Result<(), Stop> {
        self.path.push(segment);
        let result = value.serialize(&mut *self);
        self.path.pop();
        result
    }
}

macro_rules! fine {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, _value: $ty) -> Result<(), Stop> { Ok(()) })*
    };
}

impl<'a> ser::Serializer for &'a mut Finder {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fine!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
          serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
          serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
          serialize_str: &str, serialize_bytes: &[u8]);

    fn serialize_f32(self, value: f32) -> Result<(), Stop> {
        self.float(value.is_finite())
    }
    fn serialize_f64(self, value: f64) -> Result<(), Stop> {
        self.float(value.is_finite())
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.nested(format!(".{variant}"), value)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self))
    }
}

/// A sequence, tuple, map or struct being walked: counts elements for their paths.
struct Compound<'a> {
    finder: &'a mut Finder,
    index: usize,
    key: Option<String>,
}

impl<'a> Compound<'a> {
    fn new(finder: &'a mut Finder) -> Compound<'a> {
        Compound {
            finder,
            index: 0,
            key: None,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let segment = format!("[{}]", self.index);
        self.index += 1;
        self.finder.nested(segment, value)
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                self.element(value)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        // A key is written as text: a float key is checked too.
        self.key = Some(
            key.serialize(KeyText)
                .unwrap_or_else(|_| format!("[{}]", self.index)),
        );
        self.index += 1;
        self.finder.nested(String::new(), key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let segment = self.key.take().unwrap_or_default();
        self.finder.nested(segment, value)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Stop> {
                self.finder.nested(format!(".{key}"), value)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

/// Writes a map key that is a string or a number as `.key`; anything else is no text.
struct KeyText;

macro_rules! key_text {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, value: $ty) -> Result<String, Stop> { Ok(format!(".{value}")) })*
    };
}

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Stop;
    type SerializeSeq = Impossible<String, Stop>;
    type SerializeTuple = Impossible<String, Stop>;
    type SerializeTupleStruct = Impossible<String, Stop>;
    type SerializeTupleVariant = Impossible<String, Stop>;
    type SerializeMap = Impossible<String, Stop>;
    type SerializeStruct = Impossible<String, Stop>;
    type SerializeStructVariant = Impossible<String, Stop>;

    key_text!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
              serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
              serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
              serialize_str: &str, serialize_f32: f32, serialize_f64: f64);

    fn serialize_bytes(self, _: &[u8]) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_none(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Stop> {
        Ok(format!(".{variant}"))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(serde::Serialize)]
    struct Metrics {
        name: String,
        losses: Vec<f64>,
        by_split: BTreeMap<String, f32>,
    }

    #[test]
    fn non_finite_floats_are_found_with_their_path() {
        assert_eq!(non_finite_path(&1.5), None);
        assert_eq!(non_finite_path(&f64::NAN).as_deref(), Some(""));
        assert_eq!(non_finite_path(&f32::INFINITY).as_deref(), Some(""));
        assert_eq!(
            non_finite_path(&Some(f64::NEG_INFINITY)).as_deref(),
            Some("")
        );
        assert_eq!(non_finite_path("text"), None);
        let mut by_split = BTreeMap::new();
        by_split.insert("train".to_owned(), 0.5);
        by_split.insert("test".to_owned(), f32::NAN);
        let metrics = Metrics {
            name: "m".to_owned(),
            losses: vec![1.0, 0.5, 0.25],
            by_split,
        };
        assert_eq!(non_finite_path(&metrics).as_deref(), Some(".by_split.test"));
        let losses = Metrics {
            losses: vec![1.0, f64::NAN],
            by_split: BTreeMap::new(),
            ..metrics
        };
        assert_eq!(non_finite_path(&losses).as_deref(), Some(".losses[1]"));
        assert_eq!(
            non_finite_path(&(1u8, [0.0, f64::INFINITY])).as_deref(),
            Some("[1][1]")
        );
    }
}
