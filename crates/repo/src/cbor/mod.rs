//! Strict DAG-CBOR decoding and canonical encoding of atproto data.
//!
//! Decoding rejects what the atproto data model forbids (non-canonical map key order, duplicate
//! keys, non-minimal integers, indefinite lengths, floats); encoding always produces the
//! canonical form, so the bytes of a value are unique.
//!
//! Two levels are offered:
//! - [`decode`] and [`encode`] map typed serde structures to and from DAG-CBOR with
//!   `serde_ipld_dagcbor`, which is strict already; its errors arrive as [`CborError::Decode`].
//! - [`decode_atproto_value`] decodes untrusted bytes into an [`Ipld`](ipld_core::ipld::Ipld)
//!   value after checking every rule of the atproto data model on the raw bytes first, so that a
//!   rejection names the rule that was broken and the byte offset where it happened (see the
//!   variants of [`CborError`]), and then checks the value-level rules (`$type`, blobs) with
//!   [`check_data_model`].
//!
//! The parts: `decoding` (the decode entry points and [`DecodeOptions`]), `scan` (the byte-level
//! rule checker), `encoding` (canonical writing), `data_model` (the value-level rules) and `error`
//! (the error types).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod data_model;
mod decoding;
mod encoding;
mod error;
mod head;
pub mod major;
mod scan;

pub use data_model::check_data_model;
pub use decoding::{
    decode, decode_atproto_value, decode_atproto_value_with, DecodeOptions, DEFAULT_MAX_DEPTH,
};
pub use encoding::{encode, encode_atproto_value};
pub use error::{CborError, DataModelError};
pub use head::{read_head, write_head};
pub use scan::{check_atproto_bytes, split_first_value};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
