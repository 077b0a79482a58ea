//! CAR reading on real repository exports and slices: every block checked, and every
//! single-byte change either rejected or confined to the header's root list.

use std::path::PathBuf;

use atrelay_repo::car::{write_car, Car, CarError, CarReader};
use atrelay_repo::cid::CidError;

fn read(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/indigo/testing/testdata"
    ))
    .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

const CARS: [&str; 5] = [
    "greenground.repo.car",
    "paul_staging.repo.car",
    "fakermaker.repo.car",
    "divy.repo",
    "repo_slice.car",
];

#[test]
fn real_cars_parse_and_round_trip_through_the_writer() {
    for name in CARS {
        let bytes = read(name);
        let car = Car::read(&bytes, usize::MAX).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!car.is_empty(), "{name}");
        assert!(car.get(&car.root()).is_some(), "{name}: root block missing");
        let streamed = CarReader::new(&bytes, usize::MAX).unwrap().count();
        assert!(streamed >= car.len(), "{name}");
        // Writing the blocks back out gives a CAR that reads the same.
        let again = write_car(car.roots(), car.blocks().map(|b| (b.cid, b.data)));
        let reread = Car::read(&again, usize::MAX).unwrap();
        assert_eq!(reread.roots(), car.roots());
        assert_eq!(reread.len(), car.len());
        for block in car.blocks() {
            assert_eq!(reread.get(&block.cid), Some(block.data));
        }
    }
}

#[test]
fn limit_is_checked_before_parsing() {
    let bytes = read("paul_staging.repo.car");
    assert!(Car::read(&bytes, 2_000_000).is_ok());
    assert_eq!(
        Car::read(&bytes, 1000).unwrap_err(),
        CarError::TooLarge {
            len: bytes.len(),
            limit: 1000
        }
    );
}

#[test]
fn every_single_byte_change_is_caught_or_only_moves_the_root() {
    for name in ["greenground.repo.car", "repo_slice.car"] {
        let bytes = read(name);
        let original = Car::read(&bytes, usize::MAX).unwrap();
        let mut n_rejected = 0;
        for pos in 0..bytes.len() {
            for flip in [0x01u8, 0x80] {
                let mut changed = bytes.clone();
                changed[pos] ^= flip;
                match Car::read(&changed, usize::MAX) {
                    Err(_) => n_rejected += 1,
                    Ok(car) => {
                        // Only a header edit can survive: the blocks are exactly the same.
                        assert_ne!(car.roots(), original.roots(), "{name}: byte {pos}");
                        assert_eq!(car.len(), original.len(), "{name}: byte {pos}");
                        for block in original.blocks() {
                            assert_eq!(car.get(&block.cid), Some(block.data));
                        }
                    }
                }
            }
        }
        assert!(n_rejected > bytes.len(), "{name}: {n_rejected} rejections");
    }
}

#[test]
fn a_block_with_another_blocks_cid_is_a_hash_mismatch() {
    let bytes = read("greenground.repo.car");
    let car = Car::read(&bytes, usize::MAX).unwrap();
    let blocks: Vec<_> = car.blocks().collect();
    let (first, second) = (blocks[0], blocks[1]);
    let lying = write_car(car.roots(), [(first.cid, second.data)]);
    assert!(matches!(
        Car::read(&lying, usize::MAX),
        Err(CarError::BadBlock {
            source: CidError::HashMismatch(cid),
            ..
        }) if cid == first.cid
    ));
}
