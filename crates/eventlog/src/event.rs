//! The event as the log stores and returns it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// One event: its seq, the metadata the log keeps, and the caller's encoded frame.
/// Cloning is cheap (the DID and body are shared `Bytes`), so one event read from disk or
/// appended live is handed to every reader without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Relay sequence number.
    pub(crate) seq: i64,
    /// Append time (or receive time, for [`EventLog::append_from`](crate::EventLog::append_from)),
    /// microseconds since the Unix epoch.
    pub(crate) time_us: i64,
    /// The caller's kind byte.
    pub(crate) kind: u8,
    /// Where the event came from, when the caller said.
    pub(crate) origin: Option<Origin>,
    /// The DID, UTF-8 (checked on append and on read).
    pub(crate) did: Bytes,
    /// The encoded frame.
    pub(crate) body: Bytes,
}

impl Event {
    /// The relay-wide sequence number.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// The kind byte given to [`EventLog::append`](crate::EventLog::append).
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// Where the event came from, as given to
    /// [`EventLog::append_from`](crate::EventLog::append_from).
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// When the event was appended, or for an event appended with
    /// [`EventLog::append_from`](crate::EventLog::append_from), when it was received.
    pub fn time(&self) -> SystemTime {
        match u64::try_from(self.time_us) {
            Ok(us) => UNIX_EPOCH + Duration::from_micros(us),
            Err(_) => UNIX_EPOCH,
        }
    }

    /// [`Event::time`] in microseconds since the Unix epoch.
    pub fn time_us(&self) -> i64 {
        self.time_us
    }

    /// The account the event is about.
    pub fn did(&self) -> &str {
        std::str::from_utf8(&self.did).unwrap_or_default()
    }

    /// The encoded frame, as given to `append`.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The encoded frame, consuming the event.
    pub fn into_body(self) -> Bytes {
        self.body
    }
}

/// Where an event came from: a source (for a relay, the upstream host's id), the event's
/// position in that source's own stream, and a short opaque note (for a relay, the state the
/// event leaves behind). Stored with the event, so after a crash the caller can tell from the
/// log alone how far each source got and redo what it had not finished.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The source's id, chosen by the caller.
    pub source: i64,
    /// The event's sequence number in the source's stream.
    pub source_seq: i64,
    /// The caller's note, at most [`crate::MAX_NOTE_BYTES`].
    pub note: Bytes,
}

/// Microseconds since the Unix epoch for `time` (0 before the epoch, saturating far after).
pub(crate) fn unix_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
