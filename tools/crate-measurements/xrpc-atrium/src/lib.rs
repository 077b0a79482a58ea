//! Re-exports the atrium-api 0.26.0 com.atproto.sync output types used by the relay's bodies,
//! so a clean build of this crate measures what adopting them costs.
pub use atrium_api::com::atproto::sync::{
    defs, get_host_status, get_latest_commit, get_repo_status, list_hosts, list_repos,
    list_repos_by_collection,
};
pub use atrium_api::types::string::{Cid, Did, Tid};

/// Something that forces the types to be monomorphised and serialised in this crate.
pub fn body(out: &list_repos::Output) -> Vec<u8> {
    serde_json::to_vec(out).unwrap()
}
