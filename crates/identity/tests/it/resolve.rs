//! HttpResolver against the fake directory: good documents, legacy keys and every error class.

use std::time::Duration;

use atrelay_identity::{HttpResolver, ResolveError, Resolver, ResolverConfig};
use atrelay_repo::crypto::{PublicKey, SigningKey};
use atrelay_testkit::{DirectoryReply, FakeDirectory};
use serde_json::{json, Value};

pub const PLC_DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
pub const OTHER_PLC_DID: &str = "did:plc:44ybard66vv44zksje25o7dz";

/// A current-style DID document with a Multikey and relative fragment ids.
pub fn document(did: &str, key: &PublicKey, pds: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": ["at://alice.example.com"],
        "verificationMethod": [{
            "id": "#atproto",
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": key.to_multikey()
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": pds
        }]
    })
}

pub fn dev_resolver(directory: &FakeDirectory) -> HttpResolver {
    dev_resolver_with(directory, |_| {})
}

pub fn dev_resolver_with(
    directory: &FakeDirectory,
    tweak: impl FnOnce(&mut ResolverConfig),
) -> HttpResolver {
    let mut config = ResolverConfig {
        plc_url: directory.url(),
        dev_mode: true,
        ..ResolverConfig::default()
    };
    tweak(&mut config);
    HttpResolver::new(config).unwrap()
}

#[tokio::test]
async fn plc_document() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.publish_json(PLC_DID, document(PLC_DID, &key, "https://pds.example.com"));
    let ident = dev_resolver(&directory).resolve(PLC_DID).await.unwrap();
    assert_eq!(ident.did, PLC_DID);
    assert_eq!(ident.signing_key, Some(key));
    assert_eq!(ident.pds_host.as_deref(), Some("pds.example.com"));
    assert_eq!(ident.handle.as_deref(), Some("alice.example.com"));
    assert_eq!(directory.request_count(PLC_DID), 1);
}

#[tokio::test]
async fn web_documents_by_host() {
    let directory = FakeDirectory::start().await.unwrap();
    let key_a = SigningKey::generate_p256().public_key();
    let key_b = SigningKey::generate_k256().public_key();
    let did_a = format!("did:web:localhost%3A{}", directory.addr().port());
    let did_b = format!("did:web:127.0.0.1%3A{}", directory.addr().port());
    directory.publish_json(&did_a, document(&did_a, &key_a, "http://localhost:2583"));
    directory.publish_json(&did_b, document(&did_b, &key_b, "https://b.example"));
    let resolver = dev_resolver(&directory);

    let a = resolver.resolve(&did_a).await.unwrap();
    assert_eq!(a.signing_key, Some(key_a));
    assert_eq!(a.pds_host.as_deref(), Some("localhost:2583"));
    let b = resolver.resolve(&did_b).await.unwrap();
    assert_eq!(b.signing_key, Some(key_b));
    assert_eq!(directory.request_count(&did_a), 1);
    assert_eq!(directory.request_count(&did_b), 1);
}

#[tokio::test]
async fn legacy_key_document() {
    let directory = FakeDirectory::start().await.unwrap();
    let signing = SigningKey::generate_k256();
    let uncompressed = signing.public_key().to_uncompressed_bytes();
    let legacy = format!("z{}", bs58_encode(&uncompressed));
    let doc = json!({
        "id": PLC_DID,
        "alsoKnownAs": ["at://legacy.example.com"],
        "verificationMethod": [{
            "id": format!("{PLC_DID}#atproto"),
            "type": "EcdsaSecp256k1VerificationKey2019",
            "controller": PLC_DID,
            "publicKeyMultibase": legacy
        }],
        "service": [{
            "id": format!("{PLC_DID}#atproto_pds"),
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": "https://legacy-pds.example.com"
        }]
    });
    directory.publish_json(PLC_DID, doc);
    let ident = dev_resolver(&directory).resolve(PLC_DID).await.unwrap();
    let key = ident.signing_key.clone().expect("legacy key parsed");
    let signature = signing.sign(b"commit bytes");
    assert_eq!(key.verify(b"commit bytes", &signature), Ok(()));
    assert_eq!(ident.pds_host.as_deref(), Some("legacy-pds.example.com"));
}

/// Minimal base58btc encoder so the test needs no extra dependency.
fn bs58_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new();
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    std::iter::repeat_n(b'1', zeros)
        .chain(digits.iter().rev().map(|&d| ALPHABET[d as usize]))
        .map(char::from)
        .collect()
}

#[tokio::test]
async fn slow_server_times_out() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.set_reply(
        PLC_DID,
        DirectoryReply::slow(
            document(PLC_DID, &key, "https://pds.example.com").to_string(),
            Duration::from_secs(5),
        ),
    );
    let resolver = dev_resolver_with(&directory, |c| c.timeout = Duration::from_millis(200));
    assert_eq!(
        resolver.resolve(PLC_DID).await,
        Err(ResolveError::Timeout {
            did: PLC_DID.into()
        })
    );
    assert!(ResolveError::Timeout {
        did: PLC_DID.into()
    }
    .is_transient());
}

#[tokio::test]
async fn huge_documents_are_refused() {
    let directory = FakeDirectory::start().await.unwrap();
    let resolver = dev_resolver_with(&directory, |c| c.max_document_bytes = 16 * 1024);
    let too_large = ResolveError::TooLarge {
        did: PLC_DID.into(),
        limit: 16 * 1024,
    };

    // With a Content-Length header.
    let padding = " ".repeat(100_000);
    directory.set_reply(
        PLC_DID,
        DirectoryReply::ok(format!("{{\"id\":\"{PLC_DID}\"{padding}}}")),
    );
    assert_eq!(resolver.resolve(PLC_DID).await, Err(too_large.clone()));

    // Streamed without a length: 64 MiB offered, the resolver stops after the limit.
    directory.set_reply(
        PLC_DID,
        DirectoryReply::Stream {
            chunk: 64 * 1024,
            chunks: 1024,
        },
    );
    assert_eq!(resolver.resolve(PLC_DID).await, Err(too_large));
}

#[tokio::test]
async fn document_for_another_did() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.publish_json(
        PLC_DID,
        document(OTHER_PLC_DID, &key, "https://pds.example.com"),
    );
    assert_eq!(
        dev_resolver(&directory).resolve(PLC_DID).await,
        Err(ResolveError::WrongDid {
            did: PLC_DID.into(),
            found: OTHER_PLC_DID.into()
        })
    );
}

#[tokio::test]
async fn status_codes() {
    let directory = FakeDirectory::start().await.unwrap();
    let resolver = dev_resolver(&directory);

    // Nothing configured: the directory answers 404.
    let err = resolver.resolve(PLC_DID).await.unwrap_err();
    assert_eq!(
        err,
        ResolveError::NotFound {
            did: PLC_DID.into()
        }
    );
    assert!(err.is_not_found() && !err.is_transient());

    directory.set_reply(PLC_DID, DirectoryReply::status(410));
    let err = resolver.resolve(PLC_DID).await.unwrap_err();
    assert_eq!(
        err,
        ResolveError::Tombstoned {
            did: PLC_DID.into()
        }
    );
    assert!(err.is_not_found());

    directory.set_reply(PLC_DID, DirectoryReply::status(503));
    let err = resolver.resolve(PLC_DID).await.unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Http {
                status: Some(503),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_transient() && !err.is_not_found());

    // A did:web host that answers 410 is simply not found (no tombstones outside PLC).
    let did = directory.web_did("localhost");
    directory.set_reply(&did, DirectoryReply::status(410));
    assert_eq!(
        resolver.resolve(&did).await,
        Err(ResolveError::NotFound { did: did.clone() })
    );
}

#[tokio::test]
async fn malformed_documents() {
    let directory = FakeDirectory::start().await.unwrap();
    let resolver = dev_resolver(&directory);
    for body in ["not json", "[]", "{\"alsoKnownAs\": []}", ""] {
        directory.set_reply(PLC_DID, DirectoryReply::ok(body));
        let err = resolver.resolve(PLC_DID).await.unwrap_err();
        assert!(
            matches!(err, ResolveError::Malformed { .. }),
            "{body:?}: {err}"
        );
    }
}

#[tokio::test]
async fn connection_refused_is_http_error() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let resolver = HttpResolver::new(ResolverConfig {
        plc_url: format!("http://127.0.0.1:{port}"),
        dev_mode: true,
        ..ResolverConfig::default()
    })
    .unwrap();
    let err = resolver.resolve(PLC_DID).await.unwrap_err();
    assert!(
        matches!(err, ResolveError::Http { status: None, .. }),
        "{err}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn production_mode_refuses_dev_only_targets() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.publish_json(PLC_DID, document(PLC_DID, &key, "https://pds.example.com"));
    let resolver = HttpResolver::new(ResolverConfig {
        plc_url: directory.url(),
        ..ResolverConfig::default()
    })
    .unwrap();
    // Ports in did:web are dev-only.
    let did = format!("did:web:localhost%3A{}", directory.addr().port());
    assert!(matches!(
        resolver.resolve(&did).await,
        Err(ResolveError::InvalidDid { .. })
    ));
    // A plain-http PLC URL is refused outright outside dev mode, by the outbound policy.
    assert!(matches!(
        resolver.resolve(PLC_DID).await,
        Err(ResolveError::Refused { .. })
    ));
    assert_eq!(directory.request_count(PLC_DID), 0);
    // Other methods and bad syntax.
    assert_eq!(
        resolver.resolve("did:example:123").await,
        Err(ResolveError::UnsupportedMethod {
            did: "did:example:123".into()
        })
    );
    assert!(matches!(
        resolver.resolve("alice.example.com").await,
        Err(ResolveError::InvalidDid { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_requests_are_capped() {
    let directory = FakeDirectory::start().await.unwrap();
    let dids: Vec<String> = (0..4)
        .map(|i| format!("did:plc:{}", char::from(b'a' + i).to_string().repeat(24)))
        .collect();
    for did in &dids {
        let key = SigningKey::generate_k256().public_key();
        directory.set_reply(
            did,
            DirectoryReply::slow(
                document(did, &key, "https://pds.example.com").to_string(),
                Duration::from_millis(50),
            ),
        );
    }
    let resolver = std::sync::Arc::new(dev_resolver_with(&directory, |c| {
        c.max_concurrent_requests = 1
    }));
    let tasks: Vec<_> = dids
        .iter()
        .cloned()
        .map(|did| {
            let resolver = std::sync::Arc::clone(&resolver);
            tokio::spawn(async move { resolver.resolve(&did).await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(directory.max_concurrent_requests(), 1);
}
