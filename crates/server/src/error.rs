//! The daemon's one error type, mapped to the shared HTTP error shape:
//! `{"error": {"kind", "message", "hint"?}}` with the matching status.
//!
//! `kind` is core's [`ErrorKind`], the same vocabulary `stream_error`,
//! `turn_error` and `session_died` carry, so a client handles a failed
//! request and a failed stream with one switch.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchyard_core::ErrorKind;

/// An error answered to an HTTP client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// Classification.
    pub kind: ErrorKind,
    /// What went wrong, for a human.
    pub message: String,
    /// What to do about it, when there is something to do.
    pub hint: Option<String>,
    /// Seconds to wait before retrying (sets `Retry-After`).
    pub retry_after: Option<u64>,
    /// A status other than the kind's usual one (e.g. 429 for too many
    /// streams, which is `session_busy`).
    pub status_override: Option<StatusCode>,
}

/// Shorthand for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            hint: None,
            retry_after: None,
            status_override: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Answers with `status` instead of the kind's usual one.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status_override = Some(status);
        self
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        self.status_override
            .unwrap_or_else(|| status_for(&self.kind))
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// 404 `session_not_found`.
    pub fn session_not_found(id: &str) -> Self {
        Self::new(
            ErrorKind::SessionNotFound,
            format!("no session with id {id:?}"),
        )
        .hint("GET /session lists the sessions this daemon knows")
    }
}

/// The status each kind maps to (documented in docs/protocol.md).
pub fn status_for(kind: &ErrorKind) -> StatusCode {
    use ErrorKind::*;
    match kind {
        InvalidRequest | ParseError | ClientIdRequired | UnknownClient | InvalidOption
        | InvalidMode | InvalidModel => StatusCode::BAD_REQUEST,
        Unauthorized => StatusCode::UNAUTHORIZED,
        ForbiddenOrigin | RoleForbidden | PathOutsideWorkspace | SymlinkEscape
        | UntrustedWorkspace => StatusCode::FORBIDDEN,
        SessionNotFound | PermissionNotFound => StatusCode::NOT_FOUND,
        OwnerRequired | SessionBusy | PermissionAlreadyResolved => StatusCode::CONFLICT,
        PayloadTooLarge | FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        BinaryFile => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        PromptQueueFull => StatusCode::TOO_MANY_REQUESTS,
        MissingBinary | AuthRequired | ProtocolError | AgentExited => StatusCode::BAD_GATEWAY,
        InitTimeout | PromptDeadlineExceeded | RequestTimeout => StatusCode::GATEWAY_TIMEOUT,
        IoError | Internal | Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "kind": self.kind.as_str(), "message": self.message });
        if let Some(h) = &self.hint {
            body["hint"] = h.as_str().into();
        }
        let mut resp = (self.status(), Json(json!({ "error": body }))).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_kind_has_a_deliberate_status() {
        for k in ErrorKind::KNOWN {
            let s = status_for(&ErrorKind::parse(k));
            assert!(s.is_client_error() || s.is_server_error(), "{k} -> {s}");
        }
        assert_eq!(status_for(&ErrorKind::OwnerRequired), StatusCode::CONFLICT);
        assert_eq!(
            status_for(&ErrorKind::PromptQueueFull),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
