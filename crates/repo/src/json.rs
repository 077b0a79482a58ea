//! The atproto JSON form of data-model values, to and from [`Ipld`].
//!
//! JSON has no bytes and no links, so atproto writes them as single-key objects:
//! `{"$link": "bafy…"}` is a CID link and `{"$bytes": "<base64, standard alphabet, no padding>"}`
//! is a byte string. Everything else maps naturally. Numbers must be integers within `i64`;
//! a float with an integral value (such as `123.0`) is read as that integer, as JavaScript
//! cannot tell the two apart, and any other float is refused.
//!
//! The value-level rules of the data model ([`crate::cbor::check_data_model`]: `$type` and blob
//! shapes) are checked on the way in, so JSON that [`json_to_ipld`] accepts encodes to DAG-CBOR
//! that [`crate::cbor::decode_atproto_value`] accepts (given allowed CID forms).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use data_encoding::BASE64_NOPAD;
use ipld_core::ipld::Ipld;
use serde_json::{Map, Number, Value};

use crate::cbor::{check_data_model, DataModelError, DEFAULT_MAX_DEPTH};
use crate::cid::Cid;

/// Why a JSON value is not atproto data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// A number with a fractional part (or not finite); atproto data has no floats.
    #[error("number {0} is not an integer; atproto data has no floats")]
    Float(String),
    /// An integer outside the signed 64-bit range.
    #[error("integer {0} is outside the 64-bit signed range")]
    IntegerOutOfRange(String),
    /// A `$link` object that is not exactly `{"$link": "<CID string>"}`.
    #[error("invalid $link object: {0}")]
    InvalidLink(String),
    /// A `$bytes` object that is not exactly `{"$bytes": "<base64 without padding>"}`.
    #[error("invalid $bytes object: {0}")]
    InvalidBytes(String),
    /// A value-level rule of the data model is broken (`$type`, blob shape).
    #[error(transparent)]
    DataModel(#[from] DataModelError),
    /// Arrays and objects nest deeper than [`DEFAULT_MAX_DEPTH`].
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// The top-level value is not an object, where a record or message was expected.
    #[error("top-level value is not an object")]
    NotAnObject,
}

/// Converts atproto JSON to a data-model value, checking the data-model rules.
pub fn json_to_ipld(value: &Value) -> Result<Ipld, JsonError> {
    let ipld = convert(value, 0)?;
    check_data_model(&ipld)?;
    Ok(ipld)
}

/// Converts atproto JSON that must be an object (a record, or a message body) to a data-model
/// map, checking the data-model rules.
pub fn json_to_object(value: &Value) -> Result<BTreeMap<String, Ipld>, JsonError> {
    match json_to_ipld(value)? {
        Ipld::Map(map) if value.is_object() => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

/// Converts a data-model value to atproto JSON: bytes become `{"$bytes": …}` (base64 without
/// padding), links become `{"$link": …}`. A float (which atproto data never holds) is written as
/// a JSON number when finite and as `null` otherwise.
pub fn ipld_to_json(value: &Ipld) -> Value {
    match value {
        Ipld::Null => Value::Null,
        Ipld::Bool(b) => Value::Bool(*b),
        Ipld::Integer(i) => integer_to_json(*i),
        Ipld::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Ipld::String(s) => Value::String(s.clone()),
        Ipld::Bytes(bytes) => single("$bytes", BASE64_NOPAD.encode(bytes)),
        Ipld::List(items) => Value::Array(items.iter().map(ipld_to_json).collect()),
        Ipld::Map(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), ipld_to_json(item)))
                .collect(),
        ),
        Ipld::Link(cid) => single("$link", cid.to_string()),
    }
}

fn single(key: &str, text: String) -> Value {
    let mut object = Map::new();
    object.insert(key.to_owned(), Value::String(text));
    Value::Object(object)
}

fn integer_to_json(i: i128) -> Value {
    if let Ok(small) = i64::try_from(i) {
        Value::Number(small.into())
    } else if let Ok(unsigned) = u64::try_from(i) {
        Value::Number(unsigned.into())
    } else {
        // Outside what JSON numbers carry exactly; atproto data never holds such integers.
        Number::from_f64(i as f64).map_or(Value::Null, Value::Number)
    }
}

fn convert(value: &Value, depth: usize) -> Result<Ipld, JsonError> {
    match value {
        Value::Null => Ok(Ipld::Null),
        Value::Bool(b) => Ok(Ipld::Bool(*b)),
        Value::Number(n) => number(n),
        Value::String(s) => Ok(Ipld::String(s.clone())),
        Value::Array(items) => {
            if depth >= DEFAULT_MAX_DEPTH {
                return Err(JsonError::TooDeep(DEFAULT_MAX_DEPTH));
            }
            items
                .iter()
                .map(|item| convert(item, depth + 1))
                .collect::<Result<_, _>>()
                .map(Ipld::List)
        }
        Value::Object(object) => {
            if depth >= DEFAULT_MAX_DEPTH {
                return Err(JsonError::TooDeep(DEFAULT_MAX_DEPTH));
            }
            if object.contains_key("$link") {
                return link(object).map(Ipld::Link);
            }
            if object.contains_key("$bytes") {
                return bytes(object).map(Ipld::Bytes);
            }
            object
                .iter()
                .map(|(key, item)| Ok((key.clone(), convert(item, depth + 1)?)))
                .collect::<Result<_, _>>()
                .map(Ipld::Map)
        }
    }
}

fn number(n: &Number) -> Result<Ipld, JsonError> {
    if let Some(i) = n.as_i64() {
        return Ok(Ipld::Integer(i.into()));
    }
    if n.is_u64() {
        return Err(JsonError::IntegerOutOfRange(n.to_string()));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // 2^63 is exactly representable; i64 covers [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() || f.fract() != 0.0 {
        return Err(JsonError::Float(n.to_string()));
    }
    if !(-LIMIT..LIMIT).contains(&f) {
        return Err(JsonError::IntegerOutOfRange(n.to_string()));
    }
    Ok(Ipld::Integer(i128::from(f as i64)))
}

fn link(object: &Map<String, Value>) -> Result<Cid, JsonError> {
    if object.len() != 1 {
        return Err(JsonError::InvalidLink("extra fields beside $link".into()));
    }
    let Some(Value::String(text)) = object.get("$link") else {
        return Err(JsonError::InvalidLink("$link is not a string".into()));
    };
    Cid::try_from(text.as_str()).map_err(|e| JsonError::InvalidLink(format!("{text:?}: {e}")))
}

fn bytes(object: &Map<String, Value>) -> Result<Vec<u8>, JsonError> {
    if object.len() != 1 {
        return Err(JsonError::InvalidBytes("extra fields beside $bytes".into()));
    }
    let Some(Value::String(text)) = object.get("$bytes") else {
        return Err(JsonError::InvalidBytes("$bytes is not a string".into()));
    };
    BASE64_NOPAD
        .decode(text.as_bytes())
        .map_err(|e| JsonError::InvalidBytes(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers() {
        assert_eq!(json_to_ipld(&json!(123.0)), Ok(Ipld::Integer(123)));
        assert_eq!(json_to_ipld(&json!(-5)), Ok(Ipld::Integer(-5)));
        assert!(matches!(
            json_to_ipld(&json!(1.5)),
            Err(JsonError::Float(_))
        ));
        assert!(matches!(
            json_to_ipld(&json!(u64::MAX)),
            Err(JsonError::IntegerOutOfRange(_))
        ));
        assert!(matches!(
            json_to_ipld(&json!(1e300)),
            Err(JsonError::IntegerOutOfRange(_))
        ));
    }

    #[test]
    fn bytes_and_links_round_trip() {
        let value = json!({
            "b": {"$bytes": "AQID"},
            "l": {"$link": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},
        });
        let ipld = json_to_ipld(&value).unwrap();
        let Ipld::Map(map) = &ipld else {
            panic!("expected a map, got {ipld:?}")
        };
        assert_eq!(map.get("b"), Some(&Ipld::Bytes(vec![1, 2, 3])));
        assert!(matches!(map.get("l"), Some(Ipld::Link(_))));
        assert_eq!(ipld_to_json(&ipld), value);
        // Padding is not the atproto form.
        assert!(matches!(
            json_to_ipld(&json!({"$bytes": "AQI="})),
            Err(JsonError::InvalidBytes(_))
        ));
    }

    #[test]
    fn depth_is_limited() {
        let mut value = json!(1);
        for _ in 0..(DEFAULT_MAX_DEPTH + 1) {
            value = json!([value]);
        }
        assert_eq!(
            json_to_ipld(&value),
            Err(JsonError::TooDeep(DEFAULT_MAX_DEPTH))
        );
    }
}
