//! The load generator drives accounts on several PDSes; everything it produces verifies.

use atrelay_testkit::load::{create_accounts, run, LoadConfig};
use atrelay_testkit::{Checked, FakeDirectory, FakePds, StreamChecker};

use crate::util::{connect, read_frames, Keys};

#[tokio::test]
async fn load_over_two_pdses_verifies_end_to_end() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds_a = FakePds::start(&directory).await.unwrap();
    let pds_b = FakePds::start(&directory).await.unwrap();
    let mut targets = create_accounts(&pds_a, 3).unwrap();
    targets.extend(create_accounts(&pds_b, 2).unwrap());
    let config = LoadConfig {
        commits_per_account: 30,
        writes_per_commit: 3,
        record_len: 50,
        rate_per_sec: None,
        seed: 1,
    };
    let report = run(&targets, &config).await.unwrap();
    assert_eq!(report.commits, 5 * 30);
    assert_eq!(report.writes, 5 * 30 * 3);
    assert!(report.block_bytes > 0);

    // A paced run completes and produces exactly what was asked.
    let paced = run(
        &targets[..1],
        &LoadConfig {
            commits_per_account: 5,
            rate_per_sec: Some(500.0),
            ..config.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(paced.commits, 5);

    let mut keys = Keys::new(&directory);
    for pds in [&pds_a, &pds_b] {
        let n = pds.events().len();
        let mut checker = StreamChecker::new(Some(pds.hostname()));
        let mut ws = connect(&pds.firehose_url(), Some(0)).await;
        let mut commits = 0;
        for frame in read_frames(&mut ws, n).await {
            if let Checked::Commit { continuous, .. } =
                keys.check(&mut checker, &frame, false).await.unwrap()
            {
                assert!(continuous);
                commits += 1;
            }
        }
        assert!(commits > 0);
    }
}
