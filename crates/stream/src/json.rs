//! Frames in the atproto JSON form (`$bytes`, `$link`), as test fixtures and debugging tools
//! write them: a header object `{op, t}` and a body object.

use atrelay_repo::cbor::{self, DecodeOptions};
use atrelay_repo::json::{ipld_to_json, json_to_ipld};
use serde_json::Value;

use crate::error::FrameError;
use crate::frame::{decode_frame, encode_frame};
use crate::message::Message;

/// Builds a message from a JSON header and body, by way of the same strict CBOR decoder as
/// received frames. One normalisation: a `#commit` with `"blobs": null` (how Go's JSON encoder
/// writes an empty list) is read as `[]`, which is how every implementation writes it in CBOR.
pub fn message_from_json(header: &Value, body: &Value) -> Result<Message, FrameError> {
    let mut frame =
        cbor::encode_atproto_value(&json_to_ipld(header)?).map_err(FrameError::HeaderCbor)?;
    let mut body_ipld = json_to_ipld(body)?;
    let is_commit = header.get("t").and_then(Value::as_str) == Some("#commit");
    if let (true, ipld_core::ipld::Ipld::Map(map)) = (is_commit, &mut body_ipld) {
        if let Some(blobs @ ipld_core::ipld::Ipld::Null) = map.get_mut("blobs") {
            *blobs = ipld_core::ipld::Ipld::List(Vec::new());
        }
    }
    let body_bytes = cbor::encode_atproto_value(&body_ipld).map_err(|source| FrameError::Body {
        kind: "JSON",
        source,
    })?;
    frame.extend_from_slice(&body_bytes);
    decode_frame(&frame)
}

/// Writes a message as a JSON header and body (the inverse of [`message_from_json`]).
pub fn message_to_json(message: &Message) -> Result<(Value, Value), FrameError> {
    let frame = encode_frame(message);
    let options = DecodeOptions {
        any_cid_form: true,
        ..DecodeOptions::default()
    };
    let (header, body) =
        cbor::split_first_value(&frame, &options).map_err(FrameError::HeaderCbor)?;
    let header =
        cbor::decode_atproto_value_with(header, &options).map_err(FrameError::HeaderCbor)?;
    let body =
        cbor::decode_atproto_value_with(body, &options).map_err(|source| FrameError::Body {
            kind: "JSON",
            source,
        })?;
    Ok((ipld_to_json(&header), ipld_to_json(&body)))
}
