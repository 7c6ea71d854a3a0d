//! Objects only: a serde-derived struct also accepts a JSON array of its fields in
//! order (`"lag": ["n0", 5]`), which scenario files do not allow. Raw structs derive
//! `Deserialize` with `#[serde(remote = "Self")]`, which makes the derived code an
//! inherent function, and [`objects_only!`] implements the trait by calling it through
//! [`ObjectOnly`], which asks the format for a map.
//!
//! Strings only: a serde-derived enum of names (`replication`, a protocol `kind`) also
//! accepts `{"sync": null}`, and answers other JSON types with a syntax error ("expected
//! value") at valid JSON. [`from_string`] (a `deserialize_with` function) and [`Named`]
//! read such an enum only from a string.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _, IntoDeserializer, MapAccess, Visitor};

/// Wraps a deserializer so that a struct is read only from a JSON object.
pub(super) struct ObjectOnly<D>(pub(super) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(ObjectVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A struct's visitor that takes only a map, and says "an object" when it gets another
/// type (the JSON path names which object).
struct ObjectVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for ObjectVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
}

/// Implements `Deserialize` for structs derived with `#[serde(remote = "Self")]`,
/// reading them only from JSON objects.
macro_rules! objects_only {
    ($($ty:ident),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $ty::deserialize($crate::scenario::objects::ObjectOnly(deserializer))
            }
        }
    )*};
}

pub(super) use objects_only;

/// Reads an enum of unit variants from a JSON string only (a `deserialize_with`
/// function): another type is "invalid type: ..., expected a string", an unknown name
/// "unknown variant `x`, expected one of ...".
pub(super) fn from_string<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let name = deserializer.deserialize_str(StringVisitor)?;
    let named: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        name.as_str().into_deserializer();
    T::deserialize(named).map_err(D::Error::custom)
}

/// An enum of unit variants read by [`from_string`], for places that cannot take a
/// `deserialize_with` (list elements, a tag read by hand).
pub(super) struct Named<T>(pub(super) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Named<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_string(deserializer).map(Named)
    }
}

/// [`from_string`] for a list.
pub(super) fn from_strings<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let named: Vec<Named<T>> = Vec::deserialize(deserializer)?;
    Ok(named.into_iter().map(|Named(value)| value).collect())
}

struct StringVisitor;

impl Visitor<'_> for StringVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }
}
