//! Accounts: lookup, paging by DID, local status (takedowns, throttles) and counts.

use crate::status::parse_column;
use crate::store::{now_ms, page_limit, placeholders, with_pool, Pool};
use crate::{AccountStatus, Result, Store, StoreError};

/// DIDs per `IN (...)` list when reading many accounts at once.
const DIDS_PER_QUERY: usize = 500;

/// An account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's DID.
    pub did: String,
    /// The id of the host currently serving the account.
    pub host_id: i64,
    /// Status as last reported by the host.
    pub upstream_status: AccountStatus,
    /// The relay's own status for the account (takedowns, throttles).
    pub local_status: AccountStatus,
    /// Why the local status was set, for operators.
    pub local_reason: Option<String>,
    /// The latest verified commit, once one has been seen.
    pub repo: Option<RepoState>,
    /// The latest accepted commit did not chain onto the one stored before it (ingest passes
    /// such commits on and marks the account until a commit chains again or a `#sync`
    /// arrives). Not a status: it does not make the account inactive.
    pub desynchronized: bool,
    /// When the row was created (Unix ms).
    pub created_at: i64,
    /// When the row last changed (Unix ms).
    pub updated_at: i64,
}

impl Account {
    /// Whether the account is active: both the host and the relay say `active`.
    pub fn is_active(&self) -> bool {
        self.status().is_none()
    }

    /// The status to report (`getRepoStatus`, `#account`): see [`AccountStatus::reported`].
    pub fn status(&self) -> Option<AccountStatus> {
        AccountStatus::reported(self.upstream_status, self.local_status)
    }
}

/// The latest verified commit of an account's repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoState {
    /// The commit's `rev` (a TID).
    pub rev: String,
    /// The commit block's CID, as a string.
    pub commit_cid: String,
    /// The MST root CID (`data`), the next commit's expected `prevData`, as a string.
    pub data_cid: String,
}

/// One page of accounts, in DID byte order (the `listRepos` cursor is the last DID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPage {
    /// Only accounts whose DID sorts after this one.
    pub after_did: Option<String>,
    /// Page size, at least 1.
    pub limit: u32,
    /// Which accounts to include.
    pub filter: AccountFilter,
}

/// Restricts an [`AccountPage`] or [`Store::count_accounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Only accounts on this host.
    pub host_id: Option<i64>,
    /// Only accounts with this local status (for example the takedown list).
    pub local_status: Option<AccountStatus>,
    /// Only accounts that are active both upstream and locally.
    pub active_only: bool,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    did: String,
    host_id: i64,
    upstream_status: String,
    local_status: String,
    local_reason: Option<String>,
    rev: Option<String>,
    commit_cid: Option<String>,
    data_cid: Option<String>,
    desynchronized: bool,
    created_at: i64,
    updated_at: i64,
}

const ACCOUNT_COLUMNS: &str = "did, host_id, upstream_status, local_status, local_reason, rev, \
     commit_cid, data_cid, desynchronized, created_at, updated_at";

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> Result<Account> {
        let repo = match (row.rev, row.commit_cid, row.data_cid) {
            (Some(rev), Some(commit_cid), Some(data_cid)) => Some(RepoState {
                rev,
                commit_cid,
                data_cid,
            }),
            _ => None,
        };
        Ok(Account {
            did: row.did,
            host_id: row.host_id,
            upstream_status: parse_column("accounts.upstream_status", row.upstream_status)?,
            local_status: parse_column("accounts.local_status", row.local_status)?,
            local_reason: row.local_reason,
            repo,
            desynchronized: row.desynchronized,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A bind value of a query whose SQL is built at run time.
enum Param {
    Text(String),
    Int(i64),
}

/// `WHERE` conditions (possibly empty, else starting with ` WHERE`) and their bind values.
fn filter_sql(filter: &AccountFilter, after_did: Option<&str>) -> (String, Vec<Param>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(did) = after_did {
        params.push(Param::Text(did.to_owned()));
        conditions.push(format!("did > ${}", params.len()));
    }
    if let Some(host_id) = filter.host_id {
        params.push(Param::Int(host_id));
        conditions.push(format!("host_id = ${}", params.len()));
    }
    if let Some(status) = filter.local_status {
        params.push(Param::Text(status.as_str().to_owned()));
        conditions.push(format!("local_status = ${}", params.len()));
    }
    if filter.active_only {
        conditions.push("local_status = 'active' AND upstream_status = 'active'".to_owned());
    }
    if conditions.is_empty() {
        (String::new(), params)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), params)
    }
}

impl Store {
    /// The account with this DID, if any.
    ///
    /// # Errors
    /// [`StoreError::Database`], or [`StoreError::Corrupt`] for an unknown stored status.
    pub async fn account(&self, did: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE did = $1");
        let row: Option<AccountRow> =
            with_pool!(self, pool => sqlx::query_as(&sql).bind(did).fetch_optional(pool).await)?;
        row.map(Account::try_from).transpose()
    }

    /// The accounts among `dids` that exist, in no particular order: fills a caller's cache
    /// for a batch of events with a few queries.
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::Corrupt`].
    pub async fn accounts(&self, dids: &[String]) -> Result<Vec<Account>> {
        let mut accounts = Vec::with_capacity(dids.len());
        for chunk in dids.chunks(DIDS_PER_QUERY) {
            let rows: Vec<AccountRow> = match &self.pool {
                // One array parameter: the same prepared statement for every chunk size.
                Pool::Postgres(pool) => {
                    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE did = ANY($1)");
                    sqlx::query_as(&sql).bind(chunk).fetch_all(pool).await?
                }
                Pool::Sqlite(pool) => {
                    let sql = format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE did IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut query = sqlx::query_as(&sql);
                    for did in chunk {
                        query = query.bind(did.as_str());
                    }
                    query.fetch_all(pool).await?
                }
            };
            for row in rows {
                accounts.push(Account::try_from(row)?);
            }
        }
        Ok(accounts)
    }

    /// One page of accounts in DID byte order.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero limit, [`StoreError::Database`],
    /// [`StoreError::Corrupt`].
    pub async fn list_accounts(&self, page: &AccountPage) -> Result<Vec<Account>> {
        self.select_accounts(&page.filter, page.after_did.as_deref(), "did", page.limit)
            .await
    }

    /// Up to `limit` accounts matching `filter`, oldest (by creation) first: for example the
    /// accounts to let in first when a host's account limit rises.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero limit, [`StoreError::Database`],
    /// [`StoreError::Corrupt`].
    pub async fn oldest_accounts(
        &self,
        filter: &AccountFilter,
        limit: u32,
    ) -> Result<Vec<Account>> {
        self.select_accounts(filter, None, "created_at, did", limit)
            .await
    }

    /// Up to `limit` accounts matching `filter` (and sorting after `after_did`), in `order_by`
    /// order (a fixed SQL column list, never caller input).
    async fn select_accounts(
        &self,
        filter: &AccountFilter,
        after_did: Option<&str>,
        order_by: &'static str,
        limit: u32,
    ) -> Result<Vec<Account>> {
        let limit = page_limit(limit)?;
        let (conditions, params) = filter_sql(filter, after_did);
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts{conditions} ORDER BY {order_by} LIMIT ${}",
            params.len() + 1
        );
        let rows: Vec<AccountRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            for param in &params {
                query = match param {
                    Param::Text(text) => query.bind(text.as_str()),
                    Param::Int(int) => query.bind(*int),
                };
            }
            query.bind(limit).fetch_all(pool).await
        })?;
        rows.into_iter().map(Account::try_from).collect()
    }

    /// The number of accounts matching `filter` (`COUNT(*)`: for dashboards, not per event;
    /// a host's running count is [`crate::Host::account_count`]).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn count_accounts(&self, filter: &AccountFilter) -> Result<i64> {
        let (conditions, params) = filter_sql(filter, None);
        let sql = format!("SELECT COUNT(*) FROM accounts{conditions}");
        let count: i64 = with_pool!(self, pool => {
            let mut query = sqlx::query_scalar(&sql);
            for param in &params {
                query = match param {
                    Param::Text(text) => query.bind(text.as_str()),
                    Param::Int(int) => query.bind(*int),
                };
            }
            query.fetch_one(pool).await
        })?;
        Ok(count)
    }

    /// Sets the relay's own status for an account (takedown, suspension, throttle, or back to
    /// active) with a reason for operators, and returns the updated account.
    ///
    /// # Errors
    /// [`StoreError::AccountNotFound`], [`StoreError::Database`], [`StoreError::Corrupt`].
    pub async fn set_local_status(
        &self,
        did: &str,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> Result<Account> {
        let now = now_ms();
        let sql = format!(
            "UPDATE accounts SET local_status = $1, local_reason = $2, updated_at = $3 \
             WHERE did = $4 RETURNING {ACCOUNT_COLUMNS}"
        );
        let row: Option<AccountRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(status.as_str())
            .bind(reason)
            .bind(now)
            .bind(did)
            .fetch_optional(pool)
            .await)?;
        match row {
            Some(row) => row.try_into(),
            None => Err(StoreError::AccountNotFound {
                did: did.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(upstream: AccountStatus, local: AccountStatus) -> Account {
        Account {
            did: "did:plc:a".into(),
            host_id: 1,
            upstream_status: upstream,
            local_status: local,
            local_reason: None,
            repo: None,
            desynchronized: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn local_status_wins_when_reporting() {
        use AccountStatus::*;
        assert_eq!(account(Active, Active).status(), None);
        assert!(account(Active, Active).is_active());
        assert_eq!(account(Deactivated, Active).status(), Some(Deactivated));
        assert_eq!(account(Deactivated, Takendown).status(), Some(Takendown));
        assert!(!account(Active, Throttled).is_active());
    }

    #[test]
    fn filters_number_their_placeholders() {
        let filter = AccountFilter {
            host_id: Some(3),
            local_status: Some(AccountStatus::Takendown),
            active_only: true,
        };
        let (sql, params) = filter_sql(&filter, Some("did:plc:x"));
        assert_eq!(
            sql,
            " WHERE did > $1 AND host_id = $2 AND local_status = $3 \
             AND local_status = 'active' AND upstream_status = 'active'"
        );
        assert_eq!(params.len(), 3);
        assert_eq!(filter_sql(&AccountFilter::default(), None).0, "");
    }
}
