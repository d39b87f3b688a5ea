//! `GET /health` — liveness, no token needed.

use axum::Json;
use serde_json::{Value, json};

/// Always 200 while the daemon serves requests.
pub async fn health() -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "protocolVersion": switchyard_core::PROTOCOL_VERSION,
    }))
}
