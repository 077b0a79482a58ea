//! The batched write of the ingest path: account upserts and host cursors in one transaction.

use std::collections::BTreeMap;

use crate::account::RepoState;
use crate::store::{now_ms, Pool};
use crate::{AccountStatus, Result, Store, StoreError};

/// A change to one account, as ingest learns it from an event.
///
/// The account is created when missing. For an existing account the host and upstream status
/// are replaced, the repository state is replaced when given and kept when `None`, and the
/// local status is never touched (it belongs to operators: see [`Store::set_local_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    /// The account's DID.
    pub did: String,
    /// The host that now serves the account (it must exist).
    pub host_id: i64,
    /// The status the host reports.
    pub upstream_status: AccountStatus,
    /// The new latest commit, for `#commit` and `#sync` events.
    pub repo: Option<RepoState>,
    /// The local status of a newly created account (for example `throttled` when the host is
    /// over its account limit); ignored when the account exists.
    pub initial_local_status: AccountStatus,
    /// The local reason of a newly created account; ignored when the account exists.
    pub initial_local_reason: Option<String>,
    /// Whether the account's chain is broken ([`crate::Account::desynchronized`]); replaced by
    /// every update, so the caller passes the flag as it stands after the event.
    pub desynchronized: bool,
}

impl AccountUpdate {
    /// An update that creates an active account or sets its host and marks it active upstream,
    /// keeping its repository state.
    pub fn new(did: impl Into<String>, host_id: i64) -> AccountUpdate {
        AccountUpdate {
            did: did.into(),
            host_id,
            upstream_status: AccountStatus::Active,
            repo: None,
            initial_local_status: AccountStatus::Active,
            initial_local_reason: None,
            desynchronized: false,
        }
    }

    /// The same update with a new latest commit.
    pub fn with_repo(mut self, repo: RepoState) -> AccountUpdate {
        self.repo = Some(repo);
        self
    }

    /// The same update with the desynchronized flag set as given.
    pub fn with_desynchronized(mut self, desynchronized: bool) -> AccountUpdate {
        self.desynchronized = desynchronized;
        self
    }

    /// The same update with another upstream status.
    pub fn with_upstream_status(mut self, status: AccountStatus) -> AccountUpdate {
        self.upstream_status = status;
        self
    }
}

/// A host's new upstream cursor: the last seq whose event is durable in the relay's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCursor {
    /// The host's id (it must exist).
    pub host_id: i64,
    /// The host's seq.
    pub seq: i64,
}

/// Where a batch's events sit in the relay's event log. Written in the batch's transaction,
/// so after a crash the relay can tell which logged events the store already reflects and
/// apply only the rest ([`Store::log_progress`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogProgress {
    /// Per host: the newest relay seq among the batch's events from that host.
    pub hosts: Vec<HostLogSeq>,
    /// Every logged event up to this relay seq is reflected in the store (only ever raised).
    pub watermark: Option<i64>,
}

/// The newest relay seq of a host's events reflected in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLogSeq {
    /// The host's id.
    pub host_id: i64,
    /// The relay (event log) seq.
    pub relay_seq: i64,
}

/// What a batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Distinct accounts created or updated.
    pub accounts: usize,
    /// Distinct hosts whose cursor was set.
    pub cursors: usize,
}

/// Upsert shared by both backends; `excluded` is the row that was proposed for insertion.
const ON_CONFLICT: &str = " ON CONFLICT (did) DO UPDATE SET \
     host_id = excluded.host_id, \
     upstream_status = excluded.upstream_status, \
     rev = COALESCE(excluded.rev, accounts.rev), \
     commit_cid = COALESCE(excluded.commit_cid, accounts.commit_cid), \
     data_cid = COALESCE(excluded.data_cid, accounts.data_cid), \
     desynchronized = excluded.desynchronized, \
     updated_at = excluded.updated_at";

const INSERT_COLUMNS: &str = "INSERT INTO accounts (did, host_id, upstream_status, local_status, \
     local_reason, rev, commit_cid, data_cid, desynchronized, created_at, updated_at)";

impl Store {
    /// Writes account updates and host cursors in ONE transaction: either all of it is stored
    /// or, on any error, none of it. The caller chooses the batch (for example every 100 ms or
    /// 1,000 events) and must only pass cursors of events already durable in the event log.
    ///
    /// Several updates of one DID are merged in order (the last host and upstream status win,
    /// the last given repository state wins); several cursors of one host keep the last.
    /// Rows are written in DID order, so concurrent batches lock rows in the same order.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for an empty DID, [`StoreError::HostNotFound`] when an
    /// update or cursor names a missing host, [`StoreError::Database`] otherwise.
    pub async fn apply_batch(
        &self,
        updates: &[AccountUpdate],
        cursors: &[HostCursor],
    ) -> Result<BatchOutcome> {
        self.apply_logged_batch(updates, cursors, &LogProgress::default())
            .await
    }

    /// [`Store::apply_batch`] that also records, in the same transaction, where the batch's
    /// events sit in the event log ([`LogProgress`]).
    ///
    /// # Errors
    /// As [`Store::apply_batch`].
    pub async fn apply_logged_batch(
        &self,
        updates: &[AccountUpdate],
        cursors: &[HostCursor],
        progress: &LogProgress,
    ) -> Result<BatchOutcome> {
        let merged = merge_updates(updates)?;
        let cursors: BTreeMap<i64, i64> = cursors.iter().map(|c| (c.host_id, c.seq)).collect();
        if merged.is_empty() && cursors.is_empty() && progress == &LogProgress::default() {
            return Ok(BatchOutcome::default());
        }
        let now = now_ms();
        let written = match &self.pool {
            Pool::Postgres(pool) => write_postgres(pool, &merged, &cursors, progress, now).await,
            Pool::Sqlite(pool) => {
                let _writer = self.sqlite_batch_writer.lock().await;
                write_sqlite(pool, &merged, &cursors, progress, now).await
            }
        };
        match written {
            Ok(()) => Ok(BatchOutcome {
                accounts: merged.len(),
                cursors: cursors.len(),
            }),
            Err(StoreError::Database(sqlx::Error::Database(db)))
                if db.is_foreign_key_violation() =>
            {
                let mut host_ids: Vec<i64> = merged.iter().map(|u| u.host_id).collect();
                host_ids.sort_unstable();
                host_ids.dedup();
                Err(self
                    .first_missing_host(&host_ids)
                    .await?
                    .map_or(StoreError::Database(sqlx::Error::Database(db)), |id| {
                        StoreError::HostNotFound { id }
                    }))
            }
            Err(err) => Err(err),
        }
    }

    /// What the store reflects of the event log ([`LogProgress`]): the watermark, and per
    /// host the newest relay seq written with its account state.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn log_progress(&self) -> Result<LogProgress> {
        let (watermark, hosts): (Option<i64>, Vec<(i64, i64)>) = match &self.pool {
            Pool::Postgres(pool) => (
                sqlx::query_scalar("SELECT log_watermark FROM ingest_state WHERE id = 1")
                    .fetch_optional(pool)
                    .await?,
                sqlx::query_as(
                    "SELECT id, last_relay_seq FROM hosts WHERE last_relay_seq IS NOT NULL",
                )
                .fetch_all(pool)
                .await?,
            ),
            Pool::Sqlite(pool) => (
                sqlx::query_scalar("SELECT log_watermark FROM ingest_state WHERE id = 1")
                    .fetch_optional(pool)
                    .await?,
                sqlx::query_as(
                    "SELECT id, last_relay_seq FROM hosts WHERE last_relay_seq IS NOT NULL",
                )
                .fetch_all(pool)
                .await?,
            ),
        };
        Ok(LogProgress {
            hosts: hosts
                .into_iter()
                .map(|(host_id, relay_seq)| HostLogSeq { host_id, relay_seq })
                .collect(),
            watermark,
        })
    }

    /// The first of `ids` that names no host.
    async fn first_missing_host(&self, ids: &[i64]) -> Result<Option<i64>> {
        for id in ids {
            if self.host(*id).await?.is_none() {
                return Ok(Some(*id));
            }
        }
        Ok(None)
    }
}

/// Merges updates of the same DID and sorts them by DID.
fn merge_updates(updates: &[AccountUpdate]) -> Result<Vec<AccountUpdate>> {
    let mut merged: BTreeMap<&str, AccountUpdate> = BTreeMap::new();
    for update in updates {
        if update.did.is_empty() {
            return Err(StoreError::InvalidArgument {
                name: "did",
                reason: "must not be empty",
            });
        }
        match merged.get_mut(update.did.as_str()) {
            Some(earlier) => {
                earlier.host_id = update.host_id;
                earlier.upstream_status = update.upstream_status;
                earlier.desynchronized = update.desynchronized;
                if update.repo.is_some() {
                    earlier.repo.clone_from(&update.repo);
                }
            }
            None => {
                merged.insert(&update.did, update.clone());
            }
        }
    }
    Ok(merged.into_values().collect())
}

async fn write_postgres(
    pool: &sqlx::PgPool,
    updates: &[AccountUpdate],
    cursors: &BTreeMap<i64, i64>,
    progress: &LogProgress,
    now: i64,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    if !updates.is_empty() {
        let sql = format!(
            "{INSERT_COLUMNS} SELECT t.did, t.host_id, t.upstream_status, t.local_status, \
             t.local_reason, t.rev, t.commit_cid, t.data_cid, t.desynchronized, $10, $10 \
             FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::bool[]) \
             AS t(did, host_id, upstream_status, local_status, local_reason, rev, commit_cid, \
             data_cid, desynchronized)\
             {ON_CONFLICT}"
        );
        let column = |f: fn(&AccountUpdate) -> Option<&str>| -> Vec<Option<&str>> {
            updates.iter().map(f).collect()
        };
        sqlx::query(&sql)
            .bind(updates.iter().map(|u| u.did.as_str()).collect::<Vec<_>>())
            .bind(updates.iter().map(|u| u.host_id).collect::<Vec<_>>())
            .bind(column(|u| Some(u.upstream_status.as_str())))
            .bind(column(|u| Some(u.initial_local_status.as_str())))
            .bind(column(|u| u.initial_local_reason.as_deref()))
            .bind(column(|u| u.repo.as_ref().map(|r| r.rev.as_str())))
            .bind(column(|u| u.repo.as_ref().map(|r| r.commit_cid.as_str())))
            .bind(column(|u| u.repo.as_ref().map(|r| r.data_cid.as_str())))
            .bind(updates.iter().map(|u| u.desynchronized).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    if !cursors.is_empty() {
        let ids: Vec<i64> = cursors.keys().copied().collect();
        let seqs: Vec<i64> = cursors.values().copied().collect();
        let affected = sqlx::query(
            "UPDATE hosts SET last_seq = t.seq, updated_at = $3 \
             FROM UNNEST($1::int8[], $2::int8[]) AS t(id, seq) WHERE hosts.id = t.id",
        )
        .bind(&ids)
        .bind(&seqs)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if affected != ids.len() as u64 {
            let present: Vec<i64> = sqlx::query_scalar("SELECT id FROM hosts WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?;
            let missing = ids.iter().find(|id| !present.contains(id)).copied();
            return Err(StoreError::HostNotFound {
                id: missing.unwrap_or_default(),
            });
        }
    }
    for host in &progress.hosts {
        sqlx::query(
            "UPDATE hosts SET last_relay_seq = GREATEST(COALESCE(last_relay_seq, $1), $1) \
             WHERE id = $2",
        )
        .bind(host.relay_seq)
        .bind(host.host_id)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(watermark) = progress.watermark {
        sqlx::query(
            "INSERT INTO ingest_state (id, log_watermark) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET \
             log_watermark = GREATEST(ingest_state.log_watermark, excluded.log_watermark)",
        )
        .bind(watermark)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Most rows in one multi-row upsert on SQLite: 11 parameters each stay under the 999
/// parameters that SQLite builds before 3.32 allow.
const SQLITE_MAX_ROWS_PER_UPSERT: usize = 64;
const _: () = assert!(SQLITE_MAX_ROWS_PER_UPSERT * 11 <= 999);

/// Splits `rows` into statement sizes that are powers of two, largest first, so the statement
/// cache holds at most seven shapes instead of preparing a new one for every batch length.
fn sqlite_statement_sizes(mut rows: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if rows == 0 {
            return None;
        }
        let size = SQLITE_MAX_ROWS_PER_UPSERT.min(1 << rows.ilog2());
        rows -= size;
        Some(size)
    })
}

/// `(?, …), (?, …)` for `rows` account rows in `INSERT_COLUMNS` order. Anonymous parameters:
/// SQLite finds a numbered one by a linear search, so binding `$N` costs O(N²) per statement.
fn sqlite_value_rows(rows: usize) -> String {
    let row = format!("({})", ["?"; 11].join(", "));
    vec![row; rows].join(", ")
}

async fn write_sqlite(
    pool: &sqlx::SqlitePool,
    updates: &[AccountUpdate],
    cursors: &BTreeMap<i64, i64>,
    progress: &LogProgress,
    now: i64,
) -> Result<()> {
    // The first statement is a write, so the transaction takes the write lock (waiting for the
    // busy timeout) before it reads anything and cannot fail on a stale read snapshot.
    let mut tx = pool.begin().await?;
    // One statement per chunk of rows instead of one per row: each statement is a round trip to
    // sqlx's SQLite worker thread, which cost more than the upsert itself.
    let mut rest = updates;
    for size in sqlite_statement_sizes(updates.len()) {
        let (chunk, after) = rest.split_at(size);
        rest = after;
        let sql = format!(
            "{INSERT_COLUMNS} VALUES {}{ON_CONFLICT}",
            sqlite_value_rows(chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for update in chunk {
            let repo = update.repo.as_ref();
            query = query
                .bind(update.did.as_str())
                .bind(update.host_id)
                .bind(update.upstream_status.as_str())
                .bind(update.initial_local_status.as_str())
                .bind(update.initial_local_reason.as_deref())
                .bind(repo.map(|r| r.rev.as_str()))
                .bind(repo.map(|r| r.commit_cid.as_str()))
                .bind(repo.map(|r| r.data_cid.as_str()))
                .bind(update.desynchronized)
                .bind(now)
                .bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    for (&host_id, &seq) in cursors {
        let affected = sqlx::query("UPDATE hosts SET last_seq = $1, updated_at = $2 WHERE id = $3")
            .bind(seq)
            .bind(now)
            .bind(host_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if affected == 0 {
            return Err(StoreError::HostNotFound { id: host_id });
        }
    }
    for host in &progress.hosts {
        sqlx::query(
            "UPDATE hosts SET last_relay_seq = MAX(COALESCE(last_relay_seq, $1), $1) \
             WHERE id = $2",
        )
        .bind(host.relay_seq)
        .bind(host.host_id)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(watermark) = progress.watermark {
        sqlx::query(
            "INSERT INTO ingest_state (id, log_watermark) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET \
             log_watermark = MAX(ingest_state.log_watermark, excluded.log_watermark)",
        )
        .bind(watermark)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(rev: &str) -> RepoState {
        RepoState {
            rev: rev.into(),
            commit_cid: format!("commit-{rev}"),
            data_cid: format!("data-{rev}"),
        }
    }

    #[test]
    fn updates_of_one_did_merge_in_order() {
        let updates = [
            AccountUpdate::new("did:plc:b", 1).with_repo(repo("1")),
            AccountUpdate::new("did:plc:a", 1),
            AccountUpdate::new("did:plc:b", 2).with_upstream_status(AccountStatus::Deactivated),
        ];
        let merged = merge_updates(&updates).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].did, "did:plc:a");
        assert_eq!(merged[1].host_id, 2);
        assert_eq!(merged[1].upstream_status, AccountStatus::Deactivated);
        assert_eq!(merged[1].repo, Some(repo("1")));
    }

    #[test]
    fn sqlite_statements_cover_every_row_in_few_shapes() {
        for rows in 0..=300 {
            let sizes: Vec<usize> = sqlite_statement_sizes(rows).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows, "{rows} rows");
            assert!(sizes
                .iter()
                .all(|s| s.is_power_of_two() && *s <= SQLITE_MAX_ROWS_PER_UPSERT));
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        }
        assert_eq!(sqlite_value_rows(2).matches('?').count(), 22);
    }

    #[test]
    fn empty_did_is_rejected() {
        assert!(matches!(
            merge_updates(&[AccountUpdate::new("", 1)]),
            Err(StoreError::InvalidArgument { name: "did", .. })
        ));
    }
}
