//! `/admin/pds/*`: the host list with indigo's field names, admin `requestCrawl`, account
//! limits, block and unblock.

use axum::{
    extract::{rejection::JsonRejection, Query, State},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use atrelay_store::{Host, HostPage, HostStatus};

use super::success;
use crate::{
    engine::ingest::HostRateState,
    http::api::{
        crawl::{follow_host, RequestCrawlInput, Requester},
        hosts::find_host,
    },
    http::xrpc::XrpcError,
    state::AppState,
};

/// Most hosts `GET /admin/pds/list` returns (indigo's cap; it has no paging either).
const MAX_LISTED_HOSTS: usize = 10_000;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/pds/list", get(list))
        .route("/admin/pds/requestCrawl", post(request_crawl))
        .route("/admin/pds/changeLimits", post(change_limits))
        .route("/admin/pds/block", post(block))
        .route("/admin/pds/unblock", post(unblock))
}

/// A rate limit as indigo's host list shows it (`Max` events per `Window` seconds; −1 when
/// the host is not followed).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RateView {
    /// Events allowed per window.
    pub max: i64,
    /// Window length in seconds.
    pub window: i64,
}

/// One row of `GET /admin/pds/list`, with indigo's legacy field names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostView {
    /// Host id.
    #[serde(rename = "ID")]
    pub id: i64,
    /// When the host was added (RFC 3339).
    pub created_at: String,
    /// The hostname.
    pub host: String,
    /// Dialled over TLS.
    #[serde(rename = "SSL")]
    pub ssl: bool,
    /// The last upstream seq durably processed.
    pub cursor: i64,
    /// Always true: every stored host was registered by a crawl request or an operator.
    pub registered: bool,
    /// Banned.
    pub blocked: bool,
    /// Backfill crawl rate (requests per second), when set.
    pub crawl_rate_limit: f64,
    /// Accounts the relay holds for this host.
    pub repo_count: i64,
    /// Account limit; accounts past it are throttled.
    pub repo_limit: i64,
    /// A subscription task is running.
    pub has_active_connection: bool,
    /// The host's status (`active`, `idle`, `offline`, `throttled`, `banned`).
    pub status: String,
    /// Whether the host is trusted (higher limits).
    pub trusted: bool,
    /// The last connection error, if any.
    pub last_error: Option<String>,
    /// Per-second event limit (as the running task applies it).
    pub per_second_event_rate: RateView,
    /// Per-hour event limit.
    pub per_hour_event_rate: RateView,
    /// Per-day event limit.
    pub per_day_event_rate: RateView,
    /// Same as `RepoCount` (indigo shows both).
    pub user_count: i64,
    /// How much of each event window the host uses now; absent when it is not followed.
    pub events_used: Option<EventsUsed>,
    /// What the host's task is doing (not in indigo's list); absent when it is not followed.
    pub ingest: Option<IngestView>,
}

/// A followed host's task state: `connecting`, `connected`, `backoff` (waiting to redial after
/// a failure), `store-retry` (holding accepted events while the database does not answer),
/// `restarting` (after a crash) or `stopped`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IngestView {
    /// The state's name.
    pub state: &'static str,
    /// Why, when the state is not `connected`.
    pub detail: Option<String>,
    /// Since when (RFC 3339).
    pub since: String,
}

/// A followed host's current use of its event windows (not in indigo's list).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventsUsed {
    /// Events over the last second.
    pub per_second: u64,
    /// Events over the last hour.
    pub per_hour: u64,
    /// Events over the last day.
    pub per_day: u64,
    /// Reading is paused because a window is full.
    pub paused: bool,
    /// Times reading was paused since the host was followed.
    pub pauses: u64,
}

/// The host's event limits as its running task applies them; −1 when it is not followed.
fn rates(rates: Option<&HostRateState>) -> [RateView; 3] {
    [0, 1, 2].map(|i| match rates {
        Some(state) => RateView {
            max: i64::try_from(state.windows[i].limit).unwrap_or(i64::MAX),
            window: i64::try_from(state.windows[i].window.as_secs()).unwrap_or(i64::MAX),
        },
        None => RateView {
            max: -1,
            window: -1,
        },
    })
}

fn view(
    host: Host,
    rate_state: Option<&HostRateState>,
    link: Option<&crate::engine::ingest::LinkSnapshot>,
) -> HostView {
    let connected = rate_state.is_some();
    let [per_second, per_hour, per_day] = rates(rate_state);
    HostView {
        id: host.id,
        created_at: atrelay_repo::syntax::format_datetime(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_millis(u64::try_from(host.created_at).unwrap_or(0)),
        ),
        ssl: !host.no_ssl,
        cursor: host.last_seq.unwrap_or(0),
        registered: true,
        blocked: host.status == HostStatus::Banned,
        crawl_rate_limit: host.limits.crawl_rate.unwrap_or(0.0),
        repo_count: host.account_count,
        repo_limit: host.limits.account_limit,
        has_active_connection: connected,
        status: host.status.as_str().to_owned(),
        trusted: host.trusted,
        last_error: host.last_error,
        per_second_event_rate: per_second,
        per_hour_event_rate: per_hour,
        per_day_event_rate: per_day,
        events_used: rate_state.map(|state| EventsUsed {
            per_second: state.windows[0].used,
            per_hour: state.windows[1].used,
            per_day: state.windows[2].used,
            paused: state.paused,
            pauses: state.pauses,
        }),
        ingest: link.map(|link| IngestView {
            state: link.state.as_str(),
            detail: link.detail.clone(),
            since: atrelay_repo::syntax::format_datetime(link.since),
        }),
        user_count: host.account_count,
        host: host.hostname,
    }
}

/// `GET /admin/pds/list`: every host (up to 10,000), oldest first.
async fn list(State(state): State<AppState>) -> Result<Json<Vec<HostView>>, XrpcError> {
    let rate_states = state.ingest.host_rates();
    let links = state.ingest.host_links();
    let mut views = Vec::new();
    let mut after_id = None;
    while views.len() < MAX_LISTED_HOSTS {
        let page = state
            .store
            .list_hosts(&HostPage {
                after_id,
                limit: 1000,
                status: None,
            })
            .await?;
        let Some(last) = page.last() else { break };
        after_id = Some(last.id);
        for host in page.into_iter().take(MAX_LISTED_HOSTS - views.len()) {
            let rate_state = rate_states.iter().find(|r| r.host_id == host.id);
            let link = links
                .iter()
                .find(|(id, _)| *id == host.id)
                .map(|(_, link)| link);
            views.push(view(host, rate_state, link));
        }
    }
    Ok(Json(views))
}

/// `POST /admin/pds/requestCrawl {"hostname"}`: as the public endpoint, but past the enabled
/// switch and the new-hosts-per-day limit.
async fn request_crawl(
    State(state): State<AppState>,
    body: Result<Json<RequestCrawlInput>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let Json(input) =
        body.map_err(|e| XrpcError::invalid_request(format!("expected {{hostname}}: {e}")))?;
    follow_host(&state, &input.hostname, Requester::Admin).await?;
    Ok(success())
}

/// The body of `changeLimits`. indigo's legacy rate fields are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct ChangeLimitsInput {
    /// The hostname.
    pub host: String,
    /// The new account limit.
    pub repo_limit: Option<i64>,
}

impl ChangeLimitsInput {
    /// Reads the body field by field, so a wrong value is refused with a sentence naming the
    /// field rather than a serde message: `repo_limit` may be absent (nothing to change) but
    /// when present it must be a whole number ≥ 0 (not `null`, a string, a fraction).
    pub fn from_json(body: &Value) -> Result<ChangeLimitsInput, String> {
        let Some(object) = body.as_object() else {
            return Err("expected a JSON object {\"host\", \"repo_limit\"}".to_owned());
        };
        let host = match object.get("host") {
            Some(Value::String(host)) if !host.trim().is_empty() => host.trim().to_owned(),
            _ => return Err("host is required (a hostname string)".to_owned()),
        };
        let repo_limit = match object.get("repo_limit") {
            None => None,
            Some(value) => Some(value.as_i64().filter(|limit| *limit >= 0).ok_or_else(|| {
                format!("repo_limit must be a whole number of accounts, 0 or more; got {value}")
            })?),
        };
        Ok(ChangeLimitsInput { host, repo_limit })
    }
}

/// `POST /admin/pds/changeLimits {"host", "repo_limit"}`: sets the host's account limit; when
/// it rises, accounts throttled by the old limit are let in (each announced with `#account`).
async fn change_limits(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let Json(body) = body
        .map_err(|e| XrpcError::invalid_request(format!("expected {{host, repo_limit}}: {e}")))?;
    let input = ChangeLimitsInput::from_json(&body).map_err(XrpcError::invalid_request)?;
    let host = find_host(&state, &input.host).await?;
    let Some(limit) = input.repo_limit else {
        return Ok(success());
    };
    let change = state.ingest.change_account_limit(host.id, limit).await?;
    tracing::info!(
        host = %host.hostname,
        old = change.old_limit,
        new = change.new_limit,
        unthrottled = change.unthrottled.len(),
        "admin: account limit changed"
    );
    Ok(success())
}

#[derive(Deserialize)]
struct HostParam {
    host: Option<String>,
}

fn host_param(params: HostParam) -> Result<String, XrpcError> {
    params
        .host
        .filter(|h| !h.is_empty())
        .ok_or_else(|| XrpcError::invalid_request("host is required"))
}

/// `POST /admin/pds/block?host=`: bans the host and ends its subscription.
async fn block(
    State(state): State<AppState>,
    Query(params): Query<HostParam>,
) -> Result<Json<Value>, XrpcError> {
    let host = find_host(&state, &host_param(params)?).await?;
    state
        .store
        .set_host_status(host.id, HostStatus::Banned)
        .await?;
    state.ingest.unsubscribe(host.id).await;
    tracing::info!(host = %host.hostname, "admin: host blocked");
    Ok(success())
}

/// `POST /admin/pds/unblock?host=`: lifts the ban and (unlike indigo, which waits for a new
/// `requestCrawl`) follows the host again from its stored cursor.
async fn unblock(
    State(state): State<AppState>,
    Query(params): Query<HostParam>,
) -> Result<Json<Value>, XrpcError> {
    let mut host = find_host(&state, &host_param(params)?).await?;
    state
        .store
        .set_host_status(host.id, HostStatus::Active)
        .await?;
    host.status = HostStatus::Active;
    tracing::info!(host = %host.hostname, "admin: host unblocked");
    state.ingest.subscribe(host);
    Ok(success())
}
