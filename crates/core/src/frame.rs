//! The v1 envelope every event travels in.
//!
//! ```json
//! { "v":1, "id":42, "type":"permission_request", "data":{...},
//!   "originatorClientId":"c_...", "promptId":"...",
//!   "_meta":{"serverTimestamp":1763769600123} }
//! ```
//!
//! `Frame` keeps fields it does not know (at the top level and inside
//! `_meta`) so a frame round-trips through an older build unchanged.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The wire protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One event on a session's stream.
#[derive(Clone, Debug, PartialEq)]
// TS mirrors the hand-written serde below: optional keys may also be `null`.
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(rename_all = "camelCase", optional_fields = nullable)
)]
pub struct Frame {
    /// Protocol version (`1`).
    pub v: u32,
    /// Per-session monotonic id, starting at 1. `None` on the synthetic
    /// stream-control frames, which never consume an id.
    pub id: Option<u64>,
    /// The event type (`session_update`, `turn_complete`, ...).
    #[cfg_attr(feature = "ts", ts(rename = "type"))]
    pub kind: String,
    /// The type's payload; `null` when absent.
    pub data: Value,
    /// The client whose request caused this event, if any.
    pub originator_client_id: Option<String>,
    /// The prompt this event belongs to, if any.
    pub prompt_id: Option<String>,
    /// `_meta`: the daemon's timestamp plus anything else it adds.
    #[cfg_attr(feature = "ts", ts(rename = "_meta", as = "Option<_>"))]
    pub meta: Meta,
    /// Top-level fields this build does not know, kept verbatim.
    #[cfg_attr(feature = "ts", ts(skip))] // gen-ts: `[key: string]: unknown`
    pub extra: Map<String, Value>,
}

/// The envelope's `_meta` object.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(rename = "FrameMeta", rename_all = "camelCase", optional_fields = nullable)
)]
pub struct Meta {
    /// Milliseconds since the Unix epoch when the daemon produced the frame.
    pub server_timestamp: Option<u64>,
    /// Other `_meta` keys, kept verbatim.
    #[cfg_attr(feature = "ts", ts(skip))] // gen-ts: `[key: string]: unknown`
    pub extra: Map<String, Value>,
}

impl Meta {
    /// True when there is nothing to serialize.
    pub fn is_empty(&self) -> bool {
        self.server_timestamp.is_none() && self.extra.is_empty()
    }
}

impl Frame {
    /// A frame of `kind` with `data`, no id and no metadata.
    pub fn new(kind: impl Into<String>, data: Value) -> Self {
        Frame {
            v: PROTOCOL_VERSION,
            id: None,
            kind: kind.into(),
            data,
            originator_client_id: None,
            prompt_id: None,
            meta: Meta::default(),
            extra: Map::new(),
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets `_meta.serverTimestamp`.
    pub fn with_timestamp(mut self, ms: u64) -> Self {
        self.meta.server_timestamp = Some(ms);
        self
    }

    /// Sets `originatorClientId`.
    pub fn with_originator(mut self, client_id: impl Into<String>) -> Self {
        self.originator_client_id = Some(client_id.into());
        self
    }

    /// Sets `promptId`.
    pub fn with_prompt_id(mut self, prompt_id: impl Into<String>) -> Self {
        self.prompt_id = Some(prompt_id.into());
        self
    }

    /// Parses one frame from JSON text.
    pub fn from_json(text: &str) -> Result<Frame, FrameError> {
        serde_json::from_str(text).map_err(|e| FrameError::from_json(&e))
    }

    /// Serializes to compact JSON (the `data:` line of an SSE event).
    pub fn to_json(&self) -> String {
        // Serializing a Frame cannot fail: every key is a string and every
        // value is already JSON.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a frame's envelope could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// What was wrong, with serde_json's line/column when it has one.
    pub message: String,
}

impl FrameError {
    fn from_json(e: &serde_json::Error) -> Self {
        FrameError {
            message: alloc::format!("{e}"),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed frame: {}", self.message)
    }
}

impl Serialize for Frame {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("v", &self.v)?;
        if let Some(id) = self.id {
            m.serialize_entry("id", &id)?;
        }
        m.serialize_entry("type", &self.kind)?;
        m.serialize_entry("data", &self.data)?;
        if let Some(c) = &self.originator_client_id {
            m.serialize_entry("originatorClientId", c)?;
        }
        if let Some(p) = &self.prompt_id {
            m.serialize_entry("promptId", p)?;
        }
        if !self.meta.is_empty() {
            m.serialize_entry("_meta", &self.meta)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for Meta {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(ts) = self.server_timestamp {
            m.serialize_entry("serverTimestamp", &ts)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut extra = Map::<String, Value>::deserialize(d)?;
        let server_timestamp = match extra.remove("serverTimestamp") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| {
                de::Error::custom("_meta.serverTimestamp must be a non-negative integer")
            })?),
            Some(_) => {
                return Err(de::Error::custom(
                    "_meta.serverTimestamp must be a non-negative integer",
                ));
            }
        };
        Ok(Meta {
            server_timestamp,
            extra,
        })
    }
}

impl<'de> Deserialize<'de> for Frame {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FrameVisitor)
    }
}

struct FrameVisitor;

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = Frame;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Switchyard frame object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Frame, A::Error> {
        let mut v = None;
        let mut id = None;
        let mut kind: Option<String> = None;
        let mut data = Value::Null;
        let mut originator = None;
        let mut prompt_id = None;
        let mut meta = Meta::default();
        let mut extra = Map::new();
        // Keys are borrowed when the input allows it: no allocation for the
        // known ones.
        while let Some(key) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "v" => v = Some(map.next_value::<u32>()?),
                "id" => id = map.next_value::<Option<u64>>()?,
                "type" => kind = Some(map.next_value()?),
                "data" => data = map.next_value()?,
                "originatorClientId" => originator = map.next_value()?,
                "promptId" => prompt_id = map.next_value()?,
                "_meta" => meta = map.next_value::<Option<Meta>>()?.unwrap_or_default(),
                other => {
                    extra.insert(other.into(), map.next_value()?);
                }
            }
        }
        let v = v.ok_or_else(|| de::Error::missing_field("v"))?;
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        Ok(Frame {
            v,
            id,
            kind,
            data,
            originator_client_id: originator,
            prompt_id,
            meta,
            extra,
        })
    }
}

/// Parses a JSON array of frames (the conformance vectors' `frames`).
pub fn frames_from_json(text: &str) -> Result<Vec<Frame>, FrameError> {
    serde_json::from_str(text).map_err(|e| FrameError::from_json(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_unknown_fields() {
        let text = r#"{"v":1,"id":42,"type":"permission_request","data":{"requestId":"r1"},"originatorClientId":"c_1","promptId":"p1","_meta":{"serverTimestamp":1763769600123,"trace":"t"},"future":{"x":[1,2]}}"#;
        let f = Frame::from_json(text).unwrap();
        assert_eq!(f.id, Some(42));
        assert_eq!(f.kind, "permission_request");
        assert_eq!(f.meta.server_timestamp, Some(1763769600123));
        assert_eq!(f.meta.extra["trace"], json!("t"));
        assert_eq!(f.extra["future"], json!({"x":[1,2]}));
        assert_eq!(f.to_json(), text);
    }

    #[test]
    fn id_less_frames_omit_id() {
        // One data key: key order inside `data` depends on serde_json's
        // `preserve_order`, which the daemon's build turns on.
        let f = Frame::new("replay_complete", json!({"lastEventId": 0}));
        assert_eq!(
            f.to_json(),
            r#"{"v":1,"type":"replay_complete","data":{"lastEventId":0}}"#
        );
    }

    #[test]
    fn envelope_errors_are_reported_not_panicked() {
        assert!(Frame::from_json("{").is_err());
        assert!(
            Frame::from_json(r#"{"type":"x"}"#)
                .unwrap_err()
                .message
                .contains("`v`")
        );
        assert!(
            Frame::from_json(r#"{"v":1}"#)
                .unwrap_err()
                .message
                .contains("`type`")
        );
        assert!(Frame::from_json(r#"{"v":1,"type":"x","id":-1}"#).is_err());
        assert!(
            Frame::from_json(r#"{"v":1,"type":"x","_meta":{"serverTimestamp":"no"}}"#).is_err()
        );
        assert!(Frame::from_json("[]").is_err());
    }

    #[test]
    fn missing_data_is_null() {
        let f = Frame::from_json(r#"{"v":1,"type":"scrollback_cleared"}"#).unwrap();
        assert_eq!(f.data, Value::Null);
    }
}
