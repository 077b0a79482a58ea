//! Canonical DAG-CBOR writing: typed serde encoding ([`encode`]) and atproto values with the
//! data-model checks ([`encode_atproto_value`]).

use ipld_core::ipld::Ipld;
use serde::Serialize;

use super::{CborError, DataModelError, DEFAULT_MAX_DEPTH};

/// Encodes `value` as canonical DAG-CBOR.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CborError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| CborError::Encode(e.to_string()))
}

/// Encodes an atproto data value canonically, refusing floats and integers outside `i64`.
pub fn encode_atproto_value(value: &Ipld) -> Result<Vec<u8>, CborError> {
    check_encodable(value, 0)?;
    encode(value)
}

fn check_encodable(value: &Ipld, depth: usize) -> Result<(), CborError> {
    if depth > DEFAULT_MAX_DEPTH {
        return Err(CborError::Encode(format!(
            "nesting deeper than {DEFAULT_MAX_DEPTH} levels"
        )));
    }
    match value {
        Ipld::Float(_) => Err(DataModelError::Float.into()),
        Ipld::Integer(i) if i64::try_from(*i).is_err() => {
            Err(DataModelError::IntegerOutOfRange(*i).into())
        }
        Ipld::List(items) => items
            .iter()
            .try_for_each(|item| check_encodable(item, depth + 1)),
        Ipld::Map(map) => map
            .values()
            .try_for_each(|item| check_encodable(item, depth + 1)),
        _ => Ok(()),
    }
}
