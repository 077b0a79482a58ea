//! `subscribeRepos` over a WebSocket: replay from the cursor, then live, without gap or
//! duplicate.

use std::sync::Arc;

use atrelay_stream::{encode_frame, ErrorFrame, Info, Message};
use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use crate::directory::lock;

#[derive(Deserialize)]
pub(crate) struct SubscribeParams {
    cursor: Option<i64>,
}

/// Upgrades the request; the cursor is read from the query string.
pub(crate) async fn subscribe(
    ws: WebSocketUpgrade,
    State(shared): State<Arc<Shared>>,
    Query(params): Query<SubscribeParams>,
) -> Response {
    ws.on_upgrade(move |socket| serve(socket, shared, params.cursor))
}

/// What to do first on a new connection.
enum Start {
    /// Send these frames (an optional `#info`, then events), then live events.
    Replay(Vec<bytes::Bytes>),
    /// Send this error frame and close.
    Refuse(bytes::Bytes),
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>, cursor: Option<i64>) {
    let mut kick = shared.kick.subscribe();
    // Subscribing and taking the backlog under one lock: every event is in exactly one.
    let (start, mut live) = {
        let state = lock(&shared.state);
        let live = shared.live.subscribe();
        let head = state.head_seq();
        let start = match cursor {
            None => Start::Replay(Vec::new()),
            Some(cursor) if cursor > head => Start::Refuse(encode_frame(&Message::Error(
                ErrorFrame::future_cursor(Some(format!(
                    "cursor {cursor} is ahead of the stream head {head}"
                ))),
            ))),
            Some(cursor) => {
                let mut frames = Vec::new();
                if cursor < state.trimmed_through {
                    frames.push(encode_frame(&Message::Info(Info::outdated_cursor(Some(
                        format!("cursor {cursor} is older than the retained events"),
                    )))));
                }
                frames.extend(
                    state
                        .log
                        .iter()
                        .filter(|event| event.seq > cursor)
                        .map(|event| event.frame.clone()),
                );
                Start::Replay(frames)
            }
        };
        (start, live)
    };
    let backlog = match start {
        Start::Refuse(frame) => {
            let _ = socket.send(ws::Message::Binary(frame)).await;
            let _ = socket.send(ws::Message::Close(None)).await;
            return;
        }
        Start::Replay(backlog) => backlog,
    };
    for frame in backlog {
        if socket.send(ws::Message::Binary(frame)).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            event = live.recv() => match event {
                Ok(event) => {
                    if socket.send(ws::Message::Binary(event.frame)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let frame = encode_frame(&Message::Error(ErrorFrame::consumer_too_slow(None)));
                    let _ = socket.send(ws::Message::Binary(frame)).await;
                    let _ = socket.send(ws::Message::Close(None)).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                // The stream is one-way: anything the client sends is ignored.
                Some(Ok(ws::Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = kick.changed() => {
                let _ = socket.send(ws::Message::Close(None)).await;
                return;
            }
        }
    }
}
