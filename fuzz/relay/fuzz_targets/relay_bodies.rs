//! Fuzzes the JSON request bodies the relay reads: the public `requestCrawl` body (then its
//! hostname check, in production and dev mode), the admin `changeLimits` body and the
//! takedown body (then its DID check). Checks beyond "never panics": an accepted hostname is
//! lower-case, has no scheme, path or port in production mode, and checking it again gives
//! the same result.
#![no_main]

use atrelay::http::admin::hosts::ChangeLimitsInput;
use atrelay::http::admin::repos::DidInput;
use atrelay::http::api::crawl::{parse_hostname, RequestCrawlInput};
use atrelay_repo::syntax::validate_did;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<RequestCrawlInput>(data) {
        check_hostname(&input.hostname);
    }
    if let Ok(input) = serde_json::from_slice::<ChangeLimitsInput>(data) {
        let _ = (input.host.len(), input.repo_limit);
    }
    if let Ok(input) = serde_json::from_slice::<DidInput>(data) {
        let _ = validate_did(&input.did);
    }
    // The same checks on the raw text, so the hostname rules get fuzzed without JSON framing.
    if let Ok(text) = std::str::from_utf8(data) {
        check_hostname(text);
    }
});

fn check_hostname(hostname: &str) {
    if let Ok(target) = parse_hostname(hostname, false) {
        assert_eq!(target.hostname, target.hostname.to_ascii_lowercase());
        assert!(!target.no_ssl, "production mode dials without TLS");
        assert!(
            !target.hostname.contains([':', '/', '?', '#', '@']),
            "production hostname {:?} has a port, scheme or path",
            target.hostname
        );
        assert_eq!(
            parse_hostname(&target.hostname, false).as_ref(),
            Ok(&target),
            "checking an accepted hostname again changed it"
        );
    }
    if let Ok(target) = parse_hostname(hostname, true) {
        assert_eq!(target.hostname, target.hostname.to_ascii_lowercase());
        let again = parse_hostname(&target.hostname, true).expect("dev hostname re-checks");
        assert_eq!(again.hostname, target.hostname);
    }
}
