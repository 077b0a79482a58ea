//! Hostname and domain normalisation, and the parent-domain suffixes a ban can match.

use crate::{Result, StoreError};

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Normalises a host's name for storage: trimmed, lower-case, no trailing dot, with an
/// optional `:port`.
pub(crate) fn normalize_hostname(input: &str) -> Result<String> {
    let invalid = |reason| StoreError::InvalidHostname {
        hostname: input.to_owned(),
        reason,
    };
    let lowered = input.trim().to_ascii_lowercase();
    let (name, port) = match lowered.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (lowered.as_str(), None),
    };
    let name = check_dns_name(name.strip_suffix('.').unwrap_or(name)).map_err(invalid)?;
    match port {
        None => Ok(name.to_owned()),
        Some(port) => {
            let valid_port = !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|port| port != 0);
            if !valid_port {
                return Err(invalid("port must be a number from 1 to 65535"));
            }
            Ok(format!("{name}:{port}"))
        }
    }
}

/// Normalises a banned domain: trimmed, lower-case, no `*.` or leading or trailing dot, no port.
pub(crate) fn normalize_domain(input: &str) -> Result<String> {
    let lowered = input.trim().to_ascii_lowercase();
    let name = lowered.strip_prefix("*.").unwrap_or(&lowered);
    let name = name.strip_prefix('.').unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    check_dns_name(name)
        .map(str::to_owned)
        .map_err(|reason| StoreError::InvalidDomain {
            domain: input.to_owned(),
            reason,
        })
}

/// The name itself and every parent domain, longest first: `a.b.c` gives `a.b.c`, `b.c`, `c`.
/// A port is ignored.
pub(crate) fn ban_candidates(input: &str) -> Result<Vec<String>> {
    let hostname = normalize_hostname(input)?;
    let name = hostname.split(':').next().unwrap_or_default();
    let mut candidates = vec![name.to_owned()];
    let mut rest = name;
    while let Some((_, parent)) = rest.split_once('.') {
        candidates.push(parent.to_owned());
        rest = parent;
    }
    Ok(candidates)
}

/// Checks a lower-case DNS name, without port or trailing dot: 1–253 characters, labels of
/// 1–63 letters, digits and inner hyphens. Returns the name, or what is wrong with it. The one
/// rule for host names in the store and in `requestCrawl`.
pub fn check_dns_name(name: &str) -> Result<&str, &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > MAX_LABEL_LEN {
            return Err("label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("only letters, digits, '-' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("label starts or ends with '-'");
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_normalised() {
        assert_eq!(
            normalize_hostname(" PDS.Example.COM. ").unwrap(),
            "pds.example.com"
        );
        assert_eq!(
            normalize_hostname("localhost:2583").unwrap(),
            "localhost:2583"
        );
    }

    #[test]
    fn bad_hostnames_are_rejected() {
        for bad in [
            "",
            "a..b",
            "-a.com",
            "a-.com",
            "under_score.com",
            "host:",
            "host:0",
            "host:99999",
            "host:12ab",
            "https://host.com",
        ] {
            assert!(
                matches!(
                    normalize_hostname(bad),
                    Err(StoreError::InvalidHostname { .. })
                ),
                "{bad:?} accepted"
            );
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(normalize_hostname(&long_label).is_err());
        let long_name = vec!["a".repeat(50); 6].join(".");
        assert!(normalize_hostname(&long_name).is_err());
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(normalize_domain("*.Evil.Example").unwrap(), "evil.example");
        assert_eq!(normalize_domain(".evil.example.").unwrap(), "evil.example");
        assert!(matches!(
            normalize_domain("evil.example:443"),
            Err(StoreError::InvalidDomain { .. })
        ));
        assert!(matches!(
            normalize_domain("*."),
            Err(StoreError::InvalidDomain { .. })
        ));
    }

    #[test]
    fn candidates_walk_up_the_tree() {
        assert_eq!(
            ban_candidates("A.b.example.com:8080").unwrap(),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        assert_eq!(ban_candidates("localhost").unwrap(), ["localhost"]);
    }
}
