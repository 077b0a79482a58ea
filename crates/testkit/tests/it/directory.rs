//! The fake PLC directory answers like plc.directory: 200, 404 and 410.

use atrelay_identity::{HttpResolver, ResolveError, Resolver, ResolverConfig};
use atrelay_testkit::{AccountOptions, FakeDirectory, FakePds};

#[tokio::test]
async fn documents_resolve_and_tombstones_are_gone() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let did = pds
        .create_account(AccountOptions {
            handle: Some("alice.test".into()),
            ..Default::default()
        })
        .unwrap();
    let resolver = HttpResolver::new(ResolverConfig {
        plc_url: directory.url(),
        dev_mode: true,
        ..ResolverConfig::default()
    })
    .unwrap();
    let ident = resolver.resolve(&did).await.unwrap();
    let doc = pds.document(&did).unwrap();
    assert_eq!(ident.did, did);
    assert_eq!(ident.handle.as_deref(), Some("alice.test"));
    assert_eq!(ident.signing_key.as_ref(), Some(&doc.signing_key));
    assert_eq!(ident.pds_host.as_deref(), Some(pds.hostname()));
    assert_eq!(ident.pds_endpoint.as_deref(), Some(pds.url().as_str()));
    assert_eq!(directory.request_count(&did), 1);

    let unknown = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    assert!(matches!(
        resolver.resolve(unknown).await,
        Err(ResolveError::NotFound { .. })
    ));

    pds.set_status(&did, Some(atrelay_stream::AccountStatus::Deleted))
        .unwrap();
    assert!(matches!(
        resolver.resolve(&did).await,
        Err(ResolveError::Tombstoned { .. })
    ));
}

#[tokio::test]
async fn did_web_documents_are_served_by_the_pds() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let did = pds
        .create_account(AccountOptions {
            did_web: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(did, format!("did:web:localhost%3A{}", pds.port()));
    assert!(matches!(
        pds.create_account(AccountOptions {
            did_web: true,
            ..Default::default()
        }),
        Err(atrelay_testkit::TestkitError::DidWebTaken { .. })
    ));
    let resolver = HttpResolver::new(ResolverConfig {
        plc_url: directory.url(),
        dev_mode: true,
        ..ResolverConfig::default()
    })
    .unwrap();
    let ident = resolver.resolve(&did).await.unwrap();
    assert_eq!(ident.pds_host.as_deref(), Some(pds.hostname()));
    assert_eq!(directory.request_count(&did), 0);
}

#[tokio::test]
async fn handle_changes_update_the_document_and_emit_identity() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    let head = pds.head_seq();
    pds.set_handle(&did, "bob.test").unwrap();
    let resolver = HttpResolver::new(ResolverConfig {
        plc_url: directory.url(),
        dev_mode: true,
        ..ResolverConfig::default()
    })
    .unwrap();
    let ident = resolver.resolve(&did).await.unwrap();
    assert_eq!(ident.handle.as_deref(), Some("bob.test"));
    let events = pds.events();
    let last = events.last().unwrap();
    assert_eq!(last.seq, head + 1);
    match atrelay_stream::decode_frame(&last.frame).unwrap() {
        atrelay_stream::Message::Identity(m) => {
            assert_eq!(
                (m.did.as_str(), m.handle.as_deref()),
                (did.as_str(), Some("bob.test"))
            )
        }
        other => panic!("expected #identity, got {other:?}"),
    }
    // describeRepo finds the account by its new handle.
    let described: serde_json::Value = reqwest::get(format!(
        "{}/xrpc/com.atproto.repo.describeRepo?repo=bob.test",
        pds.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(described["did"], did);
}
