//! Scripted upstreams: relay scenario files in indigo's JSON layout (`accounts` with their
//! identities, `messages` with a frame each and whether a relay must pass or drop it), turned
//! into frame bytes a [`crate::FakePds`] can serve verbatim with
//! [`crate::FakePds::emit_raw`], and DID documents a [`crate::FakeDirectory`] can serve.

use std::path::Path;

use atrelay_stream::{encode_frame, message_from_json};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::TestkitError;

/// One scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file's `description`, when it has one.
    pub description: Option<String>,
    /// Whether the relay runs with lenient sync validation (`lenient`).
    pub lenient: bool,
    /// The accounts whose documents must resolve.
    pub accounts: Vec<ScenarioAccount>,
    /// The upstream frames, in the order the host sends them.
    pub messages: Vec<ScenarioMessage>,
}

/// An account of a scenario: what its DID document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioAccount {
    /// The DID.
    pub did: String,
    /// The handle, when the identity names one.
    pub handle: Option<String>,
    /// The `#atproto` key as a multibase string (`publicKeyMultibase`).
    pub signing_key: String,
    /// The `#atproto_pds` endpoint the file names (a real host; tests replace it).
    pub pds_endpoint: Option<String>,
    /// The account status the file gives (`active`, …).
    pub status: String,
}

impl ScenarioAccount {
    /// The DID document naming `pds_endpoint` as the PDS, with the file's key and handle.
    pub fn document(&self, pds_endpoint: &str) -> Value {
        let also_known_as: Vec<String> = self
            .handle
            .iter()
            .map(|handle| format!("at://{handle}"))
            .collect();
        json!({
            "@context": [
                "https://www.w3.org/ns/did/v1",
                "https://w3id.org/security/multikey/v1"
            ],
            "id": self.did,
            "alsoKnownAs": also_known_as,
            "verificationMethod": [{
                "id": format!("{}#atproto", self.did),
                "type": "Multikey",
                "controller": self.did,
                "publicKeyMultibase": self.signing_key,
            }],
            "service": [{
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": pds_endpoint,
            }],
        })
    }
}

/// One upstream frame of a scenario and what a relay must do with it.
#[derive(Debug, Clone)]
pub struct ScenarioMessage {
    /// The message type (`#commit`, `#sync`, `#identity`, `#account`).
    pub kind: String,
    /// The upstream `seq` the frame carries.
    pub seq: i64,
    /// The frame bytes: the JSON header and body as DAG-CBOR, back to back.
    pub frame: Bytes,
    /// The relay must not pass it on (`drop`).
    pub drop: bool,
    /// The file marks the message invalid (`invalid`), whether or not it is dropped.
    pub invalid: bool,
    /// The file expects account state or identity to change (`update`).
    pub update: bool,
}

#[derive(Deserialize)]
struct FileScenario {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    lenient: bool,
    #[serde(default)]
    accounts: Vec<FileAccount>,
    #[serde(default)]
    messages: Vec<FileMessage>,
}

#[derive(Deserialize)]
struct FileAccount {
    identity: FileIdentity,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct FileIdentity {
    did: String,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    services: Value,
    #[serde(default)]
    keys: Value,
}

#[derive(Deserialize)]
struct FileMessage {
    frame: FileFrame,
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    invalid: bool,
    #[serde(default)]
    update: bool,
}

#[derive(Deserialize)]
struct FileFrame {
    header: Value,
    body: Value,
}

fn bad(path: &Path, reason: impl Into<String>) -> TestkitError {
    TestkitError::Scenario {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl Scenario {
    /// Reads a scenario file. Each frame is built from its JSON header and body (`$bytes` as
    /// bytes, `$link` as CID links), checked by the stream decoder and written in canonical
    /// DAG-CBOR; a `#commit` body's `"blobs": null` (Go's JSON for an empty list) is the empty
    /// list every implementation writes on the wire.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] when the file cannot be read, [`TestkitError::Scenario`] when it
    /// is not a scenario.
    pub fn load(path: &Path) -> Result<Scenario, TestkitError> {
        let text = std::fs::read_to_string(path)?;
        let file: FileScenario =
            serde_json::from_str(&text).map_err(|e| bad(path, e.to_string()))?;
        let accounts = file
            .accounts
            .into_iter()
            .map(|account| {
                let identity = account.identity;
                let signing_key = identity.keys["atproto"]["publicKeyMultibase"]
                    .as_str()
                    .ok_or_else(|| bad(path, format!("{} has no atproto key", identity.did)))?
                    .to_owned();
                Ok(ScenarioAccount {
                    pds_endpoint: identity.services["atproto_pds"]["url"]
                        .as_str()
                        .map(str::to_owned),
                    did: identity.did,
                    handle: identity.handle,
                    signing_key,
                    status: account.status,
                })
            })
            .collect::<Result<Vec<_>, TestkitError>>()?;
        let messages = file
            .messages
            .into_iter()
            .enumerate()
            .map(|(index, message)| {
                let decoded = message_from_json(&message.frame.header, &message.frame.body)
                    .map_err(|e| bad(path, format!("message {index}: {e}")))?;
                Ok(ScenarioMessage {
                    kind: decoded.type_name().unwrap_or_default().to_owned(),
                    seq: decoded
                        .seq()
                        .ok_or_else(|| bad(path, format!("message {index} has no seq")))?,
                    frame: encode_frame(&decoded),
                    drop: message.drop,
                    invalid: message.invalid,
                    update: message.update,
                })
            })
            .collect::<Result<Vec<_>, TestkitError>>()?;
        Ok(Scenario {
            description: file.description,
            lenient: file.lenient,
            accounts,
            messages,
        })
    }
}
