//! How the relay's collection backfill trusts what it crawls: an account listed by a host is
//! indexed only when the account's DID document names that host as its PDS, and its
//! repository only when the commit is signed by the account's current key — the same rules
//! ingest applies to live commits.

use std::sync::Arc;

use atrelay_collections::AccountCheck;
use atrelay_identity::Resolver;

/// The identity check the relay gives its [`atrelay_collections::Backfill`], resolving DIDs
/// with `resolver` (the ingest resolver, so its cache is shared).
pub fn account_check(resolver: Arc<dyn Resolver>) -> AccountCheck {
    Arc::new(move |did: String, hostname: String| {
        let resolver = resolver.clone();
        Box::pin(async move {
            let identity = resolver
                .resolve(&did)
                .await
                .map_err(|error| format!("cannot resolve {did}: {error}"))?;
            if identity.pds_host.as_deref() != Some(hostname.as_str()) {
                return Err(format!(
                    "{did}'s DID document names {:?} as its PDS, not {hostname}",
                    identity.pds_host
                ));
            }
            identity
                .signing_key
                .clone()
                .ok_or_else(|| format!("{did}'s DID document has no usable signing key"))
        })
    })
}
