//! Relay settings changed at run time by operators and kept across restarts (indigo keeps
//! them only in memory).

use crate::store::{now_ms, with_pool};
use crate::{Result, Store, StoreError};

/// The stored settings. `None` means "not set: use the configured default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// How many new hosts a public `requestCrawl` may add per day.
    pub new_hosts_per_day: Option<i64>,
    /// Whether the public `requestCrawl` endpoint accepts requests.
    pub request_crawl_enabled: Option<bool>,
}

/// A setting with its new value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// See [`Settings::new_hosts_per_day`].
    NewHostsPerDay(i64),
    /// See [`Settings::request_crawl_enabled`].
    RequestCrawlEnabled(bool),
}

/// The name of a setting, to clear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKey {
    /// See [`Settings::new_hosts_per_day`].
    NewHostsPerDay,
    /// See [`Settings::request_crawl_enabled`].
    RequestCrawlEnabled,
}

impl SettingKey {
    /// The key stored in the `settings` table.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKey::NewHostsPerDay => "new_hosts_per_day",
            SettingKey::RequestCrawlEnabled => "request_crawl_enabled",
        }
    }
}

impl Setting {
    /// This setting's key.
    pub fn key(self) -> SettingKey {
        match self {
            Setting::NewHostsPerDay(_) => SettingKey::NewHostsPerDay,
            Setting::RequestCrawlEnabled(_) => SettingKey::RequestCrawlEnabled,
        }
    }

    fn value(self) -> String {
        match self {
            Setting::NewHostsPerDay(limit) => limit.to_string(),
            Setting::RequestCrawlEnabled(enabled) => enabled.to_string(),
        }
    }
}

impl Store {
    /// Every stored setting. Rows with unknown keys (from a newer version) are ignored.
    ///
    /// # Errors
    /// [`StoreError::Database`], or [`StoreError::Corrupt`] for a value that does not parse.
    pub async fn settings(&self) -> Result<Settings> {
        let rows: Vec<(String, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT key, value FROM settings")
            .fetch_all(pool)
            .await)?;
        let mut settings = Settings::default();
        for (key, value) in rows {
            if key == SettingKey::NewHostsPerDay.as_str() {
                settings.new_hosts_per_day = Some(parse(value)?);
            } else if key == SettingKey::RequestCrawlEnabled.as_str() {
                settings.request_crawl_enabled = Some(parse(value)?);
            }
        }
        Ok(settings)
    }

    /// Stores a setting, replacing its previous value.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn set_setting(&self, setting: Setting) -> Result<()> {
        let now = now_ms();
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
            .bind(setting.key().as_str())
            .bind(setting.value())
            .bind(now)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Removes a setting, so the configured default applies again.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn clear_setting(&self, key: SettingKey) -> Result<()> {
        with_pool!(self, pool => sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(key.as_str())
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }
}

fn parse<T: std::str::FromStr>(value: String) -> Result<T> {
    value.parse().map_err(|_| StoreError::Corrupt {
        column: "settings.value",
        value,
    })
}
