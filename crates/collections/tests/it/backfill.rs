//! Backfill of hosts the index did not know, against fake PDSes (asked over plain HTTP by the
//! tests' [`HttpSource`]).

use std::time::Duration;

use atrelay_collections::{Backfill, BackfillConfig, CollectionIndex, CrawlState};
use atrelay_stream::AccountStatus;
use atrelay_testkit::{sample_record, AccountOptions, FakePds, RecordPath, SAMPLE_COLLECTIONS};

use crate::common::{feed, list_all, pds_with_plc_and_web, temp_index, HttpSource, CAPTAIN};

/// Fast settings.
pub fn fast_config(page_size: u16) -> BackfillConfig {
    BackfillConfig {
        requests_per_second: 1000.0,
        page_size,
        retry_backoff: Duration::from_millis(10),
        page_attempts: 2,
        ..BackfillConfig::default()
    }
}

/// Fills a PDS with a did:plc and a did:web account plus `extra` did:plc accounts, each with
/// records in a few collections. Returns every DID.
async fn populated_pds(extra: usize) -> (atrelay_testkit::FakeDirectory, FakePds, Vec<String>) {
    let (directory, pds, plc, web) = pds_with_plc_and_web().await;
    let mut dids = vec![plc, web];
    for _ in 0..extra {
        dids.push(
            pds.create_account(AccountOptions::default())
                .expect("account"),
        );
    }
    for (i, did) in dids.iter().enumerate() {
        for (j, collection) in SAMPLE_COLLECTIONS.iter().enumerate().take(1 + i % 4) {
            for k in 0..=j {
                pds.create_record(did, collection, sample_record(collection, &format!("{k}")))
                    .expect("record");
            }
        }
        if i % 2 == 0 {
            pds.create_record(did, CAPTAIN, sample_record(CAPTAIN, "c"))
                .expect("record");
        }
    }
    (directory, pds, dids)
}

/// Asserts the index holds exactly each account's collections with exact counts.
fn assert_matches_pds(index: &CollectionIndex, pds: &FakePds, dids: &[String]) {
    for did in dids {
        let mut expected = std::collections::BTreeMap::new();
        pds.with_repo(did, |repo| {
            for path in repo.records().keys() {
                let collection = path.split('/').next().expect("collection").to_owned();
                *expected.entry(collection).or_insert(0u64) += 1;
            }
        })
        .expect("repo");
        let state = index.account(did).expect("account").expect("indexed");
        assert!(state.exact, "{did} seeded");
        assert_eq!(state.collections, expected, "{did}");
    }
}

#[tokio::test]
async fn backfill_finds_every_accounts_collections() {
    let (_dir, index) = temp_index();
    let (_d, pds, dids) = populated_pds(5).await;
    pds.set_status(&dids[3], Some(AccountStatus::Deactivated))
        .expect("deactivate");
    let backfill =
        Backfill::new(index.clone(), HttpSource::shared(), fast_config(3)).expect("backfill");
    assert!(backfill
        .start_host(pds.hostname(), &pds.url())
        .expect("start"));
    let progress = backfill.wait_idle(pds.hostname()).await.expect("progress");
    assert_eq!(progress.state, CrawlState::Done, "{progress:?}");
    assert_eq!(progress.repos_seen, dids.len() as u64);
    assert_eq!(progress.repos_indexed, dids.len() as u64 - 1);
    assert_eq!(progress.repos_inactive, 1);
    assert_eq!(progress.repos_failed, 0, "{progress:?}");

    let active: Vec<String> = dids.iter().filter(|d| **d != dids[3]).cloned().collect();
    assert_matches_pds(&index, &pds, &active);
    let mut captains: Vec<String> = dids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 && *i != 3)
        .map(|(_, d)| d.clone())
        .collect();
    captains.sort();
    assert_eq!(list_all(&index, CAPTAIN, 2), captains);
    assert!(!list_all(&index, "app.bsky.feed.post", 500).contains(&dids[3]));
    // did:web is listed like any other.
    assert!(list_all(&index, "app.bsky.feed.post", 500).contains(&dids[1]));

    // Counts are exact, so a live delete of the last captain record unlists the DID, and
    // the ops the crawl already covered (replayed from the start) change nothing.
    feed(&pds, &index, 0);
    assert_matches_pds(&index, &pds, &active);
    let head = pds.head_seq();
    let path = pds
        .with_repo(&dids[0], |repo| {
            repo.records()
                .keys()
                .find(|p| p.starts_with(CAPTAIN))
                .cloned()
        })
        .expect("repo")
        .expect("captain record");
    pds.delete_record(&dids[0], RecordPath::parse(&path).expect("path"))
        .expect("delete");
    feed(&pds, &index, head);
    assert!(!list_all(&index, CAPTAIN, 500).contains(&dids[0]));
    assert_eq!(index.drift_count(), 0);
}

#[tokio::test]
async fn crawl_resumes_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_d, pds, dids) = populated_pds(6).await;
    {
        let index = CollectionIndex::open(dir.path()).expect("open");
        let config = BackfillConfig {
            requests_per_second: 20.0,
            ..fast_config(2)
        };
        let backfill =
            Backfill::new(index.clone(), HttpSource::shared(), config).expect("backfill");
        backfill
            .start_host(pds.hostname(), &pds.url())
            .expect("start");
        // Stop once the first page is saved.
        let mut changes = backfill.subscribe();
        loop {
            let progress = backfill.progress();
            if progress.iter().any(|p| p.cursor.is_some()) {
                break;
            }
            changes.changed().await.expect("changes");
        }
        backfill.shutdown().await;
        let saved = backfill.progress().remove(0);
        assert_eq!(saved.state, CrawlState::Running);
        assert!(
            saved.repos_seen >= 2 && saved.repos_seen < dids.len() as u64,
            "{saved:?}"
        );
        assert!(!backfill
            .start_host(pds.hostname(), &pds.url())
            .expect("start"));
        index.persist().expect("persist");
    }
    let index = CollectionIndex::open(dir.path()).expect("reopen");
    let backfill =
        Backfill::new(index.clone(), HttpSource::shared(), fast_config(2)).expect("backfill");
    assert_eq!(backfill.progress()[0].state, CrawlState::Running);
    assert_eq!(backfill.resume(), 1);
    let progress = backfill.wait_idle(pds.hostname()).await.expect("progress");
    assert_eq!(progress.state, CrawlState::Done);
    assert_eq!(
        progress.repos_seen,
        dids.len() as u64,
        "each account counted once"
    );
    assert_matches_pds(&index, &pds, &dids);
}

#[tokio::test]
async fn unreachable_host_fails_and_recheck_repairs_drift() {
    let (_dir, index) = temp_index();
    let backfill =
        Backfill::new(index.clone(), HttpSource::shared(), fast_config(10)).expect("backfill");
    assert!(backfill.start_host("", "http://127.0.0.1:1").is_err());
    assert!(backfill.start_host("x", "ftp://127.0.0.1:1").is_err());
    backfill
        .start_host("127.0.0.1:1", "http://127.0.0.1:1")
        .expect("start");
    let progress = backfill.wait_idle("127.0.0.1:1").await.expect("progress");
    assert_eq!(progress.state, CrawlState::Failed);
    assert!(progress.last_error.is_some());

    // Drift: the index missed a delete (the relay was down). A re-check crawl repairs it.
    let (_d, pds, plc, _web) = pds_with_plc_and_web().await;
    let commit = pds
        .create_record(&plc, CAPTAIN, sample_record(CAPTAIN, "x"))
        .expect("create");
    let seq = feed(&pds, &index, 0);
    assert_eq!(list_all(&index, CAPTAIN, 10), vec![plc.clone()]);
    pds.delete_record(&plc, RecordPath::parse(&commit.ops[0].path).expect("path"))
        .expect("delete");
    assert!(pds.head_seq() > seq);
    backfill
        .start_host(pds.hostname(), &pds.url())
        .expect("start");
    backfill.wait_idle(pds.hostname()).await.expect("progress");
    let recheck = backfill.spawn_recheck(Duration::from_millis(20));
    // Wait for the re-check to run the host a second time.
    let mut changes = backfill.subscribe();
    loop {
        let runs = backfill
            .progress()
            .iter()
            .find(|p| p.hostname == pds.hostname())
            .map(|p| (p.runs, p.state));
        if matches!(runs, Some((n, CrawlState::Done)) if n >= 2) {
            break;
        }
        changes.changed().await.expect("changes");
    }
    backfill.shutdown().await;
    recheck.await.expect("recheck task");
    assert!(list_all(&index, CAPTAIN, 10).is_empty());
}

#[tokio::test]
async fn sync_event_unseeds_and_refresh_reseeds() {
    let (_dir, index) = temp_index();
    let (_d, pds, plc, _web) = pds_with_plc_and_web().await;
    let first = pds
        .create_record(&plc, CAPTAIN, sample_record(CAPTAIN, "1"))
        .expect("create");
    pds.create_record(&plc, CAPTAIN, sample_record(CAPTAIN, "2"))
        .expect("create");
    let seq = feed(&pds, &index, 0);
    // A #sync at the head rev: counts are no longer trusted, so a delete keeps the listing.
    let head_rev = pds.with_repo(&plc, |r| r.rev().to_owned()).expect("repo");
    index.mark_unseeded(&plc, &head_rev).expect("unseed");
    assert!(!index.account(&plc).expect("account").expect("known").exact);
    pds.delete_record(&plc, RecordPath::parse(&first.ops[0].path).expect("path"))
        .expect("delete");
    feed(&pds, &index, seq);
    assert_eq!(list_all(&index, CAPTAIN, 10), vec![plc.clone()]);

    let backfill =
        Backfill::new(index.clone(), HttpSource::shared(), fast_config(10)).expect("backfill");
    backfill
        .refresh_account(&plc, &pds.url())
        .await
        .expect("refresh");
    assert_matches_pds(&index, &pds, std::slice::from_ref(&plc));
    assert_eq!(list_all(&index, CAPTAIN, 10), vec![plc.clone()]);

    pds.set_status(&plc, Some(AccountStatus::Suspended))
        .expect("suspend");
    assert!(backfill.refresh_account(&plc, &pds.url()).await.is_err());
    assert!(
        list_all(&index, CAPTAIN, 10).is_empty(),
        "hidden while suspended"
    );
}

#[tokio::test]
async fn account_check_keeps_out_foreign_accounts_and_unsigned_repositories() {
    use std::sync::Arc;

    use atrelay_repo::crypto::SigningKey;

    let (_dir, index) = temp_index();
    let (_d, pds, dids) = populated_pds(2).await;
    let (forged, foreign) = (dids[0].clone(), dids[1].clone());
    let mut keys = std::collections::HashMap::new();
    for did in &dids {
        let key = if *did == forged {
            // The repository is signed with the PDS's key, not this one.
            SigningKey::generate_k256().public_key()
        } else {
            pds.with_repo(did, |repo| repo.signing_key().public_key())
                .expect("repo")
        };
        keys.insert(did.clone(), key);
    }
    let keys = Arc::new(keys);
    let expected_host = pds.hostname().to_owned();
    let check: atrelay_collections::AccountCheck = Arc::new(move |did, hostname| {
        let keys = keys.clone();
        let foreign = foreign.clone();
        let expected_host = expected_host.clone();
        Box::pin(async move {
            assert_eq!(hostname, expected_host);
            if did == foreign {
                return Err("the DID document names another host".to_owned());
            }
            keys.get(&did).cloned().ok_or_else(|| "unknown".to_owned())
        })
    });
    let config = BackfillConfig {
        account_check: Some(check),
        ..fast_config(10)
    };
    let backfill = Backfill::new(index.clone(), HttpSource::shared(), config).expect("backfill");
    backfill
        .start_host(pds.hostname(), &pds.url())
        .expect("start");
    let progress = backfill.wait_idle(pds.hostname()).await.expect("progress");
    assert_eq!(progress.state, CrawlState::Done, "{progress:?}");
    assert_eq!(
        progress.repos_indexed,
        dids.len() as u64 - 2,
        "{progress:?}"
    );
    assert_eq!(progress.repos_skipped, 1, "{progress:?}");
    assert_eq!(progress.repos_failed, 1, "{progress:?}");
    assert!(progress
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains(&dids[0])));
    assert!(index.account(&dids[0]).expect("read").is_none());
    assert!(index.account(&dids[1]).expect("read").is_none());
    assert_matches_pds(&index, &pds, &dids[2..]);
}
