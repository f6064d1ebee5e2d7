//! The `zenml.json` materializer: a value as JSON in `data.json`.

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde_json::Value;

use crate::files::{read_regular, write_new};
use crate::shape::{Scalar, Shape, scalar_of, shape_of};
use crate::{Materializer, MaterializerError};

/// Stores a serde value as JSON in `data.json`.
///
/// Plain JSON cannot hold some values exactly, so when the value itself (not a part of it)
/// is one of these, it is stored as a JSON string:
///
/// - `f32` and `f64` NaN and ±infinity: `"NaN"`, `"Infinity"` and `"-Infinity"` (the names
///   JavaScript and Python use). NaN payload bits are not kept. Finite floats are JSON
///   numbers and come back bit for bit, `-0.0` included.
/// - `i128` and `u128`: always a string of decimal digits, e.g. `"-170141183460469231731687303715884105728"`,
///   since many JSON readers turn numbers into 64-bit floats.
///
/// Inside a compound value (a struct, a list, a map), serde_json's rules apply: a
/// non-finite float there is written as `null` and does not load back, so store such data
/// with a dedicated materializer.
pub struct JsonMaterializer<T> {
    value: PhantomData<fn() -> T>,
}

impl<T> JsonMaterializer<T> {
    /// The materializer's id.
    pub const ID: &'static str = "zenml.json";
    /// The version of its file layout.
    pub const VERSION: u32 = 1;
    /// The file it writes.
    pub const FILE: &'static str = "data.json";

    /// The JSON materializer for `T`.
    pub const fn new() -> JsonMaterializer<T> {
        JsonMaterializer { value: PhantomData }
    }
}

impl<T> Default for JsonMaterializer<T> {
    fn default() -> JsonMaterializer<T> {
        JsonMaterializer::new()
    }
}

impl<T> Clone for JsonMaterializer<T> {
    fn clone(&self) -> JsonMaterializer<T> {
        *self
    }
}

impl<T> Copy for JsonMaterializer<T> {}

impl<T> fmt::Debug for JsonMaterializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonMaterializer<{}>", type_name::<T>())
    }
}

impl<T: Serialize + DeserializeOwned> Materializer for JsonMaterializer<T> {
    type Value = T;

    fn id(&self) -> &'static str {
        Self::ID
    }

    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn save(&self, value: &T, dir: &Path) -> Result<(), MaterializerError> {
        let mut text = match scalar_of(value) {
            Scalar::Float(x) if x.is_nan() => "\"NaN\"".to_owned(),
            Scalar::Float(x) if x == f64::INFINITY => "\"Infinity\"".to_owned(),
            Scalar::Float(x) if x == f64::NEG_INFINITY => "\"-Infinity\"".to_owned(),
            Scalar::I128(x) => format!("\"{x}\""),
            Scalar::U128(x) => format!("\"{x}\""),
            Scalar::Float(_) | Scalar::Other => {
                serde_json::to_string(value).map_err(|e| MaterializerError::Unsupported {
                    id: Self::ID,
                    rust_type: type_name::<T>(),
                    message: e.to_string(),
                })?
            }
        };
        text.push('\n');
        write_new(dir, Self::FILE, text.as_bytes())
    }

    fn load(&self, dir: &Path) -> Result<T, MaterializerError> {
        let rust_type = type_name::<T>();
        let bytes = read_regular(dir, Self::FILE, Self::ID, rust_type)?;
        let mismatch = |message: String| MaterializerError::Mismatch {
            id: Self::ID,
            rust_type,
            file: dir.join(Self::FILE),
            message,
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| mismatch(format!("the file is not UTF-8 text: {e}")))?;
        let scalar = |result: Result<T, serde::de::value::Error>| {
            result.map_err(|e| mismatch(e.to_string()))
        };
        match shape_of::<T>() {
            Shape::F32 => scalar(T::deserialize(
                parse_float::<f32>(text)
                    .map_err(mismatch)?
                    .into_deserializer(),
            )),
            Shape::F64 => scalar(T::deserialize(
                parse_float::<f64>(text)
                    .map_err(mismatch)?
                    .into_deserializer(),
            )),
            Shape::I128 => scalar(T::deserialize(
                parse_int::<i128>(text)
                    .map_err(mismatch)?
                    .into_deserializer(),
            )),
            Shape::U128 => scalar(T::deserialize(
                parse_int::<u128>(text)
                    .map_err(mismatch)?
                    .into_deserializer(),
            )),
            Shape::Other => serde_json::from_str(text).map_err(|e| {
                // Say whether the file is not JSON at all or holds a value of another shape.
                match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Err(syntax) => mismatch(format!("the file is not valid JSON: {syntax}")),
                    Ok(_) => mismatch(e.to_string()),
                }
            }),
        }
    }
}

/// A float stored by [`JsonMaterializer`]: a JSON number, parsed exactly from its text, or
/// one of the strings for NaN and ±infinity.
fn parse_float<F>(text: &str) -> Result<F, String>
where
    F: FromStr + From<f32> + Copy + Into<f64>,
{
    match parse_json(text)? {
        Value::Number(_) => {
            let number = text.trim();
            let x = number
                .parse::<F>()
                .map_err(|_| format!("`{number}` is not a number"))?;
            if x.into().is_infinite() {
                return Err(format!(
                    "`{number}` is out of range for {}",
                    type_name::<F>()
                ));
            }
            Ok(x)
        }
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(F::from(f32::NAN)),
            "Infinity" => Ok(F::from(f32::INFINITY)),
            "-Infinity" => Ok(F::from(f32::NEG_INFINITY)),
            _ => Err(format!(
                "expected a number or one of the strings \"NaN\", \"Infinity\", \"-Infinity\", \
                 found the string {s:?}"
            )),
        },
        other => Err(format!("expected a number, found {}", describe(&other))),
    }
}

/// A 128-bit integer stored by [`JsonMaterializer`]: a string of decimal digits (or, as
/// written by hand, a JSON number).
fn parse_int<I: FromStr>(text: &str) -> Result<I, String> {
    let out_of_range = |digits: &str| {
        format!(
            "`{digits}` is not an integer in the range of {}",
            type_name::<I>()
        )
    };
    match parse_json(text)? {
        Value::Number(_) => {
            let number = text.trim();
            number.parse().map_err(|_| out_of_range(number))
        }
        Value::String(s) => s.parse().map_err(|_| out_of_range(&s)),
        other => Err(format!(
            "expected a string of decimal digits, found {}",
            describe(&other)
        )),
    }
}

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("the file is not valid JSON: {e}"))
}

/// Names the kind of a JSON value for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Registers [`JsonMaterializer`] as the default materializer of each type.
macro_rules! register_json {
    ($($ty:ty: $description:expr;)+) => {
        crate::register_materializer! {$(
            $ty => JsonMaterializer<$ty> {
                id: JsonMaterializer::<$ty>::ID,
                version: JsonMaterializer::<$ty>::VERSION,
                description: $description,
            }
        );+}
    };
}

const INTEGER: &str = "A JSON number in data.json";
const WIDE_INTEGER: &str =
    "A JSON string of decimal digits in data.json (many JSON readers lose digits of big numbers)";
const FLOAT: &str = "A JSON number in data.json; NaN and infinities as the strings \"NaN\", \"Infinity\", \"-Infinity\"";

register_json! {
    bool: "`true` or `false` in data.json";
    i8: INTEGER;
    i16: INTEGER;
    i32: INTEGER;
    i64: INTEGER;
    i128: WIDE_INTEGER;
    u8: INTEGER;
    u16: INTEGER;
    u32: INTEGER;
    u64: INTEGER;
    u128: WIDE_INTEGER;
    f32: FLOAT;
    f64: FLOAT;
    String: "A JSON string in data.json";
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;

    use serde::Deserialize;

    use super::*;
    use crate::{DefaultMaterializer, load, save};

    /// Saves `value` with its default materializer into a fresh folder and loads it back.
    fn round_trip<T: DefaultMaterializer>(value: &T) -> T {
        let dir = tempfile::tempdir().unwrap();
        save(value, dir.path()).unwrap();
        load(dir.path()).unwrap()
    }

    /// The text `value` is saved as.
    fn saved_text<T: DefaultMaterializer>(value: &T) -> String {
        let dir = tempfile::tempdir().unwrap();
        save(value, dir.path()).unwrap();
        fs::read_to_string(dir.path().join("data.json")).unwrap()
    }

    /// Loads a `T` from a `data.json` holding `text`.
    fn load_text<T: DefaultMaterializer>(text: &str) -> Result<T, MaterializerError> {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("data.json"), text).unwrap();
        load(dir.path())
    }

    macro_rules! check_integers {
        ($($ty:ty),+) => {$(
            for value in [0 as $ty, 1 as $ty, <$ty>::MIN, <$ty>::MAX] {
                assert_eq!(round_trip(&value), value, "{}", stringify!($ty));
            }
        )+};
    }

    #[test]
    fn integers_round_trip_at_their_limits() {
        check_integers!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128);
        assert_eq!(round_trip(&-1i128), -1);
        assert_eq!(saved_text(&u64::MAX), "18446744073709551615\n");
        assert_eq!(
            saved_text(&i128::MIN),
            "\"-170141183460469231731687303715884105728\"\n"
        );
        // A hand-written number in range is accepted too.
        assert_eq!(load_text::<u128>("42").unwrap(), 42);
    }

    #[test]
    fn bools_and_strings_round_trip() {
        assert!(round_trip(&true));
        assert!(!round_trip(&false));
        for s in [
            "",
            "NaN",
            "Infinity",
            "\"quoted\"\n\ttabbed \\ back",
            "ünïcødé 🦀",
        ] {
            assert_eq!(round_trip(&s.to_owned()), s);
        }
        assert_eq!(saved_text(&"NaN".to_owned()), "\"NaN\"\n");
    }

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            0.1,
            -2.5e-300,
            f64::MIN,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::from_bits(1),
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for x in specials {
            assert_eq!(round_trip(&x).to_bits(), x.to_bits(), "{x:e}");
            let y = x as f32;
            assert_eq!(round_trip(&y).to_bits(), y.to_bits(), "{y:e}");
        }
        for y in [f32::MIN, f32::MAX, f32::MIN_POSITIVE, f32::from_bits(1)] {
            assert_eq!(round_trip(&y).to_bits(), y.to_bits(), "{y:e}");
        }
        // Pseudo-random bit patterns cover the whole range.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..500 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state);
            let y = f32::from_bits((state >> 32) as u32);
            if x.is_finite() {
                assert_eq!(round_trip(&x).to_bits(), x.to_bits(), "{x:e}");
            }
            if y.is_finite() {
                assert_eq!(round_trip(&y).to_bits(), y.to_bits(), "{y:e}");
            }
        }
    }

    #[test]
    fn non_finite_floats_are_stored_as_named_strings() {
        assert!(round_trip(&f64::NAN).is_nan());
        assert!(round_trip(&f32::NAN).is_nan());
        assert_eq!(round_trip(&f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert_eq!(saved_text(&f64::NAN), "\"NaN\"\n");
        assert_eq!(saved_text(&f32::INFINITY), "\"Infinity\"\n");
        assert_eq!(saved_text(&f64::NEG_INFINITY), "\"-Infinity\"\n");
        assert_eq!(saved_text(&0.1f32), "0.1\n");
    }

    #[test]
    fn mismatched_or_corrupt_data_is_a_clear_error() {
        let err = load_text::<u8>("300").unwrap_err().to_string();
        assert!(
            err.contains("materializer `zenml.json` cannot load a value of type `u8`")
                && err.contains("300"),
            "{err}"
        );
        let err = load_text::<i32>("\"hello\"").unwrap_err().to_string();
        assert!(err.contains("`i32`") && err.contains("zenml.json"), "{err}");
        let err = load_text::<String>("{not json").unwrap_err().to_string();
        assert!(
            err.contains("`alloc::string::String`") && err.contains("not valid JSON"),
            "{err}"
        );
        let err = load_text::<bool>("").unwrap_err().to_string();
        assert!(err.contains("`bool`"), "{err}");

        let err = load_text::<f64>("\"banana\"").unwrap_err().to_string();
        assert!(err.contains("`f64`") && err.contains("\"banana\""), "{err}");
        let err = load_text::<f64>("NaN").unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        let err = load_text::<f32>("1e39").unwrap_err().to_string();
        assert!(err.contains("out of range for f32"), "{err}");
        let err = load_text::<f64>("[1.0]").unwrap_err().to_string();
        assert!(err.contains("found an array"), "{err}");

        let err = load_text::<i128>("\"12x\"").unwrap_err().to_string();
        assert!(err.contains("`i128`") && err.contains("`12x`"), "{err}");
        let err = load_text::<u128>("\"-1\"").unwrap_err().to_string();
        assert!(err.contains("range of u128"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("data.json"), [0xff, 0xfe]).unwrap();
        let err = load::<u32>(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn a_missing_file_or_a_folder_in_its_place_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load::<u8>(dir.path()).unwrap_err();
        assert!(matches!(err, MaterializerError::MissingFile { .. }));
        assert!(err.to_string().contains("the folder is empty"), "{err}");
        fs::create_dir(dir.path().join("data.json")).unwrap();
        let err = load::<u8>(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "1").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("data.json"))
            .unwrap();
        let err = load::<u8>(dir.path()).unwrap_err().to_string();
        assert!(err.contains("link"), "{err}");
    }

    #[test]
    fn saving_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        save(&1u8, dir.path()).unwrap();
        assert!(matches!(
            save(&2u8, dir.path()),
            Err(MaterializerError::Io { .. })
        ));
        assert_eq!(load::<u8>(dir.path()).unwrap(), 1);
    }

    #[test]
    fn serde_types_can_use_it_too() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Metrics {
            loss: f64,
            steps: Vec<u32>,
        }
        let value = Metrics {
            loss: 0.25,
            steps: vec![1, 2],
        };
        let dir = tempfile::tempdir().unwrap();
        let materializer = JsonMaterializer::<Metrics>::new();
        materializer.save(&value, dir.path()).unwrap();
        assert_eq!(materializer.load(dir.path()).unwrap(), value);

        // JSON object keys are strings: serde_json refuses other keys, and so does save.
        let map = HashMap::from([((1, 2), 3)]);
        let dir = tempfile::tempdir().unwrap();
        let err = JsonMaterializer::new().save(&map, dir.path()).unwrap_err();
        assert!(
            matches!(err, MaterializerError::Unsupported { .. }),
            "{err}"
        );
    }

    #[test]
    fn registrations_match_the_materializers() {
        fn check<T: DefaultMaterializer>() {
            let m = T::Materializer::default();
            let all = crate::registered();
            let name = type_name::<T>();
            let short = name.rsplit("::").next().unwrap_or(name);
            let d = all
                .iter()
                .find(|d| d.rust_type == short)
                .unwrap_or_else(|| panic!("{short} is not registered"));
            assert_eq!((d.id, d.version), (m.id(), m.version()), "{short}");
        }
        check::<bool>();
        check::<i8>();
        check::<i16>();
        check::<i32>();
        check::<i64>();
        check::<i128>();
        check::<u8>();
        check::<u16>();
        check::<u32>();
        check::<u64>();
        check::<u128>();
        check::<f32>();
        check::<f64>();
        check::<String>();
    }
}
