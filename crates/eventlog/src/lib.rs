//! The relay's outbound event log: every accepted event gets the next relay-wide sequence
//! number, is stored in append-only segment files, and is served to consumers by replay from
//! a cursor followed by the live feed.
//!
//! Principal types and how they relate:
//!
//! - [`EventLog`] is the open log ([`Config`] says where and how). [`EventLog::append`]
//!   assigns the seq, lets the caller encode its frame with it, and returns a [`Ticket`].
//! - [`Ticket::durable`] resolves once the event is durable per the [`Durability`] policy.
//!   Only durable events are visible to readers, and a relay advances an upstream cursor only
//!   past durable events, so a restart neither loses nor duplicates an event.
//! - [`EventLog::reader`] gives a [`Reader`] that yields [`Event`]s with seq strictly greater
//!   than a cursor, from the files and then live, without gap or duplicate. Its [`Start`]
//!   says whether the cursor was outdated; a cursor ahead of the log is
//!   [`Error::FutureCursor`].
//! - [`EventLog::take_down`] / [`EventLog::restore`] stop and resume serving one DID's
//!   events, past and live (indigo keeps serving the past ones; we do not).
//! - Retention ([`Config::retention_age`], [`Config::retention_bytes`]) drops whole segments;
//!   [`EventLog::prune`] runs it on demand and reports a [`PruneReport`].
//!
//! This crate knows nothing of SQL, of the wire format of the frames it stores (they are
//! opaque bytes with a DID and a kind byte beside them), or of networking.
//!
//! # Example
//!
//! ```
//! # async fn example() -> Result<(), atrelay_eventlog::Error> {
//! use atrelay_eventlog::{Config, EventLog, Start};
//! use bytes::Bytes;
//!
//! let dir = std::env::temp_dir().join(format!("eventlog-doc-{}", std::process::id()));
//! let log = EventLog::open(Config::new(&dir))?;
//! let ticket = log.append("did:plc:ewvi7nxzyoun6zhxrhs64oiz", 1, |seq| Bytes::from(format!("frame {seq}")))?;
//! let seq = ticket.durable().await?;
//!
//! let mut reader = log.reader(Some(seq - 1))?;
//! assert_eq!(reader.start(), Start::Cursor { cursor: seq - 1 });
//! let event = reader.next().await?;
//! assert_eq!(event.seq(), seq);
//! assert_eq!(&event.body()[..], format!("frame {seq}").as_bytes());
//! log.close()?;
//! # drop(log);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(example()).unwrap();
//! ```
//!
//! # Design
//!
//! **Files.** The log directory holds segments `<first seq, 20 digits>.log`, an index
//! `<first seq>.idx` beside each sealed segment, the `takedowns` list and a `LOCK` file
//! (an exclusive `flock` while open). Zero-padded names make lexical order numeric order.
//! The byte layouts are documented in the `format` module: each record is framed with its
//! length and a CRC-32 that also covers the segment's first seq.
//!
//! **Sequence numbers.** Seqs are i64, strictly increasing, never reused. On open the next
//! seq is one past the newest record on disk, or the first seq in the newest segment's name
//! if it is empty (so retention never makes numbers go back), and at least
//! [`Config::seq_floor`]. Seqs that were assigned but never became durable before a crash
//! may be handed out again: nobody saw them, because only durable events are served.
//!
//! **Writing.** Appends from any number of threads or tasks go into one queue (the seq is
//! assigned and the frame encoded under its lock, so queue order is seq order). One writer
//! thread takes everything queued, writes it with one `write` call, and `fdatasync`s when
//! [`Durability::Fsync`]'s `max_events` or `max_delay` is reached; then it publishes the
//! durable head (a `watch` for async waiters and readers, a condvar for blocking waiters) and
//! broadcasts the events to live readers. A segment that would grow past
//! [`Config::segment_bytes`] is sealed: fsynced, its index written to `.idx` (atomically,
//! via rename), and a new segment created and its directory entry fsynced. A failed write or
//! fsync is not retried: the log stops taking appends ([`Error::Failed`]) and the relay
//! should shut down and reopen it (after an fsync error the page cache state is unknown).
//!
//! **Index and seek.** Each segment has a sparse index: one (seq, offset) entry every
//! [`Config::index_interval_bytes`] of records, plus its last record. The active segment's
//! index is kept in memory; a sealed segment's is read from its `.idx` file when a reader
//! seeks into it. A seek is a binary search over segments by first seq, a binary search of
//! that segment's index, then a scan of at most one index interval.
//!
//! **Recovery.** Only the newest segment can end in a torn write, because a segment is
//! fsynced whole before the next is created. On open, sealed segments are checked through
//! their index (the last entry must be the last record and end the file) and rescanned only
//! if the index is missing or damaged; the newest segment is scanned record by record and
//! cut at the first record whose length or CRC does not check out (a power cut mid-write, a
//! zero-filled tail). A sealed segment that does not verify is [`Error::Corruption`]: that
//! is not a crash artefact, and an operator has to look.
//!
//! **Readers.** See [`Reader`]: replay reads the files in batches on tokio's blocking pool
//! (never beyond the durable head), then the reader follows the broadcast, and falls back
//! to the files if it lags, so the relay's own slow-consumer policy decides when to drop a
//! consumer. Retention may delete a segment a reader is on: the reader finishes the file it
//! has open and gets [`Error::FellBehind`] if the segment after it is gone.
//!
//! **Takedowns** are a set of DIDs persisted in `takedowns` (rewritten atomically); readers
//! skip those DIDs' records, past and live, and [`EventLog::restore`] makes them visible
//! again because nothing is erased from the segments.
//!
//! **Retention.** The writer thread deletes whole sealed segments, oldest first, when their
//! newest event is older than [`Config::retention_age`] (default 72 h, as indigo) or the log
//! exceeds [`Config::retention_bytes`] (indigo has no size limit). The active segment is
//! never deleted.
#![deny(missing_docs)]

mod config;
mod error;
mod event;
mod format;
#[cfg(any(test, feature = "failpoints"))]
mod fsync_fault;
mod lock;
mod log;
mod reader;
mod recover;
mod retention;
mod segment;
mod shared;
mod takedown;
mod writer;

pub use config::{Config, Durability};
pub use error::Error;
pub use event::{Event, Origin};
pub use format::{MAX_DID_BYTES, MAX_EVENT_BYTES, MAX_NOTE_BYTES};
#[cfg(any(test, feature = "failpoints"))]
pub use fsync_fault::FAIL_FSYNC_WHILE_EXISTS_ENV;
pub use log::{EventLog, LogHealth, LogStats, Ticket};
pub use reader::{Reader, Start};
pub use retention::PruneReport;
