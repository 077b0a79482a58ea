//! Host and account status values, stored as the lexicon's strings: the types are
//! [`atrelay_repo::status`]'s, shared with the firehose's wire types.

use std::str::FromStr;

pub use atrelay_repo::status::{AccountStatus, HostStatus, UnknownStatus};

/// Parses a stored status column, naming the column when the value is unknown.
pub(crate) fn parse_column<T: FromStr>(column: &'static str, value: String) -> crate::Result<T> {
    value
        .parse()
        .map_err(|_| crate::StoreError::Corrupt { column, value })
}
