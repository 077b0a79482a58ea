//! DID resolution goes out only through the guarded dialler: loopback targets (by IP literal
//! or by a name that resolves there) are refused in production and fetched in dev mode.

use std::net::SocketAddr;
use std::sync::Arc;

use atrelay_identity::{HttpResolver, ResolveError, Resolver, ResolverConfig};
use atrelay_net::{Lookup, LookupFuture, Outbound};
use atrelay_repo::crypto::SigningKey;

use crate::resolve::{document, PLC_DID};
use crate::server::{FakeServer, Reply};

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
    let server = FakeServer::start().await;
    let key = SigningKey::generate_k256().public_key();
    server.plc(
        PLC_DID,
        Reply::ok(document(PLC_DID, &key, "https://pds.example.com")),
    );
    // An IP-literal directory URL, and a name that resolves to loopback.
    for plc_url in [
        server.plc_url(),
        format!("https://127.0.0.1:{}", server.port),
        "https://plc.example.com".to_owned(),
    ] {
        let production = resolver(plc_url.clone(), false);
        assert_refused(production.resolve(PLC_DID).await);
    }
    assert_eq!(server.plc_hits(PLC_DID), 0);
    let dev = resolver(format!("http://plc.example.com:{}", server.port), true);
    let identity = dev.resolve(PLC_DID).await.unwrap();
    assert_eq!(identity.pds_host.as_deref(), Some("pds.example.com"));
    assert_eq!(server.plc_hits(PLC_DID), 1);
}

#[tokio::test]
async fn did_web_on_loopback_only_in_dev_mode() {
    let server = FakeServer::start().await;
    let key = SigningKey::generate_k256().public_key();
    // Production: a did:web host that resolves to loopback is never dialled.
    let production = resolver("https://plc.directory".to_owned(), false);
    assert_refused(production.resolve("did:web:evil.example.com").await);
    // Dev mode: the same kind of name (with a port) is fetched.
    let did = server.web("pds.example.com", Reply::status(200));
    server.web(
        "pds.example.com",
        Reply::ok(document(&did, &key, "https://pds.example.com")),
    );
    let dev = resolver("https://plc.directory".to_owned(), true);
    let identity = dev.resolve(&did).await.unwrap();
    assert_eq!(identity.did, did);
    assert_eq!(server.web_hits("pds.example.com"), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = FakeServer::start().await;
    server.plc(PLC_DID, Reply::status(302));
    let dev = resolver(server.plc_url(), true);
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
