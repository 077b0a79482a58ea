//! The store's error type.

use std::path::PathBuf;

/// Everything a store operation can fail with.
///
/// Variants say what the caller should do: `*NotFound` and `HostExists` are answers to show a
/// client, `Invalid*` are bad input, `Corrupt` means a row holds a value this build does not
/// understand (an operator edited the database, or a newer schema), and `Database`/`Migrate`/`Io`
/// are infrastructure failures to retry or report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend this crate supports.
    #[error("unsupported database URL scheme {scheme:?}: expected sqlite: or postgres:")]
    UnsupportedUrl {
        /// The scheme part of the URL (the rest is left out: it may hold a password).
        scheme: String,
    },
    /// The directory for a SQLite file could not be created.
    #[error("cannot create directory {path} for the SQLite database: {source}")]
    Io {
        /// The directory that could not be created.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A query or connection failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A host with this hostname already exists.
    #[error("host {hostname:?} already exists")]
    HostExists {
        /// The normalised hostname.
        hostname: String,
    },
    /// No host has this id.
    #[error("host {id} not found")]
    HostNotFound {
        /// The host id that was asked for.
        id: i64,
    },
    /// No account has this DID.
    #[error("account {did} not found")]
    AccountNotFound {
        /// The DID that was asked for.
        did: String,
    },
    /// A hostname given to the store is not a DNS name (with an optional port).
    #[error("invalid hostname {hostname:?}: {reason}")]
    InvalidHostname {
        /// The hostname as given.
        hostname: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A domain given for a ban is not a DNS name.
    #[error("invalid domain {domain:?}: {reason}")]
    InvalidDomain {
        /// The domain as given.
        domain: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An argument is outside the range the store accepts.
    #[error("invalid argument {name}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stored value is not one this build understands.
    #[error("stored value {value:?} in {column} is not valid")]
    Corrupt {
        /// `table.column` of the value.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
