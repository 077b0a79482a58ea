//! The registry of connected firehose consumers: admission limits (in total and per client,
//! an IPv6 /64 counting as one client) and what the admin API lists about each.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::SystemTime,
};

use atrelay_repo::syntax::format_datetime;
use serde::Serialize;

/// Largest websocket frame a consumer may send. Consumers send only control frames (ping,
/// pong, close: at most 125 bytes by RFC 6455), so a frame header announcing more is refused
/// at once and the connection closed, before any payload is buffered.
pub const MAX_INBOUND_FRAME_BYTES: usize = 4 * 1024;

/// Largest websocket message a consumer may send (a fragmented message counts whole).
pub const MAX_INBOUND_MESSAGE_BYTES: usize = 16 * 1024;

/// The client an address belongs to, for per-client limits: an IPv4 address itself (also when
/// written IPv4-mapped), an IPv6 address's /64, the smallest block a host is usually given.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Limits on concurrent consumers.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerLimits {
    /// Most consumers connected at once.
    pub max_total: usize,
    /// Most consumers connected at once from one client ([`client_key`]: an IPv4 address or
    /// an IPv6 /64).
    pub max_per_ip: usize,
}

/// Why a consumer was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The relay serves its maximum number of consumers.
    #[error("the relay serves its limit of {0} consumers; try again later")]
    TooManyConsumers(usize),
    /// This address has its maximum number of consumers.
    #[error("this address already has its limit of {0} consumers")]
    TooManyFromAddress(usize),
}

/// What the admin API shows about one consumer (indigo's `/admin/consumers/list` shape).
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerInfo {
    /// Registry id.
    pub id: u64,
    /// The peer's address.
    pub remote_addr: String,
    /// The `User-Agent` the consumer sent.
    pub user_agent: String,
    /// Frames sent so far.
    pub events_consumed: u64,
    /// When it connected (RFC 3339).
    pub connected_at: String,
    /// Events it was behind the log's head after its last run of frames (not in indigo's).
    pub lag: i64,
}

struct Entry {
    /// The client's [`client_key`].
    client: IpAddr,
    remote_addr: String,
    user_agent: String,
    connected_at: SystemTime,
    sent: Arc<AtomicU64>,
    lag: Arc<AtomicI64>,
    kick: Arc<tokio::sync::Notify>,
}

/// Connected consumers. Cheap to share behind an `Arc`.
pub struct Consumers {
    limits: ConsumerLimits,
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
    frames_sent: AtomicU64,
    admitted: AtomicU64,
    refused: AtomicU64,
}

/// A consumer's place in the registry; dropping it frees the place.
pub struct ConsumerSlot {
    registry: Arc<Consumers>,
    id: u64,
    /// Frames sent to this consumer; the firehose task increments it.
    pub sent: Arc<AtomicU64>,
    lag: Arc<AtomicI64>,
    kick: Arc<tokio::sync::Notify>,
}

impl Consumers {
    /// An empty registry with these limits.
    pub fn new(limits: ConsumerLimits) -> Arc<Self> {
        Arc::new(Consumers {
            limits,
            next_id: AtomicU64::new(1),
            entries: Mutex::new(HashMap::new()),
            frames_sent: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Admits a consumer, or says which limit refuses it.
    pub fn admit(
        self: &Arc<Self>,
        remote: std::net::SocketAddr,
        user_agent: String,
    ) -> Result<ConsumerSlot, Refusal> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.limits.max_total {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::TooManyConsumers(self.limits.max_total));
        }
        let client = client_key(remote.ip());
        let from_ip = entries.values().filter(|e| e.client == client).count();
        if from_ip >= self.limits.max_per_ip {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::TooManyFromAddress(self.limits.max_per_ip));
        }
        self.admitted.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sent = Arc::new(AtomicU64::new(0));
        let lag = Arc::new(AtomicI64::new(0));
        let kick = Arc::new(tokio::sync::Notify::new());
        entries.insert(
            id,
            Entry {
                client,
                remote_addr: remote.to_string(),
                user_agent,
                connected_at: SystemTime::now(),
                sent: sent.clone(),
                lag: lag.clone(),
                kick: kick.clone(),
            },
        );
        Ok(ConsumerSlot {
            registry: self.clone(),
            id,
            sent,
            lag,
            kick,
        })
    }

    /// Frames sent to all consumers since start.
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent.load(Ordering::Relaxed)
    }

    /// Consumers admitted and refused since start.
    pub fn admissions(&self) -> (u64, u64) {
        (
            self.admitted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// Number of connected consumers.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no consumer is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of every connected consumer, oldest first.
    pub fn list(&self) -> Vec<ConsumerInfo> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<ConsumerInfo> = entries
            .iter()
            .map(|(id, entry)| ConsumerInfo {
                id: *id,
                remote_addr: entry.remote_addr.clone(),
                user_agent: entry.user_agent.clone(),
                events_consumed: entry.sent.load(Ordering::Relaxed),
                connected_at: format_datetime(entry.connected_at),
                lag: entry.lag.load(Ordering::Relaxed),
            })
            .collect();
        list.sort_by_key(|info| info.id);
        list
    }

    /// Asks the firehose task of consumer `id` to close its connection; false when no such
    /// consumer is connected.
    pub fn disconnect(&self, id: u64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&id) {
            Some(entry) => {
                // notify_one keeps the wake-up if the task is not waiting at this moment.
                entry.kick.notify_one();
                true
            }
            None => false,
        }
    }
}

impl ConsumerSlot {
    /// Counts one frame sent to this consumer.
    pub fn record_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.registry.frames_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes how many events the consumer is behind the head after a run of frames.
    pub fn record_lag(&self, lag: i64) {
        self.lag.store(lag, Ordering::Relaxed);
    }

    /// Resolves when an operator disconnects this consumer ([`Consumers::disconnect`]).
    pub async fn kicked(&self) {
        self.kick.notified().await;
    }
}

impl Drop for ConsumerSlot {
    fn drop(&mut self) {
        self.registry
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_and_dropping_a_slot_frees_it() {
        let registry = Consumers::new(ConsumerLimits {
            max_total: 3,
            max_per_ip: 2,
        });
        let a: std::net::SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let b: std::net::SocketAddr = "10.0.0.2:1000".parse().unwrap();
        let first = registry.admit(a, "ua".into()).unwrap();
        let _second = registry.admit(a, "ua".into()).unwrap();
        assert_eq!(
            registry.admit(a, "ua".into()).err(),
            Some(Refusal::TooManyFromAddress(2))
        );
        let _third = registry.admit(b, "ua".into()).unwrap();
        assert_eq!(
            registry.admit(b, "ua".into()).err(),
            Some(Refusal::TooManyConsumers(3))
        );
        drop(first);
        assert_eq!(registry.len(), 2);
        assert!(registry.admit(a, "ua".into()).is_ok());
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_client() {
        let registry = Consumers::new(ConsumerLimits {
            max_total: 100,
            max_per_ip: 2,
        });
        let one: std::net::SocketAddr = "[2001:db8:1:2::1]:1000".parse().unwrap();
        let same_64: std::net::SocketAddr =
            "[2001:db8:1:2:ffff:ffff:ffff:fffe]:2000".parse().unwrap();
        let third_in_64: std::net::SocketAddr = "[2001:db8:1:2:abcd::7]:3000".parse().unwrap();
        let next_64: std::net::SocketAddr = "[2001:db8:1:3::1]:1000".parse().unwrap();
        let _a = registry.admit(one, "ua".into()).unwrap();
        let _b = registry.admit(same_64, "ua".into()).unwrap();
        assert_eq!(
            registry.admit(third_in_64, "ua".into()).err(),
            Some(Refusal::TooManyFromAddress(2))
        );
        assert!(registry.admit(next_64, "ua".into()).is_ok());
    }

    #[test]
    fn client_keys_mask_ipv6_to_its_64_and_unmap_ipv4() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::1"), "::");
    }
}
