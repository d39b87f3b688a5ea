//! Payload validation: typed reads out of `serde_json::Value` that report the
//! exact field path of the first problem.
//!
//! Events are decoded by hand rather than with `#[derive(Deserialize)]`
//! because a client must be told *which* field was wrong
//! (`data.options[1].kind: expected a string`), and serde's derive cannot say
//! that without a std-only helper crate. Paths are a linked list on the stack
//! and only rendered when an error is actually built.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use serde::Serialize;
use serde_json::{Map, Value};

/// A payload that failed validation: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ValidationError {
    /// The event type whose payload failed (`permission_request`, ...).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Dotted path from the frame root, e.g. `data.options[1].kind`.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} payload at {}: {}",
            self.event_type, self.path, self.message
        )
    }
}

/// A position inside a frame, built without allocating.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    pub(crate) const fn root(name: &'a str) -> Self {
        Path {
            parent: None,
            seg: Seg::Key(name),
        }
    }

    pub(crate) fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    pub(crate) fn index(&self, i: usize) -> Path<'_> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            segs.push(p.seg);
            cur = p.parent;
        }
        let mut out = String::new();
        for seg in segs.iter().rev() {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// The error for this path. The event type is filled in by the caller
    /// that knows it (see [`crate::event::Event::decode`]).
    pub(crate) fn error(&self, message: impl Into<String>) -> ValidationError {
        ValidationError {
            event_type: String::new(),
            path: self.render(),
            message: message.into(),
        }
    }
}

pub(crate) type VResult<T> = Result<T, ValidationError>;

/// A raw JSON value as the view keeps it: objects sorted by key at every
/// level. Without this, a build where some other crate turns on serde_json's
/// `preserve_order` (the daemon: the ACP crate does) would serialize the
/// same view with a different key order than the wasm build — and views
/// must compare byte for byte. In builds without `preserve_order` maps are
/// always sorted and this is a plain clone.
pub fn raw(v: &Value) -> Value {
    let mut c = v.clone();
    c.sort_all_objects();
    c
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn as_object<'v>(v: &'v Value, p: &Path<'_>) -> VResult<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| p.error(format!("expected an object, found {}", kind_of(v))))
}

pub(crate) fn as_array<'v>(v: &'v Value, p: &Path<'_>) -> VResult<&'v Vec<Value>> {
    v.as_array()
        .ok_or_else(|| p.error(format!("expected an array, found {}", kind_of(v))))
}

/// A present, non-null field.
fn present<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

pub(crate) fn req<'v>(m: &'v Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<&'v Value> {
    present(m, key).ok_or_else(|| p.key(key).error("required field is missing"))
}

pub(crate) fn req_str<'v>(m: &'v Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<&'v str> {
    let v = req(m, key, p)?;
    v.as_str().ok_or_else(|| {
        p.key(key)
            .error(format!("expected a string, found {}", kind_of(v)))
    })
}

pub(crate) fn opt_str<'v>(
    m: &'v Map<String, Value>,
    key: &str,
    p: &Path<'_>,
) -> VResult<Option<&'v str>> {
    match present(m, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(p
            .key(key)
            .error(format!("expected a string, found {}", kind_of(v)))),
    }
}

pub(crate) fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    p: &Path<'_>,
) -> VResult<Option<String>> {
    Ok(opt_str(m, key, p)?.map(ToString::to_string))
}

pub(crate) fn opt_u64(m: &Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<Option<u64>> {
    match present(m, key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            p.key(key).error(format!(
                "expected a non-negative integer, found {}",
                kind_of(v)
            ))
        }),
    }
}

pub(crate) fn req_u64(m: &Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<u64> {
    opt_u64(m, key, p)?.ok_or_else(|| p.key(key).error("required field is missing"))
}

pub(crate) fn opt_i64(m: &Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<Option<i64>> {
    match present(m, key) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            p.key(key)
                .error(format!("expected an integer, found {}", kind_of(v)))
        }),
    }
}

pub(crate) fn opt_bool(m: &Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<Option<bool>> {
    match present(m, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(p
            .key(key)
            .error(format!("expected a boolean, found {}", kind_of(v)))),
    }
}

/// An optional field that must be an object when present; returned raw.
pub(crate) fn opt_object_value(
    m: &Map<String, Value>,
    key: &str,
    p: &Path<'_>,
) -> VResult<Option<Value>> {
    match present(m, key) {
        None => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(raw(v))),
        Some(v) => Err(p
            .key(key)
            .error(format!("expected an object, found {}", kind_of(v)))),
    }
}

/// An optional array whose items must all be objects; returned raw.
pub(crate) fn opt_object_array(
    m: &Map<String, Value>,
    key: &str,
    p: &Path<'_>,
) -> VResult<Option<Vec<Value>>> {
    let Some(v) = present(m, key) else {
        return Ok(None);
    };
    let kp = p.key(key);
    let items = as_array(v, &kp)?;
    for (i, item) in items.iter().enumerate() {
        as_object(item, &kp.index(i))?;
    }
    Ok(Some(items.iter().map(raw).collect()))
}

/// Decodes each element of a required array with `f`.
pub(crate) fn req_array_of<T>(
    m: &Map<String, Value>,
    key: &str,
    p: &Path<'_>,
    mut f: impl FnMut(&Value, &Path<'_>) -> VResult<T>,
) -> VResult<Vec<T>> {
    let v = req(m, key, p)?;
    let kp = p.key(key);
    let items = as_array(v, &kp)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(f(item, &kp.index(i))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_keys_and_indices() {
        let root = Path::root("data");
        let opts = root.key("options");
        let one = opts.index(1);
        let kind = one.key("kind");
        assert_eq!(kind.error("x").path, "data.options[1].kind");
    }

    #[test]
    fn type_errors_name_what_was_found() {
        let v = json!({"a": 5, "b": null});
        let m = v.as_object().unwrap();
        let p = Path::root("data");
        let e = req_str(m, "a", &p).unwrap_err();
        assert_eq!(e.path, "data.a");
        assert_eq!(e.message, "expected a string, found a number");
        // null counts as absent
        assert_eq!(opt_str(m, "b", &p).unwrap(), None);
        assert_eq!(
            req_str(m, "b", &p).unwrap_err().message,
            "required field is missing"
        );
    }
}
