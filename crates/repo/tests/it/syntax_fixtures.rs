//! Conformance of `atrelay_repo::syntax` against every file of the atproto interop syntax
//! fixtures: each non-comment line must classify as its file says.

use std::path::PathBuf;

use atrelay_repo::syntax::{self, SyntaxError, SyntaxKind};

type Validator = fn(&str) -> Result<(), SyntaxError>;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/interop/syntax"
    ))
    .join(name)
}

/// Lines of a fixture file, without blank lines and `#` comments. Other whitespace is kept:
/// leading and trailing spaces are part of several invalid cases.
fn cases(name: &str) -> Vec<String> {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()));
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(!lines.is_empty(), "no cases in {}", path.display());
    lines
}

/// Every case of `name` must be accepted by `validate`.
fn check_valid(name: &str, validate: Validator) -> usize {
    let lines = cases(name);
    for line in &lines {
        if let Err(err) = validate(line) {
            panic!("{name}: {line:?} should be valid, got: {err}");
        }
    }
    lines.len()
}

/// Every case of `name` must be rejected by `validate` with an error of `kind`.
fn check_invalid(name: &str, validate: Validator, kind: SyntaxKind) -> usize {
    let lines = cases(name);
    for line in &lines {
        match validate(line) {
            Ok(()) => panic!("{name}: {line:?} should be invalid"),
            Err(err) => assert_eq!(err.kind, kind, "{name}: {line:?}: {err}"),
        }
    }
    lines.len()
}

#[test]
fn did() {
    check_valid("did_syntax_valid.txt", syntax::validate_did);
    check_invalid(
        "did_syntax_invalid.txt",
        syntax::validate_did,
        SyntaxKind::Did,
    );
}

#[test]
fn handle() {
    check_valid("handle_syntax_valid.txt", syntax::validate_handle);
    check_invalid(
        "handle_syntax_invalid.txt",
        syntax::validate_handle,
        SyntaxKind::Handle,
    );
}

#[test]
fn at_identifier() {
    check_valid(
        "atidentifier_syntax_valid.txt",
        syntax::validate_at_identifier,
    );
    check_invalid(
        "atidentifier_syntax_invalid.txt",
        syntax::validate_at_identifier,
        SyntaxKind::AtIdentifier,
    );
}

#[test]
fn nsid() {
    check_valid("nsid_syntax_valid.txt", syntax::validate_nsid);
    check_invalid(
        "nsid_syntax_invalid.txt",
        syntax::validate_nsid,
        SyntaxKind::Nsid,
    );
}

#[test]
fn tid() {
    check_valid("tid_syntax_valid.txt", syntax::validate_tid);
    check_invalid(
        "tid_syntax_invalid.txt",
        syntax::validate_tid,
        SyntaxKind::Tid,
    );
    // Every valid TID prints back to itself.
    for line in cases("tid_syntax_valid.txt") {
        let tid = syntax::Tid::parse(&line).expect("valid");
        assert_eq!(tid.to_string(), line);
    }
}

#[test]
fn record_key() {
    check_valid("recordkey_syntax_valid.txt", syntax::validate_record_key);
    check_invalid(
        "recordkey_syntax_invalid.txt",
        syntax::validate_record_key,
        SyntaxKind::RecordKey,
    );
}

#[test]
fn at_uri() {
    check_valid("aturi_syntax_valid.txt", syntax::validate_at_uri);
    check_invalid(
        "aturi_syntax_invalid.txt",
        syntax::validate_at_uri,
        SyntaxKind::AtUri,
    );
}

#[test]
fn datetime() {
    check_valid("datetime_syntax_valid.txt", syntax::validate_datetime);
    check_invalid(
        "datetime_syntax_invalid.txt",
        syntax::validate_datetime_syntax,
        SyntaxKind::Datetime,
    );
    check_invalid(
        "datetime_syntax_invalid.txt",
        syntax::validate_datetime,
        SyntaxKind::Datetime,
    );
    // Well-shaped but not a real instant: the shape check passes, the full check fails.
    check_valid(
        "datetime_parse_invalid.txt",
        syntax::validate_datetime_syntax,
    );
    check_invalid(
        "datetime_parse_invalid.txt",
        syntax::validate_datetime,
        SyntaxKind::Datetime,
    );
}

#[test]
fn language() {
    check_valid("language_syntax_valid.txt", syntax::validate_language);
    check_invalid(
        "language_syntax_invalid.txt",
        syntax::validate_language_syntax,
        SyntaxKind::Language,
    );
    // Well formed but with repeated variants or singletons.
    check_valid(
        "language_parse_invalid.txt",
        syntax::validate_language_syntax,
    );
    check_invalid(
        "language_parse_invalid.txt",
        syntax::validate_language,
        SyntaxKind::Language,
    );
}

#[test]
fn cid() {
    check_valid("cid_syntax_valid.txt", syntax::validate_cid_string);
    check_invalid(
        "cid_syntax_invalid.txt",
        syntax::validate_cid_string,
        SyntaxKind::Cid,
    );
}

#[test]
fn uri() {
    check_valid("uri_syntax_valid.txt", syntax::validate_uri);
    check_invalid(
        "uri_syntax_invalid.txt",
        syntax::validate_uri,
        SyntaxKind::Uri,
    );
}

/// Every file in the fixture folder is covered by one of the tests above.
#[test]
fn every_fixture_file_is_covered() {
    const COVERED: &[&str] = &[
        "atidentifier",
        "aturi",
        "cid",
        "datetime",
        "did",
        "handle",
        "language",
        "nsid",
        "recordkey",
        "tid",
        "uri",
    ];
    let dir = fixture_path("");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
    let mut n_files = 0;
    for entry in entries {
        let name = entry
            .expect("dir entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        let family = name.split('_').next().unwrap_or_default();
        assert!(COVERED.contains(&family), "fixture {name} is not tested");
        n_files += 1;
    }
    assert!(
        n_files >= 24,
        "expected at least 24 syntax fixture files, found {n_files}"
    );
}

#[test]
fn did_method_and_helpers() {
    assert_eq!(
        syntax::did_method("did:plc:ewvi7nxzyoun6zhxrhs64oiz"),
        Ok("plc")
    );
    assert_eq!(syntax::did_method("did:web:example.com"), Ok("web"));
    assert!(syntax::did_method("did:web").is_err());
    assert_eq!(syntax::normalize_handle("John.TEST"), "john.test");
    assert_eq!(
        syntax::tid_timestamp_micros("3jzfcijpj2z2a"),
        syntax::Tid::parse("3jzfcijpj2z2a").map(|t| t.timestamp_micros())
    );
}
