//! Writes the fixture frames (indigo's relay scenarios and captured commits, converted from
//! their JSON form) plus an error frame and an `#info` as CBOR files into the directory given
//! as the first argument: the seed corpus of the `decode_frame` fuzz target.
//!
//! `cargo run -p atrelay-stream --example fuzz_seeds -- crates/stream/fuzz/corpus/decode_frame`

use std::path::{Path, PathBuf};

use atrelay_stream::{encode_frame, message_from_json, ErrorFrame, Info, Message};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/indigo"
);

fn json_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(format!("{FIXTURES}/{dir}"))
        .expect("fixtures directory (../shared/fixtures beside the checkout)")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: fuzz_seeds <output directory>");
    std::fs::create_dir_all(&out).expect("output directory can be created");

    let mut messages = Vec::new();
    for path in json_files("cmd/relay/testing/testdata") {
        for message in read(&path)["messages"].as_array().into_iter().flatten() {
            let frame = &message["frame"];
            messages.push(message_from_json(&frame["header"], &frame["body"]));
        }
    }
    let commit_header = json!({"op": 1, "t": "#commit"});
    for path in json_files("atproto/repo/testdata") {
        if path.to_string_lossy().contains("firehose_commit_") {
            messages.push(message_from_json(&commit_header, &read(&path)));
        }
    }
    messages.push(Ok(Message::Error(ErrorFrame::future_cursor(Some(
        "cursor in the future".into(),
    )))));
    messages.push(Ok(Message::Info(Info::outdated_cursor(None))));

    let mut written = 0;
    for (i, message) in messages.into_iter().enumerate() {
        let message = message.expect("fixture frame converts");
        let name = format!("seed-{i:03}");
        std::fs::write(Path::new(&out).join(name), encode_frame(&message))
            .expect("seed file can be written");
        written += 1;
    }
    println!("wrote {written} seed frames to {out}");
}
