//! The byte-level rule checker: walks raw DAG-CBOR without building a value and rejects what the
//! atproto data model forbids, naming the rule and the byte offset.

use super::{CborError, DecodeOptions};
use crate::cid::{check_cid_form, Cid};

/// Checks that `bytes` hold exactly one DAG-CBOR value obeying the atproto byte-level rules,
/// without building the value. [`decode_atproto_value_with`](super::decode_atproto_value_with) runs
/// this first.
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

use super::major::{ARRAY, BYTES, MAP, NEGATIVE, SIMPLE, TAG, TEXT, UNSIGNED};

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
