//! The repository crate against the outside world's vectors: the atproto interop fixtures (data
//! model, syntax, crypto, MST, commit proofs), real firehose commits, the mst-test-suite, CAR
//! exports, and property tests of the sync-1.1 inversion. One module per source of truth.

mod car;
mod commit_proof;
mod crypto_fixtures;
mod data_model;
mod firehose_commits;
mod mst;
mod mst_test_suite;
mod proptest_inversion;
mod signature_backends;
mod syntax_fixtures;
