//! Fuzzes the identifier validators (DID, handle, NSID, TID, record key, AT-URI, at-identifier,
//! CID text, datetime, language, URI) with arbitrary text. Checks beyond "never panics":
//! - `Tid::parse` accepts exactly what `validate_tid` accepts and prints it back unchanged;
//! - an at-identifier is valid exactly when it is a valid DID (`did:` prefix) or handle;
//! - a valid DID has a method; a valid handle stays valid once normalised;
//! - every valid TID is a valid record key; a valid datetime is valid syntax.
#![no_main]

use atrelay_repo::syntax::{
    did_method, normalize_handle, validate_at_identifier, validate_at_uri, validate_cid_string,
    validate_datetime, validate_datetime_syntax, validate_did, validate_handle, validate_language,
    validate_language_syntax, validate_nsid, validate_record_key, validate_tid, validate_uri, Tid,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s = text.as_ref();

    let tid = Tid::parse(s);
    assert_eq!(
        tid.is_ok(),
        validate_tid(s).is_ok(),
        "Tid::parse and validate_tid disagree"
    );
    if let Ok(tid) = tid {
        assert_eq!(tid.to_text(), s, "a TID did not print back unchanged");
        assert_eq!(Tid::from_u64(tid.as_u64()), tid);
        assert!(
            validate_record_key(s).is_ok(),
            "a TID is not a valid record key"
        );
    }

    let did = validate_did(s);
    if did.is_ok() {
        assert!(did_method(s).is_ok(), "a valid DID has no method");
    }
    let handle = validate_handle(s);
    if handle.is_ok() {
        let normal = normalize_handle(s);
        assert!(
            validate_handle(&normal).is_ok(),
            "normalising broke a handle"
        );
    }
    let expected = if s.starts_with("did:") {
        did.is_ok()
    } else {
        handle.is_ok()
    };
    assert_eq!(
        validate_at_identifier(s).is_ok(),
        expected,
        "at-identifier disagrees"
    );

    if validate_datetime(s).is_ok() {
        assert!(
            validate_datetime_syntax(s).is_ok(),
            "valid datetime with invalid syntax"
        );
    }
    if validate_language(s).is_ok() {
        assert!(
            validate_language_syntax(s).is_ok(),
            "valid language with invalid syntax"
        );
    }
    let _ = validate_nsid(s);
    let _ = validate_record_key(s);
    let _ = validate_at_uri(s);
    let _ = validate_cid_string(s);
    let _ = validate_uri(s);
});
