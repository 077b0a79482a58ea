//! Background tasks that never spin: a capped exponential [`Backoff`], and a [`TaskRegistry`]
//! where every long-running loop of the relay reports its state (running, backing off after
//! errors, stopped), its error count and its last error, for readiness (`/_ready`) and metrics.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime},
};

use tokio::sync::watch;

/// Capped exponential backoff: `initial`, then doubling up to `max`; [`Backoff::reset`] after a
/// success starts over.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `initial` (at least 1 ms, so a failing loop always waits) and never exceeds
    /// `max` (raised to `initial` if smaller).
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    /// The wait before the next attempt; each call doubles the following one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// Forgets past failures: the next delay is `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// What a background task is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Working normally.
    Running,
    /// Waiting before a retry after an error.
    Backoff,
    /// Ended (by shutdown, or because its work is done).
    Stopped,
    /// Ended for good after an error it cannot recover from.
    Failed,
}

impl TaskState {
    /// The state's name in health JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Backoff => "backoff",
            TaskState::Stopped => "stopped",
            TaskState::Failed => "failed",
        }
    }
}

/// A snapshot of one task's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    /// The task's name (a metrics label: lowercase, dashes).
    pub name: String,
    /// What it is doing now.
    pub state: TaskState,
    /// Errors since the process started.
    pub errors_total: u64,
    /// Errors since its last success.
    pub consecutive_errors: u64,
    /// The last error's message, kept after a recovery for the operator.
    pub last_error: Option<String>,
    /// When the last error happened.
    pub last_error_at: Option<SystemTime>,
}

impl TaskStatus {
    fn new(name: &str) -> TaskStatus {
        TaskStatus {
            name: name.to_owned(),
            state: TaskState::Running,
            errors_total: 0,
            consecutive_errors: 0,
            last_error: None,
            last_error_at: None,
        }
    }
}

/// Where the relay's background tasks report. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct TaskRegistry {
    tasks: Arc<Mutex<BTreeMap<String, TaskStatus>>>,
}

impl TaskRegistry {
    /// A registry with no task.
    pub fn new() -> TaskRegistry {
        TaskRegistry::default()
    }

    /// Registers the task `name` (running, no errors) and returns its reporter. Registering a
    /// name again returns a reporter of the same entry.
    pub fn register(&self, name: &str) -> TaskReporter {
        self.lock()
            .entry(name.to_owned())
            .or_insert_with(|| TaskStatus::new(name));
        TaskReporter {
            registry: self.clone(),
            name: name.to_owned(),
        }
    }

    /// Every task's status, by name.
    pub fn snapshot(&self) -> Vec<TaskStatus> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, TaskStatus>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One task's handle on its registry entry.
#[derive(Debug, Clone)]
pub struct TaskReporter {
    registry: TaskRegistry,
    name: String,
}

impl TaskReporter {
    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records a success: running, no consecutive errors (the last error stays visible).
    pub fn ok(&self) {
        self.update(|status| {
            status.state = TaskState::Running;
            status.consecutive_errors = 0;
        });
    }

    /// Records an error after which the task backs off and retries.
    pub fn error(&self, message: impl std::fmt::Display) {
        let message = message.to_string();
        tracing::warn!(task = %self.name, error = %message, "background task error; backing off");
        self.update(|status| {
            status.state = TaskState::Backoff;
            status.errors_total += 1;
            status.consecutive_errors += 1;
            status.last_error = Some(message);
            status.last_error_at = Some(SystemTime::now());
        });
    }

    /// Records that the task ended: `Stopped`, or `Failed` with `error`.
    pub fn ended(&self, error: Option<String>) {
        if let Some(message) = &error {
            tracing::error!(task = %self.name, error = %message, "background task failed");
        }
        self.update(|status| match error {
            Some(message) => {
                status.state = TaskState::Failed;
                status.errors_total += 1;
                status.consecutive_errors += 1;
                status.last_error = Some(message);
                status.last_error_at = Some(SystemTime::now());
            }
            None => status.state = TaskState::Stopped,
        });
    }

    fn update(&self, change: impl FnOnce(&mut TaskStatus)) {
        let mut tasks = self.registry.lock();
        match tasks.get_mut(&self.name) {
            Some(status) => change(status),
            None => {
                let mut status = TaskStatus::new(&self.name);
                change(&mut status);
                tasks.insert(self.name.clone(), status);
            }
        }
    }
}

/// Completes when `stop` turns true; never if its sender is dropped first (a task without a
/// stop signal runs until its own work ends).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps for `delay`, or less if `stop` turns true. Returns whether the task should stop.
pub async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => *stop.borrow(),
        () = stopped(stop) => true,
    }
}

/// Runs `step` every `every` until `stop`: a step's error is reported and the next attempt
/// waits with `backoff` (doubling, capped) instead of `every`; a success resets it. The task
/// shows as stopped when it ends.
pub async fn run_periodic<F, Fut>(
    reporter: TaskReporter,
    every: Duration,
    mut backoff: Backoff,
    mut stop: watch::Receiver<bool>,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut delay = every;
    loop {
        if sleep_or_stop(delay, &mut stop).await {
            break;
        }
        match step().await {
            Ok(()) => {
                reporter.ok();
                backoff.reset();
                delay = every;
            }
            Err(error) => {
                reporter.error(error);
                delay = backoff.next_delay().min(every);
            }
        }
    }
    reporter.ended(None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(700));
        let delays: Vec<u128> = (0..6).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700, 700]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn backoff_never_waits_zero_and_survives_huge_caps() {
        let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(zero.next_delay(), Duration::from_millis(1));
        let mut huge = Backoff::new(Duration::from_secs(1), Duration::MAX);
        for _ in 0..200 {
            assert!(huge.next_delay() >= Duration::from_secs(1));
        }
    }

    #[test]
    fn reporter_counts_errors_and_a_success_clears_the_streak() {
        let registry = TaskRegistry::new();
        let task = registry.register("feed");
        task.error("disk gone");
        task.error("disk still gone");
        let status = &registry.snapshot()[0];
        assert_eq!(status.state, TaskState::Backoff);
        assert_eq!((status.errors_total, status.consecutive_errors), (2, 2));
        assert_eq!(status.last_error.as_deref(), Some("disk still gone"));

        task.ok();
        let status = &registry.snapshot()[0];
        assert_eq!(status.state, TaskState::Running);
        assert_eq!((status.errors_total, status.consecutive_errors), (2, 0));
        assert_eq!(status.last_error.as_deref(), Some("disk still gone"));

        task.ended(None);
        assert_eq!(registry.snapshot()[0].state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn a_failing_periodic_task_backs_off_and_stops_on_request() {
        let registry = TaskRegistry::new();
        let (stop_tx, stop) = watch::channel(false);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let task = tokio::spawn(run_periodic(
            registry.register("loop"),
            Duration::from_millis(50),
            Backoff::new(Duration::from_millis(10), Duration::from_millis(40)),
            stop,
            move || {
                seen.lock().unwrap().push(tokio::time::Instant::now());
                async { Err::<(), _>("broken".to_owned()) }
            },
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while calls.lock().unwrap().len() < 5 {
            assert!(tokio::time::Instant::now() < deadline, "the loop stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop_tx.send_replace(true);
        task.await.unwrap();
        // Sleeps never end early: each gap is at least the backoff (10, 20, 40, then capped).
        let at = calls.lock().unwrap().clone();
        for (gap, least) in at.windows(2).zip([10, 20, 40, 40]) {
            assert!(gap[1] - gap[0] >= Duration::from_millis(least));
        }
        let status = &registry.snapshot()[0];
        assert_eq!(status.state, TaskState::Stopped);
        assert_eq!(status.errors_total, at.len() as u64);
    }
}
