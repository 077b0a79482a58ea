//! The PDS's sequenced event list: giving each event its `seq` and sending it to subscribers,
//! scripted raw frames, sequence resets and trimming, and the subscribers themselves.

use atrelay_stream::{encode_frame, Message};
use bytes::Bytes;

use super::{FakePds, PdsState, StoredEvent};
use crate::directory::lock;
use crate::misbehave::Misbehavior;

impl FakePds {
    /// Appends `frame` to the log verbatim under `seq` and sends it to live subscribers, as a
    /// scripted upstream: the bytes are not checked, and `seq` may repeat or go back (later
    /// generated events still number after the highest `seq` so far). A subscriber's cursor
    /// selects the logged frames whose `seq` is above it, in log order.
    pub fn emit_raw(&self, seq: i64, frame: Bytes) {
        let mut state = lock(&self.shared.state);
        state.next_seq = state.next_seq.max(seq.saturating_add(1));
        let event = StoredEvent { seq, frame };
        state.log.push(event.clone());
        // No receivers is fine: nobody is subscribed live.
        let _ = self.shared.live.send(event);
    }

    /// Queues a misbehaviour (see [`Misbehavior`] for when each applies).
    pub fn misbehave(&self, misbehavior: Misbehavior) {
        let mut state = lock(&self.shared.state);
        if misbehavior == Misbehavior::SequenceReset {
            state.log.clear();
            state.next_seq = 1;
            state.trimmed_through = 0;
        } else {
            state.pending.push(misbehavior);
        }
    }

    /// Drops all but the newest `keep` events from the log, like a PDS whose backfill window
    /// has passed. A subscriber whose cursor is older than what is left gets `#info
    /// OutdatedCursor`, then everything retained.
    pub fn trim_log(&self, keep: usize) {
        let mut state = lock(&self.shared.state);
        let drop = state.log.len().saturating_sub(keep);
        if let Some(last) = state.log.drain(..drop).last() {
            state.trimmed_through = last.seq;
        }
    }

    /// The retained events, oldest first.
    pub fn events(&self) -> Vec<StoredEvent> {
        lock(&self.shared.state).log.clone()
    }

    /// The last `seq` handed out (0 before the first event or right after a reset).
    pub fn head_seq(&self) -> i64 {
        lock(&self.shared.state).head_seq()
    }

    /// Disconnects every current `subscribeRepos` subscriber (they may reconnect).
    pub fn disconnect_subscribers(&self) {
        self.shared.kick.send_modify(|n| *n += 1);
    }

    /// Number of live `subscribeRepos` subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.shared.live.receiver_count()
    }

    /// Gives `message` the next `seq`, appends it to the log and sends it to subscribers.
    pub(super) fn emit(&self, state: &mut PdsState, mut message: Message) {
        let seq = state.next_seq;
        state.next_seq += 1;
        message.set_seq(seq);
        let garbage = state
            .pending
            .iter()
            .position(|m| *m == Misbehavior::GarbageFrame)
            .map(|idx| state.pending.remove(idx))
            .is_some();
        let frame = if garbage {
            garbage_frame()
        } else {
            encode_frame(&message)
        };
        let event = StoredEvent { seq, frame };
        state.log.push(event.clone());
        // No receivers is fine: nobody is subscribed live.
        let _ = self.shared.live.send(event);
    }
}

/// Bytes that are not a frame: a CBOR "break" code (never valid at the top level), then
/// random bytes.
fn garbage_frame() -> Bytes {
    let mut bytes = vec![0xff];
    bytes.extend_from_slice(&rand::random::<[u8; 31]>());
    Bytes::from(bytes)
}
