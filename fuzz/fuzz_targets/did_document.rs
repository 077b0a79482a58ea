//! Fuzzes DID document parsing. Input: the DID, a newline, then the document's JSON bytes.
//! Checks beyond "never panics": an accepted document names exactly the DID asked for, a
//! handle it yields is valid and lower-case, a PDS host is the endpoint's host, and a signing
//! key re-encodes to a Multikey that parses back to it.
#![no_main]

use atrelay_identity::Identity;
use atrelay_repo::crypto::PublicKey;
use atrelay_repo::syntax::validate_handle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let Ok(did) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(identity) = Identity::from_document(did, &data[split + 1..]) else {
        return;
    };
    assert_eq!(identity.did, did);
    if let Some(handle) = &identity.handle {
        assert!(validate_handle(handle).is_ok(), "invalid handle {handle:?}");
        assert_eq!(handle, &handle.to_ascii_lowercase());
    }
    assert_eq!(identity.pds_endpoint.is_some(), identity.pds_host.is_some());
    if let (Some(endpoint), Some(host)) = (&identity.pds_endpoint, &identity.pds_host) {
        let rest = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"))
            .expect("endpoint has an http(s) scheme");
        assert!(!host.is_empty());
        assert!(
            rest.eq_ignore_ascii_case(host) || rest.starts_with(&format!("{host}:")),
            "host {host:?} is not the host of {endpoint:?}"
        );
    }
    if let Some(key) = &identity.signing_key {
        assert_eq!(
            PublicKey::from_multikey(&key.to_multikey()).ok().as_ref(),
            Some(key)
        );
    }
});
