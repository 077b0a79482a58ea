//! Frames: the header `{op, t}`, the dispatch on it, and the limits.

use atrelay_repo::cbor::{self, DecodeOptions};
use bytes::Bytes;
use ipld_core::ipld::Ipld;

use crate::body::{decode_body, Body};
use crate::encode::{text, write_map, Field};
use crate::error::FrameError;
use crate::message::{Account, Commit, ErrorFrame, Identity, Info, Message, Sync, UnknownFrame};
use atrelay_repo::cbor::{major::MAP, write_head};

/// Largest frame accepted or produced: 5 MiB, all overhead included (the sync spec's hard
/// limit for a firehose WebSocket frame; indigo's `MAX_STREAM_FRAME_SIZE`).
pub const MAX_FRAME_SIZE: usize = 5 * 1024 * 1024;

/// Header `op` of a regular message.
const OP_MESSAGE: i64 = 1;
/// Header `op` of an error frame.
const OP_ERROR: i64 = -1;

/// Frame bodies may carry links of any CID form (records may use unusual ones); which CIDs
/// are acceptable where is for the verification layer to decide.
pub(crate) fn body_options() -> DecodeOptions {
    DecodeOptions {
        any_cid_form: true,
        ..DecodeOptions::default()
    }
}

/// Decodes one frame. Byte fields (`blocks`) are copied out of `frame`; use
/// [`decode_frame_bytes`] to share them instead.
pub fn decode_frame(frame: &[u8]) -> Result<Message, FrameError> {
    decode(frame, None)
}

/// Decodes one frame held in [`Bytes`]; `blocks` fields are slices of `frame`, not copies.
pub fn decode_frame_bytes(frame: &Bytes) -> Result<Message, FrameError> {
    decode(frame, Some(frame))
}

fn decode(frame: &[u8], source: Option<&Bytes>) -> Result<Message, FrameError> {
    if frame.len() > MAX_FRAME_SIZE {
        return Err(FrameError::TooLarge {
            len: frame.len(),
            max: MAX_FRAME_SIZE,
        });
    }
    let options = body_options();
    let (header_bytes, body) =
        cbor::split_first_value(frame, &options).map_err(FrameError::HeaderCbor)?;
    let (op, t) = parse_header(header_bytes)?;
    let known = |kind: &'static str| move |source| FrameError::Body { kind, source };
    match (op, t.as_deref()) {
        (OP_MESSAGE, Some(t @ ("#commit" | "#sync" | "#identity" | "#account" | "#info"))) => {
            let kind: &'static str = match t {
                "#commit" => Commit::KIND,
                "#sync" => Sync::KIND,
                "#identity" => Identity::KIND,
                "#account" => Account::KIND,
                _ => Info::KIND,
            };
            cbor::check_atproto_bytes(body, &options).map_err(known(kind))?;
            Ok(match t {
                "#commit" => Message::Commit(decode_body(body, source)?),
                "#sync" => Message::Sync(decode_body(body, source)?),
                "#identity" => Message::Identity(decode_body(body, source)?),
                "#account" => Message::Account(decode_body(body, source)?),
                _ => Message::Info(decode_body(body, source)?),
            })
        }
        (OP_MESSAGE, None) => Err(FrameError::MalformedHeader("op 1 without t")),
        (OP_ERROR, Some(_)) => Err(FrameError::MalformedHeader("error frame with t")),
        (OP_ERROR, None) => {
            cbor::check_atproto_bytes(body, &options).map_err(known(ErrorFrame::KIND))?;
            Ok(Message::Error(decode_body(body, source)?))
        }
        _ => {
            cbor::check_atproto_bytes(body, &options).map_err(known("unknown frame"))?;
            let share = |part: &[u8]| match source {
                Some(source) => source.slice_ref(part),
                None => Bytes::copy_from_slice(part),
            };
            Ok(Message::Unknown(UnknownFrame {
                op,
                t,
                header: share(header_bytes),
                body: share(body),
            }))
        }
    }
}

/// Reads the header map: `op` (integer, required) and `t` (string, optional), nothing else.
fn parse_header(bytes: &[u8]) -> Result<(i64, Option<String>), FrameError> {
    let Ipld::Map(mut map) = cbor::decode::<Ipld>(bytes).map_err(FrameError::HeaderCbor)? else {
        return Err(FrameError::MalformedHeader("header is not a map"));
    };
    let op = match map.remove("op") {
        Some(Ipld::Integer(op)) => {
            i64::try_from(op).map_err(|_| FrameError::MalformedHeader("op out of range"))?
        }
        Some(_) => return Err(FrameError::MalformedHeader("op is not an integer")),
        None => return Err(FrameError::MalformedHeader("op is missing")),
    };
    let t = match map.remove("t") {
        Some(Ipld::String(t)) => Some(t),
        Some(_) => return Err(FrameError::MalformedHeader("t is not a string")),
        None => None,
    };
    if !map.is_empty() {
        return Err(FrameError::MalformedHeader("unexpected header field"));
    }
    Ok((op, t))
}

/// Encodes a message as a frame in canonical DAG-CBOR. For a frame that [`decode_frame`]
/// accepted and that was not changed (other than by [`Message::set_seq`] with the same value),
/// the bytes are exactly the received ones.
pub fn encode_frame(message: &Message) -> Bytes {
    let mut out = Vec::with_capacity(encoded_size_hint(message));
    match message {
        Message::Commit(m) => {
            message_header(&mut out, "#commit");
            let mut entries = vec![
                ("seq", Field::Int(m.seq)),
                ("rebase", Field::Bool(m.rebase)),
                ("tooBig", Field::Bool(m.too_big)),
                ("repo", Field::Text(&m.repo)),
                ("commit", Field::Link(&m.commit)),
                ("rev", Field::Text(&m.rev)),
                ("since", Field::text_or_null(m.since.as_deref())),
                ("blocks", Field::Bytes(&m.blocks)),
                ("ops", Field::Ops(&m.ops)),
                ("blobs", Field::Links(&m.blobs)),
                ("time", Field::Text(&m.time)),
            ];
            if let Some(prev_data) = &m.prev_data {
                entries.push(("prevData", Field::Link(prev_data)));
            }
            write_map(&mut out, entries, &m.extra);
        }
        Message::Sync(m) => {
            message_header(&mut out, "#sync");
            let entries = vec![
                ("seq", Field::Int(m.seq)),
                ("did", Field::Text(&m.did)),
                ("blocks", Field::Bytes(&m.blocks)),
                ("rev", Field::Text(&m.rev)),
                ("time", Field::Text(&m.time)),
            ];
            write_map(&mut out, entries, &m.extra);
        }
        Message::Identity(m) => {
            message_header(&mut out, "#identity");
            let mut entries = vec![
                ("seq", Field::Int(m.seq)),
                ("did", Field::Text(&m.did)),
                ("time", Field::Text(&m.time)),
            ];
            if let Some(handle) = &m.handle {
                entries.push(("handle", Field::Text(handle)));
            }
            write_map(&mut out, entries, &m.extra);
        }
        Message::Account(m) => {
            message_header(&mut out, "#account");
            let mut entries = vec![
                ("seq", Field::Int(m.seq)),
                ("did", Field::Text(&m.did)),
                ("time", Field::Text(&m.time)),
                ("active", Field::Bool(m.active)),
            ];
            if let Some(status) = &m.status {
                entries.push(("status", Field::Text(status.as_str())));
            }
            write_map(&mut out, entries, &m.extra);
        }
        Message::Info(m) => {
            message_header(&mut out, "#info");
            let mut entries = vec![("name", Field::Text(&m.name))];
            if let Some(message) = &m.message {
                entries.push(("message", Field::Text(message)));
            }
            write_map(&mut out, entries, &m.extra);
        }
        Message::Error(m) => {
            // {"op": -1}
            out.extend_from_slice(&[0xa1, 0x62, b'o', b'p', 0x20]);
            let mut entries = vec![("error", Field::Text(&m.error))];
            if let Some(message) = &m.message {
                entries.push(("message", Field::Text(message)));
            }
            write_map(&mut out, entries, &m.extra);
        }
        Message::Unknown(frame) => {
            out.extend_from_slice(&frame.header);
            out.extend_from_slice(&frame.body);
        }
    }
    Bytes::from(out)
}

/// Writes `{"t": t, "op": 1}` (canonical order: `t` is shorter).
fn message_header(out: &mut Vec<u8>, t: &str) {
    write_head(out, MAP, 2);
    text(out, "t");
    text(out, t);
    text(out, "op");
    out.push(0x01);
}

/// A capacity guess that avoids regrowing the buffer for typical frames.
fn encoded_size_hint(message: &Message) -> usize {
    let blocks = match message {
        Message::Commit(m) => m.blocks.len() + 100 * m.ops.len(),
        Message::Sync(m) => m.blocks.len(),
        Message::Unknown(frame) => frame.header.len() + frame.body.len(),
        _ => 0,
    };
    blocks + 256
}
