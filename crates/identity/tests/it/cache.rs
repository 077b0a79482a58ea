//! CachingResolver: coalescing, TTLs, failure caching, purge, bounds and counters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use atrelay_identity::{
    CacheConfig, CachingResolver, HttpResolver, Identity, ResolveError, Resolver, StaticResolver,
};
use atrelay_repo::crypto::SigningKey;
use atrelay_testkit::{DirectoryReply, FakeDirectory};

use crate::resolve::{dev_resolver, document, OTHER_PLC_DID, PLC_DID};

fn cached(directory: &FakeDirectory, config: CacheConfig) -> CachingResolver<HttpResolver> {
    CachingResolver::new(dev_resolver(directory), config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_lookups_reach_the_server_once() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    // The delay keeps the first request in flight while the others arrive.
    directory.set_reply(
        PLC_DID,
        DirectoryReply::slow(
            document(PLC_DID, &key, "https://pds.example.com").to_string(),
            Duration::from_millis(300),
        ),
    );
    let resolver = Arc::new(cached(&directory, CacheConfig::default()));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let resolver = Arc::clone(&resolver);
            tokio::spawn(async move { resolver.resolve(PLC_DID).await })
        })
        .collect();
    for task in tasks {
        let ident = task.await.unwrap().unwrap();
        assert_eq!(ident.signing_key.as_ref(), Some(&key));
    }
    assert_eq!(directory.request_count(PLC_DID), 1);
    let m = resolver.metrics();
    assert_eq!(m.misses.load(Ordering::Relaxed), 1);
    assert_eq!(
        m.hits.load(Ordering::Relaxed) + m.coalesced.load(Ordering::Relaxed),
        999
    );
    assert!(m.coalesced.load(Ordering::Relaxed) > 0);
    assert_eq!(m.errors.load(Ordering::Relaxed), 0);

    // Later lookups are plain hits.
    resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(directory.request_count(PLC_DID), 1);
}

#[tokio::test]
async fn failures_are_cached_briefly() {
    let directory = FakeDirectory::start().await.unwrap();
    let resolver = cached(&directory, CacheConfig::default());
    for _ in 0..3 {
        assert!(matches!(
            resolver.resolve(PLC_DID).await,
            Err(ResolveError::NotFound { .. })
        ));
    }
    assert_eq!(directory.request_count(PLC_DID), 1);
    assert_eq!(resolver.metrics().errors.load(Ordering::Relaxed), 1);
    assert_eq!(resolver.metrics().hits.load(Ordering::Relaxed), 2);

    // With failure caching off, every lookup asks again.
    let uncached = cached(
        &directory,
        CacheConfig {
            error_ttl: Duration::ZERO,
            ..CacheConfig::default()
        },
    );
    uncached.resolve(PLC_DID).await.unwrap_err();
    uncached.resolve(PLC_DID).await.unwrap_err();
    assert_eq!(directory.request_count(PLC_DID), 3);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.publish_json(PLC_DID, document(PLC_DID, &key, "https://pds.example.com"));
    let resolver = cached(
        &directory,
        CacheConfig {
            ttl: Duration::from_millis(50),
            ..CacheConfig::default()
        },
    );
    resolver.resolve(PLC_DID).await.unwrap();
    resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(directory.request_count(PLC_DID), 1);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(resolver.cached(PLC_DID), None);
    resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(directory.request_count(PLC_DID), 2);
}

#[tokio::test]
async fn purge_refetches_one_did() {
    let directory = FakeDirectory::start().await.unwrap();
    let old_key = SigningKey::generate_k256().public_key();
    let new_key = SigningKey::generate_p256().public_key();
    let other_key = SigningKey::generate_k256().public_key();
    directory.publish_json(
        PLC_DID,
        document(PLC_DID, &old_key, "https://old.example.com"),
    );
    directory.publish_json(
        OTHER_PLC_DID,
        document(OTHER_PLC_DID, &other_key, "https://x.example"),
    );
    let resolver = cached(&directory, CacheConfig::default());
    resolver.resolve(PLC_DID).await.unwrap();
    resolver.resolve(OTHER_PLC_DID).await.unwrap();

    // The account migrates; until purged the cache still answers with the old document.
    directory.publish_json(
        PLC_DID,
        document(PLC_DID, &new_key, "https://new.example.com"),
    );
    let stale = resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(stale.pds_host.as_deref(), Some("old.example.com"));

    resolver.purge(PLC_DID);
    let fresh = resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(fresh.pds_host.as_deref(), Some("new.example.com"));
    assert_eq!(fresh.signing_key, Some(new_key));
    assert_eq!(directory.request_count(PLC_DID), 2);
    assert_eq!(resolver.metrics().purges.load(Ordering::Relaxed), 1);

    // The other DID was not touched.
    resolver.resolve(OTHER_PLC_DID).await.unwrap();
    assert_eq!(directory.request_count(OTHER_PLC_DID), 1);
}

#[tokio::test]
async fn purge_through_a_trait_object() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.publish_json(PLC_DID, document(PLC_DID, &key, "https://pds.example.com"));
    let resolver: Arc<dyn Resolver> = Arc::new(cached(&directory, CacheConfig::default()));
    resolver.resolve(PLC_DID).await.unwrap();
    resolver.purge(PLC_DID);
    resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(directory.request_count(PLC_DID), 2);
}

#[tokio::test]
async fn table_is_bounded() {
    let table = StaticResolver::new();
    let dids = [
        "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
        "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb",
        "did:plc:cccccccccccccccccccccccc",
    ];
    for did in dids {
        table.insert(identity(did));
    }
    let resolver = CachingResolver::new(
        table,
        CacheConfig {
            max_entries: 2,
            ..CacheConfig::default()
        },
    );
    for did in dids {
        resolver.resolve(did).await.unwrap();
    }
    assert_eq!(resolver.len(), 2);
    assert_eq!(resolver.metrics().evictions.load(Ordering::Relaxed), 1);
    // The least recently used entry went first.
    assert!(resolver.cached(dids[0]).is_none());
    assert!(resolver.cached(dids[2]).is_some());
}

#[tokio::test]
async fn a_cancelled_leader_does_not_block_others() {
    let directory = FakeDirectory::start().await.unwrap();
    let key = SigningKey::generate_k256().public_key();
    directory.set_reply(
        PLC_DID,
        DirectoryReply::slow(
            document(PLC_DID, &key, "https://pds.example.com").to_string(),
            Duration::from_millis(200),
        ),
    );
    let resolver = Arc::new(cached(&directory, CacheConfig::default()));

    // Start a lookup and give up on it while the request is in flight.
    let leader = {
        let resolver = Arc::clone(&resolver);
        tokio::spawn(async move { resolver.resolve(PLC_DID).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());

    // A new lookup still completes and is then cached.
    let ident = resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(ident.signing_key, Some(key));
    resolver.resolve(PLC_DID).await.unwrap();
    assert_eq!(resolver.cached(PLC_DID).map(|a| a.is_ok()), Some(true));
}

#[tokio::test]
async fn static_resolver_answers_from_its_table() {
    let table = StaticResolver::new();
    table.insert(identity(PLC_DID));
    table.insert_error(
        OTHER_PLC_DID,
        ResolveError::Tombstoned {
            did: OTHER_PLC_DID.into(),
        },
    );
    assert_eq!(table.resolve(PLC_DID).await.unwrap().did, PLC_DID);
    assert!(table
        .resolve(OTHER_PLC_DID)
        .await
        .unwrap_err()
        .is_not_found());
    table.remove(PLC_DID);
    assert_eq!(
        table.resolve(PLC_DID).await,
        Err(ResolveError::NotFound {
            did: PLC_DID.into()
        })
    );
}

fn identity(did: &str) -> Identity {
    Identity {
        did: did.to_owned(),
        handle: None,
        signing_key: Some(SigningKey::generate_k256().public_key()),
        pds_endpoint: Some("https://pds.example.com".into()),
        pds_host: Some("pds.example.com".into()),
    }
}
