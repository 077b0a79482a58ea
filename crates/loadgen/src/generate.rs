//! Generating a load: accounts with real keys and repositories, and their signed sync-1.1
//! traffic, written as per-host frame files (see [`crate::load`]).
//!
//! Each host's accounts appear in a seeded random order, each account `1 + commits` times: its
//! first appearance creates it (`#identity`, `#account` and its first empty commit, as a PDS
//! emits them, or the commit alone), the others are commits of 1 to 4 writes (80 % single
//! writes) that create, update or delete records with the op mix of the testkit's load: 40 %
//! of writes touch an existing record (half updates, half deletes) when there is one. A repository
//! is dropped once its last commit is written, so a load of a million one-commit accounts needs
//! little memory. Hosts are generated on every core at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use atrelay_repo::crypto::SigningKey;
use atrelay_stream::encode_frame;
use atrelay_testkit::{
    account_message, commit_message, identity_message, new_plc_did, FakeRepo, TidClock,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::load::{self, AccountLine, FrameWriter, Manifest, TIME_PLACEHOLDER};

/// What to generate.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// PDS hosts.
    pub hosts: usize,
    /// Accounts over all hosts (spread round-robin).
    pub accounts: usize,
    /// Commits per account after its first.
    pub commits_per_account: usize,
    /// Start each account with `#identity` and `#account`.
    pub account_events: bool,
    /// Share of accounts with p256 keys.
    pub p256_share: f64,
    /// Length of each record's random text.
    pub record_len: usize,
    /// Seed of the random choices.
    pub seed: u64,
}

impl LoadSpec {
    /// Events this spec makes.
    pub fn events(&self) -> u64 {
        let per_account = self.commits_per_account + if self.account_events { 3 } else { 1 };
        (self.accounts * per_account) as u64
    }
}

/// Generates `spec` into `dir` (created if missing) and returns its manifest.
///
/// # Errors
/// An I/O error or a repository error (none is expected).
pub fn generate(spec: &LoadSpec, dir: &Path) -> Result<Manifest> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let started = Instant::now();
    let next_host = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(spec.hosts.max(1));
    let mut events_per_host = vec![0u64; spec.hosts];
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<Vec<(usize, u64)>> {
                    let mut done = Vec::new();
                    loop {
                        let host = next_host.fetch_add(1, Ordering::Relaxed);
                        if host >= spec.hosts {
                            return Ok(done);
                        }
                        done.push((host, generate_host(spec, dir, host)?));
                    }
                })
            })
            .collect();
        for handle in handles {
            let done = handle
                .join()
                .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
            for (host, events) in done {
                events_per_host[host] = events;
            }
        }
        Ok(())
    })?;
    let manifest = Manifest {
        version: load::VERSION,
        hosts: spec.hosts,
        accounts: spec.accounts,
        commits_per_account: spec.commits_per_account,
        account_events: spec.account_events,
        p256_share: spec.p256_share,
        seed: spec.seed,
        events_per_host,
        generated_in_secs: started.elapsed().as_secs_f64(),
    };
    manifest.write(dir)?;
    Ok(manifest)
}

/// Generates host `host`'s accounts and frames; returns its event count.
fn generate_host(spec: &LoadSpec, dir: &Path, host: usize) -> Result<u64> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ (host as u64).wrapping_mul(0x9e37_79b9));
    let accounts: Vec<usize> = (host..spec.accounts).step_by(spec.hosts).collect();
    let mut schedule: Vec<usize> = accounts
        .iter()
        .flat_map(|&a| std::iter::repeat_n(a, 1 + spec.commits_per_account))
        .collect();
    schedule.shuffle(&mut rng);
    let mut remaining: HashMap<usize, usize> = HashMap::new();
    let mut repos: HashMap<usize, FakeRepo> = HashMap::new();
    let mut rkeys = TidClock::new(host as u16);
    let mut frames = FrameWriter::create(dir, host)?;
    let mut account_lines = std::io::BufWriter::new(
        std::fs::File::create(load::accounts_path(dir, host)).context("creating accounts file")?,
    );
    let mut seq: i64 = 0;
    for account in schedule {
        let left = remaining
            .entry(account)
            .or_insert(1 + spec.commits_per_account);
        *left -= 1;
        let last = *left == 0;
        if let Some(repo) = repos.get_mut(&account) {
            let count = write_count(&mut rng);
            let writes = repo.random_writes(&mut rng, &mut rkeys, count, spec.record_len)?;
            let commit = repo.apply(writes)?;
            seq += 1;
            emit(&mut frames, commit_message(&commit, seq, TIME_PLACEHOLDER))?;
        } else {
            let key = if rng.gen_bool(spec.p256_share.clamp(0.0, 1.0)) {
                SigningKey::generate_p256()
            } else {
                SigningKey::generate_k256()
            };
            let handle = format!("u{account}.h{host}.loadgen.test");
            let did = new_plc_did(&key.public_key(), &handle, "loadgen");
            load::write_account(
                &mut account_lines,
                &AccountLine {
                    did: did.clone(),
                    handle: handle.clone(),
                    multikey: key.public_key().to_multikey(),
                },
            )?;
            let (repo, first) = FakeRepo::new(&did, key);
            if spec.account_events {
                seq += 1;
                emit(
                    &mut frames,
                    identity_message(&did, Some(&handle), seq, TIME_PLACEHOLDER),
                )?;
                seq += 1;
                emit(
                    &mut frames,
                    account_message(&did, None, seq, TIME_PLACEHOLDER),
                )?;
            }
            seq += 1;
            emit(&mut frames, commit_message(&first, seq, TIME_PLACEHOLDER))?;
            if !last {
                repos.insert(account, repo);
            }
        }
        if last {
            repos.remove(&account);
            remaining.remove(&account);
        }
    }
    frames.finish()?;
    std::io::Write::flush(&mut account_lines)?;
    Ok(seq as u64)
}

fn emit(frames: &mut FrameWriter, message: atrelay_stream::Message) -> Result<()> {
    frames.push(&encode_frame(&message))
}

/// How many writes the next commit makes: 1 (80 %) or 2 to 4.
fn write_count(rng: &mut StdRng) -> usize {
    if rng.gen_bool(0.8) {
        1
    } else {
        rng.gen_range(2..=4)
    }
}
