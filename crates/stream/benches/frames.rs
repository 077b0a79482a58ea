//! Decode and encode throughput of the fixture frames (the indigo relay scenarios and the
//! captured commits), as CBOR frames.

use std::hint::black_box;

use atrelay_stream::{
    decode_frame, decode_frame_bytes, encode_frame, frame_with_seq, message_from_json,
};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/indigo");

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(format!("{FIXTURES}/{dir}"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// The `#commit` fixture frames, encoded.
fn commit_frames() -> Vec<Bytes> {
    let commit_header = serde_json::json!({"op": 1, "t": "#commit"});
    let mut frames = Vec::new();
    for path in json_files("cmd/relay/testing/testdata") {
        for message in read(&path)["messages"].as_array().unwrap() {
            let frame = &message["frame"];
            if frame["header"] == commit_header {
                let m = message_from_json(&frame["header"], &frame["body"]).unwrap();
                frames.push(encode_frame(&m));
            }
        }
    }
    for path in json_files("atproto/repo/testdata") {
        if path.to_string_lossy().contains("firehose_commit_") {
            let m = message_from_json(&commit_header, &read(&path)).unwrap();
            frames.push(encode_frame(&m));
        }
    }
    frames
}

fn bench_frames(c: &mut Criterion) {
    let frames = commit_frames();
    let total: usize = frames.iter().map(Bytes::len).sum();
    let mut group = c.benchmark_group("commit_frames");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for frame in &frames {
                black_box(decode_frame(black_box(frame)).unwrap());
            }
        })
    });
    group.bench_function("decode_shared", |b| {
        b.iter(|| {
            for frame in &frames {
                black_box(decode_frame_bytes(black_box(frame)).unwrap());
            }
        })
    });
    let messages: Vec<_> = frames.iter().map(|f| decode_frame(f).unwrap()).collect();
    group.bench_function("encode", |b| {
        b.iter(|| {
            for message in &messages {
                black_box(encode_frame(black_box(message)));
            }
        })
    });
    group.bench_function("decode_set_seq_encode", |b| {
        b.iter(|| {
            for (i, frame) in frames.iter().enumerate() {
                let mut message = decode_frame_bytes(black_box(frame)).unwrap();
                message.set_seq(i as i64 + 1);
                black_box(encode_frame(&message));
            }
        })
    });
    // What the relay does for a frame it passes on unchanged.
    group.bench_function("splice_seq", |b| {
        b.iter(|| {
            for (i, frame) in frames.iter().enumerate() {
                black_box(frame_with_seq(black_box(frame), i as i64 + 1).unwrap());
            }
        })
    });
    // What the relay did before: encode the already decoded message with its new seq.
    group.bench_function("set_seq_encode", |b| {
        let mut messages = messages.clone();
        b.iter(|| {
            for (i, message) in messages.iter_mut().enumerate() {
                message.set_seq(i as i64 + 1);
                black_box(encode_frame(message));
            }
        })
    });
    group.finish();
    eprintln!(
        "{} commit frames, {} bytes in all ({} bytes on average)",
        frames.len(),
        total,
        total / frames.len()
    );
}

criterion_group!(benches, bench_frames);
criterion_main!(benches);
