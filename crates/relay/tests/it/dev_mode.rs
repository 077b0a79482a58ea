//! Dev mode (`--allow-insecure-hosts`), both ways: every refusal it lifts holds in production
//! and is lifted in dev mode, end to end over HTTP to the relay where a loopback test can
//! reach it (hostnames with a port, IP literals, loopback and private addresses, plain `http://`
//! and `ws://`, upstream dials to loopback), and through the relay's resolver otherwise
//! (did:web with a port over plain http, a plain-http PLC directory on loopback).

use crate::support;

use std::time::Duration;

use atrelay::engine::ingest::http_resolver;
use atrelay_store::{HostLimits, HostStatus, NewHost};
use atrelay_testkit::{AccountOptions, FakeDirectory, FakePds, PdsOptions};
use support::{IngestSetup, TestRelay};

/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

async fn relay(directory: &FakeDirectory, dev: bool) -> TestRelay {
    let mut setup = IngestSetup::for_directory(directory);
    setup.config.allow_insecure_hosts = dev;
    TestRelay::sqlite_ingest(setup).await
}

/// `requestCrawl` for `hostname`: the status and the XRPC error name.
async fn crawl(relay: &TestRelay, hostname: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/xrpc/com.atproto.sync.requestCrawl", relay.base))
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

async fn wait_until<F: std::future::Future<Output = bool>>(mut condition: impl FnMut() -> F) {
    tokio::time::timeout(HANG_GUARD, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition never held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_crawl_hostnames_production_and_dev() {
    let directory = FakeDirectory::start().await.unwrap();
    let by_ip = FakePds::start(&directory).await.unwrap();
    let by_name = FakePds::start_with(
        &directory,
        PdsOptions {
            localhost_name: true,
            ..PdsOptions::default()
        },
    )
    .await
    .unwrap();
    let ip_port = by_ip.hostname().to_owned(); // 127.0.0.1:<port>
    let name_port = by_name.hostname().to_owned(); // localhost:<port>
    let port = by_ip.port();

    // Production: no port, no IP literal, no loopback or private address, no plain scheme.
    let production = relay(&directory, false).await;
    for hostname in [
        ip_port.clone(),
        name_port.clone(),
        format!("http://{ip_port}"),
        format!("ws://{name_port}"),
        format!("http://{}", "pds.example.com"),
        format!("ws://{}", "pds.example.com"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "10.0.0.1".to_owned(),
        "192.168.1.10".to_owned(),
        "169.254.169.254".to_owned(),
        "pds.example.com:8443".to_owned(),
    ] {
        let (status, _) = crawl(&production, &hostname).await;
        assert_eq!(status, 400, "production accepted {hostname}");
    }
    assert_eq!(production.store.count_hosts(None).await.unwrap(), 0);
    assert_eq!(by_ip.subscriber_count() + by_name.subscriber_count(), 0);
    production.finish().await;

    // Dev mode: the same loopback hosts are probed, stored without TLS and followed.
    let dev = relay(&directory, true).await;
    for (hostname, stored, pds) in [
        (format!("http://{ip_port}"), &ip_port, &by_ip),
        (ip_port.clone(), &ip_port, &by_ip),
        (format!("ws://{name_port}"), &name_port, &by_name),
        (name_port.clone(), &name_port, &by_name),
    ] {
        assert_eq!(
            crawl(&dev, &hostname).await,
            (200, String::new()),
            "dev mode refused {hostname}"
        );
        let host = dev.store.host_by_hostname(stored).await.unwrap().unwrap();
        assert!(host.no_ssl, "{hostname} is dialled without TLS");
        assert!(dev.state.ingest.is_subscribed(host.id));
        wait_until(|| async { pds.subscriber_count() == 1 }).await;
    }
    assert_eq!(dev.store.count_hosts(None).await.unwrap(), 2);
    // Dev mode still checks that the host answers describeServer.
    assert_eq!(
        crawl(&dev, "127.0.0.1:1").await,
        (400, "HostNotFound".to_owned())
    );
    dev.finish().await;
}

/// A host already in the store (added in dev mode, or by an operator) whose name is loopback:
/// a production relay's upstream dialler refuses it; a dev-mode relay subscribes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_dial_to_loopback_only_in_dev_mode() {
    let directory = FakeDirectory::start().await.unwrap();
    for dev in [false, true] {
        let pds = FakePds::start_with(
            &directory,
            PdsOptions {
                localhost_name: true,
                ..PdsOptions::default()
            },
        )
        .await
        .unwrap();
        let relay = relay(&directory, dev).await;
        let host = relay
            .store
            .create_host(&NewHost {
                hostname: pds.hostname().to_owned(),
                no_ssl: true,
                trusted: false,
                status: HostStatus::Active,
                limits: HostLimits::with_account_limit(100),
            })
            .await
            .unwrap();
        relay.state.ingest.subscribe(host.clone());
        if dev {
            wait_until(|| async { pds.subscriber_count() == 1 }).await;
        } else {
            let store = relay.store.clone();
            let hostname = pds.hostname().to_owned();
            wait_until(|| {
                let store = store.clone();
                let hostname = hostname.clone();
                async move {
                    let host = store.host_by_hostname(&hostname).await.unwrap().unwrap();
                    host.last_error
                        .is_some_and(|e| e.contains("non-public address"))
                }
            })
            .await;
            assert_eq!(pds.subscriber_count(), 0);
        }
        relay.finish().await;
    }
}

/// did:web with a port is fetched over plain http in dev mode only; so is a PLC directory on
/// a loopback http URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn did_web_with_port_and_plain_http_plc_only_in_dev_mode() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let web = pds
        .create_account(AccountOptions {
            did_web: true,
            ..AccountOptions::default()
        })
        .unwrap();
    let plc = pds.create_account(AccountOptions::default()).unwrap();
    assert!(web.starts_with("did:web:localhost%3A"), "{web}");

    let production = http_resolver(&directory.url(), false).unwrap();
    assert!(production.resolve(&web).await.is_err());
    assert!(production.resolve(&plc).await.is_err());
    let dev = http_resolver(&directory.url(), true).unwrap();
    for did in [&web, &plc] {
        let identity = dev.resolve(did).await.unwrap();
        assert_eq!(identity.pds_host.as_deref(), Some(pds.hostname()));
    }

    // End to end in dev mode: both accounts' events pass the host check and the signature.
    let relay = relay(&directory, true).await;
    pds.request_crawl(&relay.base).await.unwrap();
    let store = relay.store.clone();
    wait_until(|| {
        let store = store.clone();
        let (web, plc) = (web.clone(), plc.clone());
        async move {
            let mut stored = 0;
            for did in [web, plc] {
                if let Some(account) = store.account(&did).await.unwrap() {
                    stored += usize::from(account.repo.is_some());
                }
            }
            stored == 2
        }
    })
    .await;
    relay.finish().await;
}
