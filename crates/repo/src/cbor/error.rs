//! The error types of the DAG-CBOR codec: [`CborError`] for byte-level and codec failures, with
//! the byte offset where a rule was broken, and [`DataModelError`] for value-level rules.

use crate::cid::CidError;

/// Why bytes could not be decoded as, or a value encoded to, atproto DAG-CBOR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The bytes are not strict DAG-CBOR of the expected shape (reported by `serde_ipld_dagcbor`).
    #[error("invalid DAG-CBOR: {0}")]
    Decode(String),
    /// The value could not be encoded.
    #[error("cannot encode DAG-CBOR: {0}")]
    Encode(String),
    /// The input ends in the middle of a value.
    #[error("DAG-CBOR truncated at byte {offset}")]
    Truncated {
        /// Offset of the value that could not be completed.
        offset: usize,
    },
    /// Bytes follow the one complete value.
    #[error("trailing bytes after the DAG-CBOR value, from byte {offset}")]
    TrailingBytes {
        /// Offset of the first byte after the value.
        offset: usize,
    },
    /// An integer or a length is not written in its shortest form.
    #[error("non-minimal integer or length encoding at byte {offset}")]
    NonMinimalInteger {
        /// Offset of the item head.
        offset: usize,
    },
    /// An indefinite-length string, list or map (or a stray "break"), which DAG-CBOR forbids.
    #[error("indefinite-length item at byte {offset}")]
    IndefiniteLength {
        /// Offset of the item head.
        offset: usize,
    },
    /// A floating-point number; atproto data has no floats.
    #[error("floating-point number at byte {offset}; atproto data has no floats")]
    Float {
        /// Offset of the item head.
        offset: usize,
    },
    /// An integer outside the signed 64-bit range atproto allows.
    #[error("integer at byte {offset} is outside the 64-bit signed range")]
    IntegerOutOfRange {
        /// Offset of the item head.
        offset: usize,
    },
    /// A map key that is not a text string.
    #[error("map key at byte {offset} is not a string")]
    NonStringKey {
        /// Offset of the key.
        offset: usize,
    },
    /// Map keys not in DAG-CBOR order (shorter first, then bytewise).
    #[error("map key {key:?} at byte {offset} is out of canonical order")]
    UnsortedKeys {
        /// Offset of the key.
        offset: usize,
        /// The key that came too late.
        key: String,
    },
    /// The same key twice in one map.
    #[error("duplicate map key {key:?} at byte {offset}")]
    DuplicateKey {
        /// Offset of the second occurrence.
        offset: usize,
        /// The repeated key.
        key: String,
    },
    /// A tag other than 42 (CID link).
    #[error("unsupported CBOR tag {tag} at byte {offset}; only tag 42 (CID) is allowed")]
    UnsupportedTag {
        /// Offset of the tag head.
        offset: usize,
        /// The tag number.
        tag: u64,
    },
    /// A tag-42 item that does not hold `0x00` followed by exactly one binary CID.
    #[error("malformed CID link at byte {offset}: {reason}")]
    InvalidCid {
        /// Offset of the tag head.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A well-formed CID link whose form atproto does not allow (version, codec or hash).
    #[error("CID link at byte {offset} is not an allowed form: {source}")]
    DisallowedCid {
        /// Offset of the tag head.
        offset: usize,
        /// Which rule the CID breaks (boxed: a CID is large and errors should stay small).
        source: Box<CidError>,
    },
    /// A text string (value or key) that is not valid UTF-8.
    #[error("text string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the string head.
        offset: usize,
    },
    /// A simple value other than `false`, `true` and `null` (for example `undefined`).
    #[error("unsupported simple value {value} at byte {offset}")]
    UnsupportedSimple {
        /// Offset of the item head.
        offset: usize,
        /// The simple value number.
        value: u64,
    },
    /// A head with additional information 28 to 30, which CBOR reserves.
    #[error("reserved additional information in item head at byte {offset}")]
    ReservedHead {
        /// Offset of the item head.
        offset: usize,
    },
    /// Lists and maps nest deeper than the limit.
    #[error("nesting deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// Offset of the list or map that went too deep.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// The value is well-formed DAG-CBOR but breaks a rule of the atproto data model.
    #[error(transparent)]
    DataModel(#[from] DataModelError),
}

/// A value-level rule of the atproto data model that a decoded value breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataModelError {
    /// A `$type` field that is not a string.
    #[error("$type field must be a string")]
    TypeNotString,
    /// A `$type` field that is the empty string.
    #[error("$type field must not be empty")]
    EmptyType,
    /// An object with `$type: "blob"` that is not `{$type, ref, mimeType, size}` of the right types.
    #[error("malformed blob: {0}")]
    InvalidBlob(&'static str),
    /// A legacy blob `{cid, mimeType}` whose fields have the wrong types.
    #[error("malformed legacy blob: {0}")]
    InvalidLegacyBlob(&'static str),
    /// A floating-point number.
    #[error("floating-point number; atproto data has no floats")]
    Float,
    /// An integer outside the signed 64-bit range.
    #[error("integer {0} is outside the 64-bit signed range")]
    IntegerOutOfRange(i128),
}
