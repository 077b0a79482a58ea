//! The CBOR major types (RFC 8949 §3.1), the first three bits of every item head. One set for
//! the scanner, the writers here and the frame encoder in `atrelay-stream`.

/// Unsigned integer.
pub const UNSIGNED: u8 = 0;
/// Negative integer (`-1 - n`).
pub const NEGATIVE: u8 = 1;
/// Byte string.
pub const BYTES: u8 = 2;
/// UTF-8 text string.
pub const TEXT: u8 = 3;
/// Array of items.
pub const ARRAY: u8 = 4;
/// Map of key/value pairs.
pub const MAP: u8 = 5;
/// Tagged item (DAG-CBOR allows only tag 42, a CID link).
pub const TAG: u8 = 6;
/// Simple values and floats (`false`, `true`, `null`, floats).
pub const SIMPLE: u8 = 7;
