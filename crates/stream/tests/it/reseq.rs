//! `frame_with_seq` against the encoder: for every fixture frame and seqs of every integer
//! width, splicing the seq into the bytes gives exactly what decoding, `set_seq` and encoding
//! give; frames without a seq are left to the encoder.

use atrelay_stream::{decode_frame, encode_frame, frame_with_seq, message_from_json, Message};
use proptest::prelude::*;

use crate::util::all_frames;

/// Seqs at each boundary of the shortest-integer encoding.
const SEQS: [i64; 10] = [
    0,
    1,
    23,
    24,
    255,
    256,
    65_535,
    65_536,
    4_294_967_296,
    i64::MAX,
];

fn encoded_with_seq(frame: &[u8], seq: i64) -> Vec<u8> {
    let mut message = decode_frame(frame).expect("fixture frame decodes");
    message.set_seq(seq);
    encode_frame(&message).to_vec()
}

#[test]
fn every_fixture_frame_gets_the_bytes_the_encoder_gives() {
    let mut spliced = 0;
    for frame in all_frames() {
        let message = message_from_json(&frame.header, &frame.body).expect("fixture parses");
        let bytes = encode_frame(&message);
        for seq in SEQS {
            match frame_with_seq(&bytes, seq) {
                Some(out) => {
                    assert_eq!(
                        out.to_vec(),
                        encoded_with_seq(&bytes, seq),
                        "{}",
                        frame.origin
                    );
                    spliced += 1;
                }
                None => assert!(
                    message.seq().is_none(),
                    "{}: a frame with a seq was not spliced",
                    frame.origin
                ),
            }
        }
    }
    assert!(spliced >= 30 * SEQS.len(), "only {spliced} frames spliced");
}

#[test]
fn a_negative_seq_and_an_info_frame_are_left_to_the_encoder() {
    let frame = all_frames()
        .into_iter()
        .map(|frame| encode_frame(&message_from_json(&frame.header, &frame.body).unwrap()))
        .find(|bytes| matches!(decode_frame(bytes), Ok(Message::Commit(_))))
        .expect("a commit fixture");
    assert!(frame_with_seq(&frame, -1).is_none());
    let info = encode_frame(&Message::Info(atrelay_stream::Info::outdated_cursor(None)));
    assert!(frame_with_seq(&info, 5).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_seq_splices_like_the_encoder(index in 0usize..39, seq in 0i64..=i64::MAX) {
        let frames = all_frames();
        let frame = &frames[index % frames.len()];
        let bytes = encode_frame(&message_from_json(&frame.header, &frame.body).unwrap());
        if let Some(out) = frame_with_seq(&bytes, seq) {
            prop_assert_eq!(out.to_vec(), encoded_with_seq(&bytes, seq));
        }
    }
}
