//! Integration tests of the load generator: what it writes and serves is valid sync-1.1
//! traffic a strict consumer accepts.

mod served_load;
