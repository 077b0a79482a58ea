//! The configuration reference in `docs/configuration.md` matches the command-line
//! definitions, and indigo's names for settings reach our flags.

use std::collections::HashMap;
use std::ffi::OsString;

use atrelay::cli::{command, Cli, Command};
use atrelay::config::indigo::{env_aliases, find_arg, reference_markdown, INDIGO_SETTINGS};
use clap::Parser;

const BEGIN: &str = "<!-- BEGIN GENERATED: configuration reference -->\n";
const END: &str = "<!-- END GENERATED: configuration reference -->";

#[test]
fn the_configuration_reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let generated = reference_markdown(&command());
    if std::env::var_os("ATRELAY_BLESS").is_some() {
        let updated = format!("{}{generated}{}", &doc[..start], &doc[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    assert!(
        doc[start..end] == generated,
        "docs/configuration.md is stale: run `ATRELAY_BLESS=1 cargo test -p atrelay --test it configuration::`"
    );
    for flag in [
        "--bind",
        "--replay-window",
        "--max-db-conn",
        "--relay-host",
        "--log-format",
    ] {
        assert!(generated.contains(&format!("`{flag}`")), "{flag} missing");
    }
}

#[test]
fn every_indigo_setting_names_a_real_flag_with_an_env_name() {
    let root = command();
    for setting in INDIGO_SETTINGS {
        let arg = find_arg(&root, setting)
            .unwrap_or_else(|| panic!("{:?} {} is not a flag", setting.command, setting.long));
        assert!(
            arg.get_env().is_some(),
            "--{} has no env name",
            setting.long
        );
    }
}

/// Parses `serve` with only `env` as the environment, applying indigo's aliases the way the
/// binary does, then clap's own env reading via explicit flags.
fn serve_with_env(env: &[(&str, &str)]) -> atrelay::config::ServeConfig {
    let env: HashMap<String, OsString> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
        .collect();
    let root = command();
    let mut merged = env.clone();
    for (applied, value) in env_aliases(&root, |name| env.get(name).cloned()) {
        merged.insert(applied.canonical, value);
    }
    // clap reads the process environment; hand it the merged values as flags instead.
    let mut args = vec![OsString::from("atrelay"), OsString::from("serve")];
    for arg in root.find_subcommand("serve").unwrap().get_arguments() {
        let (Some(long), Some(name)) = (arg.get_long(), arg.get_env().and_then(|e| e.to_str()))
        else {
            continue;
        };
        if let Some(value) = merged.get(name) {
            args.push(OsString::from(format!("--{long}")));
            args.push(value.clone());
        }
    }
    match Cli::try_parse_from(args).unwrap().command {
        Command::Serve(config) => *config,
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_indigo_env_file_configures_the_same_settings() {
    let config = serve_with_env(&[
        ("RELAY_API_LISTEN", ":2480"),
        ("RELAY_METRICS_LISTEN", ":2481"),
        ("RELAY_ADMIN_KEY", "s3cret"),
        ("ATP_PLC_HOST", "https://plc.example.com"),
        ("RELAY_DEFAULT_REPO_LIMIT", "250"),
        ("MAX_METADB_CONNECTIONS", "12"),
        ("RELAY_EVENT_PLAYBACK_TTL", "24h"),
        ("RELAY_PERSISTER_DIR", "/var/lib/relay"),
        ("ENVIRONMENT", "production"),
    ]);
    assert_eq!(config.api_bind, "0.0.0.0:2480".parse().unwrap());
    assert_eq!(config.metrics_bind, "0.0.0.0:2481".parse().unwrap());
    assert_eq!(config.admin_passwords, vec!["s3cret".to_owned()]);
    assert_eq!(config.plc_host, "https://plc.example.com");
    assert_eq!(config.default_account_limit, 250);
    assert_eq!(config.max_db_connections, Some(12));
    assert_eq!(
        config.replay_window,
        std::time::Duration::from_secs(24 * 3600)
    );
    assert_eq!(
        config.persist_dir,
        std::path::PathBuf::from("/var/lib/relay")
    );
    assert_eq!(config.environment, "production");
}

#[test]
fn our_names_win_over_indigo_aliases() {
    let config = serve_with_env(&[
        ("RELAY_ADMIN_PASSWORD", "ours"),
        ("RELAY_ADMIN_KEY", "theirs"),
        ("RELAY_API_BIND", "127.0.0.1:2490"),
        ("RELAY_API_LISTEN", ":2480"),
    ]);
    assert_eq!(config.admin_passwords, vec!["ours".to_owned()]);
    assert_eq!(config.api_bind, "127.0.0.1:2490".parse().unwrap());
}

#[test]
fn defaults_match_indigo_where_the_setting_is_shared() {
    let config = serve_with_env(&[]);
    assert_eq!(config.api_bind, "0.0.0.0:2470".parse().unwrap());
    assert_eq!(config.metrics_bind, "0.0.0.0:2471".parse().unwrap());
    assert_eq!(
        config.replay_window,
        std::time::Duration::from_secs(72 * 3600)
    );
    assert_eq!(config.default_account_limit, 100);
    assert_eq!(config.plc_host, "https://plc.directory");
    assert_eq!(config.environment, "dev");
    assert_eq!(config.max_db_connections, None);
}

#[test]
fn bad_values_are_refused_with_a_clear_message() {
    for (flag, value, expected) in [
        ("--bind", ":http", "port"),
        ("--replay-window", "3d", "duration"),
        ("--metrics-listen", "localhost", "listen address"),
    ] {
        let error = Cli::try_parse_from(["atrelay", "serve", flag, value])
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{flag} {value}: {error}");
    }
}
