//! Why a frame could not be decoded.

use atrelay_repo::cbor::CborError;
use atrelay_repo::json::JsonError;

/// Why bytes (or a JSON form) are not a frame this crate accepts. Every variant means the frame
/// is malformed: per the event-stream spec, the connection it came from should be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame is larger than the limit; nothing was decoded.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the frame.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header is not strict DAG-CBOR (or the frame is empty or truncated inside it).
    #[error("frame header: {0}")]
    HeaderCbor(CborError),
    /// The header is DAG-CBOR but not `{op: int, t?: string}` as the spec requires.
    #[error("malformed frame header: {0}")]
    MalformedHeader(&'static str),
    /// The body is not strict DAG-CBOR of the shape its type requires (or is missing).
    #[error("{kind} body: {source}")]
    Body {
        /// The message type (`#commit`, …, or `error` for error frames).
        kind: &'static str,
        /// What was wrong.
        source: CborError,
    },
    /// A field the lexicon requires is missing from the body.
    #[error("{kind} body lacks required field {field:?}")]
    MissingField {
        /// The message type.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A JSON frame could not be converted (atproto JSON form).
    #[error("JSON frame: {0}")]
    Json(#[from] JsonError),
}
