//! Canonical DAG-CBOR writing: typed serde encoding ([`encode`]), atproto values with the
//! data-model checks ([`encode_atproto_value`]), and hand-written item heads ([`write_head`]).

use ipld_core::ipld::Ipld;
use serde::Serialize;

use super::{CborError, DataModelError, DEFAULT_MAX_DEPTH};

/// Appends a CBOR head (major type 0–7 and its argument) in the shortest form, as canonical
/// DAG-CBOR requires. For writers that encode fixed shapes by hand, here and in the wire crate.
pub fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    if arg < 24 {
        out.push(major | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[major | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(major | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(major | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

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
