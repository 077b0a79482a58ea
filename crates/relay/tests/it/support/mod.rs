//! A relay under test: a migrated store on a scratch database (a SQLite file, or a PostgreSQL
//! schema when `TEST_DATABASE_URL` is set) and the HTTP server on a loopback port.

#![allow(dead_code)]

pub mod process;

use atrelay::app::{Relay, Tuning};
use atrelay::config::FirehoseConfig;
use atrelay::engine::ingest::IngestConfig;
use atrelay::http::server;
use atrelay::state::AppState;
use atrelay_eventlog::{Durability, EventLog};
use atrelay_store::testing::ScratchStore;
use atrelay_store::Store;
use clap::Parser;

/// The admin password of every test relay.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// A running relay API and the store behind it.
pub struct TestRelay {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The store the server reads.
    pub store: Store,
    /// The event log the firehose serves.
    pub log: EventLog,
    /// The handles the server was built with.
    pub state: AppState,
    relay: Relay,
    log_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    db: ScratchStore,
    setup: Option<IngestSetup>,
    tweaks: Tweaks,
}

/// What a test changes in its relay beyond the defaults of [`TestRelay`]; kept across restarts.
#[derive(Clone, Copy, Default)]
pub struct Tweaks {
    /// Firehose policy in place of the test default.
    pub firehose: Option<FirehoseConfig>,
    /// Applied to the event log's configuration after the test defaults.
    pub event_log: Option<fn(&mut atrelay_eventlog::Config)>,
}

/// How a test relay ingests: DIDs resolve at `plc_url` (dev mode: did:web over http with a
/// port), with `config` (usually `allow_insecure_hosts` and fast backoff).
#[derive(Clone)]
pub struct IngestSetup {
    /// The PLC directory.
    pub plc_url: String,
    /// Ingest policy.
    pub config: IngestConfig,
}

impl IngestSetup {
    /// Dev-mode ingest resolving DIDs at `directory`, with short backoffs and flushes so tests
    /// run quickly; also routes `RUST_LOG` logging to the test output.
    pub fn for_directory(directory: &atrelay_testkit::FakeDirectory) -> IngestSetup {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        IngestSetup {
            plc_url: directory.url(),
            config: IngestConfig {
                allow_insecure_hosts: true,
                backoff_base: std::time::Duration::from_millis(20),
                backoff_max: std::time::Duration::from_millis(200),
                flush_interval: std::time::Duration::from_millis(5),
                ..IngestConfig::default()
            },
        }
    }
}

/// Runs `$test(relay, &directory) -> relay` on an ingesting relay over SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_backends_ingest {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let directory = atrelay_testkit::FakeDirectory::start().await.unwrap();
                let setup = $crate::support::IngestSetup::for_directory(&directory);
                let relay = $crate::support::TestRelay::sqlite_ingest(setup).await;
                super::$name(relay, &directory).await.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let directory = atrelay_testkit::FakeDirectory::start().await.unwrap();
                let setup = $crate::support::IngestSetup::for_directory(&directory);
                let Some(relay) = $crate::support::TestRelay::postgres_ingest(setup).await else {
                    return;
                };
                super::$name(relay, &directory).await.finish().await;
            }
        }
    };
}

impl TestRelay {
    /// A relay on a fresh SQLite file.
    pub async fn sqlite() -> TestRelay {
        TestRelay::start(ScratchStore::sqlite().await).await
    }

    /// A relay on a fresh PostgreSQL schema, or `None` (with a notice) without `TEST_DATABASE_URL`.
    pub async fn postgres() -> Option<TestRelay> {
        let db = ScratchStore::postgres("atrelay_relay_test", 4).await?;
        Some(TestRelay::start(db).await)
    }

    async fn start(db: ScratchStore) -> TestRelay {
        TestRelay::launch(db, tempfile::tempdir().unwrap(), None, Tweaks::default()).await
    }

    /// A relay on a fresh SQLite file, changed as `tweaks` says.
    pub async fn sqlite_tweaked(tweaks: Tweaks) -> TestRelay {
        TestRelay::launch(
            ScratchStore::sqlite().await,
            tempfile::tempdir().unwrap(),
            None,
            tweaks,
        )
        .await
    }

    /// A relay on a fresh PostgreSQL schema, changed as `tweaks` says, or `None` (with a notice)
    /// without `TEST_DATABASE_URL`.
    pub async fn postgres_tweaked(tweaks: Tweaks) -> Option<TestRelay> {
        let db = ScratchStore::postgres("atrelay_relay_test", 4).await?;
        Some(TestRelay::launch(db, tempfile::tempdir().unwrap(), None, tweaks).await)
    }

    /// Opens a relay the way `atrelay serve` does ([`Relay::open_tuned`]) on the store of `db`
    /// and the state directory `log_dir`, with test-sized timings, and serves its router on a
    /// loopback port. Ingest follows its hosts as `setup` says (without it, nothing unless asked).
    async fn launch(
        db: ScratchStore,
        log_dir: tempfile::TempDir,
        setup: Option<IngestSetup>,
        tweaks: Tweaks,
    ) -> TestRelay {
        TestRelay::launch_on(db, log_dir, setup, tweaks, "127.0.0.1:0").await
    }

    /// [`TestRelay::launch`] serving on `bind`.
    async fn launch_on(
        db: ScratchStore,
        log_dir: tempfile::TempDir,
        setup: Option<IngestSetup>,
        tweaks: Tweaks,
        bind: &str,
    ) -> TestRelay {
        let plc_url = setup
            .as_ref()
            .map_or(atrelay_identity::DEFAULT_PLC_URL.to_owned(), |s| {
                s.plc_url.clone()
            });
        let mut flags = vec![
            "atrelay".to_owned(),
            "serve".to_owned(),
            format!("--persist-dir={}", log_dir.path().display()),
            format!("--plc-host={plc_url}"),
            format!("--admin-password={ADMIN_PASSWORD}"),
            "--max-consumers=64".to_owned(),
            "--max-consumers-per-ip=32".to_owned(),
        ];
        if setup.is_some() {
            flags.push("--allow-insecure-hosts".to_owned());
        }
        let config = match atrelay::cli::Cli::try_parse_from(flags).unwrap().command {
            atrelay::cli::Command::Serve(config) => *config,
            other => panic!("parsed {other:?}"),
        };
        let tuning = Tuning {
            store: Some(db.store.clone()),
            ingest: Some(
                setup
                    .as_ref()
                    .map_or_else(IngestConfig::default, |s| s.config.clone()),
            ),
            firehose: Some(tweaks.firehose.unwrap_or(FirehoseConfig {
                max_lag: 5_000,
                send_timeout: std::time::Duration::from_secs(2),
                ..FirehoseConfig::default()
            })),
            event_log: Some(Box::new(move |log| {
                log.durability = Durability::OsBuffered;
                log.segment_bytes = 64 << 10;
                if let Some(tweak) = tweaks.event_log {
                    tweak(log);
                }
            })),
            backfill: Some(Box::new(|backfill| {
                backfill.requests_per_second = 200.0;
                backfill.retry_backoff = std::time::Duration::from_millis(50);
            })),
        };
        let relay = Relay::open_tuned(config, tuning).await.unwrap();
        let state = relay.state().clone();
        if setup.is_some() {
            state.ingest.resubscribe_all().await.unwrap();
        }
        let listener = bind_retrying(bind).await;
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(listener, relay.router(), async {
            let _ = stopped.await;
        }));
        TestRelay {
            base,
            store: state.store.clone(),
            log: state.log.clone(),
            state,
            relay,
            log_dir,
            stop: Some(stop),
            db,
            setup,
            tweaks,
        }
    }

    /// `GET base + path_and_query`, without following redirects.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// `POST base + path_and_query` with the admin credentials and an optional JSON body, as
    /// a script sends it (`X-Requested-With`, which the admin API requires of a call without a
    /// JSON body).
    pub async fn admin_post(
        &self,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let request = reqwest::Client::new()
            .post(format!("{}{path_and_query}", self.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .header("X-Requested-With", "atrelay-tests");
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.unwrap()
    }

    /// `GET base + path_and_query` with the admin credentials.
    pub async fn admin_get(&self, path_and_query: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path_and_query}", self.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap()
    }

    /// The firehose URL with an optional cursor.
    pub fn firehose_url(&self, cursor: Option<i64>) -> String {
        let ws = self.base.replacen("http://", "ws://", 1);
        match cursor {
            Some(cursor) => format!("{ws}/xrpc/com.atproto.sync.subscribeRepos?cursor={cursor}"),
            None => format!("{ws}/xrpc/com.atproto.sync.subscribeRepos"),
        }
    }

    /// Stops the server and every part of the relay in order ([`Relay::shutdown`]); returns
    /// the scratch database and state directory for a restart. A failed event log may fail
    /// to close only when the test broke it.
    async fn stop(mut self) -> (ScratchStore, tempfile::TempDir, Option<IngestSetup>, Tweaks) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let log_failed = self.log.health().failed.is_some();
        let failures = self.relay.shutdown().await;
        assert!(
            failures.is_empty() || log_failed,
            "the relay did not stop cleanly: {failures:?}"
        );
        (self.db, self.log_dir, self.setup, self.tweaks)
    }

    /// Stops the relay and removes the scratch database.
    pub async fn finish(self) {
        let (db, _log_dir, _, _) = self.stop().await;
        db.finish().await;
    }
}

/// Declares a test module running `$test(&TestRelay)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let relay = $crate::support::TestRelay::sqlite().await;
                super::$name(&relay).await;
                relay.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(relay) = $crate::support::TestRelay::postgres().await else {
                    return;
                };
                super::$name(&relay).await;
                relay.finish().await;
            }
        }
    };
}

impl TestRelay {
    /// A relay on a fresh SQLite file that ingests as `setup` says.
    pub async fn sqlite_ingest(setup: IngestSetup) -> TestRelay {
        TestRelay::launch(
            ScratchStore::sqlite().await,
            tempfile::tempdir().unwrap(),
            Some(setup),
            Tweaks::default(),
        )
        .await
    }

    /// A relay on a fresh PostgreSQL schema that ingests as `setup` says, or `None` (with a
    /// notice) without `TEST_DATABASE_URL`.
    pub async fn postgres_ingest(setup: IngestSetup) -> Option<TestRelay> {
        let relay = TestRelay::postgres().await?;
        Some(relay.restart_with(Some(setup)).await)
    }

    /// Stops ingest and the server, closes the log and the store, and starts again on the
    /// same database and log directory: what a process restart does.
    pub async fn restart(self) -> TestRelay {
        let setup = self.setup.clone();
        self.restart_with(setup).await
    }

    /// [`TestRelay::restart`] on the same port, for clients that reconnect to one address.
    pub async fn restart_same_port(self) -> TestRelay {
        let setup = self.setup.clone();
        let bind = self.base.trim_start_matches("http://").to_owned();
        let (mut db, log_dir, _, tweaks) = self.stop().await;
        db.reconnect().await;
        TestRelay::launch_on(db, log_dir, setup, tweaks, &bind).await
    }

    async fn restart_with(self, setup: Option<IngestSetup>) -> TestRelay {
        let (mut db, log_dir, _, tweaks) = self.stop().await;
        // Closes the store and opens the same database again.
        db.reconnect().await;
        TestRelay::launch(db, log_dir, setup, tweaks).await
    }
}

/// Binds `addr`, retrying for a while: a port just given up may still be held by the server
/// that is draining.
async fn bind_retrying(addr: &str) -> tokio::net::TcpListener {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%error, addr, "bind again");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(error) => panic!("bind {addr}: {error}"),
        }
    }
}

/// A client websocket on the relay's firehose.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Guards against a hung test; not an assertion about speed.
pub const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(60);

/// Connects to the relay's firehose (live, or replaying after `cursor`).
pub async fn connect(relay: &TestRelay, cursor: Option<i64>) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(relay.firehose_url(cursor))
        .await
        .expect("connect to the relay firehose");
    ws
}

/// The next decoded frame of the relay's firehose.
pub async fn next_message(ws: &mut Ws) -> atrelay_stream::Message {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no frame within the hang guard")
            .expect("relay firehose closed")
            .expect("relay firehose failed");
        if let tokio_tungstenite::tungstenite::Message::Binary(bytes) = msg {
            return atrelay_stream::decode_frame(&bytes).expect("relay sent a bad frame");
        }
    }
}

/// The message with seq 0, for comparing upstream and relayed events.
pub fn unsequenced(mut message: atrelay_stream::Message) -> atrelay_stream::Message {
    message.set_seq(0);
    message
}

/// Waits until the relay stored `seq` as the host's cursor: every frame up to it was read and
/// either dropped or made durable.
pub async fn wait_for_cursor(relay: &TestRelay, hostname: &str, seq: i64) {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            if let Some(host) = relay.store.host_by_hostname(hostname).await.unwrap() {
                if host.last_seq == Some(seq) {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("host cursor never reached the expected seq");
}
