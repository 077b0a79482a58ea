//! The on-disk form of a generated load: what `generate` writes and `serve` reads.
//!
//! A load directory holds
//! - `load.json`: the [`Manifest`] (sizes, seed, events per host);
//! - `accounts-<k>.tsv`: one line per account of host `k`: DID, handle and the `#atproto`
//!   signing key as a multikey, tab-separated;
//! - `host-<k>.frames`: host `k`'s `subscribeRepos` frames in seq order (seq 1, 2, ...), each
//!   as a little-endian `u32` length, a little-endian `u32` offset of its `time` string in the
//!   frame ([`NO_TIME`] if none) and the frame bytes.
//!
//! Every frame's `time` is [`TIME_PLACEHOLDER`]; `serve` overwrites it with the moment it sends
//! the frame (same length, so the frame stays valid), which lets a consumer measure the delay
//! from the upstream host to itself. `time` is outside the signed commit, as on a real PDS.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The `time` every generated frame carries until it is sent (the length of every time
/// `atrelay_repo::syntax::format_datetime` writes).
pub const TIME_PLACEHOLDER: &str = "2000-01-01T00:00:00.000Z";

/// The time offset of a frame without a `time` string.
pub const NO_TIME: u32 = u32::MAX;

/// What a load directory holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of the directory.
    pub version: u32,
    /// PDS hosts the load is spread over.
    pub hosts: usize,
    /// Accounts, over all hosts.
    pub accounts: usize,
    /// Commits per account after its first (empty) commit.
    pub commits_per_account: usize,
    /// Whether each account starts with `#identity` and `#account` events, as a PDS emits them.
    pub account_events: bool,
    /// Share of accounts with a p256 key (the rest are k256).
    pub p256_share: f64,
    /// Seed of the random choices (which account writes when, which records).
    pub seed: u64,
    /// Frames in each host's file.
    pub events_per_host: Vec<u64>,
    /// Seconds the generation took.
    pub generated_in_secs: f64,
}

/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

impl Manifest {
    /// Every event of every host.
    pub fn total_events(&self) -> u64 {
        self.events_per_host.iter().sum()
    }

    /// Reads `load.json` from `dir`.
    ///
    /// # Errors
    /// A missing or unreadable manifest, or one of another format version.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("load.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let manifest: Manifest =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if manifest.version != VERSION {
            bail!(
                "{} has format version {}, this build reads {VERSION}: generate it again",
                path.display(),
                manifest.version
            );
        }
        Ok(manifest)
    }

    /// Writes `load.json` into `dir`.
    ///
    /// # Errors
    /// An I/O error.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join("load.json");
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// The accounts file of host `k`.
pub fn accounts_path(dir: &Path, host: usize) -> PathBuf {
    dir.join(format!("accounts-{host}.tsv"))
}

/// The frames file of host `k`.
pub fn frames_path(dir: &Path, host: usize) -> PathBuf {
    dir.join(format!("host-{host}.frames"))
}

/// One account as the DID directory serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLine {
    /// The DID.
    pub did: String,
    /// The handle.
    pub handle: String,
    /// The `#atproto` signing key, as a multikey.
    pub multikey: String,
}

/// Appends one account line.
///
/// # Errors
/// An I/O error.
pub fn write_account(out: &mut impl Write, account: &AccountLine) -> std::io::Result<()> {
    writeln!(
        out,
        "{}\t{}\t{}",
        account.did, account.handle, account.multikey
    )
}

/// Reads every account line of host `k`.
///
/// # Errors
/// An I/O error or a line without three fields.
pub fn read_accounts(dir: &Path, host: usize) -> Result<Vec<AccountLine>> {
    let path = accounts_path(dir, host);
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut accounts = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        let mut fields = line.split('\t');
        match (fields.next(), fields.next(), fields.next()) {
            (Some(did), Some(handle), Some(multikey)) => accounts.push(AccountLine {
                did: did.to_owned(),
                handle: handle.to_owned(),
                multikey: multikey.to_owned(),
            }),
            _ => bail!("{}: malformed line {line:?}", path.display()),
        }
    }
    Ok(accounts)
}

/// Writes frames to a host file.
pub struct FrameWriter {
    out: BufWriter<File>,
}

impl FrameWriter {
    /// Creates (or truncates) host `k`'s frames file.
    ///
    /// # Errors
    /// An I/O error.
    pub fn create(dir: &Path, host: usize) -> Result<Self> {
        let path = frames_path(dir, host);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    /// Appends one frame, noting where its [`TIME_PLACEHOLDER`] is.
    ///
    /// # Errors
    /// An I/O error, or a frame over 4 GiB.
    pub fn push(&mut self, frame: &[u8]) -> Result<()> {
        let time_offset = find(frame, TIME_PLACEHOLDER.as_bytes()).map_or(NO_TIME, |at| at as u32);
        let len = u32::try_from(frame.len()).context("frame over 4 GiB")?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&time_offset.to_le_bytes())?;
        self.out.write_all(frame)?;
        Ok(())
    }

    /// Flushes the file.
    ///
    /// # Errors
    /// An I/O error.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// One host's frames, read into memory.
#[derive(Debug, Default)]
pub struct HostFrames {
    bytes: Vec<u8>,
    /// (start, length, time offset) of each frame in `bytes`; frame `i` has seq `i + 1`.
    index: Vec<(usize, usize, u32)>,
}

impl HostFrames {
    /// Reads host `k`'s frames file.
    ///
    /// # Errors
    /// An I/O error or a truncated file.
    pub fn read(dir: &Path, host: usize) -> Result<Self> {
        let path = frames_path(dir, host);
        let mut bytes = Vec::new();
        File::open(&path)
            .with_context(|| format!("opening {}", path.display()))?
            .read_to_end(&mut bytes)?;
        let mut index = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let head = bytes
                .get(at..at + 8)
                .with_context(|| format!("{}: truncated at byte {at}", path.display()))?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let time = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let start = at + 8;
            if start + len > bytes.len() {
                bail!("{}: frame at byte {at} runs past the end", path.display());
            }
            index.push((start, len, time));
            at = start + len;
        }
        Ok(Self { bytes, index })
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Frame `i` (seq `i + 1`) with `time` written over its placeholder.
    pub fn stamped(&self, i: usize, time: &str) -> Option<Vec<u8>> {
        let &(start, len, time_offset) = self.index.get(i)?;
        let mut frame = self.bytes[start..start + len].to_vec();
        if time_offset != NO_TIME && time.len() == TIME_PLACEHOLDER.len() {
            let at = time_offset as usize;
            frame[at..at + time.len()].copy_from_slice(time.as_bytes());
        }
        Some(frame)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
