//! Drop-in compatibility with indigo's relay configuration: which of our flags stand for which
//! of indigo's, the other environment names indigo reads for them (accepted here as aliases),
//! and the configuration reference generated from the command-line definitions.

use std::ffi::OsString;

use clap::{Arg, Command};

/// One of indigo's settings and the flag of ours that has its meaning.
#[derive(Debug, Clone, Copy)]
pub struct IndigoSetting {
    /// Our subcommand (`serve`, `pull-hosts`), or `None` for a global flag.
    pub command: Option<&'static str>,
    /// Our flag's long name, without dashes.
    pub long: &'static str,
    /// indigo's flag, with dashes.
    pub indigo_flag: &'static str,
    /// Every environment name indigo reads for it, its main one first.
    pub indigo_env: &'static [&'static str],
}

const fn serve(
    long: &'static str,
    indigo_flag: &'static str,
    indigo_env: &'static [&'static str],
) -> IndigoSetting {
    IndigoSetting {
        command: Some("serve"),
        long,
        indigo_flag,
        indigo_env,
    }
}

/// indigo's `relay` flags (`cmd/relay/main.go`) that have a counterpart here. Flags of indigo's
/// without one (Slack alerts, sibling relays, tracing switches, per-host worker counts) are
/// listed in `docs/configuration.md`.
pub const INDIGO_SETTINGS: &[IndigoSetting] = &[
    IndigoSetting {
        command: None,
        long: "log-level",
        indigo_flag: "--log-level",
        indigo_env: &["RELAY_LOG_LEVEL", "GO_LOG_LEVEL", "LOG_LEVEL"],
    },
    serve(
        "admin-password",
        "--admin-password",
        &["RELAY_ADMIN_PASSWORD", "RELAY_ADMIN_KEY"],
    ),
    serve(
        "plc-host",
        "--plc-host",
        &["RELAY_PLC_HOST", "ATP_PLC_HOST"],
    ),
    serve("db-url", "--db-url", &["DATABASE_URL"]),
    serve(
        "max-db-conn",
        "--max-db-conn",
        &["MAX_DB_CONNECTIONS", "MAX_METADB_CONNECTIONS"],
    ),
    serve("bind", "--bind", &["RELAY_API_BIND", "RELAY_API_LISTEN"]),
    serve(
        "persist-dir",
        "--persist-dir",
        &["RELAY_PERSIST_DIR", "RELAY_PERSISTER_DIR"],
    ),
    serve(
        "replay-window",
        "--replay-window",
        &["RELAY_REPLAY_WINDOW", "RELAY_EVENT_PLAYBACK_TTL"],
    ),
    serve(
        "default-account-limit",
        "--default-account-limit",
        &["RELAY_DEFAULT_ACCOUNT_LIMIT", "RELAY_DEFAULT_REPO_LIMIT"],
    ),
    serve(
        "new-hosts-per-day-limit",
        "--new-hosts-per-day-limit",
        &["RELAY_NEW_HOSTS_PER_DAY_LIMIT"],
    ),
    serve(
        "disable-request-crawl",
        "--disable-request-crawl",
        &["RELAY_DISABLE_REQUEST_CRAWL"],
    ),
    serve(
        "allow-insecure-hosts",
        "--allow-insecure-hosts",
        &["RELAY_ALLOW_INSECURE_HOSTS"],
    ),
    serve(
        "lenient-sync-validation",
        "--lenient-sync-validation",
        &["RELAY_LENIENT_SYNC_VALIDATION"],
    ),
    serve(
        "initial-seq-number",
        "--initial-seq-number",
        &["RELAY_INITIAL_SEQ_NUMBER"],
    ),
    serve(
        "trusted-domains",
        "--trusted-domains",
        &["RELAY_TRUSTED_DOMAINS"],
    ),
    serve("env", "--env", &["ENVIRONMENT"]),
    serve(
        "ident-cache-size",
        "--ident-cache-size",
        &["RELAY_IDENT_CACHE_SIZE", "RELAY_DID_CACHE_SIZE"],
    ),
    serve(
        "metrics-listen",
        "--metrics-listen",
        &["RELAY_METRICS_LISTEN"],
    ),
    IndigoSetting {
        command: Some("pull-hosts"),
        long: "relay-host",
        indigo_flag: "--relay-host",
        indigo_env: &["RELAY_HOST"],
    },
    IndigoSetting {
        command: Some("pull-hosts"),
        long: "batch-size",
        indigo_flag: "--batch-size",
        indigo_env: &["RELAY_PULL_HOSTS_BATCH_SIZE"],
    },
];

/// An alias that supplied a setting: `alias` was set and `canonical` was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedAlias {
    /// indigo's name that was set.
    pub alias: &'static str,
    /// Our name it now stands in for.
    pub canonical: String,
}

/// The flag `setting` refers to in `root`, if it exists.
pub fn find_arg<'a>(root: &'a Command, setting: &IndigoSetting) -> Option<&'a Arg> {
    let command = match setting.command {
        Some(name) => root.find_subcommand(name)?,
        None => root,
    };
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(setting.long))
}

/// For every setting whose environment name of ours is unset, takes the value of the first of
/// indigo's other names for it that is set, with `get` reading the environment. Returns the
/// assignments to make; [`apply_env_aliases`] makes them.
pub fn env_aliases(
    root: &Command,
    get: impl Fn(&str) -> Option<OsString>,
) -> Vec<(AppliedAlias, OsString)> {
    let mut assignments = Vec::new();
    for setting in INDIGO_SETTINGS {
        let Some(canonical) = find_arg(root, setting)
            .and_then(Arg::get_env)
            .and_then(|env| env.to_str())
        else {
            continue;
        };
        if get(canonical).is_some() {
            continue;
        }
        let taken = setting
            .indigo_env
            .iter()
            .filter(|alias| **alias != canonical)
            .find_map(|alias| get(alias).map(|value| (*alias, value)));
        if let Some((alias, value)) = taken {
            let canonical = canonical.to_owned();
            if assignments
                .iter()
                .any(|(done, _): &(AppliedAlias, OsString)| done.canonical == canonical)
            {
                continue;
            }
            assignments.push((AppliedAlias { alias, canonical }, value));
        }
    }
    assignments
}

/// Copies indigo's alternative environment names onto ours (see [`env_aliases`]). Call it
/// before parsing the command line and before any thread starts: it sets process environment
/// variables. Returns what it did, for the log once logging is up.
pub fn apply_env_aliases(root: &Command) -> Vec<AppliedAlias> {
    let assignments = env_aliases(root, |name| std::env::var_os(name));
    assignments
        .into_iter()
        .map(|(applied, value)| {
            std::env::set_var(&applied.canonical, value);
            applied
        })
        .collect()
}

/// The configuration reference of `root` in Markdown: per command, one table row per flag
/// with its environment names (ours, then indigo's other names accepted), indigo's equivalent,
/// the default and what it does. `docs/configuration.md` holds this text; a test keeps the two
/// equal.
pub fn reference_markdown(root: &Command) -> String {
    let mut out = String::new();
    let name = root.get_name();
    section(&mut out, &format!("`{name}` (every command)"), root, None);
    for command in root.get_subcommands() {
        if command
            .get_arguments()
            .all(|arg| arg.is_global_set() || is_builtin(arg))
        {
            continue;
        }
        let title = format!("`{name} {}`", command.get_name());
        section(&mut out, &title, command, Some(command.get_name()));
    }
    out
}

fn is_builtin(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

fn section(out: &mut String, title: &str, command: &Command, name: Option<&str>) {
    use std::fmt::Write;
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(
        out,
        "| flag | environment | indigo | default | what it sets |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for arg in command.get_arguments() {
        if is_builtin(arg) || arg.is_hide_set() || (name.is_some() && arg.is_global_set()) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let setting = INDIGO_SETTINGS
            .iter()
            .find(|s| s.command == name && s.long == long);
        let ours = arg.get_env().and_then(|e| e.to_str());
        let mut env: Vec<String> = ours.map(|e| format!("`{e}`")).into_iter().collect();
        if let Some(setting) = setting {
            env.extend(
                setting
                    .indigo_env
                    .iter()
                    .filter(|alias| Some(**alias) != ours)
                    .map(|alias| format!("`{alias}`")),
            );
        }
        let indigo = setting.map_or_else(|| "—".to_owned(), |s| format!("`{}`", s.indigo_flag));
        let default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = if default.is_empty() {
            "—".to_owned()
        } else {
            format!("`{}`", default.join(","))
        };
        let help = arg
            .get_help()
            .map(|h| h.to_string().replace('\n', " ").replace('|', "\\|"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| `--{long}` | {} | {indigo} | {default} | {help} |",
            if env.is_empty() {
                "—".to_owned()
            } else {
                env.join(", ")
            }
        );
    }
    out.push('\n');
}
