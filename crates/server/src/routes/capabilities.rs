//! `GET /capabilities` — what this daemon speaks and allows.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;

/// Protocol version, features, limits and configured agents.
pub async fn capabilities(State(state): State<AppState>) -> Json<Value> {
    let config = state.registry.config();
    let l = &config.limits;
    let agents: Vec<Value> = config
        .agents
        .iter()
        .map(|(name, spec)| {
            json!({ "name": name, "command": spec.display(), "default": *name == config.default_agent })
        })
        .collect();
    Json(json!({
        "protocolVersion": switchyard_core::PROTOCOL_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
        "features": ["agent_sessions", "resume", "snapshot", "resync", "permissions", "prompt_queue", "presence", "model", "approval_mode", "permission_policies", "terminal_sessions", "terminal_ownership", "screen_snapshot"],
        "permissionPolicy": config.permission_policy,
        "eventTypes": switchyard_core::event::KNOWN_TYPES,
        "errorKinds": switchyard_core::ErrorKind::KNOWN,
        "limits": {
            "ringFrames": l.ring_frames,
            "ringBytes": l.ring_bytes,
            "queueFrames": l.queue_frames,
            "queueBytes": l.queue_bytes,
            "maxSubscribers": l.max_subscribers,
            "maxBodyBytes": l.max_body_bytes,
            "promptQueue": l.prompt_queue,
            "initTimeoutMs": l.init_timeout.as_millis() as u64,
            "heartbeatMs": l.heartbeat.as_millis() as u64,
            "maxSessions": l.max_sessions,
            "presenceGraceMs": l.presence_grace.as_millis() as u64,
            "changeTimeoutMs": l.change_timeout.as_millis() as u64,
            "permissionTimeoutMs": l.permission_timeout.map(|t| t.as_millis() as u64),
            "maxReadBytes": l.max_read_bytes,
            "maxWriteBytes": l.max_write_bytes,
        },
        "agents": agents,
        "defaultAgent": config.default_agent,
    }))
}
