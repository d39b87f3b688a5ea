//! Permission requests: the agent asks, every client sees the card, the
//! first valid vote from a control client answers the agent.
//!
//! The agent's request is never answered from inside the connection's
//! dispatch loop: its responder waits here until a vote (or a
//! cancellation) arrives.

use agent_client_protocol::{Responder, V1};
use serde_json::{Value, json};
use switchyard_core::ErrorKind;
use switchyard_core::Event;
use switchyard_core::event::{
    PermissionAlreadyResolved, PermissionOption, PermissionOutcome, PermissionRequest,
    PermissionResolved,
};

use super::actor::{Actor, PendingPermission, REMEMBERED_RESOLUTIONS, Timer};
use crate::config::PermissionPolicy;
use crate::error::{ApiError, ApiResult};

impl Actor {
    pub(super) fn on_permission_request(&mut self, params: Value, responder: Responder<Value, V1>) {
        let tool_call = params.get("toolCall").cloned().unwrap_or(json!({}));
        let options: Vec<PermissionOption> = params
            .get("options")
            .and_then(|o| serde_json::from_value(o.clone()).ok())
            .unwrap_or_default();
        if options.is_empty() || tool_call.get("toolCallId").is_none() {
            let _ = responder.respond_with_error(
                agent_client_protocol::Error::invalid_params()
                    .data(json!({"errorKind": "invalid_request", "hint": "toolCall.toolCallId and options are required"})),
            );
            return;
        }
        let request_id = format!("perm_{}", self.next_request);
        self.next_request += 1;
        let (prompt_id, originator) = match self.running_prompt() {
            Some((p, c)) => (Some(p.to_string()), Some(c.to_string())),
            None => (None, None),
        };
        self.publish(
            Event::PermissionRequest(PermissionRequest {
                request_id: request_id.clone(),
                tool_call,
                options: options.clone(),
            }),
            originator.as_deref(),
            prompt_id.as_deref(),
        );
        if let Some(after) = self.permission_timeout {
            self.timer_after(
                after,
                Timer::Permission {
                    request_id: request_id.clone(),
                },
            );
        }
        self.pending.insert(
            request_id,
            PendingPermission {
                responder,
                options,
                prompt_id,
                originator,
            },
        );
    }

    /// Nobody voted in time: the request resolves as cancelled, no voter.
    pub(super) fn on_permission_timeout(&mut self, request_id: &str) {
        if self.pending.contains_key(request_id) {
            tracing::info!(session = %self.session.id, %request_id, "permission request timed out");
            self.resolve(request_id, PermissionOutcome::Cancelled, None);
        }
    }

    pub(super) fn vote(
        &mut self,
        client_id: &str,
        request_id: &str,
        outcome: Value,
    ) -> ApiResult<Value> {
        let Some(p) = self.pending.get(request_id) else {
            if self.resolved.iter().any(|r| r == request_id) {
                self.publish(
                    Event::PermissionAlreadyResolved(PermissionAlreadyResolved {
                        request_id: request_id.into(),
                        voter_client_id: Some(client_id.into()),
                    }),
                    Some(client_id),
                    None,
                );
                return Err(ApiError::new(
                    ErrorKind::PermissionAlreadyResolved,
                    format!("permission request {request_id} was already resolved"),
                ));
            }
            return Err(ApiError::new(
                ErrorKind::PermissionNotFound,
                format!("no pending permission request {request_id}"),
            ));
        };
        if self.permission_policy == PermissionPolicy::Designated
            && let Some(orig) = p.originator.as_deref()
            && orig != client_id
            // A designated client that has left cannot answer; then anyone
            // may, rather than leave the agent waiting forever.
            && self.session.client(Some(orig)).is_ok()
        {
            return Err(ApiError::new(
                ErrorKind::RoleForbidden,
                format!("only {orig}, whose prompt caused request {request_id}, may answer it"),
            )
            .hint("this session uses the \"designated\" permission policy"));
        }
        let outcome = parse_outcome(&outcome)?;
        if let PermissionOutcome::Selected { option_id } = &outcome
            && !p.options.iter().any(|o| &o.option_id == option_id)
        {
            let allowed: Vec<_> = p.options.iter().map(|o| o.option_id.as_str()).collect();
            return Err(ApiError::new(
                ErrorKind::InvalidOption,
                format!("option {option_id:?} is not one the agent offered"),
            )
            .hint(format!("choose one of: {}", allowed.join(", "))));
        }
        self.resolve(request_id, outcome.clone(), Some(client_id));
        Ok(
            json!({ "requestId": request_id, "outcome": outcome.to_value(), "voterClientId": client_id }),
        )
    }

    pub(super) fn resolve(
        &mut self,
        request_id: &str,
        outcome: PermissionOutcome,
        voter: Option<&str>,
    ) {
        let Some(p) = self.pending.remove(request_id) else {
            return;
        };
        let _ = p
            .responder
            .respond(json!({ "outcome": outcome.to_value() }));
        self.resolved.push_back(request_id.to_string());
        if self.resolved.len() > REMEMBERED_RESOLUTIONS {
            self.resolved.pop_front();
        }
        self.publish(
            Event::PermissionResolved(PermissionResolved {
                request_id: request_id.to_string(),
                outcome,
                voter_client_id: voter.map(String::from),
            }),
            voter,
            p.prompt_id.as_deref(),
        );
    }

    pub(super) fn cancel_pending_permissions(&mut self) {
        let mut ids: Vec<String> = self.pending.keys().cloned().collect();
        ids.sort();
        for id in ids {
            self.resolve(&id, PermissionOutcome::Cancelled, None);
        }
    }
}

fn parse_outcome(v: &Value) -> ApiResult<PermissionOutcome> {
    match v.get("outcome").and_then(Value::as_str) {
        Some("selected") => match v.get("optionId").and_then(Value::as_str) {
            Some(id) => Ok(PermissionOutcome::Selected {
                option_id: id.to_string(),
            }),
            None => Err(ApiError::invalid("outcome \"selected\" needs an optionId")),
        },
        Some("cancelled") => Ok(PermissionOutcome::Cancelled),
        _ => Err(ApiError::invalid(
            "outcome must be {\"outcome\":\"selected\",\"optionId\":...} or {\"outcome\":\"cancelled\"}",
        )),
    }
}
