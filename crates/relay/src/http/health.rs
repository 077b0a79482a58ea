//! Health endpoints: `/xrpc/_health` (and `/_health`), the cheap liveness check indigo's relay
//! has, and `/_ready` (also `/xrpc/_health?deep=true`), a readiness check that lists each check
//! and answers 503 when one fails: the database is unreachable, the event log cannot append,
//! a background task keeps failing, or hosts are followed but none delivered an event lately.

use std::{
    collections::HashMap,
    sync::atomic::Ordering,
    time::{Duration, SystemTime},
};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    Json,
};
use serde_json::{json, Value};

use crate::{
    engine::tasks::{TaskState, TaskStatus},
    state::AppState,
};

/// The name under which the event log's retention passes show as a background task.
pub const RETENTION_TASK: &str = "eventlog-retention";

/// How long the database check waits for an answer.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Every background task's status: those in the registry and the event log's retention.
pub fn task_statuses(state: &AppState) -> Vec<TaskStatus> {
    let mut tasks = state.readiness.tasks.snapshot();
    let log = state.log.health();
    tasks.push(TaskStatus {
        name: RETENTION_TASK.to_owned(),
        state: if log.failed.is_some() || log.closed {
            TaskState::Stopped
        } else if log.retention_consecutive_errors > 0 {
            TaskState::Backoff
        } else {
            TaskState::Running
        },
        errors_total: log.retention_errors,
        consecutive_errors: log.retention_consecutive_errors,
        last_error: log.retention_last_error,
        last_error_at: None,
    });
    tasks
}

/// `GET /xrpc/_health`: `{"status":"ok"}` when the database answers, else a 500 (indigo's
/// liveness check). With `?deep=true` it is the readiness check of [`ready`].
pub async fn health(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if query
        .get("deep")
        .is_some_and(|deep| matches!(deep.as_str(), "true" | "1"))
    {
        return ready(State(state)).await;
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "status": "error", "msg": "can't connect to database" })),
            )
        }
    }
}

/// One named check and its outcome.
struct Check {
    name: String,
    error: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, error: Option<String>) -> Check {
        Check {
            name: name.into(),
            error,
        }
    }
}

/// `GET /_ready`: every check with its outcome; 200 when all pass, else 503 with
/// `"status":"error"` and the failing checks named in `failing`.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut checks = vec![
        database_check(&state).await,
        event_log_check(&state),
        ingest_check(&state),
    ];
    let tasks = task_statuses(&state);
    let threshold = state.readiness.config.task_error_threshold.max(1);
    for task in &tasks {
        let failing = task.state == TaskState::Failed || task.consecutive_errors >= threshold;
        let error = failing.then(|| {
            format!(
                "{} errors in a row; last: {}",
                task.consecutive_errors,
                task.last_error.as_deref().unwrap_or("unknown")
            )
        });
        checks.push(Check::new(format!("task:{}", task.name), error));
    }
    let failing: Vec<&str> = checks
        .iter()
        .filter(|check| check.error.is_some())
        .map(|check| check.name.as_str())
        .collect();
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if failing.is_empty() { "ok" } else { "error" },
        "failing": failing,
        "checks": checks.iter().map(|check| json!({
            "name": check.name,
            "ok": check.error.is_none(),
            "message": check.error,
        })).collect::<Vec<_>>(),
        "tasks": tasks.iter().map(task_json).collect::<Vec<_>>(),
    });
    (status, Json(body))
}

fn task_json(task: &TaskStatus) -> Value {
    json!({
        "name": task.name,
        "state": task.state.as_str(),
        "errorsTotal": task.errors_total,
        "consecutiveErrors": task.consecutive_errors,
        "lastError": task.last_error,
        "lastErrorAt": task.last_error_at.map(unix_seconds),
    })
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

async fn database_check(state: &AppState) -> Check {
    let error = match tokio::time::timeout(DATABASE_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(format!("database unreachable: {error}")),
        Err(_) => Some(format!(
            "database did not answer within {}s",
            DATABASE_TIMEOUT.as_secs()
        )),
    };
    Check::new("database", error)
}

fn event_log_check(state: &AppState) -> Check {
    let log = state.log.health();
    let error = if let Some(reason) = log.failed {
        Some(format!("event log failed; no appends are taken: {reason}"))
    } else if log.closed {
        Some("event log is closed".to_owned())
    } else if !log.dir_present {
        Some("event log directory is missing".to_owned())
    } else {
        None
    };
    Check::new("eventlog", error)
}

fn ingest_check(state: &AppState) -> Check {
    let hosts = state.ingest.subscribed_hosts().len();
    let accepted = state.ingest.counters().accepted.load(Ordering::Relaxed);
    let silence = state.readiness.silence(accepted, hosts > 0);
    let error = match state.readiness.config.max_event_silence {
        Some(limit) if hosts > 0 && silence > limit => Some(format!(
            "{hosts} hosts followed but no event accepted for {}s (limit {}s)",
            silence.as_secs(),
            limit.as_secs()
        )),
        _ => None,
    };
    Check::new("ingest", error)
}
