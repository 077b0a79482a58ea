//! Query-string parsing shared by the XRPC handlers: limits within a range and typed errors.

use serde::Deserialize;

use crate::http::xrpc::XrpcError;

/// `limit` and `cursor`, the paging parameters of every list endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    /// Page size as the caller wrote it; checked against the endpoint's range.
    pub limit: Option<String>,
    /// Where the previous page ended; its meaning is the endpoint's.
    pub cursor: Option<String>,
}

/// The range and default of an endpoint's `limit`.
#[derive(Debug, Clone, Copy)]
pub struct LimitRange {
    /// Smallest allowed value.
    pub min: u32,
    /// Largest allowed value.
    pub max: u32,
    /// Used when the caller gives none.
    pub default: u32,
}

impl PageParams {
    /// The requested limit, or the endpoint's default; out of range or not a number is a 400.
    pub fn limit(&self, range: LimitRange) -> Result<u32, XrpcError> {
        let Some(raw) = self.limit.as_deref() else {
            return Ok(range.default);
        };
        match raw.parse::<u32>() {
            Ok(limit) if (range.min..=range.max).contains(&limit) => Ok(limit),
            _ => Err(XrpcError::invalid_request(format!(
                "limit must be an integer from {} to {}, got {raw:?}",
                range.min, range.max
            ))),
        }
    }

    /// The cursor, with an empty string treated as absent.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref().filter(|cursor| !cursor.is_empty())
    }
}

/// Reads a required string parameter, or answers 400 naming it.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, XrpcError> {
    value
        .as_deref()
        .filter(|value| !value.is_empty())
        .ok_or_else(|| XrpcError::invalid_request(format!("missing required parameter {name:?}")))
}
