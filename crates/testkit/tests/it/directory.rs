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

#[tokio::test]
async fn replies_override_documents_and_web_dids_are_hosted_by_host() {
    use atrelay_testkit::DirectoryReply;
    use std::time::Duration;

    let directory = FakeDirectory::start().await.unwrap();
    let plc = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    directory.publish_json(plc, serde_json::json!({"id": plc}));
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let plc_url = format!("{}/{plc}", directory.url());
    assert_eq!(get(plc_url.clone()).await.0, 200);
    directory.set_reply(plc, DirectoryReply::status(503));
    assert_eq!(
        get(plc_url.clone()).await,
        (503, "{\"error\":\"status 503\"}".to_owned())
    );
    directory.clear_reply(plc);
    assert_eq!(get(plc_url.clone()).await.0, 200);
    assert_eq!(directory.request_count(plc), 3);

    // did:web documents by Host: one directory, one identity per name that reaches it.
    let port = directory.addr().port();
    let local = directory.web_did("localhost");
    assert_eq!(local, format!("did:web:localhost%3A{port}"));
    let loopback = directory.web_did("127.0.0.1");
    directory.publish_json(&local, serde_json::json!({"id": local}));
    directory.set_reply(&loopback, DirectoryReply::ok("not json"));
    let (status, body) = get(format!("http://localhost:{port}/.well-known/did.json")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"],
        local
    );
    let (status, body) = get(format!("http://127.0.0.1:{port}/.well-known/did.json")).await;
    assert_eq!((status, body.as_str()), (200, "not json"));
    assert_eq!(directory.request_count(&local), 1);
    assert_eq!(directory.request_count(&loopback), 1);

    // An endless body has no Content-Length.
    directory.set_reply(
        plc,
        DirectoryReply::Stream {
            chunk: 10,
            chunks: 3,
        },
    );
    let response = client.get(&plc_url).send().await.unwrap();
    assert_eq!(response.content_length(), None);
    assert_eq!(response.bytes().await.unwrap().len(), 30);

    // Slow replies overlap; the directory reports how many it answered at once.
    directory.set_reply(plc, DirectoryReply::slow("{}", Duration::from_millis(200)));
    let (a, b) = tokio::join!(get(plc_url.clone()), get(plc_url.clone()));
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(directory.max_concurrent_requests(), 2);
}
