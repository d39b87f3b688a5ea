//! Conformance vectors: `tests/vectors/*.json`.
//!
//! Each file is plain JSON, runner-agnostic:
//!
//! ```json
//! { "name": "...", "description": "...",
//!   "frames": [ {frame}, "raw text of a malformed frame", ... ],
//!   "checks": { "/json/pointer/into/view": expected, ... },
//!   "view": { the complete expected view } }
//! ```
//!
//! A frame given as an object is serialized to JSON text first; a string is
//! fed as-is (to test malformed envelopes). Every frame goes through
//! `reduce_json`, the same entry point the SDK uses. `checks` are written by
//! hand and state the point of the vector; `view` pins everything else.

use serde_json::Value;
use std::path::{Path, PathBuf};
use switchyard_core::{SessionView, reduce_json};

/// One vector file.
#[derive(Debug, Clone)]
pub struct Vector {
    /// File it came from.
    pub path: PathBuf,
    /// Its whole JSON.
    pub json: Value,
}

/// The directory holding the vectors.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Loads every `*.json` under [`vectors_dir`], sorted by file name.
pub fn load_all() -> Vec<Vector> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable vector");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
            Vector { path, json }
        })
        .collect()
}

/// The frames of a vector as the text lines a client would receive.
pub fn frame_texts(v: &Value) -> Vec<String> {
    v["frames"]
        .as_array()
        .expect("vector has a frames array")
        .iter()
        .map(|f| match f {
            Value::String(s) => s.clone(),
            other => serde_json::to_string(other).expect("frame serializes"),
        })
        .collect()
}

/// Reduces a vector's frames from an empty view.
pub fn run(v: &Value) -> SessionView {
    let mut view = SessionView::new();
    for text in frame_texts(v) {
        reduce_json(&mut view, &text);
    }
    view
}
