//! `/session` — create, list, inspect, attach to and close sessions.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::{ErrorKind, Role};

use super::AppState;
use crate::auth::Grant;
use crate::config::PermissionPolicy;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientId, JsonBody};
use crate::session::{
    AgentSessionOptions, ClientEntry, Command, Session, SessionKind, TerminalSessionOptions,
};

/// `POST /session` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Configured agent name (default agent when absent).
    pub agent: Option<String>,
    /// Workspace directory (the daemon's cwd when absent).
    pub cwd: Option<PathBuf>,
    /// `agent` (default) or `terminal`.
    pub kind: Option<String>,
    /// Terminal: the program (the user's login shell when absent).
    pub command: Option<String>,
    /// Terminal: its arguments.
    pub args: Option<Vec<String>>,
    /// Terminal: extra environment variables.
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// Terminal: columns (default 80).
    pub cols: Option<u16>,
    /// Terminal: rows (default 24).
    pub rows: Option<u16>,
    /// The creator's display name (as for attach).
    pub name: Option<String>,
    /// `first-responder` or `designated`; the daemon's policy when absent.
    #[serde(rename = "permissionPolicy")]
    pub permission_policy: Option<String>,
}

/// Longest display name a client may give.
const MAX_NAME_BYTES: usize = 200;

/// `POST /session/{id}/attach` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attach {
    /// `control` or `observer`.
    pub role: String,
    /// Display name.
    pub name: Option<String>,
}

fn summary(s: &Session) -> Value {
    let (last_event_id, lifecycle, turn, model, mode, pending) = s.bus.with_view(|v| {
        (
            v.last_event_id,
            serde_json::to_value(&v.lifecycle).unwrap_or(Value::Null),
            serde_json::to_value(&v.turn).unwrap_or(Value::Null),
            v.model.current_model_id.clone(),
            v.mode.current_mode_id.clone(),
            v.permissions.pending.len(),
        )
    });
    let mut out = json!({
        "sessionId": s.id,
        "kind": s.kind.as_str(),
        "agent": s.agent,
        "cwd": s.cwd,
        "createdAt": s.created_at,
        "agentPid": s.agent_pid,
        "permissionPolicy": s.permission_policy,
        "status": s.status(),
        "lastEventId": last_event_id,
        "epoch": s.bus.epoch(),
        "clients": s.clients(),
        "subscribers": s.bus.subscriber_count(),
        "view": {
            "lifecycle": lifecycle,
            "turn": turn,
            "currentModelId": model,
            "currentModeId": mode,
            "pendingPermissions": pending,
        },
    });
    if let Some(t) = &s.terminal {
        let (cols, rows) = t.size();
        out["agent"] = Value::Null;
        out["terminal"] = json!({
            "command": t.command,
            "pid": t.pid,
            "phase": t.phase(),
            "cols": cols,
            "rows": rows,
            "ownerClientId": t.owner(),
        });
    }
    out
}

/// Creates an agent session; the caller is attached as control.
pub async fn create(
    State(state): State<AppState>,
    grant: Option<axum::Extension<Grant>>,
    JsonBody(body): JsonBody<CreateSession>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if grant.is_some_and(|g| g.read_only) {
        return Err(ApiError::new(
            ErrorKind::RoleForbidden,
            "a read-only token cannot create sessions",
        ));
    }
    let kind = match body.kind.as_deref() {
        None | Some("agent") => SessionKind::Agent,
        Some("terminal") => SessionKind::Terminal,
        Some(other) => {
            return Err(ApiError::invalid(format!("unknown session kind {other:?}"))
                .hint("kind must be \"agent\" or \"terminal\""));
        }
    };
    if body.name.as_ref().is_some_and(|n| n.len() > MAX_NAME_BYTES) {
        return Err(ApiError::invalid(format!(
            "name is longer than {MAX_NAME_BYTES} bytes"
        )));
    }
    if kind == SessionKind::Terminal {
        return create_terminal(state, body).await;
    }
    let terminal_only = [
        ("command", body.command.is_some()),
        ("args", body.args.is_some()),
        ("env", body.env.is_some()),
        ("cols", body.cols.is_some()),
        ("rows", body.rows.is_some()),
    ];
    if let Some((field, _)) = terminal_only.iter().find(|(_, set)| *set) {
        return Err(
            ApiError::invalid(format!("{field} is for terminal sessions"))
                .hint("add \"kind\":\"terminal\", or use \"agent\" to pick a configured agent"),
        );
    }
    let permission_policy = match body.permission_policy.as_deref() {
        None => None,
        Some(p) => Some(PermissionPolicy::parse(p).ok_or_else(|| {
            ApiError::invalid(format!("unknown permission policy {p:?}"))
                .hint("permissionPolicy must be \"first-responder\" or \"designated\"")
        })?),
    };
    let (session, creator) = state
        .registry
        .create_agent_session(AgentSessionOptions {
            agent: body.agent,
            cwd: body.cwd,
            permission_policy,
            creator_name: body.name,
        })
        .await?;
    Ok(created(&session, creator))
}

/// `201` with the new session's summary and its creator's client id.
fn created(session: &Session, creator: ClientEntry) -> (StatusCode, Json<Value>) {
    let mut out = summary(session);
    out["clientId"] = creator.client_id.into();
    out["role"] = "control".into();
    (StatusCode::CREATED, Json(out))
}

async fn create_terminal(
    state: AppState,
    body: CreateSession,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let agent_only = [
        ("agent", body.agent.is_some()),
        ("permissionPolicy", body.permission_policy.is_some()),
    ];
    if let Some((field, _)) = agent_only.iter().find(|(_, set)| *set) {
        return Err(ApiError::invalid(format!(
            "{field} is for agent sessions, not terminals"
        )));
    }
    let (session, creator) = state
        .registry
        .create_terminal_session(TerminalSessionOptions {
            command: body.command,
            args: body.args.unwrap_or_default(),
            cwd: body.cwd,
            env: body.env.unwrap_or_default(),
            cols: body.cols,
            rows: body.rows,
            creator_name: body.name,
        })
        .await?;
    Ok(created(&session, creator))
}

/// Lists sessions.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let sessions: Vec<Value> = state.registry.list().iter().map(|s| summary(s)).collect();
    Json(json!({ "sessions": sessions }))
}

/// One session's status and view summary.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    Ok(Json(summary(&session)))
}

/// Attaches a client with a role; the daemon issues its id.
pub async fn attach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    grant: Option<axum::Extension<Grant>>,
    JsonBody(body): JsonBody<Attach>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    let role = Role::parse(&body.role);
    if !role.is_known() {
        return Err(ApiError::invalid(format!("unknown role {:?}", body.role))
            .hint("role must be \"control\" or \"observer\""));
    }
    if role == Role::Control && grant.is_some_and(|g| g.read_only) {
        return Err(ApiError::new(
            ErrorKind::RoleForbidden,
            "a read-only token can only attach as observer",
        ));
    }
    if body.name.as_ref().is_some_and(|n| n.len() > MAX_NAME_BYTES) {
        return Err(ApiError::invalid(format!(
            "name is longer than {MAX_NAME_BYTES} bytes"
        )));
    }
    let entry = session.attach(role, body.name);
    session.bus.settled().await;
    Ok(Json(json!({
        "sessionId": session.id,
        "clientId": entry.client_id,
        "role": entry.role,
    })))
}

/// Detaches the calling client (any role): `client_left{reason:"detached"}`.
/// A read-only token may detach observers only.
pub async fn detach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    grant: Option<axum::Extension<Grant>>,
    ClientId(client): ClientId,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    if grant.is_some_and(|g| g.read_only)
        && session.client(client.as_deref())?.role == Role::Control
    {
        return Err(ApiError::new(
            ErrorKind::RoleForbidden,
            "a read-only token cannot detach a control client",
        ));
    }
    let entry = session.detach(client.as_deref())?;
    Ok(Json(
        json!({ "sessionId": session.id, "clientId": entry.client_id, "detached": true }),
    ))
}

/// Closes the session (control only): the agent's (or the terminal's)
/// process group is ended and `session_closed` is published. With
/// `?purge=true` an ended session is forgotten instead: removed from the
/// list and from the journal.
pub async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    grant: Option<axum::Extension<Grant>>,
    uri: axum::http::Uri,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    let purge = match crate::extract::query_param(uri.query(), "purge").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(
                ApiError::invalid(format!("purge={other:?}")).hint("purge must be true or false")
            );
        }
    };
    if purge {
        if grant.is_some_and(|g| g.read_only) {
            return Err(ApiError::new(
                ErrorKind::RoleForbidden,
                "a read-only token cannot purge sessions",
            ));
        }
        state.registry.purge(&session.id).await?;
        return Ok(Json(json!({ "sessionId": session.id, "purged": true })));
    }
    let c = session.controller(client.as_deref())?;
    session
        .call(|reply| Command::Close {
            client_id: c.client_id.clone(),
            reply,
        })
        .await?;
    Ok(Json(
        json!({ "sessionId": session.id, "status": session.status() }),
    ))
}
