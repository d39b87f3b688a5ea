//! `SwitchyardError`: the one error type the SDK throws for daemon and
//! network failures.
//!
//! The daemon answers every error as `{"error": {"kind", "message",
//! "hint"?}}` (plus `Retry-After` on 429s). [`ApiError`] carries those
//! fields on the Rust side and turns into an instance of the JS class
//! `SwitchyardError` (a real `Error` subclass, defined in `js/errors.js`)
//! when it crosses into JS. A request that never got an answer is kind
//! `network_error` with status 0; an error answer that is not the daemon's
//! JSON shape (a proxy's page, say) is kind `http_error`.

use wasm_bindgen::prelude::*;

use crate::js;

#[wasm_bindgen(module = "/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = SwitchyardError)]
    type SwitchyardErrorJs;

    #[wasm_bindgen(constructor, js_class = "SwitchyardError")]
    fn new(
        kind: &str,
        message: &str,
        status: u16,
        hint: Option<String>,
        retry_after: Option<f64>,
    ) -> SwitchyardErrorJs;
}

/// Kind for requests that got no HTTP answer.
pub(crate) const NETWORK_ERROR: &str = "network_error";
/// Kind for error answers that are not the daemon's JSON error shape.
pub(crate) const HTTP_ERROR: &str = "http_error";

/// A failed request, as the daemon described it.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub kind: String,
    pub message: String,
    pub status: u16,
    pub hint: Option<String>,
    pub retry_after: Option<f64>,
}

impl ApiError {
    /// A request that got no answer (DNS, refused, reset, CORS, ...).
    pub(crate) fn network(cause: &JsValue) -> Self {
        ApiError {
            kind: NETWORK_ERROR.into(),
            message: describe(cause),
            status: 0,
            hint: None,
            retry_after: None,
        }
    }

    /// An error answer. `body` is the response text; `retry_after` the
    /// `Retry-After` header.
    pub(crate) fn from_answer(status: u16, body: &str, retry_after: Option<&str>) -> Self {
        // Seconds (the daemon's form); an HTTP date is ignored. Parsed as
        // an integer: float parsing would add kilobytes to the module.
        let retry_after = retry_after
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map(f64::from);
        let parsed = js_sys::JSON::parse(body).ok();
        let error = parsed
            .as_ref()
            .map(|v| js::get(v, "error"))
            .unwrap_or(JsValue::UNDEFINED);
        let kind = js::get(&error, "kind").as_string();
        let message = js::get(&error, "message").as_string();
        match (kind, message) {
            (Some(kind), message) => ApiError {
                kind,
                message: message.unwrap_or_else(|| format!("HTTP {status}")),
                status,
                hint: js::get(&error, "hint").as_string(),
                retry_after,
            },
            (None, _) => {
                let snippet: String = body.trim().chars().take(200).collect();
                ApiError {
                    kind: HTTP_ERROR.into(),
                    message: if snippet.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status}: {snippet}")
                    },
                    status,
                    hint: None,
                    retry_after,
                }
            }
        }
    }

    /// The JS `SwitchyardError`.
    pub(crate) fn to_js(&self) -> JsValue {
        SwitchyardErrorJs::new(
            &self.kind,
            &self.message,
            self.status,
            self.hint.clone(),
            self.retry_after,
        )
        .into()
    }
}

impl From<ApiError> for JsValue {
    fn from(e: ApiError) -> JsValue {
        e.to_js()
    }
}

/// A readable message for a thrown JS value: `message`, plus the `cause`'s
/// message when there is one (Node's fetch says only "fetch failed" and puts
/// "connect ECONNREFUSED ..." in the cause).
pub(crate) fn describe(e: &JsValue) -> String {
    let message = js::get(e, "message")
        .as_string()
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "request failed".into());
    match js::get(&js::get(e, "cause"), "message").as_string() {
        Some(cause) if !cause.is_empty() => format!("{message} ({cause})"),
        _ => message,
    }
}
