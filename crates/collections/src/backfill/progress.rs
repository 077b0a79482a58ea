//! Per-host crawl progress, persisted in the index so a restart resumes where it stopped.

use serde::{Deserialize, Serialize};

use crate::error::BackfillError;

/// Where a host's crawl is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CrawlState {
    /// Under way, or interrupted by a restart and to be resumed.
    Running,
    /// Every account listed by the host was visited.
    Done,
    /// `listRepos` kept failing; [`HostProgress::last_error`] says why. Starting the host
    /// again resumes from the saved cursor.
    Failed,
}

/// The progress of one host's crawl, as persisted and as the admin route shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostProgress {
    /// The host name.
    pub hostname: String,
    /// The base URL queries go to (`https://<hostname>` normally).
    pub base_url: String,
    /// Where the crawl is.
    pub state: CrawlState,
    /// The `listRepos` cursor after the last fully processed page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Accounts listed by the host so far in this run (fully processed pages only).
    pub repos_seen: u64,
    /// Accounts whose repository was fetched and indexed.
    pub repos_indexed: u64,
    /// Accounts the host reports inactive (hidden in the index).
    pub repos_inactive: u64,
    /// Accounts skipped because the relay does not consider this host theirs.
    pub repos_skipped: u64,
    /// Accounts whose repository could not be fetched or read.
    pub repos_failed: u64,
    /// How many times this host was crawled (including this run).
    pub runs: u64,
    /// When this run started (Unix ms).
    pub started_at_ms: u64,
    /// Last change (Unix ms).
    pub updated_at_ms: u64,
    /// When this run finished (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    /// The last error met, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl HostProgress {
    /// A fresh run for `hostname`.
    pub(crate) fn fresh(hostname: &str, base_url: &str, runs: u64) -> Self {
        let now = now_ms();
        Self {
            hostname: hostname.to_owned(),
            base_url: base_url.to_owned(),
            state: CrawlState::Running,
            cursor: None,
            repos_seen: 0,
            repos_indexed: 0,
            repos_inactive: 0,
            repos_skipped: 0,
            repos_failed: 0,
            runs,
            started_at_ms: now,
            updated_at_ms: now,
            finished_at_ms: None,
            last_error: None,
        }
    }

    /// Encodes for storage.
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a stored value.
    pub(crate) fn decode(hostname: &str, bytes: &[u8]) -> Result<Self, BackfillError> {
        serde_json::from_slice(bytes).map_err(|e| BackfillError::CorruptProgress {
            hostname: hostname.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
