//! A load generator: drives accounts on fake PDSes through random writes at a given rate.
//!
//! Each step picks an account at random (seeded, so runs repeat) and makes one commit of
//! `writes_per_commit` random writes on it. With a rate the steps are paced against a
//! schedule (`start + step / rate`), so a slow step is caught up on rather than stretching the
//! run; without one they run back to back.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::TestkitError;
use crate::pds::FakePds;

/// What to generate.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Commits per account (each account gets exactly this many).
    pub commits_per_account: usize,
    /// Writes in each commit (1 to 200).
    pub writes_per_commit: usize,
    /// Length of the random text in each record, in bytes.
    pub record_len: usize,
    /// Commits per second over all accounts; `None` runs as fast as possible.
    pub rate_per_sec: Option<f64>,
    /// Seed of the random choices.
    pub seed: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            commits_per_account: 10,
            writes_per_commit: 1,
            record_len: 32,
            rate_per_sec: None,
            seed: 0,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Commits emitted.
    pub commits: u64,
    /// Writes in those commits.
    pub writes: u64,
    /// Total size of the commits' `blocks`, in bytes.
    pub block_bytes: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// One account to drive: the PDS hosting it and its DID.
#[derive(Debug, Clone)]
pub struct Target {
    /// The PDS.
    pub pds: FakePds,
    /// The account.
    pub did: String,
}

/// Creates `n` accounts on `pds` (alternating k256 and p256 keys) and returns them as targets.
///
/// # Errors
///
/// As [`FakePds::create_account`].
pub fn create_accounts(pds: &FakePds, n: usize) -> Result<Vec<Target>, TestkitError> {
    (0..n)
        .map(|i| {
            let curve = if i % 2 == 0 {
                crate::pds::KeyCurve::K256
            } else {
                crate::pds::KeyCurve::P256
            };
            let did = pds.create_account(crate::pds::AccountOptions {
                curve,
                ..Default::default()
            })?;
            Ok(Target {
                pds: pds.clone(),
                did,
            })
        })
        .collect()
}

/// Runs the load over `targets`, making `commits_per_account` commits on each.
///
/// # Errors
///
/// The first error from a commit (none are expected on healthy fakes).
pub async fn run(targets: &[Target], config: &LoadConfig) -> Result<LoadReport, TestkitError> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut remaining: Vec<usize> = vec![config.commits_per_account; targets.len()];
    let mut live: Vec<usize> = (0..targets.len())
        .filter(|_| config.commits_per_account > 0)
        .collect();
    let started = Instant::now();
    let tokio_start = tokio::time::Instant::now();
    let mut report = LoadReport::default();
    let mut step: u64 = 0;
    while !live.is_empty() {
        if let Some(rate) = config.rate_per_sec.filter(|r| *r > 0.0) {
            let due = tokio_start + Duration::from_secs_f64(step as f64 / rate);
            tokio::time::sleep_until(due).await;
        } else if step % 64 == 0 {
            // Let servers and subscribers run between bursts on a current-thread runtime.
            tokio::task::yield_now().await;
        }
        let pick = rng.gen_range(0..live.len());
        let idx = live[pick];
        let target = &targets[idx];
        let commit = target.pds.random_commit(
            &target.did,
            &mut rng,
            config.writes_per_commit,
            config.record_len,
        )?;
        report.commits += 1;
        report.writes += commit.ops.len() as u64;
        report.block_bytes += commit.blocks.len() as u64;
        remaining[idx] -= 1;
        if remaining[idx] == 0 {
            live.swap_remove(pick);
        }
        step += 1;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
