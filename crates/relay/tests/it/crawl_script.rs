//! `scripts/crawl_pds.sh` against a running relay: hosts from arguments and stdin are followed
//! through the admin API; a wrong password or a refused host makes it fail loudly.

use crate::support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use atrelay_testkit::{AccountOptions, FakeDirectory, FakePds};
use support::{TestRelay, ADMIN_PASSWORD};

/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn script() -> Command {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/crawl_pds.sh");
    let mut command = Command::new("bash");
    command.arg(path);
    command
}

async fn run(mut command: Command, stdin: Option<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("script finishes")
    })
    .await
    .expect("join")
}

async fn followed(relay: &TestRelay, hostname: &str) {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            let host = relay.store.host_by_hostname(hostname).await.unwrap();
            if host.is_some_and(|h| relay.state.ingest.subscribed_hosts().contains(&h.id)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("host never followed");
}

both_backends_ingest!(crawl_script_follows_hosts_and_reports_refusals);
async fn crawl_script_follows_hosts_and_reports_refusals(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let first = FakePds::start(directory).await.unwrap();
    let second = FakePds::start(directory).await.unwrap();
    for pds in [&first, &second] {
        pds.create_account(AccountOptions::default()).unwrap();
    }

    // Wrong password: refused, nothing followed.
    let mut wrong = script();
    wrong
        .arg(first.hostname())
        .env("RELAY_HOST", &relay.base)
        .env("RELAY_ADMIN_PASSWORD", "wrong");
    let output = run(wrong, None).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("AuthenticationRequired"));
    assert!(relay
        .store
        .host_by_hostname(first.hostname())
        .await
        .unwrap()
        .is_none());

    // One host as an argument, with an account limit.
    let mut by_argument = script();
    by_argument
        .arg(first.hostname())
        .env("RELAY_HOST", &relay.base)
        .env("RELAY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("REPO_LIMIT", "2500");
    let output = run(by_argument, None).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    followed(&relay, first.hostname()).await;
    let host = relay
        .store
        .host_by_hostname(first.hostname())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(host.limits.account_limit, 2500);

    // Hosts on stdin, with a comment and a blank line; an unreachable one is reported and
    // makes the script fail while the good one is still followed.
    let mut by_stdin = script();
    by_stdin
        .env("RELAY_HOST", &relay.base)
        .env("RELAY_ADMIN_PASSWORD", ADMIN_PASSWORD);
    let list = format!(
        "# hosts\n{}\n\nlocalhost:1   # nothing listens here\n",
        second.hostname()
    );
    let output = run(by_stdin, Some(list)).await;
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains(&format!("ok      {}", second.hostname())),
        "{stdout}"
    );
    assert!(stderr.contains("refused localhost:1"), "{stderr}");
    assert!(stderr.contains("1 host(s) refused"), "{stderr}");
    followed(&relay, second.hostname()).await;
    relay
}
