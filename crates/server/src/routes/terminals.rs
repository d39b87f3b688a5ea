//! Terminal control: `/session/{id}/input`, `/resize`, `/signal`,
//! `/clear-scrollback`, `/owner`, and `POST /terminals/kill-all`.
//!
//! Observers never get past [`Session::controller`] (403
//! `role_forbidden`); input, resize and signals also need the terminal's
//! owner (409 `owner_required`).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::ErrorKind;

use super::AppState;
use crate::auth::Grant;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientId, JsonBody};
use crate::session::terminal::{TermCommand, parse_signal};
use crate::session::{MAX_TERMINAL_DIM, Session};

/// `POST /session/{id}/input` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Text for the program, as typed (`"\r"` is Enter, `"\u0003"` Ctrl-C).
    pub data: String,
}

/// `POST /session/{id}/resize` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// `POST /session/{id}/signal` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// `INT`, `TERM`, `HUP`, `KILL` or `QUIT`.
    pub signal: String,
}

/// `POST /session/{id}/owner` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    /// `claim` or `release`.
    pub action: String,
}

fn done(session: &Session) -> Json<Value> {
    Json(json!({ "sessionId": session.id, "ok": true }))
}

/// Sends keystrokes (owner only).
pub async fn input(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<Input>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    let (_, term) = session.terminal_owner(client.as_deref(), "/input")?;
    if body.data.is_empty() {
        return Ok(done(&session));
    }
    term.call(|reply| TermCommand::Input {
        data: body.data,
        reply,
    })
    .await?;
    Ok(done(&session))
}

/// Resizes the PTY (owner only): `terminal_resized` when the size changed.
pub async fn resize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<Resize>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    let (c, term) = session.terminal_owner(client.as_deref(), "/resize")?;
    for (name, v) in [("cols", body.cols), ("rows", body.rows)] {
        if v == 0 || v > MAX_TERMINAL_DIM {
            return Err(ApiError::invalid(format!(
                "{name} must be 1..={MAX_TERMINAL_DIM}, not {v}"
            )));
        }
    }
    term.call(|reply| TermCommand::Resize {
        cols: body.cols,
        rows: body.rows,
        client_id: c.client_id,
        reply,
    })
    .await?;
    Ok(Json(
        json!({ "sessionId": session.id, "cols": body.cols, "rows": body.rows }),
    ))
}

/// Signals the foreground job (owner only).
pub async fn signal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<Signal>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    let (_, term) = session.terminal_owner(client.as_deref(), "/signal")?;
    let signal = parse_signal(&body.signal).ok_or_else(|| {
        ApiError::invalid(format!("unknown signal {:?}", body.signal))
            .hint("signal must be one of INT, TERM, HUP, KILL, QUIT")
    })?;
    term.call(|reply| TermCommand::Signal { signal, reply })
        .await?;
    Ok(done(&session))
}

/// Clears the scrollback for everyone (control clients).
pub async fn clear_scrollback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    let term = session.terminal("/clear-scrollback")?;
    let c = session.controller(client.as_deref())?;
    term.call(|reply| TermCommand::ClearScrollback {
        client_id: c.client_id,
        reply,
    })
    .await?;
    Ok(done(&session))
}

/// Claims or releases ownership: `{sessionId, ownerClientId}`.
pub async fn owner(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<Owner>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    let term = session.terminal("/owner")?;
    let c = session.controller(client.as_deref())?;
    match body.action.as_str() {
        "claim" => term.claim(&session.bus, &c.client_id)?,
        "release" => term.release(&session.bus, &c.client_id)?,
        other => {
            return Err(ApiError::invalid(format!("unknown action {other:?}"))
                .hint("action must be \"claim\" or \"release\""));
        }
    }
    Ok(Json(
        json!({ "sessionId": session.id, "ownerClientId": term.owner() }),
    ))
}

/// Kills and closes every terminal session (not with a read-only token).
pub async fn kill_all(
    State(state): State<AppState>,
    grant: Option<axum::Extension<Grant>>,
) -> ApiResult<Json<Value>> {
    if grant.is_some_and(|g| g.read_only) {
        return Err(ApiError::new(
            ErrorKind::RoleForbidden,
            "a read-only token cannot kill terminals",
        ));
    }
    let killed = state.registry.kill_all_terminals().await;
    Ok(Json(json!({ "killed": killed })))
}
