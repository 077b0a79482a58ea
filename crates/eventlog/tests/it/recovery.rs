//! Opening a log after a crash: torn tails, bad checksums, damaged or missing indexes.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use atrelay_eventlog::{Config, Error, EventLog};

use crate::util::{append_n, read_n, runtime, segment_files, seqs, small_config};

/// Writes `n` events of `len` bytes into a fresh log with `config` and closes it.
fn write_log(config: &Config, n: usize, len: usize) {
    runtime().block_on(async {
        let log = EventLog::open(config.clone()).unwrap();
        append_n(&log, "did:plc:a", n, len).await;
        log.close().unwrap();
    });
}

/// Reopens the log and returns all seqs, then appends one event and returns its seq too.
fn reopen_and_read(config: &Config) -> (Vec<i64>, i64) {
    runtime().block_on(async {
        let log = EventLog::open(config.clone()).unwrap();
        let newest = log.newest_seq();
        let mut reader = log.reader(Some(0)).unwrap();
        let all = seqs(&read_n(&mut reader, newest as usize).await);
        let next = append_n(&log, "did:plc:a", 1, 10).await[0];
        (all, next)
    })
}

fn one_segment_config(dir: &Path) -> Config {
    let mut config = small_config(dir);
    config.segment_bytes = 1 << 20;
    config
}

fn last_segment(dir: &Path) -> PathBuf {
    segment_files(dir).pop().unwrap()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_torn_last_record_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_segment_config(dir.path());
    write_log(&config, 20, 100);
    let path = last_segment(dir.path());
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(file_len(&path) - 5).unwrap();
    let (all, next) = reopen_and_read(&config);
    assert_eq!(all, (1..=19).collect::<Vec<i64>>());
    assert_eq!(next, 20);
}

#[test]
fn garbage_and_zero_filled_tails_are_truncated() {
    for tail in [
        vec![0u8; 4096],
        b"\x30\x00\x00\x00garbage that is not a record".to_vec(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = one_segment_config(dir.path());
        write_log(&config, 20, 100);
        let path = last_segment(dir.path());
        let len = file_len(&path);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        let (all, next) = reopen_and_read(&config);
        assert_eq!(all, (1..=20).collect::<Vec<i64>>());
        assert_eq!(next, 21);
        assert!(
            file_len(&path) > len,
            "the new event was appended after the cut"
        );
    }
}

#[test]
fn a_bad_checksum_in_the_last_record_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_segment_config(dir.path());
    write_log(&config, 20, 100);
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (all, next) = reopen_and_read(&config);
    assert_eq!(all, (1..=19).collect::<Vec<i64>>());
    assert_eq!(next, 20);
}

#[test]
fn missing_or_damaged_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    write_log(&config, 100, 500);
    let mut indexes: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    indexes.sort();
    assert!(indexes.len() >= 2);
    std::fs::remove_file(&indexes[0]).unwrap();
    let mut damaged = std::fs::read(&indexes[1]).unwrap();
    damaged[20] ^= 1;
    std::fs::write(&indexes[1], damaged).unwrap();
    std::fs::write(dir.path().join("00000000000000000001.idx.tmp"), b"leftover").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"an operator's file").unwrap();

    let (all, next) = reopen_and_read(&config);
    assert_eq!(all, (1..=100).collect::<Vec<i64>>());
    assert_eq!(next, 101);
    assert!(indexes[0].exists() && indexes[1].exists());
    assert!(!dir.path().join("00000000000000000001.idx.tmp").exists());
    assert!(dir.path().join("notes.txt").exists());
}

#[test]
fn a_corrupt_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    write_log(&config, 100, 500);
    let first = segment_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&first, bytes).unwrap();
    std::fs::remove_file(first.with_extension("idx")).unwrap();
    match EventLog::open(config) {
        Err(Error::Corruption { path, offset, .. }) => {
            assert_eq!(path, first);
            assert_eq!(offset, 16, "the first record holds byte 100");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_segment_cut_short_while_being_created_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    write_log(&config, 10, 100);
    // A crash between creating the next segment file and writing its header.
    std::fs::write(dir.path().join("00000000000000000011.log"), b"atr").unwrap();
    let (all, next) = reopen_and_read(&config);
    assert_eq!(all, (1..=10).collect::<Vec<i64>>());
    assert_eq!(next, 11);
}

#[test]
fn a_bad_segment_header_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    write_log(&config, 10, 100);
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = b'X';
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        EventLog::open(config),
        Err(Error::Corruption { offset: 0, .. })
    ));
}

#[test]
fn origins_survive_a_reopen_and_the_recovery_reader_sees_taken_down_dids() {
    use atrelay_eventlog::Origin;
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(dir.path());
    runtime().block_on(async {
        let log = EventLog::open(config.clone()).unwrap();
        let mut tickets = Vec::new();
        for i in 0..300i64 {
            let did = if i % 3 == 0 {
                "did:plc:hidden"
            } else {
                "did:plc:shown"
            };
            let origin = (i % 2 == 0).then(|| Origin {
                source: i % 5,
                source_seq: 1000 + i,
                note: bytes::Bytes::from(format!("note {i}")),
            });
            tickets.push(
                log.append_from(did, 1, origin, std::time::SystemTime::now(), |seq| {
                    crate::util::body(seq, 40)
                })
                .unwrap(),
            );
        }
        for ticket in tickets {
            ticket.durable().await.unwrap();
        }
        log.take_down("did:plc:hidden").unwrap();
        log.close().unwrap();
    });
    runtime().block_on(async {
        let log = EventLog::open(config.clone()).unwrap();
        // Consumers do not see the taken-down DID; recovery does, origins intact.
        let mut consumer = log.reader(Some(0)).unwrap();
        let shown = read_n(&mut consumer, 200).await;
        assert!(shown.iter().all(|e| e.did() == "did:plc:shown"));
        let mut recovery = log.recovery_reader(0).unwrap();
        let all = read_n(&mut recovery, 300).await;
        for (i, event) in all.iter().enumerate() {
            let i = i as i64;
            assert_eq!(event.seq(), i + 1);
            let expected = (i % 2 == 0).then(|| Origin {
                source: i % 5,
                source_seq: 1000 + i,
                note: bytes::Bytes::from(format!("note {i}")),
            });
            assert_eq!(event.origin(), expected.as_ref(), "seq {}", event.seq());
            crate::util::check_body(event);
        }
    });
}
