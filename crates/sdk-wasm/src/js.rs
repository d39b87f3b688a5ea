//! Bindings to the few globals the SDK needs, and small helpers for reading
//! option objects.
//!
//! Everything is looked up on the global scope (`globalThis`), never on
//! `window`, so the same module runs in browsers, workers and Node ≥ 20.
//! Calls that can throw (a missing global, a bad argument) are `catch`
//! imports: a JS exception must never unwind through Rust frames.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub(crate) fn fetch_with_request(req: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;

    /// The global `setTimeout`; returns the handle (a number in browsers,
    /// an object in Node).
    #[wasm_bindgen(catch, js_name = setTimeout)]
    pub(crate) fn set_timeout(handler: &Function, ms: f64) -> Result<JsValue, JsValue>;

    /// The global `clearTimeout`.
    #[wasm_bindgen(catch, js_name = clearTimeout)]
    pub(crate) fn clear_timeout(handle: &JsValue) -> Result<(), JsValue>;

    /// `console.error`, for exceptions thrown by user callbacks.
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub(crate) fn console_error(message: &str, error: &JsValue);

    /// `Date.now()`.
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    pub(crate) fn now_ms() -> f64;
}

/// `obj[key]`, or `undefined` when `obj` is not an object or the getter
/// throws.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key] = value` on an object we created ourselves.
pub(crate) fn set(obj: &Object, key: &str, value: &JsValue) {
    // Cannot fail on a plain, extensible object.
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// A string option; `null`/`undefined` are absent, anything else that is
/// not a string is a `TypeError`.
pub(crate) fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    let v = get(obj, key);
    if v.is_null() || v.is_undefined() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| type_error(&format!("option `{key}` must be a string")))
}

/// A required string option.
pub(crate) fn req_string(obj: &JsValue, key: &str) -> Result<String, JsValue> {
    match opt_string(obj, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(type_error(&format!("option `{key}` is required"))),
    }
}

/// A non-negative number option.
pub(crate) fn opt_number(obj: &JsValue, key: &str) -> Result<Option<f64>, JsValue> {
    let v = get(obj, key);
    if v.is_null() || v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(type_error(&format!(
            "option `{key}` must be a non-negative number"
        ))),
    }
}

/// A function option.
pub(crate) fn opt_function(obj: &JsValue, key: &str) -> Result<Option<Function>, JsValue> {
    let v = get(obj, key);
    if v.is_null() || v.is_undefined() {
        return Ok(None);
    }
    v.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| type_error(&format!("option `{key}` must be a function")))
}

/// A `TypeError` for a bad argument.
pub(crate) fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// Calls a user callback. An exception it throws is reported on the
/// console, never propagated into the SDK's own control flow.
pub(crate) fn call_user(name: &str, f: &Function, args: &[&JsValue]) {
    let this = JsValue::UNDEFINED;
    let result = match args {
        [] => f.call0(&this),
        [a] => f.call1(&this, a),
        [a, b] => f.call2(&this, a, b),
        [a, b, c, ..] => f.call3(&this, a, b, c),
    };
    if let Err(e) = result {
        console_error(&format!("switchyard: the {name} callback threw"), &e);
    }
}

/// `globalThis.<key>`, or `undefined`.
pub(crate) fn global(key: &str) -> JsValue {
    get(&js_sys::global(), key)
}
