//! Request extractors that fail with the shared error shape instead of
//! axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use switchyard_core::ErrorKind;

use crate::error::ApiError;

/// A JSON body: invalid JSON → 400 `parse_error`, the wrong shape → 400
/// `invalid_request`, too large → 413 `payload_too_large`. An empty body
/// counts as `{}` so optional-only bodies may be omitted.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorKind::PayloadTooLarge, "request body is too large")
                    .hint("the daemon's --max-body-bytes sets the limit")
            } else {
                ApiError::invalid(format!("could not read the body: {e}"))
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::new(ErrorKind::ParseError, format!("invalid JSON: {e}"))
                }
                Category::Data => ApiError::invalid(format!("unexpected body: {e}")),
            }
        })
    }
}

/// The `X-Client-Id` header (or, for event streams, `?clientId=`).
pub struct ClientId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get("x-client-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let query = || query_param(parts.uri.query(), "clientId");
        Ok(ClientId(header.or_else(query)))
    }
}

/// One query parameter, percent-decoding nothing (ids and tokens are plain).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}
