//! `POST /xrpc/com.atproto.sync.requestCrawl`: a host asks to be followed.
//!
//! In order: the enabled switch, hostname syntax (no scheme other than `https`/`wss`, no
//! path, port or IP literal; dev mode lifts the last three and allows `http`/`ws`), domain
//! bans (`HostBanned`), a `describeServer` probe through the guarded dialler (public
//! addresses only unless dev mode) that must answer and must not come from a relay, the new-hosts-per-day limit for unknown
//! hosts, then the host row and its subscription. A known host that is offline is retried
//! at once.

use std::net::IpAddr;
use std::time::Duration;

use axum::{
    extract::{rejection::JsonRejection, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;

use atrelay_store::{Host, HostLimits, HostStatus, NewHost, StoreError};

use crate::engine::outbound::{Outbound, OutboundError};
use crate::{engine::ingest::USER_AGENT, http::xrpc::XrpcError, state::AppState};

/// The request body.
#[derive(Debug, Deserialize)]
pub struct RequestCrawlInput {
    /// The host to crawl, e.g. `pds.example.com`.
    pub hostname: String,
}

/// A hostname that passed [`parse_hostname`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlTarget {
    /// Lower-case name, with `:port` only in dev mode.
    pub hostname: String,
    /// Dial with `ws://` / `http://`.
    pub no_ssl: bool,
}

/// Checks a `requestCrawl` hostname. With `allow_insecure` (dev mode) ports, IP literals,
/// `localhost` and the `http`/`ws` schemes are allowed; loopback names are dialled without TLS.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_hostname(input: &str, allow_insecure: bool) -> Result<CrawlTarget, String> {
    let lowered = input.trim().to_ascii_lowercase();
    let (rest, insecure_scheme) = if let Some(rest) = lowered
        .strip_prefix("https://")
        .or_else(|| lowered.strip_prefix("wss://"))
    {
        (rest, false)
    } else if let Some(rest) = lowered
        .strip_prefix("http://")
        .or_else(|| lowered.strip_prefix("ws://"))
    {
        if !allow_insecure {
            return Err("plain http/ws hosts are not accepted".to_owned());
        }
        (rest, true)
    } else {
        (lowered.as_str(), false)
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err("hostname is empty".to_owned());
    }
    if rest.contains(['/', '?', '#', '@', '[', ']', ' ']) || rest.contains("://") {
        return Err("hostname must be a bare host name, without path or credentials".to_owned());
    }
    let (name, port) = match rest.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (rest, None),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if let Some(port) = port {
        if !allow_insecure {
            return Err("hostname must not have a port".to_owned());
        }
        match port.parse::<u16>() {
            Ok(p) if p != 0 && !port.starts_with('+') => {}
            _ => return Err("port must be a number from 1 to 65535".to_owned()),
        }
    }
    let ip = name.parse::<IpAddr>().ok();
    if ip.is_some() && !allow_insecure {
        return Err("IP addresses are not accepted; use a DNS name".to_owned());
    }
    if ip.is_none() {
        check_dns_name(name, allow_insecure)?;
    }
    let loopback = name == "localhost" || ip.is_some_and(|ip| ip.is_loopback());
    let hostname = match port {
        Some(port) => format!("{name}:{port}"),
        None => name.to_owned(),
    };
    Ok(CrawlTarget {
        hostname,
        no_ssl: allow_insecure && (insecure_scheme || loopback),
    })
}

/// The crawl policy on top of the store's DNS-name rule: a registrable name (two labels or
/// more, a top-level domain that is not a number), or `localhost` in dev mode.
fn check_dns_name(name: &str, allow_insecure: bool) -> Result<(), String> {
    if name == "localhost" {
        return if allow_insecure {
            Ok(())
        } else {
            Err("localhost is not accepted".to_owned())
        };
    }
    atrelay_store::check_dns_name(name).map_err(|reason| format!("invalid hostname: {reason}"))?;
    match name.rsplit_once('.') {
        None => Err("hostname needs a domain and a top-level domain".to_owned()),
        Some((_, tld)) if tld.bytes().all(|b| b.is_ascii_digit()) => {
            Err("top-level domain must not be numeric".to_owned())
        }
        Some(_) => Ok(()),
    }
}

/// Whether `hostname` (its port ignored) matches one of the trusted patterns: `*.example.com`
/// matches every subdomain of `example.com`, anything else only itself.
pub fn is_trusted(hostname: &str, patterns: &[String]) -> bool {
    let name = hostname.split(':').next().unwrap_or(hostname);
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim().to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(suffix) => name
                .strip_suffix(suffix)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            None => !pattern.is_empty() && name == pattern,
        }
    })
}

fn host_banned(hostname: &str) -> XrpcError {
    XrpcError::new(
        StatusCode::BAD_REQUEST,
        "HostBanned",
        format!("{hostname} is banned from this relay"),
    )
}

fn store_error(err: StoreError) -> XrpcError {
    tracing::error!(error = %err, "requestCrawl: store error");
    XrpcError::internal()
}

/// Who asks for a crawl: the public endpoint, or an operator through the admin API, which
/// bypasses the enabled switch and the new-hosts-per-day limit (never the bans, the address
/// checks or the probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// `POST /xrpc/com.atproto.sync.requestCrawl`.
    Public,
    /// `POST /admin/pds/requestCrawl`.
    Admin,
}

/// `POST /xrpc/com.atproto.sync.requestCrawl {hostname}`: 200 with an empty JSON object once
/// the host is followed.
pub async fn request_crawl(
    State(state): State<AppState>,
    body: Result<Json<RequestCrawlInput>, JsonRejection>,
) -> Result<Json<serde_json::Value>, XrpcError> {
    let Json(input) =
        body.map_err(|e| XrpcError::invalid_request(format!("expected {{hostname}}: {e}")))?;
    follow_host(&state, &input.hostname, Requester::Public).await?;
    Ok(Json(serde_json::json!({})))
}

/// Checks `hostname` as the requester's rules say, then follows it (a new host is created, a
/// known offline one is retried at once, and a new host's collections are crawled).
///
/// # Errors
/// The XRPC error to answer with.
pub async fn follow_host(
    state: &AppState,
    hostname: &str,
    requester: Requester,
) -> Result<Host, XrpcError> {
    let config = state.ingest.config().clone();
    let settings = state.store.settings().await.map_err(store_error)?;
    if requester == Requester::Public
        && !settings
            .request_crawl_enabled
            .unwrap_or(config.request_crawl_enabled)
    {
        return Err(XrpcError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "requestCrawl is disabled on this relay",
        ));
    }
    let target = parse_hostname(hostname, config.allow_insecure_hosts)
        .map_err(XrpcError::invalid_request)?;
    if state
        .store
        .domain_ban_for(&target.hostname)
        .await
        .map_err(store_error)?
        .is_some()
    {
        return Err(host_banned(&target.hostname));
    }
    let existing = state
        .store
        .host_by_hostname(&target.hostname)
        .await
        .map_err(store_error)?;
    if existing
        .as_ref()
        .is_some_and(|h| h.status == HostStatus::Banned)
    {
        return Err(host_banned(&target.hostname));
    }
    probe(&target, config.probe_timeout, config.allow_insecure_hosts).await?;
    let is_new = existing.is_none();
    let host = match existing {
        Some(mut host) => {
            if matches!(host.status, HostStatus::Offline | HostStatus::Idle) {
                state
                    .store
                    .set_host_status(host.id, HostStatus::Active)
                    .await
                    .map_err(store_error)?;
                host.status = HostStatus::Active;
            }
            host
        }
        None => {
            let limit = settings
                .new_hosts_per_day
                .unwrap_or(config.new_hosts_per_day);
            if requester == Requester::Public && !state.ingest.take_new_host_slot(limit) {
                return Err(XrpcError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RateLimitExceeded",
                    "this relay is not accepting more new hosts today",
                ));
            }
            let trusted = is_trusted(&target.hostname, &config.trusted_domains);
            let account_limit = if trusted {
                config.trusted_account_limit
            } else {
                config.default_account_limit
            };
            let created = state
                .store
                .create_host(&NewHost {
                    hostname: target.hostname.clone(),
                    no_ssl: target.no_ssl,
                    trusted,
                    status: HostStatus::Active,
                    limits: HostLimits::with_account_limit(account_limit),
                })
                .await;
            match created {
                Ok(host) => host,
                // Two requests raced: the other one created it.
                Err(StoreError::HostExists { .. }) => state
                    .store
                    .host_by_hostname(&target.hostname)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(XrpcError::internal)?,
                Err(err) => return Err(store_error(err)),
            }
        }
    };
    tracing::info!(host = %host.hostname, id = host.id, ?requester, "requestCrawl: following host");
    state.ingest.subscribe(host.clone());
    if is_new {
        start_backfill(state, &host);
    }
    Ok(host)
}

/// Starts the collection index's crawl of a host the relay has just begun to follow, so its
/// accounts' existing records are listed, not only those written from now on.
fn start_backfill(state: &AppState, host: &Host) {
    let Some(backfill) = &state.backfill else {
        return;
    };
    let scheme = if host.no_ssl { "http" } else { "https" };
    let base_url = format!("{scheme}://{}", host.hostname);
    if let Err(error) = backfill.start_host(&host.hostname, &base_url) {
        tracing::warn!(host = %host.hostname, %error, "collection backfill not started");
    }
}

/// `describeServer` must answer, and not from a relay. The host's name is resolved once and
/// the request goes to a checked address ([`Outbound`]): outside dev mode (`allow_private`) a
/// host resolving to a loopback, private or link-local address is refused.
async fn probe(
    target: &CrawlTarget,
    timeout: Duration,
    allow_private: bool,
) -> Result<(), XrpcError> {
    let scheme = if target.no_ssl { "http" } else { "https" };
    let url = format!(
        "{scheme}://{}/xrpc/com.atproto.server.describeServer",
        target.hostname
    );
    let not_found = |detail: String| {
        XrpcError::new(
            StatusCode::BAD_REQUEST,
            "HostNotFound",
            format!(
                "{} did not answer describeServer: {detail}",
                target.hostname
            ),
        )
    };
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(USER_AGENT);
    let client = Outbound::new(allow_private)
        .http_client(builder)
        .map_err(|e| not_found(e.to_string()))?;
    let refused = |e: &OutboundError| XrpcError::invalid_request(e.to_string());
    let response = client
        .get(&url)
        .map_err(|e| refused(&e))?
        .send()
        .await
        .map_err(|e| match atrelay_net::refusal(&e) {
            Some(policy) if policy.is_refusal() => refused(policy),
            _ => not_found(atrelay_net::describe(&e)),
        })?;
    let is_relay = response
        .headers()
        .get_all(reqwest::header::SERVER)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.contains("atproto-relay")));
    if is_relay {
        return Err(XrpcError::invalid_request(
            "the host identifies as a relay; relays are not crawled",
        ));
    }
    if !response.status().is_success() {
        return Err(not_found(format!("status {}", response.status())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_accepts_plain_dns_names_only() {
        let ok = parse_hostname("PDS.Example.com", false).unwrap();
        assert_eq!(ok.hostname, "pds.example.com");
        assert!(!ok.no_ssl);
        assert_eq!(
            parse_hostname("https://pds.example.com/", false)
                .unwrap()
                .hostname,
            "pds.example.com"
        );
        for bad in [
            "",
            "http://pds.example.com",
            "ws://pds.example.com",
            "pds.example.com/xrpc",
            "pds.example.com:2583",
            "localhost:2583",
            "localhost",
            "127.0.0.1",
            "127.0.0.1:2583",
            "[::1]:2583",
            "user@pds.example.com",
            "com",
            "pds.example.123",
            "-pds.example.com",
            "pds_1.example.com",
            "pds..example.com",
        ] {
            assert!(parse_hostname(bad, false).is_err(), "{bad} was accepted");
        }
        let long_label = format!("{}.example.com", "a".repeat(64));
        let long_name = format!("{}com", "a.".repeat(127));
        for bad in [long_label, long_name] {
            assert!(parse_hostname(&bad, false).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn dev_mode_allows_ports_loopback_and_plain_schemes() {
        let local = parse_hostname("localhost:2583", true).unwrap();
        assert_eq!(local.hostname, "localhost:2583");
        assert!(local.no_ssl);
        let ip = parse_hostname("127.0.0.1:2583", true).unwrap();
        assert_eq!(ip.hostname, "127.0.0.1:2583");
        assert!(ip.no_ssl);
        let plain = parse_hostname("http://pds.lan:80", true).unwrap();
        assert!(plain.no_ssl);
        assert!(!parse_hostname("pds.example.com", true).unwrap().no_ssl);
        assert!(parse_hostname("localhost:0", true).is_err());
        assert!(parse_hostname("localhost:70000", true).is_err());
        assert!(parse_hostname("localhost/path", true).is_err());
    }

    #[test]
    fn trusted_patterns_match_subdomains_or_exact_names() {
        let patterns = vec![
            "*.host.bsky.network".to_owned(),
            "pds.example.com".to_owned(),
        ];
        assert!(is_trusted("morel.us-east.host.bsky.network", &patterns));
        assert!(is_trusted("pds.example.com", &patterns));
        assert!(is_trusted("pds.example.com:2583", &patterns));
        assert!(!is_trusted("host.bsky.network", &patterns));
        assert!(!is_trusted("evilhost.bsky.network", &patterns));
        assert!(!is_trusted("other.example.com", &patterns));
        assert!(!is_trusted("pds.example.com.evil.net", &patterns));
        assert!(!is_trusted("anything", &[]));
    }
}
