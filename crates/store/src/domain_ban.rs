//! Domain bans: a host is banned when its name equals a banned domain or is a subdomain of one.

use crate::hostname::{ban_candidates, normalize_domain};
use crate::store::{now_ms, placeholders, with_pool};
use crate::{Result, Store};

/// A banned domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainBan {
    /// The normalised domain (lower-case, no `*.`, no trailing dot).
    pub domain: String,
    /// When the ban was added (Unix ms).
    pub created_at: i64,
}

impl Store {
    /// Bans a domain and every subdomain of it. `*.example.com` means `example.com`.
    /// Returns `false` when it was already banned.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidDomain`], [`crate::StoreError::Database`].
    pub async fn ban_domain(&self, domain: &str) -> Result<bool> {
        let domain = normalize_domain(domain)?;
        let now = now_ms();
        let affected = with_pool!(self, pool => sqlx::query(
            "INSERT INTO domain_bans (domain, created_at) VALUES ($1, $2) \
             ON CONFLICT (domain) DO NOTHING")
            .bind(&domain)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(affected > 0)
    }

    /// Lifts a domain ban. Returns `false` when the domain was not banned.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidDomain`], [`crate::StoreError::Database`].
    pub async fn unban_domain(&self, domain: &str) -> Result<bool> {
        let domain = normalize_domain(domain)?;
        let affected = with_pool!(self, pool => sqlx::query(
            "DELETE FROM domain_bans WHERE domain = $1")
            .bind(&domain)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(affected > 0)
    }

    /// Every banned domain, sorted.
    ///
    /// # Errors
    /// [`crate::StoreError::Database`].
    pub async fn list_domain_bans(&self) -> Result<Vec<DomainBan>> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT domain, created_at FROM domain_bans ORDER BY domain")
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(domain, created_at)| DomainBan { domain, created_at })
            .collect())
    }

    /// The banned domain that covers `hostname` (itself or its nearest banned parent), if any.
    /// A port on the hostname is ignored.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidHostname`], [`crate::StoreError::Database`].
    pub async fn domain_ban_for(&self, hostname: &str) -> Result<Option<String>> {
        let candidates = ban_candidates(hostname)?;
        let sql = format!(
            "SELECT domain FROM domain_bans WHERE domain IN ({})",
            placeholders(1, candidates.len())
        );
        let banned: Vec<String> = with_pool!(self, pool => {
            let mut query = sqlx::query_scalar(&sql);
            for candidate in &candidates {
                query = query.bind(candidate.as_str());
            }
            query.fetch_all(pool).await
        })?;
        // Candidates run from the full name up to the top-level domain: the first hit is the
        // most specific ban.
        Ok(candidates.into_iter().find(|c| banned.contains(c)))
    }

    /// Whether `hostname` is banned (see [`Store::domain_ban_for`]).
    ///
    /// # Errors
    /// As [`Store::domain_ban_for`].
    pub async fn is_domain_banned(&self, hostname: &str) -> Result<bool> {
        Ok(self.domain_ban_for(hostname).await?.is_some())
    }
}
