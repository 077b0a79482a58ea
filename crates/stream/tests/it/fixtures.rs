//! Every fixture frame: JSON -> typed -> CBOR -> typed is the identity, CBOR -> typed -> CBOR is
//! byte-identical, and the blocks pass through untouched.

use atrelay_repo::json::json_to_ipld;
use atrelay_stream::{
    decode_frame, decode_frame_bytes, encode_frame, message_from_json, message_to_json, Message,
};
use ipld_core::ipld::Ipld;

use crate::util::{all_frames, captured_commits, scenario_frames};

#[test]
fn fixture_counts() {
    // 7 scenarios with 3 to 8 frames each (35 in all), and 4 captured commits.
    assert_eq!(scenario_frames().len(), 35);
    assert_eq!(captured_commits().len(), 4);
}

#[test]
fn json_typed_cbor_typed_round_trip() {
    for frame in all_frames() {
        let message = message_from_json(&frame.header, &frame.body)
            .unwrap_or_else(|e| panic!("{}: {e}", frame.origin));
        let bytes = encode_frame(&message);
        let again = decode_frame(&bytes).unwrap_or_else(|e| panic!("{}: {e}", frame.origin));
        assert_eq!(again, message, "{}", frame.origin);
        // The typed form holds the same header type as the JSON.
        assert_eq!(
            message.type_name(),
            frame.header["t"].as_str(),
            "{}",
            frame.origin
        );
    }
}

#[test]
fn cbor_typed_cbor_is_byte_identical() {
    for frame in all_frames() {
        let message = message_from_json(&frame.header, &frame.body).unwrap();
        let bytes = encode_frame(&message);
        let decoded = decode_frame_bytes(&bytes).unwrap();
        assert_eq!(encode_frame(&decoded), bytes, "{}", frame.origin);
        let copied = decode_frame(&bytes).unwrap();
        assert_eq!(encode_frame(&copied), bytes, "{}", frame.origin);
    }
}

#[test]
fn blocks_pass_through_untouched() {
    for frame in all_frames() {
        let Some(blocks_json) = frame.body.get("blocks") else {
            continue;
        };
        let Ipld::Bytes(expected) = json_to_ipld(blocks_json).unwrap() else {
            panic!("{}: blocks is not $bytes", frame.origin)
        };
        let message = message_from_json(&frame.header, &frame.body).unwrap();
        let bytes = encode_frame(&message);
        let decoded = decode_frame_bytes(&bytes).unwrap();
        let blocks = match &decoded {
            Message::Commit(commit) => &commit.blocks,
            Message::Sync(sync) => &sync.blocks,
            other => panic!("{}: unexpected {other:?}", frame.origin),
        };
        assert_eq!(blocks.as_ref(), expected.as_slice(), "{}", frame.origin);
        // decode_frame_bytes shares the frame's memory rather than copying.
        let frame_range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
        assert!(
            frame_range.contains(&(blocks.as_ptr() as usize)),
            "{}",
            frame.origin
        );
    }
}

#[test]
fn cbor_matches_the_json_value_exactly() {
    // The CBOR body we emit is the canonical encoding of the fixture's JSON body (modulo the
    // documented null-blobs normalisation), so no field is renamed, added or dropped.
    for frame in all_frames() {
        let message = message_from_json(&frame.header, &frame.body).unwrap();
        let (header, body) = message_to_json(&message).unwrap();
        assert_eq!(header, frame.header, "{}", frame.origin);
        let mut expected = frame.body.clone();
        if expected["blobs"].is_null() && frame.header["t"] == "#commit" {
            expected["blobs"] = serde_json::json!([]);
        }
        assert_eq!(body, expected, "{}", frame.origin);
    }
}

#[test]
fn typed_fields_of_known_frames() {
    let frames = scenario_frames();
    let post = frames
        .iter()
        .find(|f| f.origin.contains("post_lifecycle.json") && f.origin.ends_with("#1"))
        .unwrap();
    let Message::Commit(commit) = message_from_json(&post.header, &post.body).unwrap() else {
        panic!("not a commit")
    };
    assert_eq!(commit.seq, 35942466);
    assert_eq!(commit.repo, "did:plc:44ybard66vv44zksje25o7dz");
    assert_eq!(commit.since.as_deref(), Some("3lmxjza3nva27"));
    assert!(commit.prev_data.is_some());
    assert_eq!(commit.ops.len(), 1);
    assert_eq!(commit.ops[0].action, atrelay_stream::OpAction::Delete);
    assert_eq!(commit.ops[0].cid, None);
    assert!(commit.ops[0].prev.is_some());
    assert!(commit.extra.is_empty());

    // The captured pre-1.1 commits carry the retired commit-level `prev: null`: kept in extra.
    for frame in captured_commits() {
        let Message::Commit(commit) = message_from_json(&frame.header, &frame.body).unwrap() else {
            panic!("not a commit")
        };
        assert_eq!(commit.prev_data, None);
        assert_eq!(
            commit.extra.get("prev"),
            Some(&Ipld::Null),
            "{}",
            frame.origin
        );
    }

    let account = frames
        .iter()
        .find(|f| f.origin.contains("account_lifecycle.json") && f.origin.ends_with("#3"))
        .unwrap();
    let Message::Account(account) = message_from_json(&account.header, &account.body).unwrap()
    else {
        panic!("not an account")
    };
    assert!(!account.active);
    assert_eq!(
        account.status,
        Some(atrelay_stream::AccountStatus::Deleted.into())
    );
}

/// The fuzz target's property, checked deterministically on stable: every single-byte mutation
/// of the head and tail of each fixture frame (header, field names, scalar fields, ops; the
/// middle of a large frame is mostly `blocks`) either fails to decode or re-encodes to exactly
/// its bytes.
#[test]
fn mutated_fixture_frames_are_refused_or_byte_stable() {
    const EDGE: usize = 300;
    let mut decoded = 0;
    let mut checked = 0;
    for frame in all_frames() {
        let message = message_from_json(&frame.header, &frame.body).unwrap();
        let bytes = encode_frame(&message).to_vec();
        let positions = (0..bytes.len())
            .filter(|position| *position < EDGE || *position >= bytes.len().saturating_sub(EDGE));
        for position in positions {
            for mask in [0x01u8, 0x20, 0xff] {
                let mut mutated = bytes.clone();
                mutated[position] ^= mask;
                checked += 1;
                if let Ok(message) = decode_frame(&mutated) {
                    decoded += 1;
                    assert_eq!(
                        encode_frame(&message).as_ref(),
                        mutated.as_slice(),
                        "{} byte {position} ^ {mask:#x}",
                        frame.origin
                    );
                }
            }
        }
    }
    assert!(checked > 50_000, "only {checked} mutations");
    assert!(decoded > 0, "no mutation decoded, so nothing was compared");
}
