//! Fuzzes the strict atproto DAG-CBOR decoder. Beyond "never panics": every value it accepts
//! re-encodes to exactly the input bytes (it accepts only canonical encodings), the byte-level
//! check agrees with the full decoder, and the first-value splitter agrees with both.
#![no_main]

use atrelay_repo::cbor::{
    check_atproto_bytes, decode_atproto_value, encode_atproto_value, split_first_value,
    DecodeOptions,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions::default();
    let checked = check_atproto_bytes(data, &options);
    let decoded = decode_atproto_value(data);
    if decoded.is_ok() {
        assert!(checked.is_ok(), "decoded bytes the byte check refuses");
    }
    if checked.is_ok() {
        let (first, rest) = split_first_value(data, &options).expect("checked bytes split");
        assert_eq!(
            first, data,
            "a single checked value did not split as a whole"
        );
        assert!(rest.is_empty());
    }
    if let Ok(value) = decoded {
        let encoded = encode_atproto_value(&value).expect("a decoded value encodes");
        assert_eq!(encoded, data, "an accepted value is not in canonical form");
    }
});
