//! Domain bans and suffix matching.

use atrelay_store::StoreError;

use crate::support::{backend_test, TestDb};

backend_test!(bans_match_the_domain_and_its_subdomains);
async fn bans_match_the_domain_and_its_subdomains(db: &mut TestDb) {
    let store = &db.store;
    assert!(store.ban_domain("Evil.Example").await.unwrap());
    assert!(
        !store.ban_domain("*.evil.example").await.unwrap(),
        "same domain twice"
    );
    assert!(store.ban_domain("bad.host.example.org").await.unwrap());

    for banned in [
        "evil.example",
        "pds.evil.example",
        "A.B.EVIL.EXAMPLE:443",
        "evil.example.",
    ] {
        assert_eq!(
            store.domain_ban_for(banned).await.unwrap().as_deref(),
            Some("evil.example"),
            "{banned}"
        );
        assert!(store.is_domain_banned(banned).await.unwrap());
    }
    for allowed in [
        "notevil.example",
        "evil.example.com",
        "example",
        "host.example.org",
        "other.example.org",
        "localhost:2583",
    ] {
        assert!(!store.is_domain_banned(allowed).await.unwrap(), "{allowed}");
    }
    assert!(store
        .is_domain_banned("x.bad.host.example.org")
        .await
        .unwrap());

    // The most specific ban is the one reported.
    store.ban_domain("example.org").await.unwrap();
    assert_eq!(
        store
            .domain_ban_for("x.bad.host.example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("bad.host.example.org")
    );
    assert_eq!(
        store
            .domain_ban_for("other.example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("example.org")
    );

    let listed: Vec<String> = store
        .list_domain_bans()
        .await
        .unwrap()
        .into_iter()
        .map(|ban| ban.domain)
        .collect();
    assert_eq!(
        listed,
        ["bad.host.example.org", "evil.example", "example.org"]
    );

    assert!(store.unban_domain("EVIL.example").await.unwrap());
    assert!(!store.unban_domain("evil.example").await.unwrap());
    assert!(!store.is_domain_banned("pds.evil.example").await.unwrap());

    let err = store.ban_domain("bad domain").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidDomain { .. }), "{err:?}");
    let err = store.is_domain_banned("").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidHostname { .. }), "{err:?}");
}
