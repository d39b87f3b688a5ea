//! `SessionView`: the core reducer, exposed to JS.
//!
//! Nothing here re-implements the protocol: [`apply`](SessionView::apply)
//! hands the frame's JSON text to `switchyard_core::reduce_json`, exactly as
//! the daemon and the native clients do, so every build agrees byte for
//! byte ([`state_json`](SessionView::state_json) is the comparable form).
//!
//! Crossing costs: a frame given as a string is copied into wasm once and
//! parsed there (the fast path, and what `Connection` does with SSE data).
//! A frame given as an object is turned into text with `JSON.stringify`
//! first — one call, instead of one boundary crossing per field, and exactly
//! the same semantics as the string path.

use std::cell::RefCell;
use std::rc::Rc;

use switchyard_core::{Applied, reduce_json};
use wasm_bindgen::prelude::*;

use crate::{js, panic};

/// The shared view behind a `SessionView` handle (a `Connection` holds the
/// same one).
pub(crate) type SharedView = Rc<RefCell<switchyard_core::SessionView>>;

const OUTCOME_NAMES: [&str; 6] = [
    "applied",
    "unknown",
    "stale",
    "gated",
    "invalid",
    "malformed",
];

thread_local! {
    /// The outcome strings, created in JS once: returning a cached string
    /// is about twice as fast per `apply` as decoding a new one.
    static OUTCOMES: [JsValue; 6] = OUTCOME_NAMES.map(JsValue::from_str);
}

/// The outcome of applying one frame, as JS sees it: `"applied"`, ...
pub(crate) fn outcome_js(a: &Applied) -> JsValue {
    let i = match a {
        Applied::Applied => 0,
        Applied::Unknown => 1,
        Applied::Stale => 2,
        Applied::Gated => 3,
        Applied::Invalid(_) => 4,
        Applied::Malformed(_) => 5,
    };
    OUTCOMES.with(|o| o[i].clone())
}

/// A session's view state, built by the core reducer from frames.
#[wasm_bindgen]
pub struct SessionView {
    inner: SharedView,
}

impl SessionView {
    pub(crate) fn from_shared(inner: SharedView) -> Self {
        SessionView { inner }
    }

    pub(crate) fn shared(&self) -> SharedView {
        Rc::clone(&self.inner)
    }

    /// Reads the `SharedView` out of a JS `SessionView` without consuming
    /// the caller's object: asks it for a second handle (`__share`) and
    /// unwraps that one.
    pub(crate) fn shared_from_js(value: &JsValue) -> Result<SharedView, JsValue> {
        let not_a_view = || js::type_error("option `view` must be a SessionView");
        let share = js::get(value, "__share")
            .dyn_into::<js_sys::Function>()
            .map_err(|_| not_a_view())?;
        let handle = share.call0(value)?;
        let view =
            <SessionView as wasm_bindgen::convert::TryFromJsValue>::try_from_js_value(handle)
                .map_err(|_| not_a_view())?;
        Ok(view.inner)
    }
}

/// Turns a frame (JSON text, or an object) into JSON text.
fn frame_text(frame: &JsValue) -> Option<String> {
    if let Some(s) = frame.as_string() {
        return Some(s);
    }
    // Objects (and anything else JSON can express) go through
    // JSON.stringify; a value it rejects (a BigInt, a cycle) or turns into
    // `undefined` is malformed.
    js_sys::JSON::stringify(frame)
        .ok()
        .and_then(|s| s.as_string())
}

/// Applies one frame; a frame that is not even JSON counts as malformed
/// through `reduce_json`, like any unreadable text.
pub(crate) fn apply_to(view: &SharedView, frame: &JsValue) -> Applied {
    let text = frame_text(frame).unwrap_or_default();
    reduce_json(&mut view.borrow_mut(), &text)
}

/// The view as plain JS objects (no `Map`s): core's JSON text, parsed by
/// the engine's `JSON.parse`.
///
/// Measured against `serde_wasm_bindgen::Serializer::json_compatible()` on
/// a 140 KB view (Node 20): the same speed (0.7-0.9 ms either way), while
/// serde-wasm-bindgen adds ~4.5 KB gzipped to the module and throws on
/// integers beyond 2^53 where `JSON.parse` rounds like any JS JSON reader.
pub(crate) fn state_of(view: &SharedView) -> Result<JsValue, JsValue> {
    let json = view.borrow().to_json();
    js_sys::JSON::parse(&json)
}

#[wasm_bindgen]
impl SessionView {
    /// An empty view.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<SessionView, JsValue> {
        panic::guard()?;
        Ok(SessionView {
            inner: Rc::new(RefCell::new(switchyard_core::SessionView::new())),
        })
    }

    /// Applies one frame (JSON text, or a frame object). Returns
    /// `"applied" | "unknown" | "stale" | "gated" | "invalid" | "malformed"`.
    pub fn apply(&self, frame: JsValue) -> Result<JsValue, JsValue> {
        panic::guard()?;
        Ok(outcome_js(&apply_to(&self.inner, &frame)))
    }

    /// Applies frames in order; returns how many were applied.
    #[wasm_bindgen(js_name = applyBatch)]
    pub fn apply_batch(&self, frames: JsValue) -> Result<u32, JsValue> {
        panic::guard()?;
        let frames = frames
            .dyn_into::<js_sys::Array>()
            .map_err(|_| js::type_error("applyBatch needs an array of frames"))?;
        let mut applied = 0;
        for frame in frames.iter() {
            if apply_to(&self.inner, &frame) == Applied::Applied {
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// The view as plain JS objects.
    pub fn state(&self) -> Result<JsValue, JsValue> {
        panic::guard()?;
        state_of(&self.inner)
    }

    /// The view as JSON text, in the stable field order shared by every
    /// build (what conformance tests compare).
    #[wasm_bindgen(js_name = stateJson)]
    pub fn state_json(&self) -> Result<String, JsValue> {
        panic::guard()?;
        Ok(self.inner.borrow().to_json())
    }

    /// The highest event id reduced (0 before any); resume from it.
    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> Result<f64, JsValue> {
        panic::guard()?;
        Ok(self.inner.borrow().last_event_id as f64)
    }

    /// True between `state_resync_required` and the snapshot that follows.
    #[wasm_bindgen(getter, js_name = awaitingResync)]
    pub fn awaiting_resync(&self) -> Result<bool, JsValue> {
        panic::guard()?;
        Ok(self.inner.borrow().stream.awaiting_resync)
    }

    /// A second handle on the same view (used by `Connection`).
    #[wasm_bindgen(js_name = __share, skip_typescript)]
    pub fn share(&self) -> Result<SessionView, JsValue> {
        panic::guard()?;
        Ok(SessionView {
            inner: self.shared(),
        })
    }
}
