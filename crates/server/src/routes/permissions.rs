//! `/session/{id}/permission/{requestId}` — votes.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use crate::error::ApiResult;
use crate::extract::{ClientId, JsonBody};
use crate::session::Command;

/// Vote body: `{"outcome":{"outcome":"selected","optionId":"..."}}` or
/// `{"outcome":{"outcome":"cancelled"}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The ACP outcome.
    pub outcome: Value,
}

/// The first valid vote from a control client resolves the request.
pub async fn vote(
    State(state): State<AppState>,
    Path((id, request_id)): Path<(String, String)>,
    ClientId(client): ClientId,
    JsonBody(body): JsonBody<Vote>,
) -> ApiResult<Json<Value>> {
    let session = state.registry.get(&id)?;
    session.require_agent("/permission")?;
    let c = session.controller(client.as_deref())?;
    let resolved = session
        .call(|reply| Command::Vote {
            client_id: c.client_id.clone(),
            request_id,
            outcome: body.outcome,
            reply,
        })
        .await?;
    Ok(Json(resolved))
}
