//! Where a DID's document lives: `<plc>/<did>` for did:plc, and
//! `https://<host>/.well-known/did.json` for did:web.

use atrelay_repo::syntax::{did_method, validate_handle};

use crate::ResolveError;

/// Top-level domains that never name a public did:web host (same list as for handles).
const DISALLOWED_TLDS: &[&str] = &[
    "alt",
    "arpa",
    "example",
    "internal",
    "invalid",
    "local",
    "localhost",
    "onion",
    "test",
];

/// The DID methods the relay can resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DidMethod {
    /// `did:plc`, resolved through a PLC directory.
    Plc,
    /// `did:web`, resolved from the named host.
    Web,
}

impl DidMethod {
    /// The method of `did`.
    ///
    /// # Errors
    /// [`ResolveError::InvalidDid`] for bad syntax, [`ResolveError::UnsupportedMethod`] for a
    /// method other than plc or web.
    pub fn of(did: &str) -> Result<DidMethod, ResolveError> {
        match did_method(did) {
            Ok("plc") => Ok(DidMethod::Plc),
            Ok("web") => Ok(DidMethod::Web),
            Ok(_) => Err(ResolveError::UnsupportedMethod {
                did: did.to_owned(),
            }),
            Err(err) => Err(ResolveError::InvalidDid {
                did: did.to_owned(),
                reason: err.to_string(),
            }),
        }
    }
}

/// The URL of `did`'s document.
///
/// `plc_url` is the PLC directory base (no trailing slash needed). With `dev_mode` a did:web
/// may carry a `%3A`-encoded port and is fetched over plain `http://`
/// (`did:web:localhost%3A2583` → `http://localhost:2583/.well-known/did.json`); without it
/// the host must be a public hostname and the scheme is `https`.
///
/// # Errors
/// [`ResolveError::InvalidDid`] or [`ResolveError::UnsupportedMethod`].
pub fn document_url(did: &str, plc_url: &str, dev_mode: bool) -> Result<String, ResolveError> {
    let invalid = |reason: &str| ResolveError::InvalidDid {
        did: did.to_owned(),
        reason: reason.to_owned(),
    };
    match DidMethod::of(did)? {
        DidMethod::Plc => {
            let ident = did.strip_prefix("did:plc:").unwrap_or_default();
            if ident.len() != 24
                || !ident
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
            {
                return Err(invalid("did:plc identifier must be 24 base32 characters"));
            }
            Ok(format!("{}/{did}", plc_url.trim_end_matches('/')))
        }
        DidMethod::Web => {
            let ident = did.strip_prefix("did:web:").unwrap_or_default();
            if ident.contains(':') {
                return Err(invalid("did:web with a path is not supported"));
            }
            let (host, port) = match ident.split_once('%') {
                None => (ident, None),
                Some((host, rest)) => {
                    let port = rest
                        .strip_prefix("3A")
                        .or_else(|| rest.strip_prefix("3a"))
                        .ok_or_else(|| invalid("only %3A (port) may be percent-encoded"))?;
                    if !dev_mode {
                        return Err(invalid("did:web with a port is only allowed in dev mode"));
                    }
                    let port: u16 = port
                        .parse()
                        .map_err(|_| invalid("did:web port is not a number"))?;
                    (host, Some(port))
                }
            };
            let host = host.to_ascii_lowercase();
            if dev_mode {
                let plain = !host.is_empty()
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
                if !plain {
                    return Err(invalid("did:web host is not a hostname"));
                }
                let authority = match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                };
                Ok(format!("http://{authority}/.well-known/did.json"))
            } else {
                validate_handle(&host).map_err(|_| invalid("did:web host is not a hostname"))?;
                let tld = host.rsplit('.').next().unwrap_or_default();
                if DISALLOWED_TLDS.contains(&tld) {
                    return Err(invalid("did:web host has a non-public top-level domain"));
                }
                Ok(format!("https://{host}/.well-known/did.json"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLC: &str = "https://plc.directory";

    #[test]
    fn plc_urls() {
        assert_eq!(
            document_url(
                "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
                "https://plc.example/",
                false
            ),
            Ok("https://plc.example/did:plc:ewvi7nxzyoun6zhxrhs64oiz".into())
        );
        assert!(matches!(
            document_url("did:plc:short", PLC, false),
            Err(ResolveError::InvalidDid { .. })
        ));
        assert!(matches!(
            document_url("did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ", PLC, false),
            Err(ResolveError::InvalidDid { .. })
        ));
    }

    #[test]
    fn web_urls() {
        assert_eq!(
            document_url("did:web:Example.com", PLC, false),
            Ok("https://example.com/.well-known/did.json".into())
        );
        assert!(document_url("did:web:example.com:user:alice", PLC, false).is_err());
        assert!(document_url("did:web:localhost%3A2583", PLC, false).is_err());
        assert!(document_url("did:web:localhost", PLC, false).is_err());
        assert!(document_url("did:web:box.local", PLC, false).is_err());
        assert!(document_url("did:web:10.0.0.1", PLC, false).is_err());
        assert!(document_url("did:web:example.com%2Fpath", PLC, true).is_err());
        assert_eq!(
            document_url("did:web:localhost%3A2583", PLC, true),
            Ok("http://localhost:2583/.well-known/did.json".into())
        );
        assert!(document_url("did:web:localhost%3Ahttp", PLC, true).is_err());
    }

    #[test]
    fn other_methods() {
        assert_eq!(
            document_url(
                "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
                PLC,
                false
            ),
            Err(ResolveError::UnsupportedMethod {
                did: "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme".into()
            })
        );
        assert!(matches!(
            document_url("not-a-did", PLC, false),
            Err(ResolveError::InvalidDid { .. })
        ));
    }
}
