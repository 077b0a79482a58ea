//! `GET /admin/overview`: the dashboard's overview, kept in memory so no Prometheus is needed
//! to see it. A sampler reads the relay's counters every [`SAMPLE_EVERY`] and keeps the last
//! hour of rates (a ring of [`SAMPLES`]); each call adds the current state (replay window,
//! consumers, host links, database pool).
//!
//! Not in indigo's admin API.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use axum::{extract::State, routing::get, Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::state::AppState;

/// How often the sampler reads the counters.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Samples kept: one hour.
pub const SAMPLES: usize = 360;

/// Drop reasons that mean an event failed verification (the rest are policy or framing).
const VERIFICATION_FAILURES: &[&str] = &["bad-signature", "invalid-proof", "missing-prev-data"];

/// Counter totals at one instant.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Events accepted into the log.
    pub accepted: u64,
    /// Frames sent to consumers.
    pub frames: u64,
    /// Dropped events by reason.
    pub dropped: Vec<(&'static str, u64)>,
    /// DID resolutions started (identity cache misses).
    pub resolutions: u64,
    /// DID resolutions that failed.
    pub resolution_errors: u64,
}

/// Rates over one sampling interval, per second.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sample {
    /// End of the interval, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Events accepted into the log per second.
    pub ingest_per_sec: f64,
    /// Frames sent to consumers per second.
    pub frames_per_sec: f64,
    /// Events dropped per second, by reason (reasons with none left out).
    pub dropped_per_sec: BTreeMap<&'static str, f64>,
    /// Events failing verification per second (part of `dropped_per_sec`).
    pub verification_failures_per_sec: f64,
    /// DID resolutions per second.
    pub resolutions_per_sec: f64,
    /// Failed DID resolutions per second.
    pub resolution_errors_per_sec: f64,
    /// Connected consumers at the end of the interval.
    pub consumers: usize,
}

/// The last hour of samples, and the totals the next one is measured from.
#[derive(Debug, Default)]
pub struct History {
    samples: VecDeque<Sample>,
    last: Option<(Instant, Totals)>,
}

impl History {
    /// Records `totals` read at `now`: a sample of the rates since the previous reading (none
    /// for the first). Counters that went backwards (a restart) count as zero.
    pub fn record(&mut self, now: Instant, at_ms: u64, totals: Totals, consumers: usize) {
        if let Some((then, previous)) = self.last.take() {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                let rate = |new: u64, old: u64| new.saturating_sub(old) as f64 / secs;
                let dropped: BTreeMap<&'static str, f64> = totals
                    .dropped
                    .iter()
                    .map(|(reason, count)| {
                        let old = previous
                            .dropped
                            .iter()
                            .find(|(r, _)| r == reason)
                            .map_or(0, |(_, c)| *c);
                        (*reason, rate(*count, old))
                    })
                    .filter(|(_, per_sec)| *per_sec > 0.0)
                    .collect();
                let verification_failures_per_sec = dropped
                    .iter()
                    .filter(|(reason, _)| VERIFICATION_FAILURES.contains(reason))
                    .map(|(_, per_sec)| per_sec)
                    .sum();
                if self.samples.len() == SAMPLES {
                    self.samples.pop_front();
                }
                self.samples.push_back(Sample {
                    at_ms,
                    ingest_per_sec: rate(totals.accepted, previous.accepted),
                    frames_per_sec: rate(totals.frames, previous.frames),
                    dropped_per_sec: dropped,
                    verification_failures_per_sec,
                    resolutions_per_sec: rate(totals.resolutions, previous.resolutions),
                    resolution_errors_per_sec: rate(
                        totals.resolution_errors,
                        previous.resolution_errors,
                    ),
                    consumers,
                });
            }
        }
        self.last = Some((now, totals));
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }
}

/// Reads the counters the overview samples.
fn totals(state: &AppState) -> Totals {
    let counters = state.ingest.counters();
    let (resolutions, resolution_errors) =
        state
            .ingest
            .resolver()
            .cache_metrics()
            .map_or((0, 0), |(cache, _)| {
                (
                    cache.misses.load(Ordering::Relaxed),
                    cache.errors.load(Ordering::Relaxed),
                )
            });
    Totals {
        accepted: counters.accepted.load(Ordering::Relaxed),
        frames: state.consumers.frames_sent(),
        dropped: counters.snapshot(),
        resolutions,
        resolution_errors,
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Ends the sampler when the router holding it is dropped.
struct Sampler(tokio::task::JoinHandle<()>);

impl Drop for Sampler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone)]
struct OverviewState {
    app: AppState,
    history: Arc<Mutex<History>>,
    _sampler: Option<Arc<Sampler>>,
}

/// The overview route. Its sampler runs while the router lives (none outside a Tokio runtime).
pub fn routes(app: AppState) -> Router {
    let history = Arc::new(Mutex::new(History::default()));
    let sampler = tokio::runtime::Handle::try_current().ok().map(|runtime| {
        let (app, history) = (app.clone(), history.clone());
        Arc::new(Sampler(runtime.spawn(async move {
            let mut ticks = tokio::time::interval(SAMPLE_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let totals = totals(&app);
                let consumers = app.consumers.len();
                history.lock().unwrap_or_else(|e| e.into_inner()).record(
                    Instant::now(),
                    unix_ms(),
                    totals,
                    consumers,
                );
            }
        })))
    });
    Router::new()
        .route("/admin/overview", get(overview))
        .with_state(OverviewState {
            app,
            history,
            _sampler: sampler,
        })
}

/// `GET /admin/overview`: `{interval_secs, samples: [...], now: {...}}`.
async fn overview(State(state): State<OverviewState>) -> Json<Value> {
    let samples = state
        .history
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .samples();
    let app = &state.app;
    let log = app.log.stats();
    let totals = totals(app);
    let mut links: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (_, link) in app.ingest.host_links() {
        *links.entry(link.state.as_str()).or_default() += 1;
    }
    let pool = app.store.pool_stats();
    let dropped: BTreeMap<&'static str, u64> = totals
        .dropped
        .iter()
        .filter(|(_, count)| *count > 0)
        .copied()
        .collect();
    Json(json!({
        "interval_secs": SAMPLE_EVERY.as_secs(),
        "samples": samples,
        "now": {
            "at_ms": unix_ms(),
            "accepted_total": totals.accepted,
            "frames_sent_total": totals.frames,
            "dropped_total": dropped,
            "resolutions_total": totals.resolutions,
            "resolution_errors_total": totals.resolution_errors,
            "replay": {
                "oldest_seq": log.oldest_seq,
                "newest_seq": log.newest_seq,
                "bytes": log.bytes,
                "segments": log.segments,
                "pending": log.pending,
            },
            "consumers": app.consumers.len(),
            "host_links": links,
            "unwritten_events": app.ingest.unwritten_events(),
            "database": { "open": pool.open, "idle": pool.idle, "max": pool.max },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(accepted: u64, bad_signature: u64) -> Totals {
        Totals {
            accepted,
            frames: accepted * 2,
            dropped: vec![("bad-signature", bad_signature), ("over-limits", 0)],
            resolutions: 1,
            resolution_errors: 0,
        }
    }

    #[test]
    fn samples_are_rates_between_readings() {
        let mut history = History::default();
        let start = Instant::now();
        history.record(start, 0, totals(100, 0), 1);
        assert!(
            history.samples().is_empty(),
            "the first reading is a baseline"
        );
        history.record(start + SAMPLE_EVERY, 10_000, totals(300, 5), 2);
        let sample = &history.samples()[0];
        assert_eq!(sample.ingest_per_sec, 20.0);
        assert_eq!(sample.frames_per_sec, 40.0);
        assert_eq!(sample.dropped_per_sec.get("bad-signature"), Some(&0.5));
        assert!(!sample.dropped_per_sec.contains_key("over-limits"));
        assert_eq!(sample.verification_failures_per_sec, 0.5);
        assert_eq!(sample.resolutions_per_sec, 0.0);
        assert_eq!(sample.consumers, 2);
    }

    #[test]
    fn keeps_one_hour_and_survives_counters_going_back() {
        let mut history = History::default();
        let start = Instant::now();
        for i in 0..(SAMPLES as u32 + 5) {
            history.record(
                start + SAMPLE_EVERY * i,
                u64::from(i),
                totals(u64::from(i), 0),
                0,
            );
        }
        let samples = history.samples();
        assert_eq!(samples.len(), SAMPLES);
        assert_eq!(samples[0].at_ms, 5);
        history.record(start + SAMPLE_EVERY * 400, 400, totals(0, 0), 0);
        assert_eq!(history.samples().last().unwrap().ingest_per_sec, 0.0);
    }
}
