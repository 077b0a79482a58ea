//! Fuzzes the CAR v1 reader with arbitrary bytes. Beyond "never panics": the whole-file reader
//! and the streaming reader agree (same roots, same blocks in the same order, an error exactly
//! when the streaming reader meets one), and an accepted file re-written with `write_car` reads
//! back to the same roots and blocks.
#![no_main]

use atrelay_repo::car::{write_car, Car, CarReader, FIREHOSE_BLOCKS_LIMIT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = Car::read(data, FIREHOSE_BLOCKS_LIMIT);
    let streamed = CarReader::new(data, FIREHOSE_BLOCKS_LIMIT).and_then(|mut reader| {
        let roots = reader.roots().to_vec();
        let blocks = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
        Ok((roots, blocks))
    });
    match (&whole, &streamed) {
        (Ok(car), Ok((roots, blocks))) => {
            assert_eq!(car.roots(), roots.as_slice(), "roots differ");
            assert_eq!(car.root(), roots[0], "root is not the first root");
            // `Car` keeps the first copy of a repeated block; the stream yields every copy.
            let mut first_copies = Vec::new();
            for block in blocks {
                if !first_copies
                    .iter()
                    .any(|b: &atrelay_repo::car::Block| b.cid == block.cid)
                {
                    first_copies.push(*block);
                }
            }
            let kept: Vec<_> = car.blocks().collect();
            assert_eq!(kept, first_copies, "blocks differ");
            for block in &kept {
                assert_eq!(car.get(&block.cid), Some(block.data));
            }
            let rewritten = write_car(roots, kept.iter().map(|b| (b.cid, b.data)));
            let again = Car::read(&rewritten, usize::MAX).expect("a re-written CAR reads back");
            assert_eq!(again.roots(), car.roots());
            assert_eq!(again.blocks().collect::<Vec<_>>(), kept);
        }
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("streaming reader failed where the whole reader did not: {e}"),
        (Err(e), Ok(_)) => panic!("whole reader failed where the streaming one did not: {e}"),
    }
});
