//! Objects only: a serde-derived struct also accepts a JSON array of its fields in
//! order (`"lag": ["n0", 5]`), which scenario files do not allow. Raw structs derive
//! `Deserialize` with `#[serde(remote = "Self")]`, which makes the derived code an
//! inherent function, and [`objects_only!`] implements the trait by calling it through
//! [`ObjectOnly`], which asks the format for a map.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};

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
