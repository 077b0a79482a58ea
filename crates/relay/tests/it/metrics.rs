//! `/metrics` after real ingest and a live consumer: indigo's series names beside ours, the
//! latency histograms, the identity cache, the database pool and the process, all in a
//! well-formed exposition with bounded labels.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds};

/// Samples by series name and label text: `name{labels} value`.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut typed = BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| typed.contains(*base))
            .unwrap_or(name);
        assert!(typed.contains(family), "{name} has no TYPE line");
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} among {:#?}", samples.keys()))
}

both_backends_ingest!(metrics_after_ingest_and_a_live_consumer);
async fn metrics_after_ingest_and_a_live_consumer(
    relay: support::TestRelay,
    directory: &FakeDirectory,
) -> support::TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let mut socket = support::connect(&relay, None).await;
    let accounts = 3;
    for _ in 0..accounts {
        let did = pds.create_account(AccountOptions::default()).unwrap();
        for i in 0..4 {
            let record = sample_record("app.bsky.feed.post", &format!("post {i}"));
            pds.create_record(&did, "app.bsky.feed.post", record)
                .unwrap();
        }
    }
    pds.request_crawl(&relay.base).await.unwrap();
    support::wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    // The live consumer gets at least one event.
    support::next_message(&mut socket).await;
    let commits = pds
        .events()
        .iter()
        .filter(|e| {
            matches!(
                atrelay_stream::decode_frame_bytes(&e.frame),
                Ok(atrelay_stream::Message::Commit(_))
            )
        })
        .count() as f64;

    let text = atrelay::http::metrics::render(&relay.state);
    let samples = parse(&text);
    let host = pds.hostname();
    let pds_label = |name: &str| format!("{name}{{pds=\"{host}\"}}");
    // indigo's names, per host where indigo labels them.
    assert_eq!(
        value(&samples, &pds_label("events_received_counter")),
        pds.head_seq() as f64
    );
    assert_eq!(
        value(&samples, &pds_label("repo_commits_received_counter")),
        commits
    );
    assert_eq!(
        value(&samples, &pds_label("repo_sync_received_counter")),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("atrelay_ingest_host_commits_received_total{{host=\"{host}\"}}")
        ),
        commits
    );
    assert_eq!(
        value(&samples, "relay_new_users_discovered"),
        accounts as f64
    );
    assert_eq!(value(&samples, "relay_connected_inbound"), 1.0);
    assert_eq!(
        value(&samples, "atrelay_ingest_hosts{state=\"connected\"}"),
        1.0
    );
    assert_eq!(
        value(&samples, "disk_persister_current_seq"),
        value(&samples, "atrelay_eventlog_newest_seq")
    );
    assert!(value(&samples, "events_sent_counter") >= 1.0);
    // Latency histograms saw the work (they are per process, so at least ours).
    assert!(value(&samples, &pds_label("events_handle_duration_count")) >= pds.head_seq() as f64);
    for histogram in [
        "atrelay_ingest_event_seconds_count",
        "atrelay_ingest_signature_verify_seconds_count",
        "atrelay_ingest_proof_verify_seconds_count",
        "atrelay_ingest_store_batch_seconds_count",
        "atrelay_firehose_delivery_seconds_count",
        "atrelay_firehose_consumer_lag_events_count",
    ] {
        assert!(value(&samples, histogram) >= 1.0, "{histogram}");
    }
    assert!(
        value(&samples, "atrelay_ingest_signature_verify_seconds_count") >= commits,
        "every commit's signature is timed"
    );
    // Identity cache, database pool, process.
    assert!(value(&samples, "atrelay_identity_cache_misses_total") >= accounts as f64);
    assert_eq!(
        value(&samples, "atproto_directory_identity_cache_hits"),
        value(&samples, "atrelay_identity_cache_hits_total")
    );
    assert!(value(&samples, "atrelay_store_pool_max_connections") >= 1.0);
    assert!(value(&samples, "atrelay_store_pool_connections") >= 1.0);
    assert!(value(&samples, "process_resident_memory_bytes") > 0.0);
    assert!(value(&samples, "process_open_fds") > 0.0);
    // Bounded labels: hosts, reasons, tasks and states; never a DID or a consumer.
    for series in samples.keys() {
        assert!(!series.contains("did:"), "a DID in a label: {series}");
        assert!(
            !series.contains("remote_addr") && !series.contains("user_agent"),
            "a per-consumer label: {series}"
        );
    }
    relay
}

/// The delivery histogram is the upstream-to-consumer latency: it counts from the moment the
/// relay read an event's frame, so time spent before the append (here a slow DID directory)
/// shows in it. Measured from the append instead, these events would all be fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_latency_counts_from_the_upstream_frame() {
    let directory = FakeDirectory::start().await.unwrap();
    let setup = support::IngestSetup::for_directory(&directory);
    let relay = support::TestRelay::sqlite_ingest(setup).await;
    let pds = FakePds::start(&directory).await.unwrap();
    let accounts = 3;
    for _ in 0..accounts {
        let did = pds.create_account(AccountOptions::default()).unwrap();
        let record = sample_record("app.bsky.feed.post", "slow to resolve");
        pds.create_record(&did, "app.bsky.feed.post", record)
            .unwrap();
    }
    // Each new account's first event waits this long for its DID document.
    directory.set_delay(std::time::Duration::from_millis(700));
    let slow_bucket = "atrelay_firehose_delivery_seconds_bucket{le=\"0.512\"}";
    let before = parse(&atrelay::http::metrics::render(&relay.state));
    let slow_before =
        value(&before, "atrelay_firehose_delivery_seconds_count") - value(&before, slow_bucket);

    let mut socket = support::connect(&relay, None).await;
    pds.request_crawl(&relay.base).await.unwrap();
    for _ in 0..pds.head_seq() {
        support::next_message(&mut socket).await;
    }
    let after = parse(&atrelay::http::metrics::render(&relay.state));
    let slow_after =
        value(&after, "atrelay_firehose_delivery_seconds_count") - value(&after, slow_bucket);
    assert!(
        slow_after - slow_before >= accounts as f64,
        "every new account's first event took over 0.5 s from its frame to the consumer \
         ({} such deliveries)",
        slow_after - slow_before
    );
    relay.finish().await;
}
