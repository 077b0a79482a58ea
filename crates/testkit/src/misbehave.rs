//! The ways a [`crate::FakePds`] can be told to break the protocol.

/// One misbehaviour. Queue it with [`crate::FakePds::misbehave`]; each applies once, to the
/// event named in its description, and the PDS then goes back to behaving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misbehavior {
    /// The next `#commit` is signed with a freshly generated key of the same curve instead of
    /// the account's key (proof valid, signature not).
    BadSignature,
    /// The next `#commit` carries a `prevData` that is not the previous MST root (inversion
    /// does not reproduce it).
    WrongPrevData,
    /// The next `#commit` has a rev one second below the account's previous rev (correctly
    /// signed and proven).
    RevBackwards,
    /// The next `#commit` has a rev one hour in the future (correctly signed and proven).
    FutureRev,
    /// The next `#commit` carries an extra block so that `blocks` is over 2,000,000 bytes.
    OversizedBlocks,
    /// The next event of any kind is replaced by bytes that are not a frame (its `seq` is
    /// used up).
    GarbageFrame,
    /// Before the next `#commit`, the account's DID document is changed to name this
    /// endpoint as its PDS, so the commit comes from a host the document does not name. The
    /// document stays that way until [`crate::FakePds::publish_document`] restores it.
    WrongHost {
        /// The PDS endpoint the document names instead, e.g. `http://127.0.0.1:1`.
        endpoint: String,
    },
    /// The next `#commit` is written as a PDS from before sync 1.1 writes it: no `prevData`
    /// and no `prev` on its ops (correctly signed; its blocks still hold the new tree).
    LegacyCommit,
    /// Applies at once: the event history is forgotten and `seq` restarts at 1, as when a PDS
    /// is wiped and reinstalled under the same hostname. Live subscribers stay connected and
    /// see `seq` go down.
    SequenceReset,
}

impl Misbehavior {
    /// True for the kinds that change the next `#commit` (all but garbage and reset).
    pub(crate) fn affects_commit(&self) -> bool {
        !matches!(self, Misbehavior::GarbageFrame | Misbehavior::SequenceReset)
    }
}
