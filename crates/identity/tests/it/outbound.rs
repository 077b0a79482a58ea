//! DID resolution goes out only through the guarded dialler: loopback targets (by IP literal
//! or by a name that resolves there) are refused in production and fetched in dev mode.

use std::net::SocketAddr;
use std::sync::Arc;

use atrelay_identity::{HttpResolver, ResolveError, Resolver, ResolverConfig};
use atrelay_net::{Lookup, LookupFuture, Outbound};
use atrelay_repo::crypto::SigningKey;
use atrelay_testkit::{DirectoryReply, FakeDirectory};

use crate::resolve::{document, PLC_DID};

/// A DNS where every name is 127.0.0.1, as a hostile did:web host or a rebinding PLC name
/// would arrange.
struct AllLoopback;

impl Lookup for AllLoopback {
    fn lookup<'a>(&'a self, _host: &'a str, port: u16) -> LookupFuture<'a> {
        Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
    }
}

fn resolver(plc_url: String, dev: bool) -> HttpResolver {
    HttpResolver::with_outbound(
        ResolverConfig {
            plc_url,
            dev_mode: dev,
            ..ResolverConfig::default()
        },
        Outbound::with_lookup(dev, Arc::new(AllLoopback)),
    )
    .unwrap()
}

fn assert_refused(result: Result<Arc<atrelay_identity::Identity>, ResolveError>) {
    match result {
        Err(ResolveError::Refused { reason, .. }) => {
            assert!(
                reason.contains("non-public") || reason.contains("dev mode"),
                "{reason}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn plc_directory_on_loopback_only_in_dev_mode() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.publish_json(PLC_DID, document(PLC_DID, &key, "https://pds.example.com"));
    // An IP-literal directory URL, and a name that resolves to loopback.
    for plc_url in [
        directory.url(),
        format!("https://127.0.0.1:{}", directory.addr().port()),
        "https://plc.example.com".to_owned(),
    ] {
        let production = resolver(plc_url.clone(), false);
        assert_refused(production.resolve(PLC_DID).await);
    }
    assert_eq!(directory.request_count(PLC_DID), 0);
    let dev = resolver(
        format!("http://plc.example.com:{}", directory.addr().port()),
        true,
    );
    let identity = dev.resolve(PLC_DID).await.unwrap();
    assert_eq!(identity.pds_host.as_deref(), Some("pds.example.com"));
    assert_eq!(directory.request_count(PLC_DID), 1);
}

#[tokio::test]
async fn did_web_on_loopback_only_in_dev_mode() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    // Production: a did:web host that resolves to loopback is never dialled.
    let production = resolver("https://plc.directory".to_owned(), false);
    assert_refused(production.resolve("did:web:evil.example.com").await);
    // Dev mode: the same kind of name (with a port) is fetched.
    let did = directory.web_did("pds.example.com");
    directory.publish_json(&did, document(&did, &key, "https://pds.example.com"));
    let dev = resolver("https://plc.directory".to_owned(), true);
    let identity = dev.resolve(&did).await.unwrap();
    assert_eq!(identity.did, did);
    assert_eq!(directory.request_count(&did), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let directory = FakeDirectory::start().await.unwrap();
    directory.set_reply(PLC_DID, DirectoryReply::status(302));
    let dev = resolver(directory.url(), true);
    let err = dev.resolve(PLC_DID).await.unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Http {
                status: Some(302),
                ..
            }
        ),
        "{err}"
    );
}
