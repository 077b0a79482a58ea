//! HTTP Basic authentication of the admin API: user `admin` and any of the configured
//! passwords (several allow rotation), compared in constant time. A refusal is a 401 with
//! `WWW-Authenticate: Basic`, as indigo answers.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;

use crate::xrpc::XrpcError;

/// The only user name the admin API accepts.
pub const ADMIN_USER: &str = "admin";

/// The accepted admin passwords. Cheap to clone.
#[derive(Clone)]
pub struct AdminAuth {
    passwords: Arc<Vec<String>>,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("passwords", &self.passwords.len())
            .finish()
    }
}

impl AdminAuth {
    /// Accepts any of `passwords`; empty ones are ignored.
    pub fn new(passwords: impl IntoIterator<Item = String>) -> AdminAuth {
        let passwords: Vec<String> = passwords.into_iter().filter(|p| !p.is_empty()).collect();
        AdminAuth {
            passwords: Arc::new(passwords),
        }
    }

    /// The configured passwords, or, when there are none, one random password the caller
    /// should log so the operator can use it (indigo does the same). The second value says
    /// whether it was generated.
    pub fn configured_or_random(passwords: Vec<String>) -> (AdminAuth, Option<String>) {
        let auth = AdminAuth::new(passwords);
        if !auth.passwords.is_empty() {
            return (auth, None);
        }
        // 18 bytes from the OS generator: 24 URL-safe characters, 144 bits.
        let mut bytes = [0u8; 18];
        getrandom::getrandom(&mut bytes).expect("the operating system's random source works");
        let generated = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        (AdminAuth::new([generated.clone()]), Some(generated))
    }

    /// Whether an `Authorization` header value carries `admin` and an accepted password.
    pub fn accepts(&self, authorization: &str) -> bool {
        let Some(encoded) = authorization
            .strip_prefix("Basic ")
            .or_else(|| authorization.strip_prefix("basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        // Every password is compared, so the time taken does not tell which one matched.
        let mut matched = false;
        for candidate in self.passwords.iter() {
            matched |= constant_time_eq(candidate.as_bytes(), password);
        }
        matched && constant_time_eq(user, ADMIN_USER.as_bytes())
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: passes requests with accepted credentials, answers the rest with a 401.
pub async fn require_admin(
    State(auth): State<AdminAuth>,
    request: Request,
    next: Next,
) -> Response {
    let accepted = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| auth.accepts(value));
    if accepted {
        return next.run(request).await;
    }
    let mut response = XrpcError::new(
        StatusCode::UNAUTHORIZED,
        "AuthenticationRequired",
        "admin credentials required (HTTP Basic, user admin)",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"atrelay admin\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {token}")
    }

    #[test]
    fn accepts_admin_with_any_configured_password() {
        let auth = AdminAuth::new(["old".to_owned(), "new".to_owned()]);
        assert!(auth.accepts(&basic("admin", "old")));
        assert!(auth.accepts(&basic("admin", "new")));
    }

    #[test]
    fn refuses_wrong_user_wrong_password_and_malformed_headers() {
        let auth = AdminAuth::new(["secret".to_owned()]);
        assert!(!auth.accepts(&basic("root", "secret")));
        assert!(!auth.accepts(&basic("admin", "secreT")));
        assert!(!auth.accepts(&basic("admin", "")));
        assert!(!auth.accepts("Bearer secret"));
        assert!(!auth.accepts("Basic !!!not-base64"));
        assert!(!auth.accepts(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("no-colon")
        )));
    }

    #[test]
    fn no_password_configured_generates_a_random_one() {
        let (auth, generated) = AdminAuth::configured_or_random(vec![String::new()]);
        let generated = generated.expect("a password is generated");
        assert_eq!(generated.len(), 24);
        assert!(auth.accepts(&basic("admin", &generated)));
        let (_, none) = AdminAuth::configured_or_random(vec!["set".to_owned()]);
        assert!(none.is_none());
    }
}
