//! `/session/{id}/model` and `/session/{id}/approval-mode` — configuration
//! changes (control clients only).
//!
//! Both answer with the value the agent reports once the change settled,
//! which is not always the one asked for (another client or the agent may
//! have changed it in between). See `session::settings` for why every
//! change reaches the event stream exactly once.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientId, JsonBody};
use crate::session::Command;

/// `POST /session/{id}/model` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetModel {
    /// One of the agent's model ids.
    pub model_id: String,
}

/// `POST /session/{id}/approval-mode` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMode {
    /// One of the agent's mode ids.
    pub mode: String,
    /// Also make it the default for new sessions in this workspace.
    #[serde(default)]
    pub persist: bool,
}

/// Switches the model: `{sessionId, modelId}` once the agent answered.
pub async fn model(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<SetModel>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    session.require_agent("/model")?;
    let c = session.controller(client.as_deref())?;
    if body.model_id.is_empty() {
        return Err(ApiError::invalid("modelId is empty"));
    }
    let answer = session
        .call(|reply| Command::SetModel {
            client_id: c.client_id.clone(),
            model_id: body.model_id,
            reply,
        })
        .await?;
    Ok(Json(answer))
}

/// Switches the approval mode: `{sessionId, mode, persisted}` once the
/// agent answered.
pub async fn approval_mode(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<SetMode>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    session.require_agent("/approval-mode")?;
    let c = session.controller(client.as_deref())?;
    if body.mode.is_empty() {
        return Err(ApiError::invalid("mode is empty"));
    }
    let answer = session
        .call(|reply| Command::SetMode {
            client_id: c.client_id.clone(),
            mode: body.mode,
            persist: body.persist,
            reply,
        })
        .await?;
    Ok(Json(answer))
}
