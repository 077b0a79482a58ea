//! Unit tests of the DAG-CBOR codec: the byte scanner against serde output, value boundaries and
//! integer bounds.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;

use super::*;

#[test]
fn scanner_accepts_what_serde_encodes() {
    let mut map = BTreeMap::new();
    map.insert("bb".to_owned(), Ipld::Integer(-300));
    map.insert("a".to_owned(), Ipld::Bytes(vec![1, 2, 3]));
    map.insert(
        "link".to_owned(),
        Ipld::Link(crate::cid::cid_for_dag_cbor(b"x")),
    );
    map.insert(
        "list".to_owned(),
        Ipld::List(vec![Ipld::Null, Ipld::Bool(true), Ipld::String("é".into())]),
    );
    let value = Ipld::Map(map);
    let bytes = encode_atproto_value(&value).unwrap();
    assert_eq!(decode_atproto_value(&bytes), Ok(value));
}

#[test]
fn split_first_value_finds_the_boundary() {
    let options = DecodeOptions::default();
    let bytes = [0xa1, 0x61, b'a', 0x01, 0x82, 0x01, 0x02];
    let (first, rest) = split_first_value(&bytes, &options).unwrap();
    assert_eq!(first, &bytes[..4]);
    assert_eq!(rest, &bytes[4..]);
    assert_eq!(
        split_first_value(&[0xa1, 0x61], &options),
        Err(CborError::Truncated { offset: 1 })
    );
}

#[test]
fn integer_bounds() {
    // i64::MAX as a uint and i64::MIN as a negint are fine; one more is not.
    let max = [0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        decode_atproto_value(&max),
        Ok(Ipld::Integer(i64::MAX.into()))
    );
    let min = [0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        decode_atproto_value(&min),
        Ok(Ipld::Integer(i64::MIN.into()))
    );
    let too_big = [0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode_atproto_value(&too_big),
        Err(CborError::IntegerOutOfRange { offset: 0 })
    );
    let too_small = [0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode_atproto_value(&too_small),
        Err(CborError::IntegerOutOfRange { offset: 0 })
    );
    assert!(matches!(
        encode_atproto_value(&Ipld::Integer(i128::from(i64::MAX) + 1)),
        Err(CborError::DataModel(DataModelError::IntegerOutOfRange(_)))
    ));
}
