//! What readiness is judged by: the registry every background task reports to, the thresholds
//! of the checks, and when ingest last made progress. The engine keeps it; `/_ready`
//! ([`crate::http::health`]) and the metrics read it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::tasks::TaskRegistry;

/// What readiness checks against.
#[derive(Debug, Clone)]
pub struct ReadinessConfig {
    /// Not ready when hosts are followed but no event was accepted for this long (`None`: never).
    pub max_event_silence: Option<Duration>,
    /// Not ready when a background task failed this many times in a row.
    pub task_error_threshold: u64,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            max_event_silence: Some(Duration::from_secs(600)),
            task_error_threshold: 3,
        }
    }
}

/// The background task registry and the readiness settings, shared by the handlers. Cheap to
/// clone.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// Where background tasks report.
    pub tasks: TaskRegistry,
    /// Thresholds of the checks.
    pub config: ReadinessConfig,
    activity: Arc<Mutex<Activity>>,
}

/// When ingest last made progress, as seen by readiness checks.
#[derive(Debug)]
struct Activity {
    accepted: u64,
    changed_at: Instant,
    had_hosts: bool,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            accepted: 0,
            changed_at: Instant::now(),
            had_hosts: false,
        }
    }
}

impl Readiness {
    /// Readiness with `config` and an empty task registry.
    pub fn new(config: ReadinessConfig) -> Readiness {
        Readiness {
            config,
            ..Readiness::default()
        }
    }

    /// Records the accepted-event count and whether hosts are followed; returns how long no
    /// event has been accepted while hosts were followed (zero without hosts).
    pub(crate) fn silence(&self, accepted: u64, has_hosts: bool) -> Duration {
        let mut activity = self
            .activity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if accepted != activity.accepted || (has_hosts && !activity.had_hosts) {
            activity.accepted = accepted;
            activity.changed_at = now;
        }
        activity.had_hosts = has_hosts;
        if has_hosts {
            now.duration_since(activity.changed_at)
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_counts_only_while_hosts_are_followed() {
        let readiness = Readiness::default();
        assert_eq!(readiness.silence(0, false), Duration::ZERO);
        // Hosts appear: the clock starts now, not at start-up.
        assert!(readiness.silence(0, true) < Duration::from_secs(1));
        readiness.activity.lock().unwrap().changed_at -= Duration::from_secs(30);
        assert!(readiness.silence(0, true) >= Duration::from_secs(30));
        // An accepted event resets it.
        assert!(readiness.silence(1, true) < Duration::from_secs(1));
    }
}
