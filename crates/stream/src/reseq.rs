//! Setting the `seq` of an encoded frame without decoding or re-encoding its body: the relay
//! passes most events on exactly as received, with only its own sequence number in place of
//! the upstream one. The body map's entries before `seq` are skipped (in canonical order only
//! `ops` and `rev` can come first; `blocks`, the large one, comes after), the old integer is cut
//! out and the new one written in its shortest form, so the result is the canonical frame
//! [`encode_frame`](crate::encode_frame) would give after [`Message::set_seq`](crate::Message::set_seq).

use atrelay_repo::cbor::major::{MAP, UNSIGNED};
use atrelay_repo::cbor::{read_head, split_first_value, write_head};
use bytes::Bytes;

use crate::frame::body_options;

/// The encoded map key `"seq"`: a 3-byte text head, then the letters.
const SEQ_KEY: [u8; 4] = [0x63, b's', b'e', b'q'];

/// Returns `frame` with the unsigned integer under the body's `seq` key replaced by `seq`.
///
/// `None` when the frame has no such field (an `#info`, an error frame, a body that is not a
/// map), when `seq` is negative, or when the bytes are not well-formed DAG-CBOR; the caller
/// then encodes the message instead.
pub fn frame_with_seq(frame: &[u8], seq: i64) -> Option<Bytes> {
    let seq = u64::try_from(seq).ok()?;
    let options = body_options();
    let (header, body) = split_first_value(frame, &options).ok()?;
    let (major, entries, head_len) = read_head(body)?;
    if major != MAP {
        return None;
    }
    let mut at = head_len;
    for _ in 0..entries {
        let (key, _) = split_first_value(body.get(at..)?, &options).ok()?;
        let value_at = at + key.len();
        let rest = body.get(value_at..)?;
        if key == SEQ_KEY {
            let (major, _, value_len) = read_head(rest)?;
            if major != UNSIGNED {
                return None;
            }
            let cut = header.len() + value_at;
            let mut out = Vec::with_capacity(frame.len() + 8);
            out.extend_from_slice(frame.get(..cut)?);
            write_head(&mut out, UNSIGNED, seq);
            out.extend_from_slice(frame.get(cut + value_len..)?);
            return Some(Bytes::from(out));
        }
        let (value, _) = split_first_value(rest, &options).ok()?;
        at = value_at + value.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_seq_or_a_frame_without_one_is_left_to_the_encoder() {
        assert!(frame_with_seq(&[], 1).is_none());
        assert!(frame_with_seq(&[0xa0, 0xa0], 1).is_none(), "empty maps");
    }
}
