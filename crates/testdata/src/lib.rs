//! Where the public test vectors vendored in `testdata/` are (see `testdata/README.md` for
//! their sources and licences), for the workspace's tests, benchmarks and fuzz seeds.
//!
//! Most sets are plain files read in place ([`path`]). The mst-test-suite (16,384 cases over
//! 128 CAR files, 66 MB) is kept as `testdata/mst-test-suite.tar.zst`; [`mst_test_suite`]
//! unpacks it once under `target/testdata/` and returns the directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The vendored `testdata/` directory at the workspace root.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// `testdata/<relative>`, for example `path("interop/syntax")`.
pub fn path(relative: &str) -> PathBuf {
    dir().join(relative)
}

/// The unpacked mst-test-suite (its `README.md`, `cars/` and `tests/`), unpacked on first use
/// into `target/testdata/mst-test-suite-<digest>`; later calls, in this process or another,
/// reuse it. A changed archive unpacks to a new directory.
///
/// # Panics
/// When the archive is missing or cannot be unpacked: the tests that need it cannot run.
pub fn mst_test_suite() -> PathBuf {
    let archive = path("mst-test-suite.tar.zst");
    let bytes = fs::read(&archive).unwrap_or_else(|e| panic!("reading {}: {e}", archive.display()));
    let digest = Sha256::digest(&bytes);
    let tag: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let unpacked = unpack_root().join(format!("mst-test-suite-{tag}"));
    if !unpacked.is_dir() {
        unpack(&bytes, &unpacked)
            .unwrap_or_else(|e| panic!("unpacking {}: {e}", archive.display()));
    }
    unpacked.join("mst-test-suite")
}

/// Where unpacked archives go: the workspace's `target/testdata` (or `$CARGO_TARGET_DIR`'s).
fn unpack_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("testdata")
}

/// Unpacks the `.tar.zst` `bytes` so that `into` appears complete or not at all: the files go
/// to a private directory first, which is then renamed. Another process that won the race
/// leaves its copy in place, and ours is dropped.
fn unpack(bytes: &[u8], into: &Path) -> io::Result<()> {
    let parent = into.parent().expect("unpack target has a parent");
    fs::create_dir_all(parent)?;
    let staging = parent.join(format!(
        ".unpacking-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("main")
            .replace(['/', ':'], "_")
    ));
    let _ = fs::remove_dir_all(&staging);
    let decoder = ruzstd::decoding::StreamingDecoder::new(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    tar::Archive::new(decoder).unpack(&staging)?;
    match fs::rename(&staging, into) {
        Ok(()) => Ok(()),
        Err(_) if into.is_dir() => {
            let _ = fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_sets_are_in_place() {
        for set in [
            "interop/syntax/did_syntax_valid.txt",
            "interop/LICENSE-CC0",
            "indigo/LICENSE-MIT",
            "indigo/LICENSE-APACHE",
            "mst-test-suite.LICENSE",
        ] {
            assert!(path(set).is_file(), "{set} missing");
        }
    }

    #[test]
    fn the_mst_test_suite_unpacks_whole_and_once() {
        let first = mst_test_suite();
        let tests = walk_count(&first.join("tests"), "json");
        let cars = walk_count(&first.join("cars"), "car");
        assert_eq!((tests, cars), (16_384, 128), "in {}", first.display());
        assert!(first.join("LICENSE").is_file());
        let modified = fs::metadata(&first).unwrap().modified().unwrap();
        assert_eq!(mst_test_suite(), first);
        assert_eq!(fs::metadata(&first).unwrap().modified().unwrap(), modified);
    }

    /// Files ending in `.extension` under `dir`, recursively.
    fn walk_count(dir: &Path, extension: &str) -> usize {
        let mut count = 0;
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                count += walk_count(&path, extension);
            } else if path.extension().is_some_and(|e| e == extension) {
                count += 1;
            }
        }
        count
    }
}
