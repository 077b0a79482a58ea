//! Content identifiers as atproto uses them: CIDv1 with a sha-256 multihash and either the
//! dag-cbor codec (commits, MST nodes, records) or the raw codec (blobs).

use sha2::{Digest, Sha256};

pub use ipld_core::cid::Cid;

/// Multicodec code of DAG-CBOR, used for commits, MST nodes and records.
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec code of raw bytes, used for blobs.
pub const RAW: u64 = 0x55;
/// Multihash code of sha2-256, the only hash atproto uses.
pub const SHA2_256: u64 = 0x12;

/// Why a CID does not fit atproto's rules or does not match its block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidError {
    /// The CID is not version 1.
    #[error("CID {0} is not version 1")]
    NotV1(Cid),
    /// The codec is neither dag-cbor nor raw.
    #[error("CID {cid} has codec {codec:#x}, expected dag-cbor (0x71) or raw (0x55)")]
    UnsupportedCodec {
        /// The offending CID.
        cid: Cid,
        /// Its codec.
        codec: u64,
    },
    /// The multihash is not a 32-byte sha2-256 digest.
    #[error("CID {cid} uses hash {code:#x} of {size} bytes, expected sha2-256 (0x12) of 32 bytes")]
    UnsupportedHash {
        /// The offending CID.
        cid: Cid,
        /// Its multihash code.
        code: u64,
        /// Its digest size.
        size: u8,
    },
    /// The block's bytes do not hash to the CID.
    #[error("block bytes do not hash to CID {0}")]
    HashMismatch(Cid),
}

/// Returns the dag-cbor CID of `bytes` (CIDv1, sha2-256).
pub fn cid_for_dag_cbor(bytes: &[u8]) -> Cid {
    cid_with_codec(DAG_CBOR, bytes)
}

/// Returns the raw CID of `bytes` (CIDv1, sha2-256), as used for blobs.
pub fn cid_for_raw(bytes: &[u8]) -> Cid {
    cid_with_codec(RAW, bytes)
}

fn cid_with_codec(codec: u64, bytes: &[u8]) -> Cid {
    let digest = Sha256::digest(bytes);
    let hash = ipld_core::cid::multihash::Multihash::<64>::wrap(SHA2_256, &digest)
        .expect("a 32-byte digest always fits a 64-byte multihash");
    Cid::new_v1(codec, hash)
}

/// Checks that `cid` is a CID atproto allows: version 1, dag-cbor or raw, sha2-256.
pub fn check_cid_form(cid: &Cid) -> Result<(), CidError> {
    if cid.version() != ipld_core::cid::Version::V1 {
        return Err(CidError::NotV1(*cid));
    }
    if cid.codec() != DAG_CBOR && cid.codec() != RAW {
        return Err(CidError::UnsupportedCodec {
            cid: *cid,
            codec: cid.codec(),
        });
    }
    let hash = cid.hash();
    if hash.code() != SHA2_256 || hash.size() != 32 {
        return Err(CidError::UnsupportedHash {
            cid: *cid,
            code: hash.code(),
            size: hash.size(),
        });
    }
    Ok(())
}

/// Checks that `bytes` is the block `cid` names: the CID has an allowed form and the sha-256
/// of the bytes equals its digest.
pub fn verify_block(cid: &Cid, bytes: &[u8]) -> Result<(), CidError> {
    check_cid_form(cid)?;
    let digest = Sha256::digest(bytes);
    if cid.hash().digest() != &digest[..] {
        return Err(CidError::HashMismatch(*cid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_cid_verifies_and_a_changed_byte_does_not() {
        let block = b"\xa1\x61a\x01";
        let cid = cid_for_dag_cbor(block);
        assert_eq!(verify_block(&cid, block), Ok(()));
        assert_eq!(
            verify_block(&cid, b"\xa1\x61a\x02"),
            Err(CidError::HashMismatch(cid))
        );
        assert!(cid.to_string().starts_with("bafyrei"));
        assert!(cid_for_raw(block).to_string().starts_with("bafkrei"));
    }
}
