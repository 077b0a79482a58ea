//! Decoding entry points: typed serde decoding ([`decode`]) and the strict atproto value decoder
//! ([`decode_atproto_value`]) with its [`DecodeOptions`].

use ipld_core::ipld::Ipld;
use serde::de::DeserializeOwned;

use super::{check_atproto_bytes, check_data_model, CborError};

/// Deepest nesting of lists and maps [`decode_atproto_value`] accepts by default.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Limits and switches for [`decode_atproto_value_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Deepest nesting of lists and maps accepted.
    pub max_depth: usize,
    /// Accept any well-formed CID in links, not only the atproto forms (CIDv1, dag-cbor or raw,
    /// sha2-256). Records may keep unusual links, which relays should tolerate.
    pub any_cid_form: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_depth: DEFAULT_MAX_DEPTH,
            any_cid_form: false,
        }
    }
}

/// Decodes one complete DAG-CBOR value from `bytes`; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CborError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CborError::Decode(e.to_string()))
}

/// Decodes untrusted bytes as one atproto data value with the default [`DecodeOptions`]:
/// canonical key order, string keys, minimal integers within `i64`, no floats, no indefinite
/// lengths, no tags but 42, CID links of the atproto forms, nesting at most
/// [`DEFAULT_MAX_DEPTH`], and the value-level rules of [`check_data_model`].
pub fn decode_atproto_value(bytes: &[u8]) -> Result<Ipld, CborError> {
    decode_atproto_value_with(bytes, &DecodeOptions::default())
}

/// Like [`decode_atproto_value`] with explicit options.
pub fn decode_atproto_value_with(bytes: &[u8], options: &DecodeOptions) -> Result<Ipld, CborError> {
    check_atproto_bytes(bytes, options)?;
    let value: Ipld = decode(bytes)?;
    check_data_model(&value)?;
    Ok(value)
}
