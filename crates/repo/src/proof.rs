//! proof (being built; see lib.rs for its purpose).
