//! JSON without dependencies: the request, SQL parameters and rows, lists and responses.
//!
//! [`Json`] is a parsed document. Objects keep their members in order; numbers keep their
//! text, so an integer of any size survives a round trip. `Display` writes compact JSON.
//!
//! ```
//! use pyjinn::Json;
//! let note = Json::object(vec![("id", Json::from(7)), ("tags", Json::array(vec!["a".into()]))]);
//! assert_eq!(note.to_string(), r#"{"id":7,"tags":["a"]}"#);
//! assert_eq!(Json::parse(r#"{"n": 12}"#).unwrap().get("n").and_then(Json::as_i64), Some(12));
//! ```

use std::fmt::{self, Write};

use crate::base64;

mod parse;

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; a repeated name is kept as it came.
    Object(Vec<(String, Json)>),
}

/// A JSON number, kept as its text (always valid JSON number syntax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number(pub(crate) String);

impl Number {
    /// The number as an `i64`, if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The number as a `u64`, if it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The number as an `f64` (the nearest one).
    pub fn as_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }

    /// The number's JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a text is not JSON, and where (a byte offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

impl Json {
    /// Parse one JSON document (whitespace around it is allowed).
    pub fn parse(text: &str) -> Result<Json, ParseError> {
        parse::document(text)
    }

    /// Parse JSON from bytes, which must be UTF-8.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Json, ParseError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Json::parse(text),
            Err(error) => Err(ParseError { offset: error.valid_up_to(), message: "not UTF-8" }),
        }
    }

    /// An object from (name, value) pairs, in their order.
    pub fn object<K: Into<String>>(members: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(members.into_iter().map(|(name, value)| (name.into(), value)).collect())
    }

    /// An array of values.
    pub fn array(items: impl IntoIterator<Item = Json>) -> Json {
        Json::Array(items.into_iter().collect())
    }

    /// Bytes as the host's SQL layer takes and gives them: `{"base64": "..."}`.
    pub fn bytes(data: &[u8]) -> Json {
        Json::object(vec![("base64", Json::String(base64::encode(data)))])
    }

    /// The member `name` of an object (the first, if repeated).
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(key, _)| key == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(number) => number.as_i64(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(number) => number.as_u64(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(number) => Some(number.as_f64()),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The bytes of a `{"base64": "..."}` value (how SQL rows carry blobs).
    pub fn as_bytes(&self) -> Option<Vec<u8>> {
        match self.as_object() {
            Some([(name, Json::String(text))]) if name == "base64" => base64::decode(text),
            _ => None,
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(value) => f.write_str(if *value { "true" } else { "false" }),
            Json::Number(number) => f.write_str(&number.0),
            Json::String(text) => write_string(f, text),
            Json::Array(items) => {
                f.write_char('[')?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_char(',')?;
                    }
                    item.fmt(f)?;
                }
                f.write_char(']')
            }
            Json::Object(members) => {
                f.write_char('{')?;
                for (index, (name, value)) in members.iter().enumerate() {
                    if index > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, name)?;
                    f.write_char(':')?;
                    value.fmt(f)?;
                }
                f.write_char('}')
            }
        }
    }
}

/// Write `text` as a quoted JSON string: quotes, backslashes and control characters escaped.
pub(crate) fn write_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.write_str(&text[start..index])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_str(escape)?;
        }
        start = index + c.len_utf8();
    }
    out.write_str(&text[start..])?;
    out.write_char('"')
}

macro_rules! from_integer {
    ($($kind:ty),*) => {$(
        impl From<$kind> for Json {
            fn from(value: $kind) -> Json {
                Json::Number(Number(value.to_string()))
            }
        }
    )*};
}

from_integer!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<f64> for Json {
    /// A finite number; NaN and the infinities, which JSON cannot hold, become `null`.
    fn from(value: f64) -> Json {
        if value.is_finite() {
            // Debug formatting is the shortest text that reads back as the same f64.
            Json::Number(Number(format!("{value:?}")))
        } else {
            Json::Null
        }
    }
}

impl From<bool> for Json {
    fn from(value: bool) -> Json {
        Json::Bool(value)
    }
}

impl From<&str> for Json {
    fn from(value: &str) -> Json {
        Json::String(value.to_string())
    }
}

impl From<String> for Json {
    fn from(value: String) -> Json {
        Json::String(value)
    }
}

impl From<Vec<Json>> for Json {
    fn from(items: Vec<Json>) -> Json {
        Json::Array(items)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }
}
