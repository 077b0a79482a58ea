//! Loading the fixture frames.

use serde_json::Value;

/// Root of the shared fixtures.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

/// One frame in the JSON form, with where it came from.
pub struct JsonFrame {
    pub origin: String,
    pub header: Value,
    pub body: Value,
}

fn read_json(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn json_files(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = format!("{FIXTURES}/{dir}");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// Every frame of the relay scenarios (`cmd/relay/testing/testdata/*.json`).
pub fn scenario_frames() -> Vec<JsonFrame> {
    let mut frames = Vec::new();
    for path in json_files("indigo/cmd/relay/testing/testdata") {
        let scenario = read_json(&path);
        for (i, message) in scenario["messages"].as_array().unwrap().iter().enumerate() {
            frames.push(JsonFrame {
                origin: format!("{} #{i}", path.display()),
                header: message["frame"]["header"].clone(),
                body: message["frame"]["body"].clone(),
            });
        }
    }
    frames
}

/// Every real `#commit` body of `atproto/repo/testdata/firehose_commit_*.json`.
pub fn captured_commits() -> Vec<JsonFrame> {
    json_files("indigo/atproto/repo/testdata")
        .into_iter()
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("firehose_commit_"))
        })
        .map(|path| JsonFrame {
            origin: path.display().to_string(),
            header: serde_json::json!({"op": 1, "t": "#commit"}),
            body: read_json(&path),
        })
        .collect()
}

/// All fixture frames.
pub fn all_frames() -> Vec<JsonFrame> {
    let mut frames = scenario_frames();
    frames.extend(captured_commits());
    frames
}
