//! The value-level rules of the atproto data model, checked on a decoded value: no floats,
//! `i64` integers, `$type` strings, and the shapes of blobs and legacy blobs.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;

use super::DataModelError;
use crate::cid::Cid;

/// Checks the value-level rules of the atproto data model on a value: no floats, integers within
/// `i64`, every `$type` a non-empty string, every `$type: "blob"` object exactly
/// `{$type, ref: link, mimeType: string, size: integer}`, and every legacy blob `{cid, mimeType}`
/// a pair of strings whose `cid` parses.
pub fn check_data_model(value: &Ipld) -> Result<(), DataModelError> {
    match value {
        Ipld::Float(_) => Err(DataModelError::Float),
        Ipld::Integer(i) if i64::try_from(*i).is_err() => {
            Err(DataModelError::IntegerOutOfRange(*i))
        }
        Ipld::List(items) => items.iter().try_for_each(check_data_model),
        Ipld::Map(map) => {
            check_object(map)?;
            map.values().try_for_each(check_data_model)
        }
        _ => Ok(()),
    }
}

fn check_object(map: &BTreeMap<String, Ipld>) -> Result<(), DataModelError> {
    if let Some(type_value) = map.get("$type") {
        let Ipld::String(type_name) = type_value else {
            return Err(DataModelError::TypeNotString);
        };
        if type_name.is_empty() {
            return Err(DataModelError::EmptyType);
        }
        if type_name == "blob" {
            return check_blob(map);
        }
    }
    if map.len() == 2 && map.contains_key("cid") && map.contains_key("mimeType") {
        let Some(Ipld::String(cid)) = map.get("cid") else {
            return Err(DataModelError::InvalidLegacyBlob("cid is not a string"));
        };
        if Cid::try_from(cid.as_str()).is_err() {
            return Err(DataModelError::InvalidLegacyBlob("cid does not parse"));
        }
        if !matches!(map.get("mimeType"), Some(Ipld::String(_))) {
            return Err(DataModelError::InvalidLegacyBlob(
                "mimeType is not a string",
            ));
        }
    }
    Ok(())
}

fn check_blob(map: &BTreeMap<String, Ipld>) -> Result<(), DataModelError> {
    if map.len() != 4 {
        return Err(DataModelError::InvalidBlob(
            "expected exactly $type, ref, mimeType and size",
        ));
    }
    match map.get("ref") {
        Some(Ipld::Link(_)) => {}
        Some(_) => return Err(DataModelError::InvalidBlob("ref is not a CID link")),
        None => return Err(DataModelError::InvalidBlob("ref is missing")),
    }
    match map.get("mimeType") {
        Some(Ipld::String(_)) => {}
        Some(_) => return Err(DataModelError::InvalidBlob("mimeType is not a string")),
        None => return Err(DataModelError::InvalidBlob("mimeType is missing")),
    }
    match map.get("size") {
        Some(Ipld::Integer(_)) => Ok(()),
        Some(_) => Err(DataModelError::InvalidBlob("size is not an integer")),
        None => Err(DataModelError::InvalidBlob("size is missing")),
    }
}
