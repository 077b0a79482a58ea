//! Fuzzes the frame decoder with arbitrary bytes. Beyond "never panics", it checks the codec's
//! promise: every frame the decoder accepts re-encodes to exactly the same bytes, and the
//! zero-copy decoder agrees with the copying one.
#![no_main]

use atrelay_stream::{decode_frame, decode_frame_bytes, encode_frame};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let copied = decode_frame(data);
    let shared = decode_frame_bytes(&Bytes::copy_from_slice(data));
    assert_eq!(copied, shared, "the two decoders disagree");
    if let Ok(message) = copied {
        assert_eq!(
            encode_frame(&message).as_ref(),
            data,
            "an accepted frame did not re-encode to its own bytes"
        );
    }
});
