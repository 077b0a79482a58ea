//! Strict DAG-CBOR decoding and canonical encoding of atproto data.
//!
//! Decoding rejects what the atproto data model forbids (non-canonical map key order, duplicate
//! keys, non-minimal integers, indefinite lengths, floats); encoding always produces the
//! canonical form, so the bytes of a value are unique.
//!
//! Two levels are offered:
//! - [`decode`] and [`encode`] map typed serde structures to and from DAG-CBOR with
//!   `serde_ipld_dagcbor`, which is strict already; its errors arrive as [`CborError::Decode`].
//! - [`decode_atproto_value`] decodes untrusted bytes into an [`Ipld`] value after checking every
//!   rule of the atproto data model on the raw bytes first, so that a rejection names the rule
//!   that was broken and the byte offset where it happened (see the variants of [`CborError`]),
//!   and then checks the value-level rules (`$type`, blobs) with [`check_data_model`].

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use serde::{de::DeserializeOwned, Serialize};

use crate::cid::{check_cid_form, Cid, CidError};

/// Deepest nesting of lists and maps [`decode_atproto_value`] accepts by default.
pub const DEFAULT_MAX_DEPTH: usize = 64;

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

/// Encodes `value` as canonical DAG-CBOR.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CborError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| CborError::Encode(e.to_string()))
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

/// Checks that `bytes` hold exactly one DAG-CBOR value obeying the atproto byte-level rules,
/// without building the value. [`decode_atproto_value_with`] runs this first.
pub fn check_atproto_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<(), CborError> {
    let mut scanner = Scanner {
        bytes,
        pos: 0,
        options,
    };
    scanner.item(0)?;
    if scanner.pos != bytes.len() {
        return Err(CborError::TrailingBytes {
            offset: scanner.pos,
        });
    }
    Ok(())
}

/// Checks the first DAG-CBOR value in `bytes` by the same rules as [`check_atproto_bytes`] and
/// splits it from what follows. Event-stream frames are two values back to back (header, body).
pub fn split_first_value<'a>(
    bytes: &'a [u8],
    options: &DecodeOptions,
) -> Result<(&'a [u8], &'a [u8]), CborError> {
    let mut scanner = Scanner {
        bytes,
        pos: 0,
        options,
    };
    scanner.item(0)?;
    Ok(bytes.split_at(scanner.pos))
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

/// CBOR major types.
const UNSIGNED: u8 = 0;
const NEGATIVE: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;
const SIMPLE: u8 = 7;

/// The CBOR tag of a CID link.
const CID_TAG: u64 = 42;

/// One decoded item head: major type, argument, and the offset where it started.
struct Head {
    major: u8,
    arg: u64,
    offset: usize,
}

/// Walks raw DAG-CBOR checking the atproto rules without allocating per item.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    options: &'a DecodeOptions,
}

impl<'a> Scanner<'a> {
    /// Reads one item head; rejects reserved, indefinite and non-minimal encodings and floats.
    fn head(&mut self) -> Result<Head, CborError> {
        let offset = self.pos;
        let initial = *self
            .bytes
            .get(offset)
            .ok_or(CborError::Truncated { offset })?;
        self.pos += 1;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == SIMPLE {
            return match info {
                20..=22 => Ok(Head {
                    major,
                    arg: u64::from(info),
                    offset,
                }),
                25..=27 => Err(CborError::Float { offset }),
                24 => {
                    let value = self.take(1, offset)?.first().copied().unwrap_or_default();
                    Err(CborError::UnsupportedSimple {
                        offset,
                        value: u64::from(value),
                    })
                }
                28..=30 => Err(CborError::ReservedHead { offset }),
                31 => Err(CborError::IndefiniteLength { offset }),
                _ => Err(CborError::UnsupportedSimple {
                    offset,
                    value: u64::from(info),
                }),
            };
        }
        let (arg, minimum) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (self.uint(1, offset)?, 24),
            25 => (self.uint(2, offset)?, 0x100),
            26 => (self.uint(4, offset)?, 0x1_0000),
            27 => (self.uint(8, offset)?, 0x1_0000_0000),
            31 => return Err(CborError::IndefiniteLength { offset }),
            _ => return Err(CborError::ReservedHead { offset }),
        };
        if arg < minimum {
            return Err(CborError::NonMinimalInteger { offset });
        }
        Ok(Head { major, arg, offset })
    }

    /// Reads a big-endian unsigned integer of `width` bytes.
    fn uint(&mut self, width: u64, offset: usize) -> Result<u64, CborError> {
        let raw = self.take(width, offset)?;
        Ok(raw
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte)))
    }

    /// Takes `len` bytes, or reports the item starting at `offset` as truncated.
    fn take(&mut self, len: u64, offset: usize) -> Result<&'a [u8], CborError> {
        let remaining = self.bytes.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= remaining)
            .ok_or(CborError::Truncated { offset })?;
        let start = self.pos;
        self.pos += len;
        self.bytes
            .get(start..self.pos)
            .ok_or(CborError::Truncated { offset })
    }

    /// Checks one complete item at nesting `depth`.
    fn item(&mut self, depth: usize) -> Result<(), CborError> {
        let head = self.head()?;
        match head.major {
            UNSIGNED | NEGATIVE => {
                if head.arg > i64::MAX as u64 {
                    return Err(CborError::IntegerOutOfRange {
                        offset: head.offset,
                    });
                }
                Ok(())
            }
            BYTES => self.take(head.arg, head.offset).map(|_| ()),
            TEXT => self.text(&head).map(|_| ()),
            ARRAY => {
                self.enter(depth, &head)?;
                for _ in 0..head.arg {
                    self.item(depth + 1)?;
                }
                Ok(())
            }
            MAP => {
                self.enter(depth, &head)?;
                self.map_entries(&head, depth)
            }
            TAG => self.cid_link(&head),
            // SIMPLE: head() only lets false, true and null through.
            _ => Ok(()),
        }
    }

    fn enter(&self, depth: usize, head: &Head) -> Result<(), CborError> {
        if depth >= self.options.max_depth {
            return Err(CborError::TooDeep {
                offset: head.offset,
                max: self.options.max_depth,
            });
        }
        Ok(())
    }

    /// Reads the payload of a text-string head, checking UTF-8.
    fn text(&mut self, head: &Head) -> Result<&'a str, CborError> {
        let raw = self.take(head.arg, head.offset)?;
        std::str::from_utf8(raw).map_err(|_| CborError::InvalidUtf8 {
            offset: head.offset,
        })
    }

    /// Checks the entries of a map: string keys, strictly increasing in DAG-CBOR order.
    fn map_entries(&mut self, head: &Head, depth: usize) -> Result<(), CborError> {
        let mut previous: Option<&'a str> = None;
        for _ in 0..head.arg {
            let key_head = self.head()?;
            if key_head.major != TEXT {
                return Err(CborError::NonStringKey {
                    offset: key_head.offset,
                });
            }
            let key = self.text(&key_head)?;
            if let Some(previous) = previous {
                let order = previous
                    .len()
                    .cmp(&key.len())
                    .then_with(|| previous.as_bytes().cmp(key.as_bytes()));
                match order {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        return Err(CborError::DuplicateKey {
                            offset: key_head.offset,
                            key: key.to_owned(),
                        })
                    }
                    std::cmp::Ordering::Greater => {
                        return Err(CborError::UnsortedKeys {
                            offset: key_head.offset,
                            key: key.to_owned(),
                        })
                    }
                }
            }
            previous = Some(key);
            self.item(depth + 1)?;
        }
        Ok(())
    }

    /// Checks a tag: only 42 over a byte string `0x00 ++ binary CID` is allowed.
    fn cid_link(&mut self, head: &Head) -> Result<(), CborError> {
        if head.arg != CID_TAG {
            return Err(CborError::UnsupportedTag {
                offset: head.offset,
                tag: head.arg,
            });
        }
        let invalid = |reason: &str| CborError::InvalidCid {
            offset: head.offset,
            reason: reason.to_owned(),
        };
        let inner = self.head()?;
        if inner.major != BYTES {
            return Err(invalid("tag 42 does not wrap a byte string"));
        }
        let raw = self.take(inner.arg, inner.offset)?;
        let Some((&0, mut cid_bytes)) = raw.split_first() else {
            return Err(invalid("missing the 0x00 multibase prefix"));
        };
        let cid = Cid::read_bytes(&mut cid_bytes).map_err(|e| invalid(&e.to_string()))?;
        if !cid_bytes.is_empty() {
            return Err(invalid("bytes after the CID"));
        }
        if !self.options.any_cid_form {
            check_cid_form(&cid).map_err(|source| CborError::DisallowedCid {
                offset: head.offset,
                source: Box::new(source),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn scanner_accepts_what_serde_encodes() {
        let mut map = BTreeMap::new();
        map.insert("bb".to_owned(), Ipld::Integer(-300));
        map.insert("a".to_owned(), Ipld::Bytes(vec![1, 2, 3]));
        map.insert(
            "link".to_owned(),
            Ipld::Link(crate::cid::cid_for_dag_cbor(b"x")),
        );
        map.insert(
            "list".to_owned(),
            Ipld::List(vec![Ipld::Null, Ipld::Bool(true), Ipld::String("é".into())]),
        );
        let value = Ipld::Map(map);
        let bytes = encode_atproto_value(&value).unwrap();
        assert_eq!(decode_atproto_value(&bytes), Ok(value));
    }

    #[test]
    fn split_first_value_finds_the_boundary() {
        let options = DecodeOptions::default();
        let bytes = [0xa1, 0x61, b'a', 0x01, 0x82, 0x01, 0x02];
        let (first, rest) = split_first_value(&bytes, &options).unwrap();
        assert_eq!(first, &bytes[..4]);
        assert_eq!(rest, &bytes[4..]);
        assert_eq!(
            split_first_value(&[0xa1, 0x61], &options),
            Err(CborError::Truncated { offset: 1 })
        );
    }

    #[test]
    fn integer_bounds() {
        // i64::MAX as a uint and i64::MIN as a negint are fine; one more is not.
        let max = [0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode_atproto_value(&max),
            Ok(Ipld::Integer(i64::MAX.into()))
        );
        let min = [0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode_atproto_value(&min),
            Ok(Ipld::Integer(i64::MIN.into()))
        );
        let too_big = [0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            decode_atproto_value(&too_big),
            Err(CborError::IntegerOutOfRange { offset: 0 })
        );
        let too_small = [0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            decode_atproto_value(&too_small),
            Err(CborError::IntegerOutOfRange { offset: 0 })
        );
        assert!(matches!(
            encode_atproto_value(&Ipld::Integer(i128::from(i64::MAX) + 1)),
            Err(CborError::DataModel(DataModelError::IntegerOutOfRange(_)))
        ));
    }
}
