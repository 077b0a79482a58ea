//! Plain serde structs of the same shape as atrelay's crates/relay/src/http/api/*.rs bodies.
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RepoView {
    pub did: String,
    pub head: String,
    pub rev: String,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListReposOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub repos: Vec<RepoView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoStatusOutput {
    pub did: String,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatestCommitOutput {
    pub cid: String,
    pub rev: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostView {
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    pub account_count: i64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListHostsOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub hosts: Vec<HostView>,
}

/// listReposByCollection: atrelay builds it today with `serde_json::json!`; this is the struct
/// a typed version would use.
#[derive(Debug, Clone, Serialize)]
pub struct DidOnly {
    pub did: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListReposByCollectionOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub repos: Vec<DidOnly>,
}
