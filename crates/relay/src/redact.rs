//! Keeping database passwords out of logs and error messages.

/// The URL with its password (user-info or a `password`-like query parameter) replaced by
/// `***`, for logs.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = redact_userinfo(base);
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if is_secret_param(name) => format!("{name}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// `text` (an error message that may quote `url`) with the URL and every password in it
/// replaced: the whole URL by its redacted form, then any remaining copy of a password, as
/// written or percent-decoded.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    for secret in secrets(url) {
        if !secret.is_empty() {
            out = out.replace(&secret, "***");
        }
    }
    out
}

fn redact_userinfo(base: &str) -> String {
    match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &base[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &base[..scheme_end + 3],
                    &credentials[..colon],
                    &base[at..]
                ),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    }
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("password") || name == "pass" || name.contains("secret")
}

/// The passwords a URL carries, as written and percent-decoded.
fn secrets(url: &str) -> Vec<String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut raw = Vec::new();
    if let (Some(scheme_end), Some(at)) = (base.find("://"), base.rfind('@')) {
        if at > scheme_end {
            if let Some((_, password)) = base[scheme_end + 3..at].split_once(':') {
                raw.push(password.to_owned());
            }
        }
    }
    for param in query.split('&') {
        if let Some((name, value)) = param.split_once('=') {
            if is_secret_param(name) {
                raw.push(value.to_owned());
            }
        }
    }
    let mut all = Vec::new();
    for secret in raw {
        let decoded = percent_decode(&secret);
        all.push(secret);
        all.push(decoded);
    }
    // Longest first, so a password containing another is replaced whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && text.is_char_boundary(i + 3) {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_urls() {
        assert_eq!(
            redact_url("postgres://relay:s3cret@db:5432/relay"),
            "postgres://relay:***@db:5432/relay"
        );
        assert_eq!(
            redact_url("postgres://db/relay?user=relay&password=s3cret&sslmode=require"),
            "postgres://db/relay?user=relay&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("sqlite://data/relay.sqlite"),
            "sqlite://data/relay.sqlite"
        );
        assert_eq!(redact_url("postgres://relay@db/x"), "postgres://relay@db/x");
    }

    #[test]
    fn errors_lose_the_url_and_its_passwords() {
        let url = "postgres://relay:p%40ss@db/relay?password=other";
        let error = format!("error connecting to {url}: bad password p@ss, other");
        let scrubbed = scrub(&error, url);
        assert!(!scrubbed.contains("p@ss"), "{scrubbed}");
        assert!(!scrubbed.contains("p%40ss"), "{scrubbed}");
        assert!(!scrubbed.contains("other"), "{scrubbed}");
        assert!(scrubbed.contains("postgres://relay:***@db/relay?password=***"));
    }
}
