//! The atproto data model: the interop fixtures (JSON <-> DAG-CBOR <-> CID, valid and invalid
//! data) and one test per DAG-CBOR strictness rule.

use std::collections::BTreeMap;

use atrelay_repo::cbor::{
    check_data_model, decode_atproto_value, decode_atproto_value_with, encode_atproto_value,
    CborError, DataModelError, DecodeOptions,
};
use atrelay_repo::cid::{cid_for_dag_cbor, CidError};
use atrelay_repo::json::{ipld_to_json, json_to_ipld, json_to_object, JsonError};
use data_encoding::BASE64_NOPAD;
use ipld_core::ipld::Ipld;
use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/interop/data-model"
);

fn load(name: &str) -> Vec<Value> {
    let path = format!("{FIXTURES}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

#[test]
fn fixtures_json_cbor_and_cid_agree() {
    let rows = load("data-model-fixtures.json");
    assert_eq!(rows.len(), 3);
    for row in rows {
        let json = &row["json"];
        let expected_cbor = BASE64_NOPAD
            .decode(row["cbor_base64"].as_str().unwrap().as_bytes())
            .unwrap();
        let expected_cid = row["cid"].as_str().unwrap();

        // JSON -> value -> CBOR gives exactly the fixture's bytes and CID.
        let from_json = json_to_ipld(json).unwrap();
        let cbor = encode_atproto_value(&from_json).unwrap();
        assert_eq!(cbor, expected_cbor, "CBOR of {json}");
        assert_eq!(cid_for_dag_cbor(&cbor).to_string(), expected_cid);

        // CBOR -> value equals the JSON's value, and goes back to the same JSON.
        let from_cbor = decode_atproto_value(&expected_cbor).unwrap();
        assert_eq!(from_cbor, from_json);
        assert_eq!(&ipld_to_json(&from_cbor), json);
        assert_eq!(encode_atproto_value(&from_cbor).unwrap(), expected_cbor);
    }
}

#[test]
fn valid_fixtures_are_accepted_in_json_and_cbor() {
    let rows = load("data-model-valid.json");
    assert_eq!(rows.len(), 5);
    for row in rows {
        let object = json_to_object(&row["json"])
            .unwrap_or_else(|e| panic!("{}: rejected: {e}", row["note"]));
        let cbor = encode_atproto_value(&Ipld::Map(object.clone())).unwrap();
        assert_eq!(decode_atproto_value(&cbor), Ok(Ipld::Map(object)));
    }
}

#[test]
fn invalid_fixtures_are_rejected() {
    let rows = load("data-model-invalid.json");
    assert_eq!(rows.len(), 12);
    for row in rows {
        let result = json_to_object(&row["json"]);
        assert!(result.is_err(), "{}: accepted as {result:?}", row["note"]);
    }
}

/// The value-level cases of the invalid fixtures, written straight as DAG-CBOR (with no `$link`
/// or `$bytes` conversion in the way), are rejected by the CBOR decoder too.
#[test]
fn invalid_fixture_values_are_rejected_in_cbor() {
    let rows = load("data-model-invalid.json");
    let mut checked = 0;
    for row in rows {
        let note = row["note"].as_str().unwrap();
        if !(note.contains("$type") || note.contains("blob")) {
            continue;
        }
        let value = naive_ipld(&row["json"]);
        let cbor = serde_ipld_dagcbor::to_vec(&value).unwrap();
        assert!(
            matches!(decode_atproto_value(&cbor), Err(CborError::DataModel(_))),
            "{note}: accepted"
        );
        checked += 1;
    }
    assert_eq!(checked, 5);
}

/// JSON to IPLD without any atproto interpretation, `$link` becoming a real link.
fn naive_ipld(value: &Value) -> Ipld {
    match value {
        Value::Null => Ipld::Null,
        Value::Bool(b) => Ipld::Bool(*b),
        Value::Number(n) => Ipld::Integer(n.as_i64().unwrap().into()),
        Value::String(s) => Ipld::String(s.clone()),
        Value::Array(items) => Ipld::List(items.iter().map(naive_ipld).collect()),
        Value::Object(object) => match object.get("$link") {
            Some(Value::String(cid)) => Ipld::Link(cid.as_str().try_into().unwrap()),
            _ => Ipld::Map(
                object
                    .iter()
                    .map(|(k, v)| (k.clone(), naive_ipld(v)))
                    .collect(),
            ),
        },
    }
}

#[test]
fn float_is_rejected_in_json_and_cbor() {
    assert!(matches!(
        json_to_ipld(&serde_json::json!({"a": 123.456})),
        Err(JsonError::Float(_))
    ));
    // {"a": 1.5} as a float64.
    let bytes = [0xa1, 0x61, b'a', 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode_atproto_value(&bytes),
        Err(CborError::Float { offset: 3 })
    );
    // Half and single precision too.
    assert_eq!(
        decode_atproto_value(&[0xf9, 0x3c, 0x00]),
        Err(CborError::Float { offset: 0 })
    );
    assert_eq!(
        decode_atproto_value(&[0xfa, 0x3f, 0x80, 0, 0]),
        Err(CborError::Float { offset: 0 })
    );
    assert!(matches!(
        encode_atproto_value(&Ipld::Float(1.0)),
        Err(CborError::DataModel(DataModelError::Float))
    ));
}

#[test]
fn unsorted_keys_are_rejected() {
    // {"b": 1, "a": 2}: same length, bytewise out of order.
    let bytes = [0xa2, 0x61, b'b', 0x01, 0x61, b'a', 0x02];
    assert_eq!(
        decode_atproto_value(&bytes),
        Err(CborError::UnsortedKeys {
            offset: 4,
            key: "a".into()
        })
    );
    // {"aa": 1, "b": 2}: lexicographic order, but DAG-CBOR puts shorter keys first.
    let bytes = [0xa2, 0x62, b'a', b'a', 0x01, 0x61, b'b', 0x02];
    assert_eq!(
        decode_atproto_value(&bytes),
        Err(CborError::UnsortedKeys {
            offset: 5,
            key: "b".into()
        })
    );
    // The canonical order is accepted.
    let bytes = [0xa2, 0x61, b'b', 0x02, 0x62, b'a', b'a', 0x01];
    assert!(decode_atproto_value(&bytes).is_ok());
}

#[test]
fn duplicate_keys_are_rejected() {
    let bytes = [0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02];
    assert_eq!(
        decode_atproto_value(&bytes),
        Err(CborError::DuplicateKey {
            offset: 4,
            key: "a".into()
        })
    );
}

#[test]
fn non_string_keys_are_rejected() {
    let bytes = [0xa1, 0x01, 0x02];
    assert_eq!(
        decode_atproto_value(&bytes),
        Err(CborError::NonStringKey { offset: 1 })
    );
}

#[test]
fn non_minimal_integers_and_lengths_are_rejected() {
    for bytes in [
        &[0x18, 0x17][..],                           // 23 in one extra byte
        &[0x19, 0x00, 0xff],                         // 255 in two bytes
        &[0x1a, 0x00, 0x00, 0xff, 0xff],             // 65535 in four bytes
        &[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // 2^32-1 in eight bytes
        &[0x38, 0x00],                               // -1 in one extra byte
        &[0x78, 0x01, b'a'],                         // string length 1 in one extra byte
        &[0x98, 0x00],                               // array length 0 in one extra byte
    ] {
        assert_eq!(
            decode_atproto_value(bytes),
            Err(CborError::NonMinimalInteger { offset: 0 }),
            "{bytes:02x?}"
        );
    }
    assert_eq!(decode_atproto_value(&[0x18, 0x18]), Ok(Ipld::Integer(24)));
}

#[test]
fn indefinite_lengths_are_rejected() {
    for bytes in [
        &[0x9f, 0x01, 0xff][..],         // indefinite array
        &[0xbf, 0x61, b'a', 0x01, 0xff], // indefinite map
        &[0x7f, 0x61, b'a', 0xff],       // indefinite text
        &[0x5f, 0x41, 0x00, 0xff],       // indefinite bytes
        &[0xff],                         // stray break
    ] {
        assert_eq!(
            decode_atproto_value(bytes),
            Err(CborError::IndefiniteLength { offset: 0 }),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn tags_other_than_cid_are_rejected() {
    // Tag 1 (epoch time) over 0.
    assert_eq!(
        decode_atproto_value(&[0xc1, 0x00]),
        Err(CborError::UnsupportedTag { offset: 0, tag: 1 })
    );
    // Tag 42 over a text string.
    assert!(matches!(
        decode_atproto_value(&[0xd8, 0x2a, 0x61, b'a']),
        Err(CborError::InvalidCid { offset: 0, .. })
    ));
}

fn tagged_cid(cid_bytes: &[u8], prefix: bool) -> Vec<u8> {
    let len = cid_bytes.len() + usize::from(prefix);
    let len = u8::try_from(len).unwrap();
    let mut out = if len < 24 {
        vec![0xd8, 0x2a, 0x40 | len]
    } else {
        vec![0xd8, 0x2a, 0x58, len]
    };
    if prefix {
        out.push(0x00);
    }
    out.extend_from_slice(cid_bytes);
    out
}

#[test]
fn cid_links_must_be_well_formed_and_allowed() {
    let cid = cid_for_dag_cbor(b"block");
    let good = tagged_cid(&cid.to_bytes(), true);
    assert_eq!(decode_atproto_value(&good), Ok(Ipld::Link(cid)));

    // Missing the 0x00 prefix.
    assert!(matches!(
        decode_atproto_value(&tagged_cid(&cid.to_bytes(), false)),
        Err(CborError::InvalidCid { .. })
    ));
    // Trailing garbage after the CID inside the byte string.
    let mut long = cid.to_bytes();
    long.push(7);
    assert!(matches!(
        decode_atproto_value(&tagged_cid(&long, true)),
        Err(CborError::InvalidCid { .. })
    ));
    // A truncated CID.
    let truncated = decode_atproto_value(&tagged_cid(&cid.to_bytes()[..10], true));
    assert!(
        matches!(truncated, Err(CborError::InvalidCid { .. })),
        "{truncated:?}"
    );

    // A well-formed CIDv1 with the dag-pb codec: not an atproto form, unless asked to tolerate.
    let dag_pb = ipld_core::cid::Cid::new_v1(0x70, *cid.hash());
    let bytes = tagged_cid(&dag_pb.to_bytes(), true);
    assert_eq!(
        decode_atproto_value(&bytes),
        Err(CborError::DisallowedCid {
            offset: 0,
            source: Box::new(CidError::UnsupportedCodec {
                cid: dag_pb,
                codec: 0x70
            })
        })
    );
    let lenient = DecodeOptions {
        any_cid_form: true,
        ..DecodeOptions::default()
    };
    assert_eq!(
        decode_atproto_value_with(&bytes, &lenient),
        Ok(Ipld::Link(dag_pb))
    );
}

#[test]
fn truncated_trailing_and_garbage_inputs_are_rejected() {
    assert_eq!(
        decode_atproto_value(&[]),
        Err(CborError::Truncated { offset: 0 })
    );
    // A string claiming 5 bytes with 1 present.
    assert_eq!(
        decode_atproto_value(&[0x65, b'a']),
        Err(CborError::Truncated { offset: 0 })
    );
    // A map claiming 2 entries with 1 present.
    assert_eq!(
        decode_atproto_value(&[0xa2, 0x61, b'a', 0x01]),
        Err(CborError::Truncated { offset: 4 })
    );
    // A huge claimed length is not allocated.
    assert_eq!(
        decode_atproto_value(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Err(CborError::Truncated { offset: 0 })
    );
    assert_eq!(
        decode_atproto_value(&[0x01, 0x02]),
        Err(CborError::TrailingBytes { offset: 1 })
    );
    assert_eq!(
        decode_atproto_value(&[0x62, 0xff, 0xfe]),
        Err(CborError::InvalidUtf8 { offset: 0 })
    );
    assert_eq!(
        decode_atproto_value(&[0xf7]),
        Err(CborError::UnsupportedSimple {
            offset: 0,
            value: 23
        })
    );
    assert_eq!(
        decode_atproto_value(&[0x1c]),
        Err(CborError::ReservedHead { offset: 0 })
    );
}

#[test]
fn nesting_is_limited() {
    let options = DecodeOptions::default();
    let mut bytes = vec![0x81; options.max_depth];
    bytes.push(0x00);
    assert!(decode_atproto_value(&bytes).is_ok());
    let mut bytes = vec![0x81; options.max_depth + 1];
    bytes.push(0x00);
    assert_eq!(
        decode_atproto_value(&bytes),
        Err(CborError::TooDeep {
            offset: options.max_depth,
            max: options.max_depth
        })
    );
}

#[test]
fn data_model_rules_on_values() {
    let blob = |size: Ipld| {
        let mut map = BTreeMap::new();
        map.insert("$type".to_owned(), Ipld::String("blob".into()));
        map.insert("ref".to_owned(), Ipld::Link(cid_for_dag_cbor(b"x")));
        map.insert("mimeType".to_owned(), Ipld::String("image/png".into()));
        map.insert("size".to_owned(), size);
        Ipld::Map(map)
    };
    assert_eq!(check_data_model(&blob(Ipld::Integer(10))), Ok(()));
    assert!(matches!(
        check_data_model(&blob(Ipld::String("10".into()))),
        Err(DataModelError::InvalidBlob(_))
    ));
    let empty_type = Ipld::Map(BTreeMap::from([(
        "$type".to_owned(),
        Ipld::String(String::new()),
    )]));
    assert_eq!(
        check_data_model(&empty_type),
        Err(DataModelError::EmptyType)
    );
}
