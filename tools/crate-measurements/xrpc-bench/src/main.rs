//! atrium-api 0.26.0 generated output types vs plain serde structs for the relay's XRPC bodies.
//!
//! Run: `CARGO_INCREMENTAL=0 cargo run --release -p xrpc-bench` (`json` prints only the JSON
//! comparison, `bench` only the timings).

use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use serde_json::{json, Value};
use xrpc_atrium as at;
use xrpc_plain as pl;

// ---------------------------------------------------------------------------------------------
// Rows as the store hands them to the handlers (owned strings).

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn s32(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const S32: &[u8] = b"234567abcdefghijklmnopqrstuvwxyz";

#[derive(Clone)]
struct AccountRow {
    did: String,
    head: String,
    rev: String,
    active: bool,
    status: Option<String>,
}

#[derive(Clone)]
struct HostRow {
    hostname: String,
    seq: Option<i64>,
    account_count: i64,
    status: String,
}

fn accounts(n: usize, seed: u64) -> Vec<AccountRow> {
    let mut rng = Rng(seed);
    let statuses = [
        "takendown",
        "suspended",
        "deactivated",
        "deleted",
        "desynchronized",
        "throttled",
    ];
    (0..n)
        .map(|i| {
            let mut digest = [0u8; 32];
            for b in &mut digest {
                *b = rng.next() as u8;
            }
            let mh = ipld_core::cid::multihash::Multihash::<64>::wrap(0x12, &digest).unwrap();
            let head = ipld_core::cid::Cid::new_v1(0x71, mh).to_string();
            let inactive = i % 10 == 3;
            AccountRow {
                did: format!("did:plc:{}", rng.s32(B32, 24)),
                head,
                rev: format!("{}{}", rng.s32(&S32[..16], 1), rng.s32(S32, 12)),
                active: !inactive,
                status: inactive.then(|| statuses[i / 10 % statuses.len()].to_owned()),
            }
        })
        .collect()
}

fn hosts(n: usize) -> Vec<HostRow> {
    let statuses = ["active", "idle", "offline", "throttled", "banned"];
    (0..n)
        .map(|i| HostRow {
            hostname: format!("pds-{i}.host.example.com"),
            seq: (i % 7 != 0).then_some(1_000_000 + i as i64 * 37),
            account_count: (i as i64 * 13) % 5000,
            status: statuses[if i % 9 == 0 { i / 9 % 5 } else { 0 }].to_owned(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Builders: rows -> body types.

fn pl_repo(a: &AccountRow) -> pl::RepoView {
    pl::RepoView {
        did: a.did.clone(),
        head: a.head.clone(),
        rev: a.rev.clone(),
        active: a.active,
        status: a.status.clone(),
    }
}

fn at_repo(a: &AccountRow) -> at::list_repos::Repo {
    at::list_repos::RepoData {
        active: Some(a.active),
        did: at::Did::new(a.did.clone()).unwrap(),
        head: at::Cid::from_str(&a.head).unwrap(),
        rev: at::Tid::new(a.rev.clone()).unwrap(),
        status: a.status.clone(),
    }
    .into()
}

fn pl_list_repos(rows: &[AccountRow], cursor: Option<&str>) -> pl::ListReposOutput {
    pl::ListReposOutput {
        cursor: cursor.map(str::to_owned),
        repos: rows.iter().map(pl_repo).collect(),
    }
}

fn at_list_repos(rows: &[AccountRow], cursor: Option<&str>) -> at::list_repos::Output {
    at::list_repos::OutputData {
        cursor: cursor.map(str::to_owned),
        repos: rows.iter().map(at_repo).collect(),
    }
    .into()
}

fn pl_host(h: &HostRow) -> pl::HostView {
    pl::HostView {
        hostname: h.hostname.clone(),
        seq: h.seq,
        account_count: h.account_count,
        status: h.status.clone(),
    }
}

fn at_host(h: &HostRow) -> at::list_hosts::Host {
    at::list_hosts::HostData {
        account_count: Some(h.account_count),
        hostname: h.hostname.clone(),
        seq: h.seq,
        status: Some(h.status.clone()),
    }
    .into()
}

fn pl_list_hosts(rows: &[HostRow], cursor: Option<&str>) -> pl::ListHostsOutput {
    pl::ListHostsOutput {
        cursor: cursor.map(str::to_owned),
        hosts: rows.iter().map(pl_host).collect(),
    }
}

fn at_list_hosts(rows: &[HostRow], cursor: Option<&str>) -> at::list_hosts::Output {
    at::list_hosts::OutputData {
        cursor: cursor.map(str::to_owned),
        hosts: rows.iter().map(at_host).collect(),
    }
    .into()
}

fn pl_host_status(h: &HostRow) -> pl::HostView {
    pl_host(h)
}

fn at_host_status(h: &HostRow) -> at::get_host_status::Output {
    at::get_host_status::OutputData {
        account_count: Some(h.account_count),
        hostname: h.hostname.clone(),
        seq: h.seq,
        status: Some(h.status.clone()),
    }
    .into()
}

fn pl_repo_status(a: &AccountRow) -> pl::RepoStatusOutput {
    pl::RepoStatusOutput {
        did: a.did.clone(),
        active: a.active,
        status: a.status.clone(),
        rev: a.active.then(|| a.rev.clone()),
    }
}

fn at_repo_status(a: &AccountRow) -> at::get_repo_status::Output {
    at::get_repo_status::OutputData {
        active: a.active,
        did: at::Did::new(a.did.clone()).unwrap(),
        rev: a.active.then(|| at::Tid::new(a.rev.clone()).unwrap()),
        status: a.status.clone(),
    }
    .into()
}

fn pl_latest(a: &AccountRow) -> pl::LatestCommitOutput {
    pl::LatestCommitOutput {
        cid: a.head.clone(),
        rev: a.rev.clone(),
    }
}

fn at_latest(a: &AccountRow) -> at::get_latest_commit::Output {
    at::get_latest_commit::OutputData {
        cid: at::Cid::from_str(&a.head).unwrap(),
        rev: at::Tid::new(a.rev.clone()).unwrap(),
    }
    .into()
}

fn pl_by_collection(rows: &[AccountRow], cursor: Option<&str>) -> pl::ListReposByCollectionOutput {
    pl::ListReposByCollectionOutput {
        cursor: cursor.map(str::to_owned),
        repos: rows
            .iter()
            .map(|a| pl::DidOnly { did: a.did.clone() })
            .collect(),
    }
}

fn at_by_collection(
    rows: &[AccountRow],
    cursor: Option<&str>,
) -> at::list_repos_by_collection::Output {
    at::list_repos_by_collection::OutputData {
        cursor: cursor.map(str::to_owned),
        repos: rows
            .iter()
            .map(|a| {
                at::list_repos_by_collection::RepoData {
                    did: at::Did::new(a.did.clone()).unwrap(),
                }
                .into()
            })
            .collect(),
    }
    .into()
}

/// What crates/relay/src/http/api/collections.rs does today.
fn json_by_collection(rows: &[AccountRow], cursor: Option<&str>) -> Value {
    let repos: Vec<Value> = rows.iter().map(|a| json!({ "did": a.did })).collect();
    let mut body = json!({ "repos": repos });
    if let Some(cursor) = cursor {
        body["cursor"] = json!(cursor);
    }
    body
}

// ---------------------------------------------------------------------------------------------

const SAMPLES: usize = 101;

fn median_ns(mut f: impl FnMut() -> usize) -> f64 {
    let t = Instant::now();
    let mut inner = 1;
    loop {
        for _ in 0..inner {
            black_box(f());
        }
        if t.elapsed().as_micros() > 200 || inner > 1 << 20 {
            break;
        }
        inner *= 2;
    }
    let per = t.elapsed().as_nanos() as f64 / (2 * inner - 1) as f64;
    let inner = ((200_000.0 / per).ceil() as usize).max(1);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut s: Vec<f64> = (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..inner {
                    black_box(f());
                }
                t.elapsed().as_nanos() as f64 / inner as f64
            })
            .collect();
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        best = best.min(s[SAMPLES / 2]);
    }
    best
}

fn to_vec<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn compare(name: &str, plain: Vec<u8>, atrium: Vec<u8>) {
    let p: Value = serde_json::from_slice(&plain).unwrap();
    let a: Value = serde_json::from_slice(&atrium).unwrap();
    let same_value = p == a;
    let same_bytes = plain == atrium;
    let has_type = String::from_utf8_lossy(&atrium).contains("$type");
    let has_null = String::from_utf8_lossy(&atrium).contains("null")
        || String::from_utf8_lossy(&plain).contains("null");
    println!(
        "| {name} | {} | {} | {} | {} | {} B / {} B |",
        if same_value { "yes" } else { "NO" },
        if same_bytes { "yes" } else { "no (key order)" },
        if has_type { "yes" } else { "no" },
        if has_null { "yes" } else { "no" },
        plain.len(),
        atrium.len()
    );
    if !same_value {
        println!(
            "plain:  {}",
            String::from_utf8_lossy(&plain)
                .chars()
                .take(400)
                .collect::<String>()
        );
        println!(
            "atrium: {}",
            String::from_utf8_lossy(&atrium)
                .chars()
                .take(400)
                .collect::<String>()
        );
    }
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let acc500 = accounts(500, 11);
    let acc1000 = accounts(1000, 12);
    let hosts200 = hosts(200);
    let cursor = Some("did:plc:zzzzzzzzzzzzzzzzzzzzzzzz");
    let active = acc500.iter().find(|a| a.active).unwrap().clone();
    let inactive = acc500
        .iter()
        .find(|a| a.status.as_deref() == Some("desynchronized"))
        .unwrap()
        .clone();
    let throttled = acc500
        .iter()
        .find(|a| a.status.as_deref() == Some("throttled"))
        .unwrap()
        .clone();
    let host = hosts200[1].clone();
    let banned = hosts200
        .iter()
        .find(|h| h.status == "throttled")
        .unwrap()
        .clone();

    if arg != "bench" {
        println!("samples:");
        for (n, b) in [
            (
                "listRepos[0..3]",
                to_vec(&at_list_repos(&acc500[..4], cursor)),
            ),
            (
                "getRepoStatus desynchronized",
                to_vec(&at_repo_status(&inactive)),
            ),
            (
                "getRepoStatus throttled",
                to_vec(&at_repo_status(&throttled)),
            ),
            ("getRepoStatus active", to_vec(&at_repo_status(&active))),
            ("getLatestCommit", to_vec(&at_latest(&active))),
            ("getHostStatus throttled", to_vec(&at_host_status(&banned))),
            (
                "listHosts[0..2]",
                to_vec(&at_list_hosts(&hosts200[..2], None)),
            ),
            (
                "listReposByCollection[0..2]",
                to_vec(&at_by_collection(&acc500[..2], cursor)),
            ),
        ] {
            println!("  atrium {n}: {}", String::from_utf8_lossy(&b));
        }
        println!();
        println!("| body | same JSON value as plain serde | same bytes | `$type` emitted | any `null` | size plain / atrium |");
        println!("|---|---|---|---|---|---|");
        compare(
            "listRepos (500, cursor)",
            to_vec(&pl_list_repos(&acc500, cursor)),
            to_vec(&at_list_repos(&acc500, cursor)),
        );
        compare(
            "listRepos (last page, no cursor)",
            to_vec(&pl_list_repos(&acc500[..7], None)),
            to_vec(&at_list_repos(&acc500[..7], None)),
        );
        compare(
            "listHosts (200)",
            to_vec(&pl_list_hosts(&hosts200, None)),
            to_vec(&at_list_hosts(&hosts200, None)),
        );
        compare(
            "getRepoStatus (active)",
            to_vec(&pl_repo_status(&active)),
            to_vec(&at_repo_status(&active)),
        );
        compare(
            "getRepoStatus (desynchronized)",
            to_vec(&pl_repo_status(&inactive)),
            to_vec(&at_repo_status(&inactive)),
        );
        compare(
            "getRepoStatus (throttled)",
            to_vec(&pl_repo_status(&throttled)),
            to_vec(&at_repo_status(&throttled)),
        );
        compare(
            "getLatestCommit",
            to_vec(&pl_latest(&active)),
            to_vec(&at_latest(&active)),
        );
        compare(
            "getHostStatus",
            to_vec(&pl_host_status(&host)),
            to_vec(&at_host_status(&host)),
        );
        compare(
            "getHostStatus (throttled host)",
            to_vec(&pl_host_status(&banned)),
            to_vec(&at_host_status(&banned)),
        );
        compare(
            "listReposByCollection (500)",
            to_vec(&pl_by_collection(&acc500, cursor)),
            to_vec(&at_by_collection(&acc500, cursor)),
        );
        compare(
            "listReposByCollection json! (today) vs atrium",
            to_vec(&json_by_collection(&acc500, cursor)),
            to_vec(&at_by_collection(&acc500, cursor)),
        );
        // Lexicon-string validation: what atrium refuses to construct.
        println!();
        println!("atrium constructors on bad input: Did::new(\"not-a-did\") = {:?}; Tid::new(\"3jzfcijpj2z2\") = {:?}; Cid::from_str(\"bafy\") is_err = {}",
            at::Did::new("not-a-did".into()).err(), at::Tid::new("3jzfcijpj2z2".into()).err(), at::Cid::from_str("bafy").is_err());
        println!();
    }
    if arg == "json" {
        return;
    }

    println!("| body | plain serde: serialize ns | atrium: serialize ns | ratio | plain: build+serialize ns | atrium: build+serialize ns | ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    macro_rules! row {
        ($name:expr, $pb:expr, $ab:expr) => {{
            let p = $pb;
            let a = $ab;
            let ps = median_ns(|| to_vec(&p).len());
            let as_ = median_ns(|| to_vec(&a).len());
            let pbs = median_ns(|| to_vec(&$pb).len());
            let abs = median_ns(|| to_vec(&$ab).len());
            println!(
                "| {} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.0} | {:.2}× |",
                $name,
                ps,
                as_,
                as_ / ps,
                pbs,
                abs,
                abs / pbs
            );
        }};
    }
    row!(
        "listRepos, 500 repos",
        pl_list_repos(&acc500, cursor),
        at_list_repos(&acc500, cursor)
    );
    row!(
        "listRepos, 1000 repos",
        pl_list_repos(&acc1000, cursor),
        at_list_repos(&acc1000, cursor)
    );
    row!(
        "listHosts, 200 hosts",
        pl_list_hosts(&hosts200, None),
        at_list_hosts(&hosts200, None)
    );
    row!(
        "getRepoStatus (active)",
        pl_repo_status(&active),
        at_repo_status(&active)
    );
    row!(
        "getRepoStatus (desynchronized)",
        pl_repo_status(&inactive),
        at_repo_status(&inactive)
    );
    row!("getLatestCommit", pl_latest(&active), at_latest(&active));
    row!(
        "getHostStatus",
        pl_host_status(&host),
        at_host_status(&host)
    );
    row!(
        "listReposByCollection, 500",
        pl_by_collection(&acc500, cursor),
        at_by_collection(&acc500, cursor)
    );
    row!(
        "listReposByCollection, 500: json! (today) vs atrium",
        json_by_collection(&acc500, cursor),
        at_by_collection(&acc500, cursor)
    );
}
