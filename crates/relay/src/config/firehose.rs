//! How the firehose treats its consumers: the slow-consumer rule's thresholds and the ping
//! interval, set from the flags by `app` and read by [`crate::http::firehose`].

use std::time::Duration;

/// How the firehose treats its consumers (the rule is described in [`crate::http::firehose`]).
#[derive(Debug, Clone, Copy)]
pub struct FirehoseConfig {
    /// A consumer that has caught up with the live head and then stays further behind it than
    /// this many events for longer than [`FirehoseConfig::too_slow_after`] is dropped with
    /// `ConsumerTooSlow`. Never applied while a consumer replays towards the head.
    pub max_lag: i64,
    /// How long a caught-up consumer may stay more than [`FirehoseConfig::max_lag`] behind.
    pub too_slow_after: Duration,
    /// A consumer whose socket takes no frame for this long is dropped with `ConsumerTooSlow`.
    pub send_timeout: Duration,
    /// An idle consumer is pinged this often, and dropped when it has not answered (any frame
    /// or pong) for three intervals.
    pub ping_interval: Duration,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        FirehoseConfig {
            max_lag: 100_000,
            too_slow_after: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(30),
        }
    }
}
