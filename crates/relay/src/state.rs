//! The state every handler shares.

use atrelay_store::Store;

/// Handles to the relay's parts, passed to every handler. Cloning is cheap: each part is a
/// reference-counted handle.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Hosts, accounts, bans and settings.
    pub store: Store,
}

impl AppState {
    /// Wraps the relay's parts for the handlers.
    pub fn new(store: Store) -> Self {
        AppState { store }
    }
}
