//! One host's crawl: pages of `listRepos`, each active account's repository fetched, checked
//! and counted into the index, with paced requests and page retries.

use std::sync::Arc;
use std::time::Duration;

use atrelay_repo::crypto::PublicKey;
use tokio::sync::watch;

use super::pacer::Pacer;
use super::progress::{now_ms, CrawlState};
use super::{ListReposPage, Shared, MAX_RETRY_BACKOFF};
use crate::error::FetchError;
use crate::snapshot::RepoSnapshot;

/// How one listed account went.
enum RepoOutcome {
    Indexed,
    Inactive,
    Skipped,
    Failed(String),
}

/// The wait after the `attempt`-th failure (1-based): `base`, doubling each time, capped at
/// [`MAX_RETRY_BACKOFF`] (or `base` if larger), and never zero so a failing host is not hammered.
fn retry_delay(base: Duration, attempt: u32) -> Duration {
    let base = base.max(Duration::from_millis(10));
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(MAX_RETRY_BACKOFF.max(base))
}

/// Whether an XRPC error name means the account is inactive on its host.
pub(super) fn is_inactive_error(name: &str) -> bool {
    matches!(name, "RepoDeactivated" | "RepoTakendown" | "RepoSuspended")
}

impl Shared {
    /// Crawls one host to the end of its `listRepos` pages (or until stopped), saving progress
    /// after every page.
    pub(super) async fn crawl(self: Arc<Self>, hostname: String) {
        let mut stop = self.stop.subscribe();
        // Wait for a slot; the host shows `running` meanwhile.
        let _slot = tokio::select! {
            slot = self.slots.acquire() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut pacer = Pacer::new(self.config.requests_per_second);
        let stopped = self.crawl_pages(&hostname, &mut pacer, &mut stop).await;
        if !stopped {
            self.ended(&hostname);
        }
    }

    /// Crawls until done, failed or stopped; true if stopped (the task is then awaited by
    /// [`Backfill::shutdown`], which already removed it from the running set).
    async fn crawl_pages(
        &self,
        hostname: &str,
        pacer: &mut Pacer,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        loop {
            let Some((base, cursor)) = self
                .lock()
                .progress
                .get(hostname)
                .map(|p| (p.base_url.clone(), p.cursor.clone()))
            else {
                return false;
            };
            let page = match self.fetch_page(&base, cursor.as_deref(), pacer, stop).await {
                Some(Ok(page)) => page,
                Some(Err(error)) => {
                    tracing::warn!(host = %hostname, %error, "collection crawl failed");
                    self.update(hostname, |p| {
                        p.state = CrawlState::Failed;
                        p.finished_at_ms = Some(now_ms());
                        p.last_error = Some(format!("listRepos: {error}"));
                    });
                    return false;
                }
                None => return true,
            };
            let (mut indexed, mut inactive, mut skipped, mut failed) = (0, 0, 0, 0);
            let mut last_error = None;
            for repo in &page.repos {
                let outcome = tokio::select! {
                    outcome = self.crawl_repo(hostname, &base, &repo.did, repo.active, pacer) => outcome,
                    _ = stop.wait_for(|s| *s) => return true,
                };
                match outcome {
                    RepoOutcome::Indexed => indexed += 1,
                    RepoOutcome::Inactive => inactive += 1,
                    RepoOutcome::Skipped => skipped += 1,
                    RepoOutcome::Failed(error) => {
                        failed += 1;
                        last_error = Some(error);
                    }
                }
            }
            let seen = page.repos.len() as u64;
            let done = page.cursor.is_none() || page.repos.is_empty();
            self.update(hostname, |p| {
                p.cursor = page.cursor.clone();
                p.repos_seen += seen;
                p.repos_indexed += indexed;
                p.repos_inactive += inactive;
                p.repos_skipped += skipped;
                p.repos_failed += failed;
                if last_error.is_some() {
                    p.last_error = last_error;
                }
                if done {
                    p.state = CrawlState::Done;
                    p.cursor = None;
                    p.finished_at_ms = Some(now_ms());
                }
            });
            if done {
                return false;
            }
        }
    }

    /// One `listRepos` page with retries; `None` when stopped.
    async fn fetch_page(
        &self,
        base: &str,
        cursor: Option<&str>,
        pacer: &mut Pacer,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Result<ListReposPage, FetchError>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::select! {
                result = async {
                    pacer.wait().await;
                    self.source.list_repos(base, self.config.page_size, cursor).await
                } => result,
                _ = stop.wait_for(|s| *s) => return None,
            };
            match result {
                Ok(page) => return Some(Ok(page)),
                // A refused target or a redirect will answer the same next time.
                Err(
                    error @ (FetchError::Refused(_)
                    | FetchError::Xrpc {
                        status: 300..=399, ..
                    }),
                ) => return Some(Err(error)),
                Err(error) if attempt >= self.config.page_attempts.max(1) => {
                    return Some(Err(error))
                }
                Err(error) => {
                    let wait = retry_delay(self.config.retry_backoff, attempt);
                    tracing::debug!(%base, %error, attempt, ?wait, "listRepos failed, retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return None,
                    }
                }
            }
        }
    }

    async fn crawl_repo(
        &self,
        hostname: &str,
        base: &str,
        did: &str,
        active: Option<bool>,
        pacer: &mut Pacer,
    ) -> RepoOutcome {
        if let Some(check) = &self.config.host_check {
            if !check(did, hostname) {
                return RepoOutcome::Skipped;
            }
        }
        if active == Some(false) {
            return match self.hide(did).await {
                Ok(()) => RepoOutcome::Inactive,
                Err(error) => RepoOutcome::Failed(format!("{did}: {error}")),
            };
        }
        let key = match &self.config.account_check {
            Some(check) => match check(did.to_owned(), hostname.to_owned()).await {
                Ok(key) => Some(key),
                Err(reason) => {
                    tracing::debug!(%did, host = %hostname, %reason, "crawl skips account");
                    return RepoOutcome::Skipped;
                }
            },
            None => None,
        };
        pacer.wait().await;
        let car = match self.source.get_repo(base, did).await {
            Ok(car) => car,
            Err(FetchError::Xrpc { error, .. }) if is_inactive_error(&error) => {
                return match self.hide(did).await {
                    Ok(()) => RepoOutcome::Inactive,
                    Err(error) => RepoOutcome::Failed(format!("{did}: {error}")),
                };
            }
            Err(error) => return RepoOutcome::Failed(format!("{did}: getRepo: {error}")),
        };
        match self.index_car(did, car, key).await {
            Ok(()) => RepoOutcome::Indexed,
            Err(error) => RepoOutcome::Failed(format!("{did}: {error}")),
        }
    }

    /// Counts a repository CAR, checking its signature when `key` is given, and applies it
    /// as the account's snapshot (off the runtime).
    pub(super) async fn index_car(
        &self,
        did: &str,
        car: Vec<u8>,
        key: Option<PublicKey>,
    ) -> Result<(), String> {
        let index = self.index.clone();
        let did = did.to_owned();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let snapshot = match &key {
                Some(key) => RepoSnapshot::from_signed_car(&did, &car, key),
                None => RepoSnapshot::from_car(&did, &car),
            }
            .map_err(|e| e.to_string())?;
            index
                .apply_snapshot(&did, &snapshot)
                .map_err(|e| e.to_string())?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    pub(super) async fn hide(&self, did: &str) -> Result<(), String> {
        let index = self.index.clone();
        let did = did.to_owned();
        tokio::task::spawn_blocking(move || index.set_account_active(&did, false))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_retries_back_off_exponentially_up_to_a_cap() {
        let base = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=7).map(|n| retry_delay(base, n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(retry_delay(Duration::ZERO, 1), Duration::from_millis(10));
        assert_eq!(retry_delay(base, u32::MAX), MAX_RETRY_BACKOFF);
    }
}
