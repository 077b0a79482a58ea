//! `atrelay pull-hosts`: copies another relay's host list into a running atrelay. It pages
//! through the source's `com.atproto.sync.listHosts` and asks the target to follow each host
//! with an admin `requestCrawl`, at a steady rate, recording its progress in a state file after
//! every host so that a run stopped for any reason continues where it stopped.
//!
//! indigo's `pull-hosts` writes the hosts straight into a stopped relay's database. Going
//! through the running relay's admin API instead means every host is probed and checked (bans,
//! the SSRF guard) exactly as any other crawl request, and the relay need not stop.
//! Like indigo's, it copies only `active` and `idle` hosts that have delivered events; the
//! source's cursors are not copied (the target follows each host from its own policy).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::http::api::hosts::{HostView, ListHostsOutput};

/// Flags of `atrelay pull-hosts`.
#[derive(Debug, Clone, Args)]
pub struct PullHostsConfig {
    /// The relay whose host list is copied (its base URL).
    #[arg(
        long = "relay-host",
        env = "RELAY_HOST",
        default_value = "https://bsky.network"
    )]
    pub relay_host: String,

    /// The atrelay asked to follow each host: the base URL of its API.
    #[arg(
        long = "target",
        env = "RELAY_PULL_HOSTS_TARGET",
        default_value = "http://127.0.0.1:2470"
    )]
    pub target: String,

    /// The target's admin password (the first, when several are given for rotation).
    #[arg(
        long = "admin-password",
        env = "RELAY_ADMIN_PASSWORD",
        hide_env_values = true,
        value_delimiter = ',',
        required = true
    )]
    pub admin_passwords: Vec<String>,

    /// Hosts asked for per `listHosts` page.
    #[arg(
        long = "batch-size",
        env = "RELAY_PULL_HOSTS_BATCH_SIZE",
        default_value_t = 500
    )]
    pub batch_size: u32,

    /// `requestCrawl` calls per second, at most.
    #[arg(
        long = "requests-per-second",
        env = "RELAY_PULL_HOSTS_REQUESTS_PER_SECOND",
        default_value_t = 5.0
    )]
    pub requests_per_second: f64,

    /// Progress file: a later run with the same file skips the hosts already handled.
    #[arg(
        long = "state-file",
        env = "RELAY_PULL_HOSTS_STATE_FILE",
        default_value = "data/pull-hosts.json"
    )]
    pub state_file: PathBuf,
}

/// Where a run is, as saved in the state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullState {
    /// The source relay the progress belongs to.
    pub source: String,
    /// The `listHosts` cursor of the page being worked through (`None`: the first page).
    pub page_cursor: Option<String>,
    /// Hosts of that page already handled.
    pub done_in_page: usize,
    /// Hosts the target accepted.
    pub requested: u64,
    /// Hosts the target refused (unreachable, banned, ...).
    pub refused: u64,
    /// Hosts skipped as inactive or without events.
    pub skipped: u64,
    /// Every page has been handled.
    pub finished: bool,
}

/// Runs `pull-hosts` to the end, or until the source or the target fails (the state file then
/// holds the progress). Returns the final state.
///
/// # Errors
/// The state file cannot be read or written or belongs to another source; the source's
/// `listHosts` fails; the target refuses the password or cannot be reached.
pub async fn run(config: &PullHostsConfig) -> anyhow::Result<PullState> {
    let mut state = load_state(&config.state_file, &config.relay_host)?;
    if state.finished {
        tracing::info!(state_file = %config.state_file.display(), "this pull already finished; delete the state file to run it again");
        return Ok(state);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let password = config
        .admin_passwords
        .first()
        .ok_or_else(|| anyhow::anyhow!("an admin password of the target is required"))?;
    let spacing = Duration::from_secs_f64(1.0 / config.requests_per_second.max(0.001));
    let mut next_request = Instant::now();
    if state.done_in_page > 0 || state.page_cursor.is_some() {
        tracing::info!(
            requested = state.requested,
            refused = state.refused,
            "resuming an earlier pull"
        );
    }
    loop {
        let page = list_hosts(&client, config, state.page_cursor.as_deref()).await?;
        for (index, host) in page.hosts.iter().enumerate().skip(state.done_in_page) {
            if is_worth_following(host) {
                tokio::time::sleep_until(next_request.into()).await;
                next_request = Instant::now() + spacing;
                match request_crawl(&client, config, password, &host.hostname).await? {
                    None => {
                        state.requested += 1;
                        tracing::info!(host = %host.hostname, "requested crawl");
                    }
                    Some(reason) => {
                        state.refused += 1;
                        tracing::warn!(host = %host.hostname, %reason, "target refused the host");
                    }
                }
            } else {
                state.skipped += 1;
            }
            state.done_in_page = index + 1;
            save_state(&config.state_file, &state)?;
        }
        match page.cursor {
            Some(cursor) if !page.hosts.is_empty() => {
                state.page_cursor = Some(cursor);
                state.done_in_page = 0;
            }
            _ => state.finished = true,
        }
        save_state(&config.state_file, &state)?;
        if state.finished {
            tracing::info!(
                requested = state.requested,
                refused = state.refused,
                skipped = state.skipped,
                "pull finished"
            );
            return Ok(state);
        }
    }
}

/// indigo's rule: hosts that are `active` or `idle` and have delivered at least one event.
fn is_worth_following(host: &HostView) -> bool {
    matches!(host.status.as_str(), "active" | "idle") && host.seq.is_some_and(|seq| seq > 0)
}

async fn list_hosts(
    client: &reqwest::Client,
    config: &PullHostsConfig,
    cursor: Option<&str>,
) -> anyhow::Result<ListHostsOutput> {
    let url = format!(
        "{}/xrpc/com.atproto.sync.listHosts",
        config.relay_host.trim_end_matches('/')
    );
    let limit = config.batch_size.clamp(1, 1000).to_string();
    let mut query = vec![("limit", limit.as_str())];
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    let response = client
        .get(&url)
        .query(&query)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("listHosts of {}: {e}", config.relay_host))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!(
            "listHosts of {} answered {status}: {body}",
            config.relay_host
        );
    }
    response
        .json()
        .await
        .map_err(|e| anyhow::anyhow!("listHosts of {}: unexpected answer: {e}", config.relay_host))
}

/// Asks the target to follow `hostname`. `Ok(None)`: accepted; `Ok(Some(reason))`: the target
/// refused this host (the run goes on); `Err`: the target cannot be used (wrong password,
/// unreachable, failing), so the run stops, resumable.
async fn request_crawl(
    client: &reqwest::Client,
    config: &PullHostsConfig,
    password: &str,
    hostname: &str,
) -> anyhow::Result<Option<String>> {
    let url = format!(
        "{}/admin/pds/requestCrawl",
        config.target.trim_end_matches('/')
    );
    let mut attempt = 0u32;
    loop {
        let sent = client
            .post(&url)
            .bearer_auth(password)
            .json(&serde_json::json!({ "hostname": hostname }))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if attempt < 3 => {
                tracing::warn!(%e, "target unreachable; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                continue;
            }
            Err(e) => anyhow::bail!("the target {} cannot be reached: {e}", config.target),
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        match status.as_u16() {
            200..=299 => return Ok(None),
            401 | 403 => anyhow::bail!(
                "the target {} refused the admin password ({status})",
                config.target
            ),
            429 | 500..=599 if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            400..=499 => return Ok(Some(format!("{status}: {body}"))),
            _ => anyhow::bail!("the target {} answered {status}: {body}", config.target),
        }
    }
}

fn load_state(path: &Path, source: &str) -> anyhow::Result<PullState> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PullState {
                source: source.to_owned(),
                ..PullState::default()
            })
        }
        Err(e) => anyhow::bail!("reading the state file {}: {e}", path.display()),
    };
    let state: PullState = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the state file {} is damaged: {e}", path.display()))?;
    if state.source != source {
        anyhow::bail!(
            "the state file {} belongs to a pull from {}; use another --state-file",
            path.display(),
            state.source
        );
    }
    Ok(state)
}

/// Writes the state through a temporary file and a rename, so a crash leaves the old or the
/// new state, never half of one.
fn save_state(path: &Path, state: &PullState) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(state)?)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .map_err(|e| anyhow::anyhow!("replacing {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(status: &str, seq: Option<i64>) -> HostView {
        HostView {
            hostname: "pds.example.com".into(),
            seq,
            account_count: 1,
            status: status.into(),
        }
    }

    #[test]
    fn only_live_hosts_with_events_are_copied() {
        assert!(is_worth_following(&host("active", Some(12))));
        assert!(is_worth_following(&host("idle", Some(1))));
        assert!(!is_worth_following(&host("active", Some(0))));
        assert!(!is_worth_following(&host("active", None)));
        assert!(!is_worth_following(&host("offline", Some(5))));
        assert!(!is_worth_following(&host("banned", Some(5))));
        assert!(!is_worth_following(&host("throttled", Some(5))));
    }

    #[test]
    fn the_state_file_round_trips_and_belongs_to_one_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        let fresh = load_state(&path, "https://a.example").unwrap();
        assert_eq!(fresh.source, "https://a.example");
        let state = PullState {
            page_cursor: Some("17".into()),
            done_in_page: 3,
            requested: 2,
            refused: 1,
            ..fresh
        };
        save_state(&path, &state).unwrap();
        assert_eq!(load_state(&path, "https://a.example").unwrap(), state);
        let other = load_state(&path, "https://b.example").unwrap_err();
        assert!(other.to_string().contains("https://a.example"), "{other}");
        std::fs::write(&path, "{").unwrap();
        assert!(load_state(&path, "https://a.example")
            .unwrap_err()
            .to_string()
            .contains("damaged"));
    }
}
