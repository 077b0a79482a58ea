//! Helpers: a WebSocket client for the fake firehose and DID lookups through the directory.

use std::collections::HashMap;
use std::time::Duration;

use atrelay_identity::{HttpResolver, Resolver, ResolverConfig};
use atrelay_stream::decode_frame;
use atrelay_testkit::{AccountKey, CheckError, Checked, FakeDirectory, StreamChecker};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A connected firehose client.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Connects to `firehose_url`, with `?cursor=` when given.
pub async fn connect(firehose_url: &str, cursor: Option<i64>) -> Ws {
    let url = match cursor {
        Some(c) => format!("{firehose_url}?cursor={c}"),
        None => firehose_url.to_owned(),
    };
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws
}

/// The next binary frame, or `None` when the server closed the stream.
pub async fn next_frame(ws: &mut Ws) -> Option<Vec<u8>> {
    loop {
        let msg = tokio::time::timeout(HANG_GUARD, ws.next())
            .await
            .expect("no frame within the hang guard");
        match msg {
            None | Some(Err(_)) => return None,
            Some(Ok(WsMessage::Binary(bytes))) => return Some(bytes.to_vec()),
            Some(Ok(WsMessage::Close(_))) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Reads exactly `n` frames.
pub async fn read_frames(ws: &mut Ws, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(
            next_frame(ws)
                .await
                .unwrap_or_else(|| panic!("stream closed after {i} of {n} frames")),
        );
    }
    out
}

/// DID keys fetched from the directory (did:plc) or the PDS (did:web) with the identity crate.
pub struct Keys {
    resolver: HttpResolver,
    cache: HashMap<String, AccountKey>,
}

impl Keys {
    pub fn new(directory: &FakeDirectory) -> Self {
        let resolver = HttpResolver::new(ResolverConfig {
            plc_url: directory.url(),
            dev_mode: true,
            ..ResolverConfig::default()
        })
        .expect("resolver");
        Self {
            resolver,
            cache: HashMap::new(),
        }
    }

    /// Fetches `did`'s document again.
    pub async fn refresh(&mut self, did: &str) {
        match self.resolver.resolve(did).await {
            Ok(ident) => {
                if let Some(key) = ident.signing_key.clone() {
                    self.cache.insert(
                        did.to_owned(),
                        AccountKey {
                            key,
                            pds_host: ident.pds_host.clone(),
                        },
                    );
                }
            }
            Err(_) => {
                self.cache.remove(did);
            }
        }
    }

    /// Checks one frame, fetching the account's document first (always, with `fresh`, or
    /// when not cached yet).
    pub async fn check(
        &mut self,
        checker: &mut StreamChecker,
        frame: &[u8],
        fresh: bool,
    ) -> Result<Checked, CheckError> {
        if let Some(did) = decode_frame(frame)
            .ok()
            .and_then(|m| m.did().map(str::to_owned))
        {
            if fresh || !self.cache.contains_key(&did) {
                self.refresh(&did).await;
            }
        }
        let cache = &self.cache;
        checker.check(frame, |did| cache.get(did).cloned())
    }
}
