//! `requestCrawl`: which hosts are followed.

use super::*;

both_backends_ingest!(request_crawl_checks_hosts);
async fn request_crawl_checks_hosts(relay: TestRelay, directory: &FakeDirectory) -> TestRelay {
    let client = reqwest::Client::new();
    let crawl = |hostname: String| {
        let client = client.clone();
        let url = format!("{}/xrpc/com.atproto.sync.requestCrawl", relay.base);
        async move {
            let response = client
                .post(url)
                .json(&serde_json::json!({ "hostname": hostname }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    // Bad syntax, and hosts that do not answer.
    assert_eq!(crawl("localhost:2583/xrpc".into()).await.0, 400);
    assert_eq!(
        crawl("127.0.0.1:1".into()).await,
        (400, "HostNotFound".into())
    );
    // The relay itself identifies as a relay: a loop.
    let own = relay.base.trim_start_matches("http://").to_owned();
    assert_eq!(crawl(own).await.0, 400);
    // Banned domains.
    let pds = FakePds::start_with(
        directory,
        atrelay_testkit::PdsOptions {
            localhost_name: true,
            ..atrelay_testkit::PdsOptions::default()
        },
    )
    .await
    .unwrap();
    relay.store.ban_domain("localhost").await.unwrap();
    assert_eq!(
        crawl(pds.hostname().to_owned()).await,
        (400, "HostBanned".into())
    );
    relay.store.unban_domain("localhost").await.unwrap();
    // The enabled switch and the new-hosts-per-day limit come from the stored settings.
    relay
        .store
        .set_setting(Setting::RequestCrawlEnabled(false))
        .await
        .unwrap();
    assert_eq!(crawl(pds.hostname().to_owned()).await.0, 403);
    relay
        .store
        .set_setting(Setting::RequestCrawlEnabled(true))
        .await
        .unwrap();
    relay
        .store
        .set_setting(Setting::NewHostsPerDay(1))
        .await
        .unwrap();
    assert_eq!(crawl(pds.hostname().to_owned()).await, (200, String::new()));
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();
    assert!(host.no_ssl);
    assert!(relay.state.ingest.is_subscribed(host.id));
    // A known host does not count against the limit; a new one does.
    assert_eq!(crawl(pds.hostname().to_owned()).await.0, 200);
    let other = FakePds::start(directory).await.unwrap();
    assert_eq!(crawl(other.hostname().to_owned()).await.0, 429);
    assert!(matches!(
        relay.store.host_by_hostname(other.hostname()).await,
        Ok(None) | Err(StoreError::HostNotFound { .. })
    ));
    relay
}

#[tokio::test]
async fn production_relay_refuses_loopback_hosts() {
    let directory = FakeDirectory::start().await.unwrap();
    let mut setup = setup(&directory);
    setup.config.allow_insecure_hosts = false;
    let relay = TestRelay::sqlite_ingest(setup).await;
    let pds = FakePds::start(&directory).await.unwrap();
    let err = pds.request_crawl(&relay.base).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    let named = FakePds::start_with(
        &directory,
        atrelay_testkit::PdsOptions {
            localhost_name: true,
            ..atrelay_testkit::PdsOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(named.request_crawl(&relay.base).await.is_err());
    assert_eq!(relay.store.count_hosts(None).await.unwrap(), 0);
    relay.finish().await;
}
