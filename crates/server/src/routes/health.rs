//! `GET /health` — liveness, no token needed.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;

/// 200 while the daemon serves requests. `status` is `degraded` when the
/// journal failed a write (some events are not stored); the `journal`
/// object says why and which sessions are affected.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let journal = state.registry.journal().map(|j| j.status());
    let degraded: Vec<Value> = state
        .registry
        .degraded_sessions()
        .into_iter()
        .map(|(id, error)| json!({ "sessionId": id, "error": error }))
        .collect();
    let ok = journal.as_ref().is_none_or(|j| j.status == "ok") && degraded.is_empty();
    Json(json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "protocolVersion": switchyard_core::PROTOCOL_VERSION,
        "journal": match journal {
            Some(j) => json!({
                "enabled": true,
                "status": j.status,
                "path": j.path,
                "commits": j.commits,
                "events": j.events,
                "compactions": j.compactions,
                "failedCommits": j.failed_commits,
                "lastError": j.last_error,
                "degradedSessions": degraded,
            }),
            None => json!({ "enabled": false }),
        },
    }))
}
