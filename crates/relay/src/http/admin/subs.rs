//! `/admin/subs/*`: which upstreams are connected, the public `requestCrawl` switch and
//! per-day limit (stored, so they survive a restart), and domain bans.

use axum::{
    extract::{rejection::JsonRejection, Query, State},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use atrelay_store::{HostPage, HostStatus, Setting};

use super::success;
use crate::http::api::hosts::find_host;
use crate::{http::xrpc::XrpcError, state::AppState};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/subs/getUpstreamConns", get(upstream_conns))
        .route("/admin/subs/killUpstream", post(kill_upstream))
        .route("/admin/subs/getEnabled", get(get_enabled))
        .route("/admin/subs/setEnabled", post(set_enabled))
        .route("/admin/subs/perDayLimit", get(per_day_limit))
        .route("/admin/subs/setPerDayLimit", post(set_per_day_limit))
        .route("/admin/subs/listDomainBans", get(list_domain_bans))
        .route("/admin/subs/banDomain", post(ban_domain))
        .route("/admin/subs/unbanDomain", post(unban_domain))
}

/// `GET /admin/subs/getUpstreamConns`: hostnames with a running subscription.
async fn upstream_conns(State(state): State<AppState>) -> Result<Json<Vec<String>>, XrpcError> {
    let mut hostnames = Vec::new();
    for id in state.ingest.subscribed_hosts() {
        if let Some(host) = state.store.host(id).await? {
            hostnames.push(host.hostname);
        }
    }
    hostnames.sort();
    Ok(Json(hostnames))
}

#[derive(Deserialize)]
struct KillParams {
    host: Option<String>,
    block: Option<String>,
}

/// `POST /admin/subs/killUpstream?host=&block=`: ends the host's subscription; with
/// `block=true` the host is also banned. 400 when it is not connected.
async fn kill_upstream(
    State(state): State<AppState>,
    Query(params): Query<KillParams>,
) -> Result<Json<Value>, XrpcError> {
    let hostname = params
        .host
        .filter(|h| !h.is_empty())
        .ok_or_else(|| XrpcError::invalid_request("host is required"))?;
    let block = parse_bool("block", params.block.as_deref())?.unwrap_or(false);
    let host = find_host(&state, &hostname).await?;
    if !state.ingest.unsubscribe(host.id).await {
        return Err(XrpcError::invalid_request(format!(
            "{hostname} has no active subscription"
        )));
    }
    if block {
        state
            .store
            .set_host_status(host.id, HostStatus::Banned)
            .await?;
    }
    tracing::info!(host = %hostname, block, "admin: upstream killed");
    Ok(success())
}

/// Parses `true`/`false` (absent: `None`).
pub(crate) fn parse_bool(name: &str, raw: Option<&str>) -> Result<Option<bool>, XrpcError> {
    match raw {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(XrpcError::invalid_request(format!(
            "{name} must be true or false, got {other:?}"
        ))),
    }
}

/// `GET /admin/subs/getEnabled`: whether the public `requestCrawl` is accepted.
async fn get_enabled(State(state): State<AppState>) -> Result<Json<Value>, XrpcError> {
    let settings = state.store.settings().await?;
    let enabled = settings
        .request_crawl_enabled
        .unwrap_or(state.ingest.config().request_crawl_enabled);
    Ok(Json(json!({ "enabled": enabled })))
}

#[derive(Deserialize)]
struct EnabledParams {
    enabled: Option<String>,
}

/// `POST /admin/subs/setEnabled?enabled=true|false`.
async fn set_enabled(
    State(state): State<AppState>,
    Query(params): Query<EnabledParams>,
) -> Result<Json<Value>, XrpcError> {
    let enabled = parse_bool("enabled", params.enabled.as_deref())?
        .ok_or_else(|| XrpcError::invalid_request("enabled is required"))?;
    state
        .store
        .set_setting(Setting::RequestCrawlEnabled(enabled))
        .await?;
    tracing::info!(enabled, "admin: public requestCrawl switched");
    Ok(success())
}

/// `GET /admin/subs/perDayLimit`: new hosts a public `requestCrawl` may add per day.
async fn per_day_limit(State(state): State<AppState>) -> Result<Json<Value>, XrpcError> {
    let settings = state.store.settings().await?;
    let limit = settings
        .new_hosts_per_day
        .unwrap_or(state.ingest.config().new_hosts_per_day);
    Ok(Json(json!({ "limit": limit })))
}

#[derive(Deserialize)]
struct LimitParams {
    limit: Option<String>,
}

/// `POST /admin/subs/setPerDayLimit?limit=N`.
async fn set_per_day_limit(
    State(state): State<AppState>,
    Query(params): Query<LimitParams>,
) -> Result<Json<Value>, XrpcError> {
    let limit = parse_limit(params.limit.as_deref()).map_err(XrpcError::invalid_request)?;
    state
        .store
        .set_setting(Setting::NewHostsPerDay(limit))
        .await?;
    tracing::info!(limit, "admin: new-hosts-per-day limit set");
    Ok(success())
}

/// The `limit` of `setPerDayLimit`: a whole number ≥ 0, or a sentence saying what is wrong.
pub(crate) fn parse_limit(raw: Option<&str>) -> Result<i64, String> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(
            "limit is required (a whole number of new hosts per day, 0 or more)".to_owned(),
        );
    }
    raw.parse::<i64>()
        .ok()
        .filter(|limit| *limit >= 0)
        .ok_or_else(|| {
            format!("limit must be a whole number of new hosts per day, 0 or more; got {raw:?}")
        })
}

/// `GET /admin/subs/listDomainBans`.
async fn list_domain_bans(State(state): State<AppState>) -> Result<Json<Value>, XrpcError> {
    let bans = state.store.list_domain_bans().await?;
    let domains: Vec<String> = bans.into_iter().map(|ban| ban.domain).collect();
    Ok(Json(json!({ "banned_domains": domains })))
}

/// The body of the ban routes; indigo spells the field `Domain`.
#[derive(Deserialize)]
struct DomainInput {
    #[serde(rename = "Domain", alias = "domain")]
    domain: String,
}

fn domain_input(body: Result<Json<DomainInput>, JsonRejection>) -> Result<String, XrpcError> {
    let Json(input) =
        body.map_err(|e| XrpcError::invalid_request(format!("expected {{\"Domain\"}}: {e}")))?;
    let domain = input
        .domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let domain = domain.strip_prefix("*.").unwrap_or(&domain);
    atrelay_store::check_dns_name(domain).map_err(|reason| {
        XrpcError::invalid_request(format!(
            "{:?} is not a domain name ({reason}); give a name like example.com",
            input.domain
        ))
    })?;
    Ok(domain.to_owned())
}

/// `POST /admin/subs/banDomain {"Domain": "..."}`: refuses the domain and its subdomains in
/// future `requestCrawl`s, and (unlike indigo) also ends the subscriptions of hosts it covers.
async fn ban_domain(
    State(state): State<AppState>,
    body: Result<Json<DomainInput>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let domain = domain_input(body)?;
    state.store.ban_domain(&domain).await?;
    let mut after_id = None;
    loop {
        let page = state
            .store
            .list_hosts(&HostPage {
                after_id,
                limit: 500,
                status: None,
            })
            .await?;
        let Some(last) = page.last() else { break };
        after_id = Some(last.id);
        for host in page {
            if state.store.domain_ban_for(&host.hostname).await?.is_some() {
                state.ingest.unsubscribe(host.id).await;
                tracing::info!(host = %host.hostname, %domain, "admin: banned domain, host unsubscribed");
            }
        }
    }
    Ok(success())
}

/// `POST /admin/subs/unbanDomain {"Domain": "..."}`.
async fn unban_domain(
    State(state): State<AppState>,
    body: Result<Json<DomainInput>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let domain = domain_input(body)?;
    if !state.store.unban_domain(&domain).await? {
        return Err(XrpcError::new(
            axum::http::StatusCode::NOT_FOUND,
            "NotFound",
            format!("{domain} is not banned"),
        ));
    }
    Ok(success())
}
