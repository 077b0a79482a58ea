//! How to start a [`FakePds`](super::FakePds) ([`PdsOptions`]) and create an account on it
//! ([`AccountOptions`], [`KeyCurve`]).

use atrelay_repo::crypto::SigningKey;

/// Default capacity of the live broadcast; a subscriber further behind gets `ConsumerTooSlow`.
pub const DEFAULT_LIVE_CAPACITY: usize = 1 << 16;

/// Which curve an account's signing key uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyCurve {
    /// secp256k1 (what most PDSes use).
    #[default]
    K256,
    /// NIST P-256.
    P256,
}

impl KeyCurve {
    /// A fresh key on this curve.
    pub fn generate(self) -> SigningKey {
        match self {
            KeyCurve::K256 => SigningKey::generate_k256(),
            KeyCurve::P256 => SigningKey::generate_p256(),
        }
    }

    pub(super) fn of(key: &SigningKey) -> Self {
        match key.curve() {
            atrelay_repo::crypto::Curve::K256 => KeyCurve::K256,
            atrelay_repo::crypto::Curve::P256 => KeyCurve::P256,
        }
    }
}

/// How to create an account.
#[derive(Debug, Clone, Default)]
pub struct AccountOptions {
    /// The handle; default `user<N>.pds<port>.test`.
    pub handle: Option<String>,
    /// The signing key's curve.
    pub curve: KeyCurve,
    /// Use `did:web:localhost%3A<port>` served by this PDS instead of a did:plc in the
    /// directory (at most one per PDS).
    pub did_web: bool,
}

/// How to start a [`FakePds`](super::FakePds).
#[derive(Debug, Clone, Default)]
pub struct PdsOptions {
    /// Call the PDS `localhost:<port>` (hostname, URLs and DID documents) instead of
    /// `127.0.0.1:<port>`, for relays that refuse IP-address hostnames. It still listens on
    /// 127.0.0.1 only.
    pub localhost_name: bool,
    /// How many live events a subscriber may fall behind before it gets `ConsumerTooSlow`
    /// and is disconnected; `None` for [`DEFAULT_LIVE_CAPACITY`].
    pub live_capacity: Option<usize>,
}
