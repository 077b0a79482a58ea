//! `com.atproto.sync.listHosts` and `com.atproto.sync.getHostStatus`.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};

use atrelay_store::{Host, HostPage};

use crate::{
    http::api::params::{required, LimitRange, PageParams},
    http::xrpc::XrpcError,
    state::AppState,
};

const LIST_HOSTS_LIMIT: LimitRange = LimitRange {
    min: 1,
    max: 1000,
    default: 200,
};

/// One host as the lexicon's `listHosts#host` and `getHostStatus` output describe it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HostView {
    /// Hostname, without a scheme.
    pub hostname: String,
    /// The last upstream seq the relay has durably processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Accounts the relay attributes to this host.
    pub account_count: i64,
    /// `active`, `idle`, `offline`, `throttled` or `banned`.
    pub status: String,
}

impl From<Host> for HostView {
    fn from(host: Host) -> Self {
        HostView {
            hostname: host.hostname,
            seq: host.last_seq,
            account_count: host.account_count,
            status: host.status.as_str().to_owned(),
        }
    }
}

/// The `listHosts` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListHostsOutput {
    /// Present when another page may follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Hosts in the order the relay first saw them.
    pub hosts: Vec<HostView>,
}

/// `GET /xrpc/com.atproto.sync.listHosts?limit=&cursor=`: hosts in first-seen order.
pub async fn list_hosts(
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<Json<ListHostsOutput>, XrpcError> {
    let limit = params.limit(LIST_HOSTS_LIMIT)?;
    let after_id = params
        .cursor()
        .map(|cursor| {
            cursor
                .parse::<i64>()
                .map_err(|_| XrpcError::invalid_request(format!("malformed cursor {cursor:?}")))
        })
        .transpose()?;
    let page = HostPage {
        after_id,
        limit,
        status: None,
    };
    let hosts = state.store.list_hosts(&page).await?;
    let cursor = (hosts.len() == limit as usize)
        .then(|| hosts.last().map(|host| host.id.to_string()))
        .flatten();
    Ok(Json(ListHostsOutput {
        cursor,
        hosts: hosts.into_iter().map(HostView::from).collect(),
    }))
}

/// Parameters of `getHostStatus`.
#[derive(Debug, Deserialize)]
pub struct HostStatusParams {
    hostname: Option<String>,
}

/// `GET /xrpc/com.atproto.sync.getHostStatus?hostname=`.
pub async fn get_host_status(
    State(state): State<AppState>,
    Query(params): Query<HostStatusParams>,
) -> Result<Json<HostView>, XrpcError> {
    let hostname = required(&params.hostname, "hostname")?;
    let host = find_host(&state, hostname).await?;
    Ok(Json(host.into()))
}

/// The stored host named `hostname`, or a 404 `HostNotFound`.
pub(crate) async fn find_host(state: &AppState, hostname: &str) -> Result<Host, XrpcError> {
    state
        .store
        .host_by_hostname(hostname)
        .await?
        .ok_or_else(|| {
            XrpcError::new(
                StatusCode::NOT_FOUND,
                "HostNotFound",
                format!("no host {hostname:?} is known to this relay"),
            )
        })
}
