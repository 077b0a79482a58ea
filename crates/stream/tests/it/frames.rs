//! Hand-made frames: one test per rule of the codec.

use std::collections::BTreeMap;

use atrelay_repo::cbor::CborError;
use atrelay_repo::cid::cid_for_dag_cbor;
use atrelay_stream::{
    decode_frame, encode_frame, Account, AccountStatus, Commit, ErrorFrame, Extra, FrameError,
    Identity, Info, Message, OpAction, RepoOp, Sync, WireStatus, MAX_FRAME_SIZE,
};
use bytes::Bytes;
use ipld_core::ipld::Ipld;

fn map(entries: &[(&str, Ipld)]) -> Ipld {
    Ipld::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn text(s: &str) -> Ipld {
    Ipld::String(s.to_owned())
}

/// A frame from a header and body value, through serde_ipld_dagcbor (an independent encoder).
fn frame(header: &Ipld, body: &Ipld) -> Vec<u8> {
    let mut out = serde_ipld_dagcbor::to_vec(header).unwrap();
    out.extend(serde_ipld_dagcbor::to_vec(body).unwrap());
    out
}

fn message_header(t: &str) -> Ipld {
    map(&[("op", Ipld::Integer(1)), ("t", text(t))])
}

fn sample_commit() -> Commit {
    Commit {
        seq: 42,
        rebase: false,
        too_big: false,
        repo: "did:plc:44ybard66vv44zksje25o7dz".into(),
        commit: cid_for_dag_cbor(b"commit"),
        rev: "3lmxjza3nva27".into(),
        since: None,
        blocks: Bytes::from_static(b"\x01\x02\x03"),
        ops: vec![
            RepoOp {
                action: OpAction::Create,
                path: "app.bsky.feed.post/3lmxjza3h2i27".into(),
                cid: Some(cid_for_dag_cbor(b"record")),
                prev: None,
                extra: Extra::new(),
            },
            RepoOp {
                action: OpAction::Delete,
                path: "app.bsky.feed.like/3lmxjza3h2i28".into(),
                cid: None,
                prev: Some(cid_for_dag_cbor(b"old")),
                extra: Extra::new(),
            },
        ],
        blobs: vec![],
        prev_data: Some(cid_for_dag_cbor(b"data")),
        time: "2025-04-16T21:30:26.717Z".into(),
        extra: Extra::new(),
    }
}

/// The body of `sample_commit` as the lexicon (and indigo's cbor-gen) lays it out.
fn sample_commit_body() -> Ipld {
    map(&[
        ("seq", Ipld::Integer(42)),
        ("rebase", Ipld::Bool(false)),
        ("tooBig", Ipld::Bool(false)),
        ("repo", text("did:plc:44ybard66vv44zksje25o7dz")),
        ("commit", Ipld::Link(cid_for_dag_cbor(b"commit"))),
        ("rev", text("3lmxjza3nva27")),
        ("since", Ipld::Null),
        ("blocks", Ipld::Bytes(vec![1, 2, 3])),
        (
            "ops",
            Ipld::List(vec![
                map(&[
                    ("action", text("create")),
                    ("path", text("app.bsky.feed.post/3lmxjza3h2i27")),
                    ("cid", Ipld::Link(cid_for_dag_cbor(b"record"))),
                ]),
                map(&[
                    ("action", text("delete")),
                    ("path", text("app.bsky.feed.like/3lmxjza3h2i28")),
                    ("cid", Ipld::Null),
                    ("prev", Ipld::Link(cid_for_dag_cbor(b"old"))),
                ]),
            ]),
        ),
        ("blobs", Ipld::List(vec![])),
        ("prevData", Ipld::Link(cid_for_dag_cbor(b"data"))),
        ("time", text("2025-04-16T21:30:26.717Z")),
    ])
}

#[test]
fn commit_encodes_as_the_lexicon_lays_it_out() {
    let expected = frame(&message_header("#commit"), &sample_commit_body());
    let message = Message::Commit(sample_commit());
    assert_eq!(encode_frame(&message).as_ref(), expected.as_slice());
    assert_eq!(decode_frame(&expected), Ok(message));
}

#[test]
fn other_messages_encode_as_the_lexicon_lays_them_out() {
    let cases = [
        (
            Message::Sync(Sync {
                seq: 7,
                did: "did:web:example.com".into(),
                blocks: Bytes::from_static(b"car"),
                rev: "3lmxrbvasth2t".into(),
                time: "2025-04-16T23:40:33.897Z".into(),
                extra: Extra::new(),
            }),
            message_header("#sync"),
            map(&[
                ("seq", Ipld::Integer(7)),
                ("did", text("did:web:example.com")),
                ("blocks", Ipld::Bytes(b"car".to_vec())),
                ("rev", text("3lmxrbvasth2t")),
                ("time", text("2025-04-16T23:40:33.897Z")),
            ]),
        ),
        (
            Message::Identity(Identity {
                seq: 8,
                did: "did:plc:a".into(),
                time: "t".into(),
                handle: Some("handle.invalid".into()),
                extra: Extra::new(),
            }),
            message_header("#identity"),
            map(&[
                ("seq", Ipld::Integer(8)),
                ("did", text("did:plc:a")),
                ("time", text("t")),
                ("handle", text("handle.invalid")),
            ]),
        ),
        (
            Message::Identity(Identity {
                seq: 9,
                did: "did:plc:a".into(),
                time: "t".into(),
                handle: None,
                extra: Extra::new(),
            }),
            message_header("#identity"),
            map(&[
                ("seq", Ipld::Integer(9)),
                ("did", text("did:plc:a")),
                ("time", text("t")),
            ]),
        ),
        (
            Message::Info(Info::outdated_cursor(Some("too old".into()))),
            message_header("#info"),
            map(&[
                ("name", text("OutdatedCursor")),
                ("message", text("too old")),
            ]),
        ),
        (
            Message::Info(Info::outdated_cursor(None)),
            message_header("#info"),
            map(&[("name", text("OutdatedCursor"))]),
        ),
        (
            Message::Error(ErrorFrame::future_cursor(Some(
                "cursor in the future".into(),
            ))),
            map(&[("op", Ipld::Integer(-1))]),
            map(&[
                ("error", text("FutureCursor")),
                ("message", text("cursor in the future")),
            ]),
        ),
        (
            // indigo always writes `message`, even when empty: kept as written.
            Message::Error(ErrorFrame::consumer_too_slow(Some(String::new()))),
            map(&[("op", Ipld::Integer(-1))]),
            map(&[("error", text("ConsumerTooSlow")), ("message", text(""))]),
        ),
        (
            Message::Error(ErrorFrame::new("FutureCursor", None)),
            map(&[("op", Ipld::Integer(-1))]),
            map(&[("error", text("FutureCursor"))]),
        ),
    ];
    for (message, header, body) in cases {
        let expected = frame(&header, &body);
        assert_eq!(
            encode_frame(&message).as_ref(),
            expected.as_slice(),
            "{message:?}"
        );
        assert_eq!(decode_frame(&expected), Ok(message));
    }
}

#[test]
fn every_account_status_round_trips() {
    let statuses = [
        Some(AccountStatus::Takendown.into()),
        Some(AccountStatus::Suspended.into()),
        Some(AccountStatus::Deleted.into()),
        Some(AccountStatus::Deactivated.into()),
        Some(AccountStatus::Desynchronized.into()),
        Some(AccountStatus::Throttled.into()),
        Some(WireStatus::Other("someFutureStatus".into())),
        None,
    ];
    for status in statuses {
        let message = Message::Account(Account {
            seq: 1,
            did: "did:plc:a".into(),
            time: "t".into(),
            active: status.is_none(),
            status: status.clone(),
            extra: Extra::new(),
        });
        let mut body = vec![
            ("seq", Ipld::Integer(1)),
            ("did", text("did:plc:a")),
            ("time", text("t")),
            ("active", Ipld::Bool(status.is_none())),
        ];
        if let Some(status) = &status {
            body.push(("status", text(status.as_str())));
        }
        let expected = frame(&message_header("#account"), &map(&body));
        assert_eq!(encode_frame(&message).as_ref(), expected.as_slice());
        assert_eq!(decode_frame(&expected), Ok(message));
    }
}

#[test]
fn set_seq_rewrites_only_the_seq() {
    let mut message = Message::Commit(sample_commit());
    assert_eq!(message.seq(), Some(42));
    assert!(message.set_seq(20_000_000_123));
    let mut body = sample_commit_body();
    if let Ipld::Map(map) = &mut body {
        map.insert("seq".into(), Ipld::Integer(20_000_000_123));
    }
    let expected = frame(&message_header("#commit"), &body);
    assert_eq!(encode_frame(&message).as_ref(), expected.as_slice());
    assert_eq!(decode_frame(&expected).unwrap().seq(), Some(20_000_000_123));

    let mut info = Message::Info(Info::outdated_cursor(None));
    assert!(!info.set_seq(5));
    assert_eq!(info.seq(), None);
    assert_eq!(message.did(), Some("did:plc:44ybard66vv44zksje25o7dz"));
    assert_eq!(message.time(), Some("2025-04-16T21:30:26.717Z"));
}

#[test]
fn unknown_fields_and_null_optionals_survive_a_round_trip() {
    let mut body = sample_commit_body();
    if let Ipld::Map(map) = &mut body {
        map.insert("prevData".into(), Ipld::Null);
        map.insert("prev".into(), Ipld::Null);
        map.insert("zzNewField".into(), Ipld::List(vec![Ipld::Integer(-5)]));
        if let Some(Ipld::List(ops)) = map.get_mut("ops") {
            if let Some(Ipld::Map(op)) = ops.first_mut() {
                op.insert("prev".into(), Ipld::Null);
                op.insert("note".into(), text("x"));
            }
        }
    }
    let bytes = frame(&message_header("#commit"), &body);
    let message = decode_frame(&bytes).unwrap();
    assert_eq!(encode_frame(&message).as_ref(), bytes.as_slice());
    let Message::Commit(commit) = &message else {
        panic!("not a commit")
    };
    assert_eq!(commit.prev_data, None);
    assert_eq!(commit.extra.get("prevData"), Some(&Ipld::Null));
    assert_eq!(commit.ops[0].prev, None);
    assert_eq!(commit.ops[0].extra.len(), 2);

    // A typed value set later wins over the stashed null.
    let mut changed = commit.clone();
    changed.prev_data = Some(cid_for_dag_cbor(b"data"));
    let reencoded = encode_frame(&Message::Commit(changed.clone()));
    let Message::Commit(back) = decode_frame(&reencoded).unwrap() else {
        panic!("not a commit")
    };
    assert_eq!(back.prev_data, changed.prev_data);
    assert!(!back.extra.contains_key("prevData"));

    for (t, body) in [
        (
            "#identity",
            map(&[
                ("seq", Ipld::Integer(1)),
                ("did", text("did:plc:a")),
                ("time", text("t")),
                ("handle", Ipld::Null),
            ]),
        ),
        (
            "#account",
            map(&[
                ("seq", Ipld::Integer(1)),
                ("did", text("did:plc:a")),
                ("time", text("t")),
                ("active", Ipld::Bool(true)),
                ("status", Ipld::Null),
            ]),
        ),
        (
            "#info",
            map(&[("name", text("n")), ("message", Ipld::Null)]),
        ),
    ] {
        let bytes = frame(&message_header(t), &body);
        let message = decode_frame(&bytes).unwrap();
        assert_eq!(encode_frame(&message).as_ref(), bytes.as_slice(), "{t}");
    }
}

#[test]
fn unknown_types_decode_to_unknown_and_stay_byte_identical() {
    let legacy = frame(
        &message_header("#handle"),
        &map(&[
            ("seq", Ipld::Integer(1)),
            ("did", text("did:plc:a")),
            ("handle", text("a.example.com")),
            ("time", text("t")),
        ]),
    );
    let future_op = frame(
        &map(&[("op", Ipld::Integer(2)), ("t", text("#commit"))]),
        &map(&[("anything", Ipld::Bool(true))]),
    );
    let no_t = frame(&map(&[("op", Ipld::Integer(7))]), &Ipld::Integer(0));
    for bytes in [legacy, future_op, no_t] {
        let message = decode_frame(&bytes).unwrap();
        assert!(matches!(message, Message::Unknown(_)), "{message:?}");
        assert_eq!(message.seq(), None);
        assert_eq!(encode_frame(&message).as_ref(), bytes.as_slice());
    }
    let Message::Unknown(unknown) = decode_frame(&frame(
        &message_header("#handle"),
        &map(&[("x", Ipld::Null)]),
    ))
    .unwrap() else {
        panic!("not unknown")
    };
    assert_eq!((unknown.op, unknown.t.as_deref()), (1, Some("#handle")));
}

#[test]
fn oversized_frames_are_refused_before_decoding() {
    let huge = vec![0u8; MAX_FRAME_SIZE + 1];
    assert_eq!(
        decode_frame(&huge),
        Err(FrameError::TooLarge {
            len: MAX_FRAME_SIZE + 1,
            max: MAX_FRAME_SIZE
        })
    );
}

#[test]
fn every_truncation_of_a_frame_is_an_error() {
    let bytes = encode_frame(&Message::Commit(sample_commit()));
    for len in 0..bytes.len() {
        assert!(
            decode_frame(&bytes[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
    let mut trailing = bytes.to_vec();
    trailing.push(0x00);
    assert!(matches!(
        decode_frame(&trailing),
        Err(FrameError::Body {
            source: CborError::TrailingBytes { .. },
            ..
        })
    ));
}

#[test]
fn garbage_is_an_error() {
    for bytes in [
        &b""[..],
        b"hello, world",
        &[0xff, 0xff],
        &[0xa1, 0x62, b'o', b'p', 0x01], // header only
        &[0x01, 0x02],                   // header not a map
    ] {
        assert!(decode_frame(bytes).is_err(), "{bytes:02x?}");
    }
}

#[test]
fn malformed_headers_are_errors() {
    let body = map(&[("name", text("n"))]);
    let cases = [
        (map(&[("t", text("#info"))]), "op is missing"),
        (map(&[("op", Ipld::Integer(1))]), "op 1 without t"),
        (
            map(&[("op", Ipld::Integer(-1)), ("t", text("#info"))]),
            "error frame with t",
        ),
        (
            map(&[("op", text("1")), ("t", text("#info"))]),
            "op is not an integer",
        ),
        (
            map(&[("op", Ipld::Integer(1)), ("t", Ipld::Null)]),
            "t is not a string",
        ),
        (
            map(&[
                ("op", Ipld::Integer(1)),
                ("t", text("#info")),
                ("x", Ipld::Null),
            ]),
            "unexpected header field",
        ),
    ];
    for (header, reason) in cases {
        assert_eq!(
            decode_frame(&frame(&header, &body)),
            Err(FrameError::MalformedHeader(reason))
        );
    }
}

#[test]
fn missing_required_fields_are_errors() {
    let Ipld::Map(full) = sample_commit_body() else {
        unreachable!()
    };
    for field in [
        "seq", "rebase", "tooBig", "repo", "commit", "rev", "since", "blocks", "ops", "blobs",
        "time",
    ] {
        let mut body = full.clone();
        body.remove(field);
        assert_eq!(
            decode_frame(&frame(&message_header("#commit"), &Ipld::Map(body))),
            Err(FrameError::MissingField {
                kind: "#commit",
                field
            })
        );
    }
    // prevData is optional.
    let mut body = full.clone();
    body.remove("prevData");
    assert!(decode_frame(&frame(&message_header("#commit"), &Ipld::Map(body))).is_ok());
    // A repo op without cid (required, nullable) is refused.
    let mut body = full;
    body.insert(
        "ops".into(),
        Ipld::List(vec![map(&[
            ("action", text("delete")),
            ("path", text("a/b")),
        ])]),
    );
    assert!(matches!(
        decode_frame(&frame(&message_header("#commit"), &Ipld::Map(body))),
        Err(FrameError::Body {
            kind: "#commit",
            ..
        })
    ));
    assert_eq!(
        decode_frame(&frame(
            &map(&[("op", Ipld::Integer(-1))]),
            &map(&[("message", text("m"))])
        )),
        Err(FrameError::MissingField {
            kind: "error",
            field: "error"
        })
    );
}

#[test]
fn wrong_types_and_non_canonical_bodies_are_errors() {
    let Ipld::Map(full) = sample_commit_body() else {
        unreachable!()
    };
    for (field, value) in [
        ("seq", text("42")),
        ("blocks", text("not bytes")),
        ("commit", text("bafy…")),
        ("blobs", Ipld::Null),
        ("since", Ipld::Integer(1)),
    ] {
        let mut body = full.clone();
        body.insert(field.into(), value);
        assert!(
            matches!(
                decode_frame(&frame(&message_header("#commit"), &Ipld::Map(body))),
                Err(FrameError::Body {
                    kind: "#commit",
                    ..
                })
            ),
            "{field}"
        );
    }
    // {"name": "n", "message": 1.5}: a float.
    let mut bytes = serde_ipld_dagcbor::to_vec(&message_header("#info")).unwrap();
    bytes.extend_from_slice(&[0xa2, 0x64, b'n', b'a', b'm', b'e', 0x61, b'n']);
    bytes.extend_from_slice(&[0x67, b'm', b'e', b's', b's', b'a', b'g', b'e']);
    bytes.extend_from_slice(&[0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        decode_frame(&bytes),
        Err(FrameError::Body {
            kind: "#info",
            source: CborError::Float { .. }
        })
    ));
    // {"message": "m", "name": "n"}: keys out of canonical order.
    let mut bytes = serde_ipld_dagcbor::to_vec(&message_header("#info")).unwrap();
    bytes.extend_from_slice(&[
        0xa2, 0x67, b'm', b'e', b's', b's', b'a', b'g', b'e', 0x61, b'm',
    ]);
    bytes.extend_from_slice(&[0x64, b'n', b'a', b'm', b'e', 0x61, b'n']);
    assert!(matches!(
        decode_frame(&bytes),
        Err(FrameError::Body {
            kind: "#info",
            source: CborError::UnsortedKeys { .. }
        })
    ));
}
