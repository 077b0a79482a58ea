//! Decoding of message bodies into the typed messages, field by field, keeping what the types
//! do not hold (unknown fields, optional fields sent as `null`) in `extra`.
//!
//! Bodies reach this module only after [`atrelay_repo::cbor::check_atproto_bytes`] accepted
//! them, so keys are unique and canonical and no value is a float.

use std::fmt;

use atrelay_repo::cbor::CborError;
use atrelay_repo::cid::Cid;
use bytes::Bytes;
use ipld_core::ipld::Ipld;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::error::FrameError;
use crate::message::{Account, Commit, ErrorFrame, Extra, Identity, Info, RepoOp, Sync};

/// What a visitor yields: the message, or the name of a required field that was missing.
type Visited<T> = Result<T, &'static str>;

/// A message type that can be read from a body map.
pub(crate) trait Body: Sized {
    /// The name used in errors (`#commit`, …, `error`).
    const KIND: &'static str;

    /// Reads the body's entries.
    fn visit<'de, A: MapAccess<'de>>(
        map: A,
        source: Option<&Bytes>,
    ) -> Result<Visited<Self>, A::Error>;
}

/// Decodes a checked body as `T`. With `source`, byte fields are slices of it (no copy).
pub(crate) fn decode_body<T: Body>(body: &[u8], source: Option<&Bytes>) -> Result<T, FrameError> {
    let body_error = |e: serde_ipld_dagcbor::DecodeError<_>| FrameError::Body {
        kind: T::KIND,
        source: CborError::Decode(e.to_string()),
    };
    let mut deserializer = serde_ipld_dagcbor::de::Deserializer::from_slice(body);
    let visited = deserializer
        .deserialize_map(BodyVisitor::<T> {
            source,
            marker: std::marker::PhantomData,
        })
        .map_err(body_error)?;
    deserializer.end().map_err(body_error)?;
    visited.map_err(|field| FrameError::MissingField {
        kind: T::KIND,
        field,
    })
}

struct BodyVisitor<'s, T> {
    source: Option<&'s Bytes>,
    marker: std::marker::PhantomData<T>,
}

impl<'de, T: Body> Visitor<'de> for BodyVisitor<'_, T> {
    type Value = Visited<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} body map", T::KIND)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::visit(map, self.source)
    }
}

/// Turns a borrowed byte field into [`Bytes`]: a slice of `source` when it lies inside it,
/// otherwise a copy.
fn to_bytes(slice: &[u8], source: Option<&Bytes>) -> Bytes {
    if let Some(source) = source {
        let start = source.as_ptr() as usize;
        let sub = slice.as_ptr() as usize;
        if sub >= start && sub + slice.len() <= start + source.len() {
            return source.slice_ref(slice);
        }
    }
    Bytes::copy_from_slice(slice)
}

/// Reads a byte-string value borrowed from the input.
fn next_bytes<'de, A: MapAccess<'de>>(
    map: &mut A,
    source: Option<&Bytes>,
) -> Result<Bytes, A::Error> {
    let raw: &'de serde_bytes::Bytes = map.next_value()?;
    Ok(to_bytes(raw, source))
}

/// Reads an optional (non-nullable) field: a value fills `slot`, a `null` goes to `extra`.
fn next_optional<'de, A, T>(
    map: &mut A,
    key: &str,
    slot: &mut Option<T>,
    extra: &mut Extra,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    match map.next_value::<Option<T>>()? {
        Some(value) => *slot = Some(value),
        None => {
            extra.insert(key.to_owned(), Ipld::Null);
        }
    }
    Ok(())
}

/// Reads a field this crate does not know into `extra`.
fn next_extra<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
    extra: &mut Extra,
) -> Result<(), A::Error> {
    let value: Ipld = map.next_value()?;
    extra.insert(key.to_owned(), value);
    Ok(())
}

/// A body map key: one of the field names this crate knows (no allocation), or another.
enum Key {
    Known(&'static str),
    Other(String),
}

/// Every field name of every message type and of `#repoOp`.
const KNOWN_KEYS: &[&str] = &[
    "seq", "rebase", "tooBig", "repo", "commit", "rev", "since", "blocks", "ops", "blobs",
    "prevData", "time", "did", "handle", "active", "status", "name", "message", "error", "action",
    "path", "cid", "prev",
];

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Known(key) => key,
            Key::Other(key) => key,
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string map key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match KNOWN_KEYS.iter().find(|known| **known == key) {
            Some(known) => Key::Known(known),
            None => Key::Other(key.to_owned()),
        })
    }
}

impl Body for Commit {
    const KIND: &'static str = "#commit";

    fn visit<'de, A: MapAccess<'de>>(
        mut map: A,
        source: Option<&Bytes>,
    ) -> Result<Visited<Self>, A::Error> {
        let mut seq = None;
        let mut rebase = None;
        let mut too_big = None;
        let mut repo = None;
        let mut commit = None;
        let mut rev = None;
        let mut since: Option<Option<String>> = None;
        let mut blocks = None;
        let mut ops: Option<Vec<OpDe>> = None;
        let mut blobs = None;
        let mut prev_data = None;
        let mut time = None;
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.as_str() {
                "seq" => seq = Some(map.next_value::<i64>()?),
                "rebase" => rebase = Some(map.next_value::<bool>()?),
                "tooBig" => too_big = Some(map.next_value::<bool>()?),
                "repo" => repo = Some(map.next_value::<String>()?),
                "commit" => commit = Some(map.next_value::<Cid>()?),
                "rev" => rev = Some(map.next_value::<String>()?),
                "since" => since = Some(map.next_value()?),
                "blocks" => blocks = Some(next_bytes(&mut map, source)?),
                "ops" => ops = Some(map.next_value()?),
                "blobs" => blobs = Some(map.next_value::<Vec<Cid>>()?),
                "prevData" => next_optional(&mut map, key.as_str(), &mut prev_data, &mut extra)?,
                "time" => time = Some(map.next_value::<String>()?),
                _ => next_extra(&mut map, key.as_str(), &mut extra)?,
            }
        }
        Ok((|| {
            Ok(Commit {
                seq: seq.ok_or("seq")?,
                rebase: rebase.ok_or("rebase")?,
                too_big: too_big.ok_or("tooBig")?,
                repo: repo.ok_or("repo")?,
                commit: commit.ok_or("commit")?,
                rev: rev.ok_or("rev")?,
                since: since.ok_or("since")?,
                blocks: blocks.ok_or("blocks")?,
                ops: ops.ok_or("ops")?.into_iter().map(|op| op.0).collect(),
                blobs: blobs.ok_or("blobs")?,
                prev_data,
                time: time.ok_or("time")?,
                extra,
            })
        })())
    }
}

/// A [`RepoOp`] read inside the `ops` list; a missing field is a serde error there.
struct OpDe(RepoOp);

impl<'de> Deserialize<'de> for OpDe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OpVisitor)
    }
}

struct OpVisitor;

impl<'de> Visitor<'de> for OpVisitor {
    type Value = OpDe;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a #repoOp map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut action = None;
        let mut path = None;
        let mut cid: Option<Option<Cid>> = None;
        let mut prev = None;
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.as_str() {
                "action" => action = Some(map.next_value::<&'de str>()?.into()),
                "path" => path = Some(map.next_value::<String>()?),
                "cid" => cid = Some(map.next_value()?),
                "prev" => next_optional(&mut map, key.as_str(), &mut prev, &mut extra)?,
                _ => next_extra(&mut map, key.as_str(), &mut extra)?,
            }
        }
        Ok(OpDe(RepoOp {
            action: action.ok_or_else(|| de::Error::missing_field("action"))?,
            path: path.ok_or_else(|| de::Error::missing_field("path"))?,
            cid: cid.ok_or_else(|| de::Error::missing_field("cid"))?,
            prev,
            extra,
        }))
    }
}

impl Body for Sync {
    const KIND: &'static str = "#sync";

    fn visit<'de, A: MapAccess<'de>>(
        mut map: A,
        source: Option<&Bytes>,
    ) -> Result<Visited<Self>, A::Error> {
        let mut seq = None;
        let mut did = None;
        let mut blocks = None;
        let mut rev = None;
        let mut time = None;
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.as_str() {
                "seq" => seq = Some(map.next_value::<i64>()?),
                "did" => did = Some(map.next_value::<String>()?),
                "blocks" => blocks = Some(next_bytes(&mut map, source)?),
                "rev" => rev = Some(map.next_value::<String>()?),
                "time" => time = Some(map.next_value::<String>()?),
                _ => next_extra(&mut map, key.as_str(), &mut extra)?,
            }
        }
        Ok((|| {
            Ok(Sync {
                seq: seq.ok_or("seq")?,
                did: did.ok_or("did")?,
                blocks: blocks.ok_or("blocks")?,
                rev: rev.ok_or("rev")?,
                time: time.ok_or("time")?,
                extra,
            })
        })())
    }
}

impl Body for Identity {
    const KIND: &'static str = "#identity";

    fn visit<'de, A: MapAccess<'de>>(
        mut map: A,
        _source: Option<&Bytes>,
    ) -> Result<Visited<Self>, A::Error> {
        let mut seq = None;
        let mut did = None;
        let mut time = None;
        let mut handle = None;
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.as_str() {
                "seq" => seq = Some(map.next_value::<i64>()?),
                "did" => did = Some(map.next_value::<String>()?),
                "time" => time = Some(map.next_value::<String>()?),
                "handle" => next_optional(&mut map, key.as_str(), &mut handle, &mut extra)?,
                _ => next_extra(&mut map, key.as_str(), &mut extra)?,
            }
        }
        Ok((|| {
            Ok(Identity {
                seq: seq.ok_or("seq")?,
                did: did.ok_or("did")?,
                time: time.ok_or("time")?,
                handle,
                extra,
            })
        })())
    }
}

impl Body for Account {
    const KIND: &'static str = "#account";

    fn visit<'de, A: MapAccess<'de>>(
        mut map: A,
        _source: Option<&Bytes>,
    ) -> Result<Visited<Self>, A::Error> {
        let mut seq = None;
        let mut did = None;
        let mut time = None;
        let mut active = None;
        let mut status: Option<&'de str> = None;
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.as_str() {
                "seq" => seq = Some(map.next_value::<i64>()?),
                "did" => did = Some(map.next_value::<String>()?),
                "time" => time = Some(map.next_value::<String>()?),
                "active" => active = Some(map.next_value::<bool>()?),
                "status" => next_optional(&mut map, key.as_str(), &mut status, &mut extra)?,
                _ => next_extra(&mut map, key.as_str(), &mut extra)?,
            }
        }
        Ok((|| {
            Ok(Account {
                seq: seq.ok_or("seq")?,
                did: did.ok_or("did")?,
                time: time.ok_or("time")?,
                active: active.ok_or("active")?,
                status: status.map(Into::into),
                extra,
            })
        })())
    }
}

impl Body for Info {
    const KIND: &'static str = "#info";

    fn visit<'de, A: MapAccess<'de>>(
        mut map: A,
        _source: Option<&Bytes>,
    ) -> Result<Visited<Self>, A::Error> {
        let mut name = None;
        let mut message = None;
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.as_str() {
                "name" => name = Some(map.next_value::<String>()?),
                "message" => next_optional(&mut map, key.as_str(), &mut message, &mut extra)?,
                _ => next_extra(&mut map, key.as_str(), &mut extra)?,
            }
        }
        Ok(name.ok_or("name").map(|name| Info {
            name,
            message,
            extra,
        }))
    }
}

impl Body for ErrorFrame {
    const KIND: &'static str = "error";

    fn visit<'de, A: MapAccess<'de>>(
        mut map: A,
        _source: Option<&Bytes>,
    ) -> Result<Visited<Self>, A::Error> {
        let mut error = None;
        let mut message = None;
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.as_str() {
                "error" => error = Some(map.next_value::<String>()?),
                "message" => next_optional(&mut map, key.as_str(), &mut message, &mut extra)?,
                _ => next_extra(&mut map, key.as_str(), &mut extra)?,
            }
        }
        Ok(error.ok_or("error").map(|error| ErrorFrame {
            error,
            message,
            extra,
        }))
    }
}
