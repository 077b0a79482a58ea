//! The container files, checked statically (these machines run no Docker daemon): the compose
//! file sets only real settings, Prometheus scrapes the metrics port, the Dockerfile builds as
//! documented and runs unprivileged, and the Grafana board asks only for series the relay
//! exports.

use crate::support;

use std::collections::BTreeSet;

use atrelay::cli::command;
use atrelay::config::indigo::INDIGO_SETTINGS;
use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    YamlLoader::load_from_str(&repo_file(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .remove(0)
}

/// Every environment name the binary reads: ours on each flag, and indigo's aliases.
fn known_env_names() -> BTreeSet<String> {
    fn walk(command: &clap::Command, names: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env().and_then(|e| e.to_str()) {
                names.insert(env.to_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, names);
        }
    }
    let mut names = BTreeSet::new();
    walk(&command(), &mut names);
    for setting in INDIGO_SETTINGS {
        names.extend(setting.indigo_env.iter().map(|e| (*e).to_owned()));
    }
    names
}

/// The keys of a compose `environment:` block, in map or list form.
fn environment_keys(environment: &Yaml) -> Vec<String> {
    match environment {
        Yaml::Hash(map) => map.keys().map(|k| k.as_str().unwrap().to_owned()).collect(),
        Yaml::Array(items) => items
            .iter()
            .map(|item| item.as_str().unwrap().split('=').next().unwrap().to_owned())
            .collect(),
        Yaml::BadValue => Vec::new(),
        other => panic!("unexpected environment block {other:?}"),
    }
}

#[test]
fn every_relay_env_var_in_compose_is_a_real_setting() {
    let compose = yaml("docker/compose.yaml");
    let relay = &compose["services"]["relay"];
    assert!(!relay.is_badvalue(), "no relay service");
    let known = known_env_names();
    let keys = environment_keys(&relay["environment"]);
    assert!(keys.iter().any(|k| k == "DATABASE_URL"), "{keys:?}");
    let unknown: Vec<&String> = keys.iter().filter(|k| !known.contains(*k)).collect();
    assert!(unknown.is_empty(), "not settings of atrelay: {unknown:?}");
    let ports: Vec<&str> = relay["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(ports.iter().any(|p| p.ends_with(":2470")), "{ports:?}");
    let postgres = &compose["services"]["postgres"];
    assert!(
        !postgres["healthcheck"].is_badvalue(),
        "postgres has no healthcheck"
    );
}

#[test]
fn the_optional_splitter_service_uses_real_settings_and_its_own_ports() {
    let compose = yaml("docker/compose.yaml");
    let splitter = &compose["services"]["splitter"];
    assert!(!splitter.is_badvalue(), "no splitter service");
    assert_eq!(
        splitter["profiles"].as_vec().map(Vec::len),
        Some(1),
        "the splitter is optional: behind a profile"
    );
    assert_eq!(splitter["command"][0].as_str(), Some("splitter"));
    let known = known_env_names();
    let keys = environment_keys(&splitter["environment"]);
    assert!(keys.iter().any(|k| k == "SPLITTER_UPSTREAM"), "{keys:?}");
    let unknown: Vec<&String> = keys.iter().filter(|k| !known.contains(*k)).collect();
    assert!(unknown.is_empty(), "not settings of atrelay: {unknown:?}");
    let bind = splitter["environment"]["SPLITTER_BIND"].as_str().unwrap();
    let port = bind.rsplit(':').next().unwrap();
    assert!(
        splitter["ports"]
            .as_vec()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with(&format!(":{port}"))),
        "the splitter's API port is not published"
    );
    let health = format!("{:?}", splitter["healthcheck"]["test"]);
    assert!(
        health.contains(&format!("127.0.0.1:{port}/xrpc/_health")),
        "{health}"
    );
}

#[test]
fn prometheus_scrapes_the_metrics_port_the_relay_listens_on() {
    let default_metrics = command()
        .find_subcommand("serve")
        .unwrap()
        .get_arguments()
        .find(|a| a.get_long() == Some("metrics-listen"))
        .unwrap()
        .get_default_values()[0]
        .to_string_lossy()
        .into_owned();
    let port = default_metrics.rsplit(':').next().unwrap().to_owned();
    let prometheus = yaml("docker/prometheus.yml");
    let scrapes = prometheus["scrape_configs"].as_vec().unwrap();
    let relay_job = scrapes
        .iter()
        .find(|job| {
            job["static_configs"].as_vec().is_some_and(|configs| {
                configs.iter().any(|c| {
                    c["targets"].as_vec().is_some_and(|targets| {
                        targets
                            .iter()
                            .any(|t| t.as_str() == Some(&format!("relay:{port}")))
                    })
                })
            })
        })
        .unwrap_or_else(|| panic!("no scrape of relay:{port}"));
    let path = relay_job["metrics_path"].as_str().unwrap_or("/metrics");
    assert_eq!(path, "/metrics");
}

#[test]
fn the_dockerfile_builds_locked_release_and_runs_unprivileged() {
    let dockerfile = repo_file("docker/Dockerfile");
    let instructions: Vec<String> = dockerfile
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let starting = |word: &str| -> Vec<&String> {
        instructions
            .iter()
            .filter(|l| l.split_whitespace().next() == Some(word))
            .collect()
    };
    assert!(starting("FROM").len() >= 2, "not multi-stage");
    let build = "cargo build --release --locked -p atrelay";
    assert!(
        starting("RUN").iter().any(|l| l.contains(build)),
        "no locked release build"
    );
    // CI has no Docker daemon: it runs the Dockerfile's build command itself.
    assert!(
        repo_file(".ci/run").lines().any(|l| l.trim() == build),
        ".ci/run does not build the binary as the Dockerfile does"
    );
    let user = starting("USER");
    let user = user.last().expect("no USER: the image would run as root");
    assert!(
        !user.contains("root") && !user.ends_with(" 0") && !user.contains(" 0:"),
        "{user}"
    );
    let expose = starting("EXPOSE")
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        expose.contains("2470") && expose.contains("2471"),
        "{expose}"
    );
    assert!(starting("VOLUME").iter().any(|l| l.contains("/data")));
    assert!(
        starting("HEALTHCHECK")
            .iter()
            .any(|l| l.contains("/xrpc/_health")),
        "no health check on the health route"
    );
    // The build context must carry what the build reads.
    let ignore = repo_file(".dockerignore");
    for needed in ["crates", "migrations", "web-dash", "Cargo.lock"] {
        assert!(
            !ignore.lines().any(|l| l.trim().trim_matches('/') == needed),
            ".dockerignore drops {needed}"
        );
    }
}

/// Metric names a PromQL expression refers to: identifiers followed by `{`, `[`, `)` or the
/// end, that look like ours or indigo's series.
fn series_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut current = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            current.push(c);
        } else {
            if current.contains('_')
                && current
                    .chars()
                    .next()
                    .is_some_and(|f| f.is_ascii_alphabetic())
                && c != '('
            {
                names.push(std::mem::take(&mut current));
            }
            current.clear();
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_board_asks_only_for_exported_series() {
    // A relay following one host: per-host series exist only once there is a host.
    let directory = atrelay_testkit::FakeDirectory::start().await.unwrap();
    let relay =
        support::TestRelay::sqlite_ingest(support::IngestSetup::for_directory(&directory)).await;
    let pds = atrelay_testkit::FakePds::start(&directory).await.unwrap();
    pds.create_account(atrelay_testkit::AccountOptions::default())
        .unwrap();
    pds.request_crawl(&relay.base).await.unwrap();
    support::wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    let exported: BTreeSet<String> = atrelay::http::metrics::render(&relay.state)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    let board: serde_json::Value =
        serde_json::from_str(&repo_file("docker/grafana/atrelay.json")).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&board, &mut exprs);
    assert!(exprs.len() >= 5, "too few queries: {exprs:?}");
    let labels = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    for expr in &exprs {
        for name in series_in(expr) {
            if labels.contains(&name.as_str()) || !exported_like(&name) {
                continue;
            }
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                exported.contains(&name) || exported.contains(base),
                "the board queries {name}, which the relay does not export ({expr})"
            );
        }
    }
    relay.finish().await;
}

/// Series names are ours (`atrelay_`) or the process collector's (`process_`).
fn exported_like(name: &str) -> bool {
    name.starts_with("atrelay_") || name.starts_with("process_")
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "expr" {
                    if let Some(expr) = value.as_str() {
                        out.push(expr.to_owned());
                    }
                } else {
                    collect_exprs(value, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
