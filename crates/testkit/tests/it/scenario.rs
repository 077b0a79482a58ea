//! Scripted upstreams: indigo's scenario files load, and [`FakePds::emit_raw`] serves frames
//! verbatim, by cursor, even when `seq` repeats or goes back.

use atrelay_stream::decode_frame;
use atrelay_testkit::{FakeDirectory, FakePds, Scenario};

use crate::util::{connect, next_frame};

fn scenario_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/indigo/cmd/relay/testing/testdata"
    ))
}

#[test]
fn every_scenario_file_loads() {
    let mut files: Vec<_> = std::fs::read_dir(scenario_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 7);
    for path in files {
        let scenario = Scenario::load(&path).unwrap();
        assert!(!scenario.accounts.is_empty(), "{}", path.display());
        for account in &scenario.accounts {
            let doc = account.document("http://127.0.0.1:1");
            assert_eq!(doc["id"], account.did.as_str());
            assert_eq!(doc["service"][0]["serviceEndpoint"], "http://127.0.0.1:1");
            assert!(account.signing_key.starts_with('z'));
        }
        for message in &scenario.messages {
            let decoded = decode_frame(&message.frame).unwrap();
            assert_eq!(decoded.seq(), Some(message.seq));
            assert_eq!(decoded.type_name(), Some(message.kind.as_str()));
        }
    }
    let seq = Scenario::load(&scenario_dir().join("seq_ordering.json")).unwrap();
    assert!(seq.lenient);
    let seqs: Vec<i64> = seq.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1000, 1000, 5, 2000]);
    let drops: Vec<bool> = seq.messages.iter().map(|m| m.drop).collect();
    assert_eq!(drops, [false, true, true, false]);
}

#[tokio::test]
async fn raw_frames_are_served_verbatim_by_cursor() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let scenario = Scenario::load(&scenario_dir().join("seq_ordering.json")).unwrap();
    for message in &scenario.messages {
        pds.emit_raw(message.seq, message.frame.clone());
    }
    assert_eq!(pds.head_seq(), 2000);
    let mut ws = connect(&pds.firehose_url(), Some(0)).await;
    for message in &scenario.messages {
        assert_eq!(next_frame(&mut ws).await.unwrap(), message.frame.to_vec());
    }
    // From cursor 1000 only the frames above it are replayed, in log order.
    let mut ws = connect(&pds.firehose_url(), Some(1000)).await;
    let last = scenario.messages.last().unwrap();
    assert_eq!(next_frame(&mut ws).await.unwrap(), last.frame.to_vec());
    // Live subscribers get raw frames too.
    pds.emit_raw(2001, bytes::Bytes::from_static(b"\xffnot a frame"));
    assert_eq!(
        next_frame(&mut ws).await.unwrap(),
        b"\xffnot a frame".to_vec()
    );
}
