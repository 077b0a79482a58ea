//! `atrelay splitter`'s flags, each also read from an environment variable (`SPLITTER_*`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use crate::config::{duration, listen, FirehoseConfig};
use crate::engine::consumers::ConsumerLimits;

/// Settings for `atrelay splitter`.
#[derive(Debug, Clone, Args)]
pub struct SplitterConfig {
    /// The relay to follow: `wss://relay.example` (or `ws://`, `https://`, `http://`; a host
    /// and optional port, no path). Its `subscribeRepos` is mirrored, and the sync routes the
    /// splitter does not serve itself are proxied to it.
    #[arg(long = "upstream", env = "SPLITTER_UPSTREAM", value_parser = Upstream::parse)]
    pub upstream: Upstream,

    /// Directory for the splitter's copy of the upstream's event log.
    #[arg(
        long = "persist-dir",
        env = "SPLITTER_PERSIST_DIR",
        default_value = "data/splitter"
    )]
    pub persist_dir: PathBuf,

    /// Address the firehose, the proxied routes and the status page listen on.
    #[arg(
        long = "bind",
        env = "SPLITTER_BIND",
        default_value = "0.0.0.0:2480",
        value_parser = listen::parse_listen_addr
    )]
    pub api_bind: SocketAddr,

    /// Address the Prometheus metrics endpoint (`/metrics`) listens on.
    #[arg(
        long = "metrics-listen",
        env = "SPLITTER_METRICS_LISTEN",
        default_value = "0.0.0.0:2481",
        value_parser = listen::parse_listen_addr
    )]
    pub metrics_bind: SocketAddr,

    /// Cursor of the first subscription when the persist directory holds no events yet (for
    /// example 0: everything the upstream still has). Unset: start at the upstream's live head.
    /// Once events are stored the splitter always resumes after the newest one.
    #[arg(long = "start-cursor", env = "SPLITTER_START_CURSOR")]
    pub start_cursor: Option<i64>,

    /// How long events are kept for replay (`72h`, `30m`, Go duration syntax).
    #[arg(
        long = "replay-window",
        env = "SPLITTER_REPLAY_WINDOW",
        default_value = "72h",
        value_parser = duration::parse_go_duration
    )]
    pub replay_window: Duration,

    /// Largest total size of the stored events in bytes (0: no limit).
    #[arg(
        long = "replay-max-bytes",
        env = "SPLITTER_REPLAY_MAX_BYTES",
        default_value_t = 0
    )]
    pub replay_max_bytes: u64,

    /// Longest wait between two attempts to reach the upstream (Go duration syntax); the
    /// wait doubles from 250 ms up to this.
    #[arg(
        long = "reconnect-max-backoff",
        env = "SPLITTER_RECONNECT_MAX_BACKOFF",
        default_value = "30s",
        value_parser = duration::parse_go_duration
    )]
    pub reconnect_max_backoff: Duration,

    /// A consumer that has caught up and then stays more than this many events behind for
    /// `--consumer-too-slow-after` seconds is dropped with `ConsumerTooSlow` (as for `serve`).
    #[arg(
        long = "consumer-max-lag",
        env = "SPLITTER_CONSUMER_MAX_LAG",
        default_value_t = 100_000
    )]
    pub consumer_max_lag: i64,

    /// Seconds a caught-up consumer may stay more than `--consumer-max-lag` events behind.
    #[arg(
        long = "consumer-too-slow-after",
        env = "SPLITTER_CONSUMER_TOO_SLOW_AFTER",
        default_value_t = 30
    )]
    pub consumer_too_slow_after_secs: u64,

    /// Most firehose consumers connected at once.
    #[arg(
        long = "max-consumers",
        env = "SPLITTER_MAX_CONSUMERS",
        default_value_t = 10_000
    )]
    pub max_consumers: usize,

    /// Most firehose consumers connected at once from one IP address (an IPv6 /64).
    #[arg(
        long = "max-consumers-per-ip",
        env = "SPLITTER_MAX_CONSUMERS_PER_IP",
        default_value_t = 100
    )]
    pub max_consumers_per_ip: usize,
}

impl SplitterConfig {
    /// The firehose policy for the splitter's consumers.
    pub fn firehose(&self) -> FirehoseConfig {
        FirehoseConfig {
            max_lag: self.consumer_max_lag,
            too_slow_after: Duration::from_secs(self.consumer_too_slow_after_secs),
            ..FirehoseConfig::default()
        }
    }

    /// The consumer admission limits.
    pub fn consumer_limits(&self) -> ConsumerLimits {
        ConsumerLimits {
            max_total: self.max_consumers,
            max_per_ip: self.max_consumers_per_ip,
        }
    }

    /// The event log's configuration: under `<persist-dir>/events`, with the retention flags.
    pub fn event_log(&self) -> atrelay_eventlog::Config {
        let mut log = atrelay_eventlog::Config::new(self.persist_dir.join("events"));
        log.retention_age = self.replay_window;
        if self.replay_max_bytes > 0 {
            log.retention_bytes = self.replay_max_bytes;
        }
        log
    }
}

/// The upstream relay: where its firehose and its HTTP API are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `ws://host[:port]` or `wss://host[:port]`.
    pub ws_base: String,
    /// `http://host[:port]` or `https://host[:port]`.
    pub http_base: String,
}

impl Upstream {
    /// Parses `wss://host[:port]` (also `ws`, `https`, `http`), with an optional trailing `/`.
    ///
    /// # Errors
    /// A message naming the accepted forms.
    pub fn parse(text: &str) -> Result<Upstream, String> {
        let url = reqwest::Url::parse(text).map_err(|error| {
            format!("`{text}` is not a URL ({error}); write wss://relay.example")
        })?;
        let (ws, http) = match url.scheme() {
            "wss" | "https" => ("wss", "https"),
            "ws" | "http" => ("ws", "http"),
            other => {
                return Err(format!(
                    "`{text}`: scheme `{other}` is not one of wss, ws, https, http"
                ))
            }
        };
        let Some(host) = url.host_str() else {
            return Err(format!("`{text}` names no host"));
        };
        if !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(format!(
                "`{text}`: give the relay's address only (scheme, host, port), no path, query or credentials"
            ));
        }
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Upstream {
            ws_base: format!("{ws}://{authority}"),
            http_base: format!("{http}://{authority}"),
        })
    }

    /// The upstream's `subscribeRepos` URL, after `cursor` if given.
    pub fn subscribe_url(&self, cursor: Option<i64>) -> String {
        let base = format!("{}/xrpc/com.atproto.sync.subscribeRepos", self.ws_base);
        match cursor {
            Some(cursor) => format!("{base}?cursor={cursor}"),
            None => base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        for (text, ws, http) in [
            (
                "wss://relay.example",
                "wss://relay.example",
                "https://relay.example",
            ),
            (
                "https://relay.example/",
                "wss://relay.example",
                "https://relay.example",
            ),
            (
                "ws://127.0.0.1:2470",
                "ws://127.0.0.1:2470",
                "http://127.0.0.1:2470",
            ),
            ("http://[::1]:2470", "ws://[::1]:2470", "http://[::1]:2470"),
        ] {
            assert_eq!(
                Upstream::parse(text).unwrap(),
                Upstream {
                    ws_base: ws.to_owned(),
                    http_base: http.to_owned()
                },
                "{text}"
            );
        }
        for bad in [
            "relay.example",
            "ftp://relay.example",
            "wss://relay.example/xrpc",
            "wss://relay.example?x=1",
            "wss://user:pw@relay.example",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Upstream::parse("wss://relay.example")
                .unwrap()
                .subscribe_url(Some(7)),
            "wss://relay.example/xrpc/com.atproto.sync.subscribeRepos?cursor=7"
        );
    }
}
