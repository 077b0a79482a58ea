//! How the crawler uses its [`RepoSource`], with scripted sources in memory: a base URL the
//! source refuses is refused before anything is asked; a refused target or a redirect fails
//! the crawl at once (no retry) while other page errors are retried; a failed `getRepo` is
//! counted and recorded; and a global cap bounds the hosts crawled at once. (The relay's
//! guarded HTTP source and its rules are tested in the relay: `crates/relay/tests/outbound.rs`.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrelay_collections::{
    Backfill, BackfillConfig, BackfillError, CrawlState, FetchError, HostProgress, ListReposPage,
    ListedRepo, RepoSource, SourceFuture,
};
use tokio::sync::Semaphore;

use crate::backfill::fast_config;
use crate::common::temp_index;

/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

/// What a scripted source answers for one host (keyed by base URL).
#[derive(Clone)]
enum Script {
    /// `listRepos` fails with this error every time.
    ListFails(fn() -> FetchError),
    /// `listRepos` names one account; `getRepo` fails with this error.
    RepoFails(fn() -> FetchError),
    /// `{"repos": []}` once the gate lets it through.
    Gated(Arc<Gate>),
}

/// Holds `listRepos` answers and counts how many hosts are inside at once.
struct Gate {
    active: AtomicUsize,
    max: AtomicUsize,
    release: Semaphore,
}

/// A source answering from scripts, refusing base URLs containing "forbidden", and counting
/// the requests each host receives.
#[derive(Default)]
struct Scripted {
    scripts: HashMap<String, Script>,
    requests: Mutex<HashMap<String, usize>>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripted").finish_non_exhaustive()
    }
}

impl Scripted {
    fn with(scripts: impl IntoIterator<Item = (String, Script)>) -> Arc<Scripted> {
        Arc::new(Scripted {
            scripts: scripts.into_iter().collect(),
            requests: Mutex::default(),
        })
    }

    fn requests(&self, base_url: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(base_url)
            .copied()
            .unwrap_or(0)
    }

    fn script(&self, base_url: &str) -> Script {
        *self
            .requests
            .lock()
            .unwrap()
            .entry(base_url.to_owned())
            .or_default() += 1;
        self.scripts
            .get(base_url)
            .cloned()
            .unwrap_or_else(|| panic!("no script for {base_url}"))
    }
}

impl RepoSource for Scripted {
    fn check_url(&self, base_url: &str) -> Result<(), String> {
        if base_url.contains("forbidden") {
            return Err(format!("{base_url} is not for crawling"));
        }
        Ok(())
    }

    fn list_repos<'a>(
        &'a self,
        base_url: &'a str,
        _limit: u16,
        _cursor: Option<&'a str>,
    ) -> SourceFuture<'a, ListReposPage> {
        Box::pin(async move {
            match self.script(base_url) {
                Script::ListFails(error) => Err(error()),
                Script::RepoFails(_) => Ok(ListReposPage {
                    repos: vec![ListedRepo {
                        did: DID.to_owned(),
                        active: None,
                    }],
                    cursor: None,
                }),
                Script::Gated(gate) => {
                    let now = gate.active.fetch_add(1, Ordering::SeqCst) + 1;
                    gate.max.fetch_max(now, Ordering::SeqCst);
                    gate.release.acquire().await.unwrap().forget();
                    gate.active.fetch_sub(1, Ordering::SeqCst);
                    Ok(ListReposPage::default())
                }
            }
        })
    }

    fn get_repo<'a>(&'a self, base_url: &'a str, _did: &'a str) -> SourceFuture<'a, Vec<u8>> {
        Box::pin(async move {
            match self.script(base_url) {
                Script::RepoFails(error) => Err(error()),
                _ => panic!("unexpected getRepo of {base_url}"),
            }
        })
    }
}

/// Starts `hostname` and waits for its crawl to end.
async fn crawl(backfill: &Backfill, hostname: &str, url: &str) -> HostProgress {
    backfill.start_host(hostname, url).expect("start");
    tokio::time::timeout(HANG_GUARD, backfill.wait_idle(hostname))
        .await
        .expect("crawl hung")
        .expect("progress")
}

fn refused() -> FetchError {
    FetchError::Refused("non-public address 127.0.0.1".to_owned())
}

fn redirect() -> FetchError {
    FetchError::Xrpc {
        status: 302,
        error: String::new(),
    }
}

fn server_error() -> FetchError {
    FetchError::Xrpc {
        status: 502,
        error: String::new(),
    }
}

fn too_large() -> FetchError {
    FetchError::TooLarge { limit: 1 << 20 }
}

#[tokio::test]
async fn a_refused_base_url_is_refused_before_anything_is_asked() {
    let (_dir, index) = temp_index();
    let source = Scripted::with([]);
    let backfill = Backfill::new(index, source.clone(), fast_config(10)).unwrap();
    let err = backfill
        .start_host("pds.example.com", "https://forbidden.example.com")
        .unwrap_err();
    assert!(
        matches!(&err, BackfillError::Refused(reason) if reason.contains("not for crawling")),
        "{err:?}"
    );
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(backfill.progress().is_empty());
    assert_eq!(source.requests("https://forbidden.example.com"), 0);
    // Not a URL, or not http(s): invalid before the source is asked.
    for url in ["not a url", "ftp://pds.example.com"] {
        let err = backfill.start_host("pds.example.com", url).unwrap_err();
        assert!(
            matches!(err, BackfillError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
    backfill.shutdown().await;
}

#[tokio::test]
async fn refusals_and_redirects_are_final_other_page_errors_are_retried() {
    let (_dir, index) = temp_index();
    let (refusing, redirecting, failing) = (
        "https://refusing.test",
        "https://redirecting.test",
        "https://failing.test",
    );
    let source = Scripted::with([
        (refusing.to_owned(), Script::ListFails(refused)),
        (redirecting.to_owned(), Script::ListFails(redirect)),
        (failing.to_owned(), Script::ListFails(server_error)),
    ]);
    let config = BackfillConfig {
        page_attempts: 3,
        ..fast_config(10)
    };
    let backfill = Backfill::new(index, source.clone(), config).unwrap();
    for (url, error, requests) in [
        (refusing, "refused: non-public address 127.0.0.1", 1),
        (redirecting, "HTTP 302", 1),
        (failing, "HTTP 502", 3),
    ] {
        let hostname = url.trim_start_matches("https://");
        let progress = crawl(&backfill, hostname, url).await;
        assert_eq!(progress.state, CrawlState::Failed, "{progress:?}");
        let last = progress.last_error.unwrap();
        assert_eq!(last, format!("listRepos: {error}"));
        assert_eq!(source.requests(url), requests, "{url}");
    }
    backfill.shutdown().await;
}

#[tokio::test]
async fn a_failed_repository_is_counted_and_recorded() {
    let (_dir, index) = temp_index();
    let (redirecting, huge) = ("https://repo-redirect.test", "https://huge.test");
    let source = Scripted::with([
        (redirecting.to_owned(), Script::RepoFails(redirect)),
        (huge.to_owned(), Script::RepoFails(too_large)),
    ]);
    let backfill = Backfill::new(index.clone(), source.clone(), fast_config(10)).unwrap();
    for (url, error) in [
        (redirecting, "HTTP 302".to_owned()),
        (
            huge,
            format!("response larger than the {}-byte limit", 1 << 20),
        ),
    ] {
        let hostname = url.trim_start_matches("https://");
        let progress = crawl(&backfill, hostname, url).await;
        assert_eq!(progress.state, CrawlState::Done, "{progress:?}");
        assert_eq!(progress.repos_failed, 1, "{progress:?}");
        assert_eq!(progress.repos_indexed, 0, "{progress:?}");
        let last = progress.last_error.unwrap();
        assert_eq!(last, format!("{DID}: getRepo: {error}"));
        // One listRepos page, one getRepo.
        assert_eq!(source.requests(url), 2, "{url}");
    }
    assert!(index.account(DID).unwrap().is_none());
    backfill.shutdown().await;
}

#[tokio::test]
async fn at_most_the_configured_hosts_crawl_at_once() {
    const HOSTS: usize = 5;
    const SLOTS: usize = 2;
    let gate = Arc::new(Gate {
        active: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
        release: Semaphore::new(0),
    });
    let source = Scripted::with(
        (0..HOSTS).map(|i| (format!("https://host{i}.test"), Script::Gated(gate.clone()))),
    );
    let (_dir, index) = temp_index();
    let backfill = Backfill::new(
        index,
        source,
        BackfillConfig {
            max_concurrent_hosts: SLOTS,
            ..fast_config(10)
        },
    )
    .unwrap();
    for i in 0..HOSTS {
        assert!(backfill
            .start_host(&format!("host{i}.test"), &format!("https://host{i}.test"))
            .unwrap());
    }
    // Two crawls reach their hosts; the others wait for a slot (they show as running).
    tokio::time::timeout(HANG_GUARD, async {
        while gate.active.load(Ordering::SeqCst) < SLOTS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the first crawls never arrived");
    // Give a missing bound every chance to show (not a timing assertion).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate.max.load(Ordering::SeqCst), SLOTS);
    assert_eq!(
        backfill
            .progress()
            .iter()
            .filter(|p| p.state == CrawlState::Running)
            .count(),
        HOSTS
    );
    gate.release.add_permits(HOSTS);
    for i in 0..HOSTS {
        let host = format!("host{i}.test");
        let progress = tokio::time::timeout(HANG_GUARD, backfill.wait_idle(&host))
            .await
            .expect("crawl hung")
            .expect("progress");
        assert_eq!(progress.state, CrawlState::Done, "{progress:?}");
    }
    assert_eq!(gate.max.load(Ordering::SeqCst), SLOTS);
    backfill.shutdown().await;
}
