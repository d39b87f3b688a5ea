//! `/session/{id}/prompt` and `/session/{id}/cancel`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientId, JsonBody};
use crate::session::Command;

/// `POST /session/{id}/prompt` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromptBody {
    /// ACP content blocks.
    pub prompt: Vec<Value>,
    /// Idempotency key; generated when absent.
    pub prompt_id: Option<String>,
}

/// Queues a prompt (FIFO across control clients) → 202 `{promptId}`.
pub async fn prompt(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<PromptBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let session = state.registry.get(&id)?;
    session.require_agent("/prompt")?;
    let c = session.controller(client.as_deref())?;
    if body.prompt.is_empty() {
        return Err(ApiError::invalid("prompt is empty")
            .hint("send at least one content block, e.g. {\"type\":\"text\",\"text\":\"hi\"}"));
    }
    for (i, block) in body.prompt.iter().enumerate() {
        if block.get("type").and_then(Value::as_str).is_none() {
            return Err(ApiError::invalid(format!(
                "prompt[{i}] is not an ACP content block (no \"type\")"
            )));
        }
    }
    if let Some(pid) = &body.prompt_id
        && (pid.is_empty() || pid.len() > 128)
    {
        return Err(ApiError::invalid("promptId must be 1..=128 bytes"));
    }
    let accepted = session
        .call(|reply| Command::Prompt {
            client_id: c.client_id.clone(),
            prompt_id: body.prompt_id,
            prompt: body.prompt,
            reply,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!(accepted))))
}

/// Cancels the running turn (control only).
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    session.require_agent("/cancel")?;
    let c = session.controller(client.as_deref())?;
    let cancelled = session
        .call(|reply| Command::Cancel {
            client_id: c.client_id.clone(),
            reply,
        })
        .await?;
    Ok(Json(json!({ "cancelled": cancelled })))
}
