//! Objects whose shape is chosen by a tag field (`protocol.kind`, a distribution's
//! `dist`), deserialized so that errors keep their exact JSON path.
//!
//! serde's own internally tagged enums buffer the whole object before choosing the
//! variant, which loses the path of every error inside it (`$.protocol` instead of
//! `$.protocol.w`). Here the tag is read first when it is the object's first field (the
//! usual way to write it), and the rest of the object streams straight into the chosen
//! variant's struct, so serde_path_to_error sees every value. When other fields come
//! before the tag they are buffered as JSON values and replayed, each deserialized under
//! its own path tracker. Keys are handed to the variant's struct as strings, so errors
//! about a key (an unknown field, a repeated tag) and errors inside buffered values carry
//! their path in the message (see [`super::error::MARK`]).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::error::{mark, push_key, push_segments};
use super::objects::Named;

/// A type made of variants chosen by a tag field.
pub(super) trait Tagged: Sized {
    /// The tag field's name.
    const TAG: &'static str;
    /// What the value should be, for "invalid type" messages.
    const EXPECTING: &'static str;
    /// The tag's value: a unit-variant enum, so an unknown tag lists the known ones.
    type Kind: DeserializeOwned;

    /// Deserializes the fields other than the tag as variant `kind`.
    fn variant<'de, D: Deserializer<'de>>(kind: Self::Kind, rest: D) -> Result<Self, D::Error>;
}

/// Deserializes a [`Tagged`] value.
pub(super) fn deserialize<'de, T: Tagged, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(TaggedVisitor(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut buffered = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == T::TAG {
                let Named(kind) = map.next_value::<Named<T::Kind>>()?;
                let rest = Replay {
                    tag: T::TAG,
                    buffered: buffered.into_iter(),
                    pending: None,
                    rest: map,
                };
                return T::variant(kind, MapAccessDeserializer::new(rest));
            }
            let value: Value = map.next_value()?;
            buffered.push((key, value));
        }
        Err(de::Error::missing_field(T::TAG))
    }
}

/// The fields of a tagged object other than its tag: those buffered before the tag,
/// then the rest of the stream.
struct Replay<A> {
    tag: &'static str,
    buffered: std::vec::IntoIter<(String, Value)>,
    pending: Option<(String, Value)>,
    rest: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let key = match self.buffered.next() {
            Some((key, value)) => {
                self.pending = Some((key.clone(), value));
                key
            }
            None => match self.rest.next_key::<String>()? {
                Some(key) => key,
                None => return Ok(None),
            },
        };
        // Errors about the key itself (an unknown or repeated field) name it in the path,
        // as serde_path_to_error does for ordinary structs.
        let in_path = |error: A::Error| {
            let mut relative = String::new();
            push_key(&mut relative, &key);
            de::Error::custom(mark(&relative, &error.to_string()))
        };
        if key == self.tag {
            return Err(in_path(de::Error::duplicate_field(self.tag)));
        }
        seed.deserialize(StringDeserializer::<A::Error>::new(key.clone()))
            .map(Some)
            .map_err(in_path)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let Some((key, value)) = self.pending.take() else {
            return self.rest.next_value_seed(seed);
        };
        let mut track = serde_path_to_error::Track::new();
        let result = seed.deserialize(serde_path_to_error::Deserializer::new(value, &mut track));
        result.map_err(|error| {
            let mut relative = String::new();
            push_key(&mut relative, &key);
            push_segments(&mut relative, &track.path());
            de::Error::custom(mark(&relative, &error.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::super::error::{ROOT, split_marked};
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Circle {
        radius: u32,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rect {
        width: u32,
        height: u32,
    }

    #[derive(Debug, PartialEq)]
    enum Shape {
        Circle(Circle),
        Rect(Rect),
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum ShapeKind {
        Circle,
        Rect,
    }

    impl Tagged for Shape {
        const TAG: &'static str = "shape";
        const EXPECTING: &'static str = "a shape";
        type Kind = ShapeKind;

        fn variant<'de, D: Deserializer<'de>>(kind: ShapeKind, rest: D) -> Result<Self, D::Error> {
            match kind {
                ShapeKind::Circle => Circle::deserialize(rest).map(Shape::Circle),
                ShapeKind::Rect => Rect::deserialize(rest).map(Shape::Rect),
            }
        }
    }

    impl<'de> Deserialize<'de> for Shape {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d)
        }
    }

    #[derive(Debug, Deserialize)]
    struct Drawing {
        #[allow(dead_code)]
        shapes: Vec<Shape>,
    }

    /// The rendered path and message of parsing `json` as a [`Drawing`].
    fn error(json: &str) -> (String, String) {
        let mut de = serde_json::Deserializer::from_str(json);
        let error = serde_path_to_error::deserialize::<_, Drawing>(&mut de).unwrap_err();
        let mut path = ROOT.to_owned();
        push_segments(&mut path, error.path());
        let message = error.inner().to_string();
        let message = split_marked(&mut path, &message).to_owned();
        (path, message)
    }

    #[test]
    fn the_tag_may_come_anywhere() {
        let shapes: Vec<Shape> = serde_json::from_str(
            r#"[{"shape":"circle","radius":1},{"width":2,"shape":"rect","height":3}]"#,
        )
        .unwrap();
        assert_eq!(
            shapes,
            [
                Shape::Circle(Circle { radius: 1 }),
                Shape::Rect(Rect {
                    width: 2,
                    height: 3
                })
            ]
        );
    }

    #[test]
    fn errors_keep_their_path_wherever_the_tag_is() {
        let (path, message) = error(r#"{"shapes":[{"shape":"rect","width":2,"height":"x"}]}"#);
        assert_eq!(path, "$.shapes[0].height");
        assert!(
            message.starts_with("invalid type: string \"x\""),
            "{message}"
        );
        let (path, message) = error(r#"{"shapes":[{"width":"x","shape":"rect","height":1}]}"#);
        assert_eq!(path, "$.shapes[0].width");
        assert!(
            message.starts_with("invalid type: string \"x\""),
            "{message}"
        );
    }

    #[test]
    fn unknown_tags_and_fields_are_named() {
        let (path, message) = error(r#"{"shapes":[{"shape":"blob"}]}"#);
        assert_eq!(path, "$.shapes[0].shape");
        assert!(message.starts_with("unknown variant `blob`, expected `circle` or `rect`"));
        let (path, message) = error(r#"{"shapes":[{"radius":1}]}"#);
        assert_eq!(path, "$.shapes[0]");
        assert!(message.starts_with("missing field `shape`"), "{message}");
        let (path, message) = error(r#"{"shapes":[{"shape":"circle","radius":1,"r":2}]}"#);
        assert_eq!(path, "$.shapes[0].r");
        assert!(
            message.starts_with("unknown field `r`, expected `radius`"),
            "{message}"
        );
        let (path, message) = error(r#"{"shapes":[{"shape":"rect","shape":"circle"}]}"#);
        assert_eq!(path, "$.shapes[0].shape");
        assert!(message.starts_with("duplicate field `shape`"), "{message}");
        let (path, message) = error(r#"{"shapes":[{"r":2,"shape":"circle","radius":1}]}"#);
        assert_eq!(path, "$.shapes[0].r");
        assert!(
            message.starts_with("unknown field `r`, expected `radius`"),
            "{message}"
        );
    }
}
