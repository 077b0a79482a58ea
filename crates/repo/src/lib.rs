//! The atproto repository core: everything needed to check that a repository change is
//! what it claims to be, with no IO and no async runtime.
//!
//! Modules are added by their issue; see `docs/architecture.md` for the map.
#![deny(missing_docs)]
