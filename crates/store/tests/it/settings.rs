//! Settings persist across reconnects.

use atrelay_store::{Setting, SettingKey, Settings};

use crate::support::{backend_test, TestDb};

backend_test!(settings_survive_a_restart);
async fn settings_survive_a_restart(db: &mut TestDb) {
    assert_eq!(db.store.settings().await.unwrap(), Settings::default());
    db.store
        .set_setting(Setting::NewHostsPerDay(50))
        .await
        .unwrap();
    db.store
        .set_setting(Setting::RequestCrawlEnabled(true))
        .await
        .unwrap();
    db.store
        .set_setting(Setting::NewHostsPerDay(5))
        .await
        .unwrap();
    db.store
        .set_setting(Setting::RequestCrawlEnabled(false))
        .await
        .unwrap();

    db.reconnect().await;
    let expected = Settings {
        new_hosts_per_day: Some(5),
        request_crawl_enabled: Some(false),
    };
    assert_eq!(db.store.settings().await.unwrap(), expected);

    db.store
        .clear_setting(SettingKey::NewHostsPerDay)
        .await
        .unwrap();
    db.reconnect().await;
    assert_eq!(
        db.store.settings().await.unwrap(),
        Settings {
            new_hosts_per_day: None,
            request_crawl_enabled: Some(false),
        }
    );
}
