//! Authentication of the admin API, and its defences against a browser on another site.
//!
//! - Credentials: HTTP Basic with user `admin`, or `Authorization: Bearer <password>` (what
//!   indigo's older scripts send), with any of the configured passwords (several allow
//!   rotation). Passwords are compared as SHA-256 digests in constant time, so the time taken
//!   tells nothing of a password's length or content. A refusal is a 401 with
//!   `WWW-Authenticate: Basic`, as indigo answers, except to a call carrying
//!   `X-Requested-With` (the dashboard's), so the browser never shows its own password dialog.
//! - Failed logins are logged (WARN, at most one line per 10 s) and counted per client (an IPv4
//!   address or IPv6 /64): past the limit in a minute, that client gets 429 until the minute
//!   ends, right password or not.
//! - Cross-site requests: a state-changing call (any method but GET/HEAD) needs a JSON body
//!   (`Content-Type: application/json`), an `X-Requested-With` header or Bearer credentials.
//!   An HTML form can send none of them, and a script on another origin cannot either without
//!   a CORS preflight, which `/admin/*` never grants; so a browser that holds Basic
//!   credentials cannot be made to change anything.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::{engine::consumers::client_key, http::edge::loggate::LogGate, http::xrpc::XrpcError};

/// The only user name the admin API accepts.
pub const ADMIN_USER: &str = "admin";

/// Failed logins a client may make per minute before it is refused with 429.
pub const DEFAULT_MAX_FAILED_LOGINS: u32 = 10;

/// The header a script sets to show a state-changing call is not a cross-site form.
pub const CSRF_HEADER: &str = "x-requested-with";

/// How long the failed-login count of a client lasts.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Most clients whose failed logins are tracked at once; past it (after forgetting expired
/// ones), a new failing client is refused as throttled rather than left uncounted.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// The accepted admin passwords and the failed-login counts. Cheap to clone.
#[derive(Clone)]
pub struct AdminAuth {
    /// SHA-256 digests of the passwords.
    digests: Arc<Vec<[u8; 32]>>,
    throttle: Arc<LoginThrottle>,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("passwords", &self.digests.len())
            .finish()
    }
}

/// How the caller proved it knows a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic, which a browser may attach by itself to a cross-site request.
    Basic,
    /// `Authorization: Bearer`, which only a script or tool can send.
    Bearer,
}

impl AdminAuth {
    /// Accepts any of `passwords`; empty ones are ignored.
    pub fn new(passwords: impl IntoIterator<Item = String>) -> AdminAuth {
        let digests: Vec<[u8; 32]> = passwords
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(|p| digest(p.as_bytes()))
            .collect();
        AdminAuth {
            digests: Arc::new(digests),
            throttle: Arc::new(LoginThrottle::new(DEFAULT_MAX_FAILED_LOGINS)),
        }
    }

    /// The same passwords, refusing a client after `max` failed logins in a minute.
    pub fn with_max_failed_logins(self, max: u32) -> AdminAuth {
        AdminAuth {
            throttle: Arc::new(LoginThrottle::new(max.max(1))),
            ..self
        }
    }

    /// The configured passwords, or, when there are none, one random password the caller
    /// should log so the operator can use it (indigo does the same). The second value says
    /// whether it was generated.
    pub fn configured_or_random(passwords: Vec<String>) -> (AdminAuth, Option<String>) {
        let auth = AdminAuth::new(passwords);
        if !auth.digests.is_empty() {
            return (auth, None);
        }
        // 18 bytes from the OS generator: 24 URL-safe characters, 144 bits.
        let mut bytes = [0u8; 18];
        getrandom::getrandom(&mut bytes).expect("the operating system's random source works");
        let generated = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        (AdminAuth::new([generated.clone()]), Some(generated))
    }

    /// Whether an `Authorization` header value carries an accepted password.
    pub fn accepts(&self, authorization: &str) -> bool {
        self.credentials(authorization).is_some()
    }

    /// The kind of accepted credentials an `Authorization` header value carries, if any.
    pub fn credentials(&self, authorization: &str) -> Option<Credentials> {
        let (scheme, rest) = authorization.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self
                .password_matches(rest.as_bytes())
                .then_some(Credentials::Bearer);
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let password_ok = self.password_matches(password);
        let user_ok = constant_time_eq(&digest(user), &digest(ADMIN_USER.as_bytes()));
        (password_ok && user_ok).then_some(Credentials::Basic)
    }

    /// Compares the password's digest with every configured one, so the time taken tells
    /// neither which matched nor anything about lengths.
    fn password_matches(&self, password: &[u8]) -> bool {
        let given = digest(password);
        let mut matched = false;
        for candidate in self.digests.iter() {
            matched |= constant_time_eq(candidate, &given);
        }
        matched
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Compares two digests in time independent of their content.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failed logins per client over the current minute.
struct LoginThrottle {
    max_failures: u32,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginThrottle {
    fn new(max_failures: u32) -> LoginThrottle {
        LoginThrottle {
            max_failures,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` has used up its failed logins for this minute.
    fn is_throttled(&self, client: IpAddr) -> bool {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.get(&client).is_some_and(|(since, failures)| {
            since.elapsed() < FAILURE_WINDOW && *failures >= self.max_failures
        })
    }

    /// Counts a failed login of `client`.
    fn record_failure(&self, client: IpAddr) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if !clients.contains_key(&client) && clients.len() >= MAX_TRACKED_CLIENTS {
            clients.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
        }
        if !clients.contains_key(&client) && clients.len() >= MAX_TRACKED_CLIENTS {
            // Too many clients failing at once to track them all: this one is refused for a
            // minute rather than left uncounted. It is tracked by evicting the oldest entry.
            if let Some(oldest) = clients
                .iter()
                .min_by_key(|(_, (since, _))| *since)
                .map(|(ip, _)| *ip)
            {
                clients.remove(&oldest);
            }
            clients.insert(client, (Instant::now(), self.max_failures));
            return;
        }
        let entry = clients.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// Middleware: refuses throttled clients, checks credentials, and refuses a state-changing
/// call that a cross-site form could have sent.
pub async fn require_admin(
    State(auth): State<AdminAuth>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let client = client_key(peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip()));
    if auth.throttle.is_throttled(client) {
        let mut response = XrpcError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitExceeded",
            "too many failed admin logins from this address; try again in a minute",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    let credentials = authorization.and_then(|value| auth.credentials(value));
    let Some(credentials) = credentials else {
        if authorization.is_some() {
            auth.throttle.record_failure(client);
            static FAILED: LogGate = LogGate::new(Duration::from_secs(10));
            if let Some(also_failed) = FAILED.check() {
                tracing::warn!(
                    peer = ?peer,
                    path = %request.uri().path(),
                    also_failed,
                    "admin login failed"
                );
            }
        }
        return unauthorized(request.headers().contains_key(CSRF_HEADER));
    };
    if !is_safe(request.method())
        && credentials == Credentials::Basic
        && !shows_script_origin(request.headers())
    {
        return XrpcError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "a state-changing admin call needs Content-Type: application/json, an \
             X-Requested-With header, or Bearer credentials",
        )
        .into_response();
    }
    next.run(request).await
}

/// The 401 refusal. A call from a script (it sets `X-Requested-With`) gets no
/// `WWW-Authenticate` challenge: a browser would answer one with its own password dialog,
/// while the script that made the call shows its own sign-in form.
fn unauthorized(from_script: bool) -> Response {
    let mut response = XrpcError::new(
        StatusCode::UNAUTHORIZED,
        "AuthenticationRequired",
        "admin credentials required (HTTP Basic with user admin, or Bearer)",
    )
    .into_response();
    if !from_script {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"atrelay admin\""),
        );
    }
    response
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// Whether the request carries something an HTML form cannot send: a JSON content type or the
/// `X-Requested-With` header.
fn shows_script_origin(headers: &HeaderMap) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    json || headers.contains_key(CSRF_HEADER)
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
        assert!(!auth.accepts("Bearer secreT"));
        assert!(!auth.accepts("Token secret"));
        assert!(!auth.accepts("Basic !!!not-base64"));
        assert!(!auth.accepts(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("no-colon")
        )));
    }

    #[test]
    fn bearer_carries_the_password_alone() {
        let auth = AdminAuth::new(["secret".to_owned()]);
        assert_eq!(auth.credentials("Bearer secret"), Some(Credentials::Bearer));
        assert_eq!(auth.credentials("bearer secret"), Some(Credentials::Bearer));
        assert_eq!(
            auth.credentials(&basic("admin", "secret")),
            Some(Credentials::Basic)
        );
        assert!(!auth.accepts("Bearer "));
    }

    #[test]
    fn a_client_is_throttled_after_its_failures_and_others_are_not() {
        let throttle = LoginThrottle::new(3);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(!throttle.is_throttled(a));
            throttle.record_failure(a);
        }
        assert!(throttle.is_throttled(a));
        assert!(!throttle.is_throttled(b));
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
