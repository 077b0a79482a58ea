//! Traces: with an OpenTelemetry provider installed (here one exporting to memory, as the
//! OTLP one does to a collector), an ingested event leaves an `ingest.event` span holding its
//! identity resolution and its `eventlog.append`, its store write leaves `store.batch`, and an
//! admin call `admin.request`.

// Its own test binary: it installs the process-wide tracing subscriber.
#[path = "it/support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use support::{IngestSetup, TestRelay};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_follow_an_event_from_verification_to_the_store_and_an_admin_call() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(atrelay::logging::span_layer(&provider))
        .init();

    let directory = FakeDirectory::start().await.unwrap();
    let relay = TestRelay::sqlite_ingest(IngestSetup::for_directory(&directory)).await;
    let pds = FakePds::start(&directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    pds.create_record(
        &did,
        "app.bsky.feed.post",
        sample_record("app.bsky.feed.post", "traced"),
    )
    .unwrap();
    pds.request_crawl(&relay.base).await.unwrap();
    support::wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    assert_eq!(relay.admin_get("/admin/pds/list").await.status(), 200);
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let names: BTreeSet<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    for expected in [
        "ingest.event",
        "eventlog.append",
        "store.batch",
        "identity.resolve",
        "admin.request",
    ] {
        assert!(names.contains(expected), "no {expected} span in {names:?}");
    }
    let events: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "ingest.event")
        .map(|s| s.span_context.span_id())
        .collect();
    // Appends happen only inside an event; resolutions also for the collection backfill.
    assert!(spans
        .iter()
        .filter(|s| s.name == "eventlog.append")
        .all(|s| events.contains(&s.parent_span_id)));
    assert!(
        spans
            .iter()
            .filter(|s| s.name == "identity.resolve")
            .any(|s| events.contains(&s.parent_span_id)),
        "no identity.resolve inside an ingest.event span"
    );
    let event = spans.iter().find(|s| s.name == "ingest.event").unwrap();
    assert!(
        event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "host" && kv.value.as_str() == pds.hostname()),
        "{:?}",
        event.attributes
    );
    relay.finish().await;
    provider.shutdown().unwrap();
}
