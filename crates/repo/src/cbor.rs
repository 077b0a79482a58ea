//! Strict DAG-CBOR decoding and canonical encoding of atproto data.
//!
//! Decoding rejects what the atproto data model forbids (non-canonical map key order, duplicate
//! keys, non-minimal integers, indefinite lengths, floats); encoding always produces the
//! canonical form, so the bytes of a value are unique.

use serde::{de::DeserializeOwned, Serialize};

/// Why bytes could not be decoded as, or a value encoded to, atproto DAG-CBOR.
#[derive(Debug, thiserror::Error)]
pub enum CborError {
    /// The bytes are not strict DAG-CBOR of the expected shape.
    #[error("invalid DAG-CBOR: {0}")]
    Decode(String),
    /// The value could not be encoded.
    #[error("cannot encode DAG-CBOR: {0}")]
    Encode(String),
}

/// Decodes one complete DAG-CBOR value from `bytes`; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CborError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CborError::Decode(e.to_string()))
}

/// Encodes `value` as canonical DAG-CBOR.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CborError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| CborError::Encode(e.to_string()))
}
