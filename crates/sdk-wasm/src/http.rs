//! Requests to the daemon with the global `fetch`: headers, error answers.
//!
//! The token always travels as `Authorization: Bearer`, the client id as
//! `X-Client-Id`, never in the URL (URLs end up in logs and histories).

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestInit, Response};

use crate::error::{ApiError, HTTP_ERROR};
use crate::js;

/// Where the daemon is and how to authenticate.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// `http://127.0.0.1:7777`, without a trailing slash.
    pub base: String,
    /// The daemon's token.
    pub token: Option<String>,
}

impl Endpoint {
    /// Reads `baseUrl` (default: the page's own origin, where there is one)
    /// and `token` from an options object.
    pub(crate) fn from_options(options: &JsValue) -> Result<Endpoint, JsValue> {
        let base = match js::opt_string(options, "baseUrl")? {
            Some(b) if !b.is_empty() => b,
            _ => js::get(&js::global("location"), "origin")
                .as_string()
                .filter(|o| o.starts_with("http"))
                .ok_or_else(|| js::type_error("option `baseUrl` is required"))?,
        };
        Ok(Endpoint {
            base: base.trim_end_matches('/').to_owned(),
            token: js::opt_string(options, "token")?,
        })
    }
}

/// One path segment, percent-encoded (session and request ids).
pub(crate) fn segment(s: &str) -> String {
    js_sys::encode_uri_component(s).into()
}

/// One request.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    /// Starts with `/`.
    pub path: String,
    pub client_id: Option<&'a str>,
    /// JSON text.
    pub body: Option<String>,
    /// More headers (`Last-Event-ID`, `Accept`).
    pub headers: &'a [(&'a str, &'a str)],
    pub signal: Option<&'a AbortSignal>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: &'a str, path: String) -> Self {
        Call {
            method,
            path,
            client_id: None,
            body: None,
            headers: &[],
            signal: None,
        }
    }
}

/// Sends `call`; any HTTP answer is `Ok`, no answer is `network_error`.
pub(crate) async fn send(endpoint: &Endpoint, call: Call<'_>) -> Result<Response, ApiError> {
    let net = |e: JsValue| ApiError::network(&e);
    let headers = Headers::new().map_err(net)?;
    if let Some(token) = &endpoint.token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(net)?;
    }
    if let Some(id) = call.client_id {
        headers.set("X-Client-Id", id).map_err(net)?;
    }
    if call.body.is_some() {
        headers
            .set("Content-Type", "application/json")
            .map_err(net)?;
    }
    for (k, v) in call.headers {
        headers.set(k, v).map_err(net)?;
    }
    let init = RequestInit::new();
    init.set_method(call.method);
    init.set_headers(&headers);
    if let Some(body) = &call.body {
        init.set_body(&JsValue::from_str(body));
    }
    if let Some(signal) = call.signal {
        init.set_signal(Some(signal));
    }
    let url = format!("{}{}", endpoint.base, call.path);
    let request = Request::new_with_str_and_init(&url, &init).map_err(net)?;
    let answer = JsFuture::from(js::fetch_with_request(&request).map_err(net)?)
        .await
        .map_err(net)?;
    answer
        .dyn_into::<Response>()
        .map_err(|_| ApiError::network(&JsValue::from_str("fetch did not return a Response")))
}

/// The `ApiError` for a non-2xx answer (reads its body).
pub(crate) async fn error_from(response: &Response) -> ApiError {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let body = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    ApiError::from_answer(status, &body, retry_after.as_deref())
}

/// Sends `call` and returns the parsed JSON answer, or the error.
pub(crate) async fn json(endpoint: &Endpoint, call: Call<'_>) -> Result<JsValue, ApiError> {
    let response = send(endpoint, call).await?;
    if !response.ok() {
        return Err(error_from(&response).await);
    }
    let status = response.status();
    let bad_body = |e: JsValue| ApiError {
        kind: HTTP_ERROR.into(),
        message: format!(
            "HTTP {status}: the answer is not JSON ({})",
            crate::error::describe(&e)
        ),
        status,
        hint: None,
        retry_after: None,
    };
    let promise = response.json().map_err(bad_body)?;
    JsFuture::from(promise).await.map_err(bad_body)
}
