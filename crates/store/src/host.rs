//! Upstream hosts: creation, lookup, paging and the per-host fields ingest and admin change.

use crate::hostname::normalize_hostname;
use crate::status::parse_column;
use crate::store::{now_ms, on_unique_violation, page_limit, with_pool};
use crate::{HostStatus, Result, Store, StoreError};

/// A host row.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Stable id, also the `listHosts` paging cursor.
    pub id: i64,
    /// Lower-case hostname, with a port only for development hosts.
    pub hostname: String,
    /// Dialled with `ws://` instead of `wss://`.
    pub no_ssl: bool,
    /// Subscription status.
    pub status: HostStatus,
    /// Trusted hosts get the large default limits.
    pub trusted: bool,
    /// Last upstream `seq` whose event is durable in the relay's log; `None` before the first.
    pub last_seq: Option<i64>,
    /// Per-host limits.
    pub limits: HostLimits,
    /// Accounts whose current host this is (kept by the account writes).
    pub account_count: i64,
    /// When the last subscription was established (Unix ms).
    pub last_connected_at: Option<i64>,
    /// When the last connection error happened (Unix ms).
    pub last_error_at: Option<i64>,
    /// The last connection error's message.
    pub last_error: Option<String>,
    /// When the row was created (Unix ms).
    pub created_at: i64,
    /// When the row last changed (Unix ms).
    pub updated_at: i64,
}

/// Per-host limits. `None` means "use the relay's computed default" (indigo derives the event
/// rates from the account limit and the trusted flag).
#[derive(Debug, Clone, PartialEq)]
pub struct HostLimits {
    /// Events accepted per second.
    pub events_per_second: Option<i64>,
    /// Events accepted per hour.
    pub events_per_hour: Option<i64>,
    /// Events accepted per day.
    pub events_per_day: Option<i64>,
    /// Accounts beyond this many are throttled.
    pub account_limit: i64,
    /// Requests per second when crawling the host (`listRepos`, `getRepo`).
    pub crawl_rate: Option<f64>,
}

impl HostLimits {
    /// Limits with only the account limit set.
    pub fn with_account_limit(account_limit: i64) -> HostLimits {
        HostLimits {
            events_per_second: None,
            events_per_hour: None,
            events_per_day: None,
            account_limit,
            crawl_rate: None,
        }
    }
}

/// What is needed to create a host.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHost {
    /// The hostname; normalised (lower-cased, trailing dot removed) before storing.
    pub hostname: String,
    /// Dial with `ws://`.
    pub no_ssl: bool,
    /// Trusted host.
    pub trusted: bool,
    /// Initial status, usually [`HostStatus::Active`].
    pub status: HostStatus,
    /// Initial limits.
    pub limits: HostLimits,
}

/// One page of hosts, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPage {
    /// Only hosts with an id greater than this (the previous page's last id).
    pub after_id: Option<i64>,
    /// Page size, at least 1.
    pub limit: u32,
    /// Only hosts with this status.
    pub status: Option<HostStatus>,
}

#[derive(sqlx::FromRow)]
struct HostRow {
    id: i64,
    hostname: String,
    no_ssl: bool,
    status: String,
    trusted: bool,
    last_seq: Option<i64>,
    events_per_second: Option<i64>,
    events_per_hour: Option<i64>,
    events_per_day: Option<i64>,
    crawl_rate: Option<f64>,
    account_limit: i64,
    account_count: i64,
    last_connected_at: Option<i64>,
    last_error_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const HOST_COLUMNS: &str = "id, hostname, no_ssl, status, trusted, last_seq, events_per_second, \
     events_per_hour, events_per_day, crawl_rate, account_limit, account_count, \
     last_connected_at, last_error_at, last_error, created_at, updated_at";

impl TryFrom<HostRow> for Host {
    type Error = StoreError;

    fn try_from(row: HostRow) -> Result<Host> {
        Ok(Host {
            id: row.id,
            hostname: row.hostname,
            no_ssl: row.no_ssl,
            status: parse_column("hosts.status", row.status)?,
            trusted: row.trusted,
            last_seq: row.last_seq,
            limits: HostLimits {
                events_per_second: row.events_per_second,
                events_per_hour: row.events_per_hour,
                events_per_day: row.events_per_day,
                account_limit: row.account_limit,
                crawl_rate: row.crawl_rate,
            },
            account_count: row.account_count,
            last_connected_at: row.last_connected_at,
            last_error_at: row.last_error_at,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Store {
    /// Creates a host.
    ///
    /// # Errors
    /// [`StoreError::InvalidHostname`] for a name that is not a DNS name with an optional port,
    /// [`StoreError::HostExists`] when the hostname is taken.
    pub async fn create_host(&self, host: &NewHost) -> Result<Host> {
        let hostname = normalize_hostname(&host.hostname)?;
        let now = now_ms();
        let sql = format!(
            "INSERT INTO hosts (hostname, no_ssl, trusted, status, events_per_second, \
             events_per_hour, events_per_day, crawl_rate, account_limit, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {HOST_COLUMNS}"
        );
        let limits = &host.limits;
        let row: HostRow = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(&hostname)
            .bind(host.no_ssl)
            .bind(host.trusted)
            .bind(host.status.as_str())
            .bind(limits.events_per_second)
            .bind(limits.events_per_hour)
            .bind(limits.events_per_day)
            .bind(limits.crawl_rate)
            .bind(limits.account_limit)
            .bind(now)
            .fetch_one(pool)
            .await)
        .map_err(|err| {
            on_unique_violation(err, || StoreError::HostExists {
                hostname: hostname.clone(),
            })
        })?;
        row.try_into()
    }

    /// The host with this id, if any.
    ///
    /// # Errors
    /// [`StoreError::Database`], or [`StoreError::Corrupt`] for an unknown stored status.
    pub async fn host(&self, id: i64) -> Result<Option<Host>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1");
        let row: Option<HostRow> =
            with_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        row.map(Host::try_from).transpose()
    }

    /// The host with this hostname (normalised first), if any.
    ///
    /// # Errors
    /// [`StoreError::InvalidHostname`], [`StoreError::Database`], [`StoreError::Corrupt`].
    pub async fn host_by_hostname(&self, hostname: &str) -> Result<Option<Host>> {
        let hostname = normalize_hostname(hostname)?;
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE hostname = $1");
        let row: Option<HostRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(&hostname)
            .fetch_optional(pool)
            .await)?;
        row.map(Host::try_from).transpose()
    }

    /// One page of hosts in id order; the next page starts after the last id returned.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero limit, [`StoreError::Database`],
    /// [`StoreError::Corrupt`].
    pub async fn list_hosts(&self, page: &HostPage) -> Result<Vec<Host>> {
        let limit = page_limit(page.limit)?;
        let after = page.after_id.unwrap_or(i64::MIN);
        let rows: Vec<HostRow> = match page.status {
            Some(status) => {
                let sql = format!(
                    "SELECT {HOST_COLUMNS} FROM hosts WHERE status = $1 AND id > $2 \
                     ORDER BY id LIMIT $3"
                );
                with_pool!(self, pool => sqlx::query_as(&sql)
                    .bind(status.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await)?
            }
            None => {
                let sql =
                    format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id > $1 ORDER BY id LIMIT $2");
                with_pool!(self, pool => sqlx::query_as(&sql)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await)?
            }
        };
        rows.into_iter().map(Host::try_from).collect()
    }

    /// The number of hosts, or of hosts with one status.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn count_hosts(&self, status: Option<HostStatus>) -> Result<i64> {
        let count: i64 = match status {
            Some(status) => with_pool!(self, pool => sqlx::query_scalar(
                "SELECT COUNT(*) FROM hosts WHERE status = $1")
                .bind(status.as_str())
                .fetch_one(pool)
                .await)?,
            None => with_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM hosts")
                .fetch_one(pool)
                .await)?,
        };
        Ok(count)
    }

    /// Sets a host's status.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], [`StoreError::Database`].
    pub async fn set_host_status(&self, id: i64, status: HostStatus) -> Result<()> {
        let now = now_ms();
        let affected = with_pool!(self, pool => sqlx::query(
            "UPDATE hosts SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        found(affected, id)
    }

    /// Sets a host's upstream cursor (the last seq durable in the relay's log), or clears it so
    /// the next subscription starts from the host's oldest event.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], [`StoreError::Database`].
    pub async fn set_host_cursor(&self, id: i64, last_seq: Option<i64>) -> Result<()> {
        let now = now_ms();
        let affected = with_pool!(self, pool => sqlx::query(
            "UPDATE hosts SET last_seq = $1, updated_at = $2 WHERE id = $3")
            .bind(last_seq)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        found(affected, id)
    }

    /// Replaces a host's limits.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], [`StoreError::Database`].
    pub async fn set_host_limits(&self, id: i64, limits: &HostLimits) -> Result<()> {
        let now = now_ms();
        let affected = with_pool!(self, pool => sqlx::query(
            "UPDATE hosts SET events_per_second = $1, events_per_hour = $2, events_per_day = $3, \
             crawl_rate = $4, account_limit = $5, updated_at = $6 WHERE id = $7")
            .bind(limits.events_per_second)
            .bind(limits.events_per_hour)
            .bind(limits.events_per_day)
            .bind(limits.crawl_rate)
            .bind(limits.account_limit)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        found(affected, id)
    }

    /// Sets or clears a host's trusted flag.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], [`StoreError::Database`].
    pub async fn set_host_trusted(&self, id: i64, trusted: bool) -> Result<()> {
        let now = now_ms();
        let affected = with_pool!(self, pool => sqlx::query(
            "UPDATE hosts SET trusted = $1, updated_at = $2 WHERE id = $3")
            .bind(trusted)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        found(affected, id)
    }

    /// Records that a subscription to the host was established now.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], [`StoreError::Database`].
    pub async fn record_host_connected(&self, id: i64) -> Result<()> {
        let now = now_ms();
        let affected = with_pool!(self, pool => sqlx::query(
            "UPDATE hosts SET last_connected_at = $1, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        found(affected, id)
    }

    /// Records a connection error for the host, now.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], [`StoreError::Database`].
    pub async fn record_host_error(&self, id: i64, message: &str) -> Result<()> {
        let now = now_ms();
        let affected = with_pool!(self, pool => sqlx::query(
            "UPDATE hosts SET last_error = $1, last_error_at = $2, updated_at = $2 WHERE id = $3")
            .bind(message)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        found(affected, id)
    }

    /// Recomputes a host's stored account count from the accounts table and returns it.
    /// The count is kept by the account writes; this repairs it after manual edits.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], [`StoreError::Database`].
    pub async fn recount_host_accounts(&self, id: i64) -> Result<i64> {
        let count: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(
            "UPDATE hosts SET account_count = \
             (SELECT COUNT(*) FROM accounts WHERE accounts.host_id = hosts.id) \
             WHERE id = $1 RETURNING account_count")
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        count.ok_or(StoreError::HostNotFound { id })
    }
}

fn found(rows_affected: u64, id: i64) -> Result<()> {
    if rows_affected == 0 {
        return Err(StoreError::HostNotFound { id });
    }
    Ok(())
}
