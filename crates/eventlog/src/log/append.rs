//! The append path: [`EventLog::append`] hands out the next seq and queues the event for the
//! writer, and the [`Ticket`] it returns tells when the event is durable.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::EventLog;
use crate::error::Error;
use crate::event::{unix_micros, Event, Origin};
use crate::format::{MAX_EVENT_BYTES, MAX_NOTE_BYTES};
use crate::lock::lock;
use crate::shared::{QueueState, Shared};
use crate::takedown::check_did;

/// A pending append: its seq is assigned, and [`Ticket::durable`] tells when it is safe.
#[derive(Debug, Clone)]
#[must_use = "an append is only safe once its ticket reports it durable"]
pub struct Ticket {
    /// The event's seq.
    seq: i64,
    /// Where durability is published.
    shared: Arc<Shared>,
}

impl EventLog {
    /// Appends an event. The log assigns the next seq and calls `encode` with it (under
    /// the append lock, so keep it to encoding); the returned bytes are stored as the event
    /// body. Returns at once; the [`Ticket`] reports when the event is durable, which is
    /// also when readers see it.
    ///
    /// The queue in front of the writer is not bounded here: callers bound their appends in
    /// flight by awaiting tickets (an ingest task per host does, to advance its cursor), and
    /// [`LogStats::pending`](super::LogStats::pending) shows how many events wait.
    ///
    /// # Errors
    /// [`Error::InvalidDid`], [`Error::EventTooLarge`] (the seq is not used), or
    /// [`Error::Closed`] / [`Error::Failed`] when the log no longer takes appends.
    pub fn append(
        &self,
        did: &str,
        kind: u8,
        encode: impl FnOnce(i64) -> Bytes,
    ) -> Result<Ticket, Error> {
        self.push(did, kind, None, SystemTime::now(), None, encode)
    }

    /// [`EventLog::append`] for an event that came from a source: its [`Origin`] is stored
    /// beside it, so that after a crash [`EventLog::recovery_reader`] tells how far each
    /// source got in the log, and its time is `received`, when the relay read it from the
    /// source (never later than now), so that a reader's `now - event.time()` is the
    /// source-to-reader latency.
    ///
    /// # Errors
    /// As [`EventLog::append`], and [`Error::NoteTooLarge`].
    pub fn append_from(
        &self,
        did: &str,
        kind: u8,
        origin: Option<Origin>,
        received: SystemTime,
        encode: impl FnOnce(i64) -> Bytes,
    ) -> Result<Ticket, Error> {
        self.push(
            did,
            kind,
            origin,
            received.min(SystemTime::now()),
            None,
            encode,
        )
    }

    /// Appends an event that already has its seq, for a log that mirrors another one (a
    /// splitter keeps its upstream relay's numbering): `seq` must be above every seq the log
    /// holds or has queued, and may leave a gap. `body` is stored as given; its time is
    /// `received`, as for [`EventLog::append_from`].
    ///
    /// # Errors
    /// [`Error::SeqNotAfter`] when `seq` is not above the newest seq (nothing is stored), and
    /// as [`EventLog::append`].
    pub fn append_with_seq(
        &self,
        seq: i64,
        did: &str,
        kind: u8,
        received: SystemTime,
        body: Bytes,
    ) -> Result<Ticket, Error> {
        self.push(
            did,
            kind,
            None,
            received.min(SystemTime::now()),
            Some(seq),
            |_| body,
        )
    }

    fn push(
        &self,
        did: &str,
        kind: u8,
        origin: Option<Origin>,
        time: SystemTime,
        given_seq: Option<i64>,
        encode: impl FnOnce(i64) -> Bytes,
    ) -> Result<Ticket, Error> {
        check_did(did)?;
        if let Some(origin) = &origin {
            if origin.note.len() > MAX_NOTE_BYTES {
                return Err(Error::NoteTooLarge {
                    len: origin.note.len(),
                    max: MAX_NOTE_BYTES,
                });
            }
        }
        let did = Bytes::copy_from_slice(did.as_bytes());
        let mut queue = lock(&self.shared.queue);
        match &queue.state {
            QueueState::Open => {}
            QueueState::Closing => return Err(Error::Closed),
            QueueState::Failed(reason) => {
                return Err(Error::Failed {
                    reason: reason.clone(),
                })
            }
        }
        let seq = match given_seq {
            None => queue.next_seq,
            Some(seq) if seq >= queue.next_seq => seq,
            Some(seq) => {
                return Err(Error::SeqNotAfter {
                    seq,
                    newest: queue.next_seq - 1,
                })
            }
        };
        let body = encode(seq);
        if body.len() > MAX_EVENT_BYTES {
            return Err(Error::EventTooLarge {
                len: body.len(),
                max: MAX_EVENT_BYTES,
            });
        }
        queue.next_seq = seq + 1;
        let time_us = unix_micros(time);
        queue.pending.push(Event {
            seq,
            time_us,
            kind,
            origin,
            did,
            body,
        });
        if queue.pending.len() == 1 {
            self.shared.queue_changed.notify_one();
        }
        Ok(Ticket {
            seq,
            shared: self.shared.clone(),
        })
    }

    /// Waits (blocking) until every event appended so far is durable, and returns the
    /// newest durable seq.
    ///
    /// # Errors
    /// [`Error::Failed`] if the writer failed first, [`Error::Closed`] if it was closed.
    pub fn flush(&self) -> Result<i64, Error> {
        let last = lock(&self.shared.queue).next_seq - 1;
        Ticket {
            seq: last,
            shared: self.shared.clone(),
        }
        .wait()
    }
}

impl Ticket {
    /// The seq assigned to the event.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Waits until the event is durable and returns its seq.
    ///
    /// # Errors
    /// [`Error::Failed`] if the writer failed before making it durable.
    pub async fn durable(&self) -> Result<i64, Error> {
        let mut rx = self.shared.head.subscribe();
        let seq = self.seq;
        let head = rx
            .wait_for(|head| head.durable >= seq || head.failed.is_some() || head.closed)
            .await
            .map_err(|_| Error::Closed)?
            .clone();
        if head.durable >= seq {
            Ok(seq)
        } else {
            Err(Shared::stopped_error(&head))
        }
    }

    /// Blocks the thread until the event is durable; for code outside an async runtime.
    ///
    /// # Errors
    /// [`Error::Failed`] if the writer failed before making it durable.
    pub fn wait(&self) -> Result<i64, Error> {
        let mut head = lock(&self.shared.head_sync);
        loop {
            if head.durable >= self.seq {
                return Ok(self.seq);
            }
            if head.failed.is_some() || head.closed {
                return Err(Shared::stopped_error(&head));
            }
            head = self
                .shared
                .head_changed
                .wait(head)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether the event is durable already.
    pub fn is_durable(&self) -> bool {
        self.shared.newest_seq() >= self.seq
    }
}
