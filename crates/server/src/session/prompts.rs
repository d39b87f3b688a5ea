//! The prompt queue: FIFO across control clients, bounded, idempotent by
//! `promptId`; one turn runs at a time.

use serde_json::{Value, json};
use switchyard_core::event::{PromptCancelled, PromptQueued, TurnComplete, TurnError, TurnStarted};
use switchyard_core::{ErrorKind, Event, Frame, StopReason};

use super::actor::{Actor, PromptAccepted, QueuedPrompt, REMEMBERED_PROMPTS};
use super::agent::{self, Inbound};
use crate::error::{ApiError, ApiResult};

impl Actor {
    pub(super) fn on_prompt_done(
        &mut self,
        prompt_id: String,
        result: Result<Value, agent_client_protocol::Error>,
    ) {
        if self.running.as_ref().map(|(p, _)| p) != Some(&prompt_id) {
            return;
        }
        match result {
            Ok(v) => {
                let stop = v
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .map_or(StopReason::EndTurn, StopReason::parse);
                self.cancel_pending_permissions();
                self.publish(
                    Event::TurnComplete(TurnComplete {
                        stop_reason: stop,
                        prompt_id: Some(prompt_id.clone()),
                    }),
                    None,
                    Some(&prompt_id),
                );
            }
            Err(e)
                if agent_client_protocol::is_incoming_transport_closed(&e)
                    || agent_client_protocol::is_connection_terminated(&e) =>
            {
                // The agent is going away; the ending reports this turn.
                self.lost_turn = true;
                return;
            }
            Err(e) => {
                self.cancel_pending_permissions();
                self.publish(
                    Event::TurnError(TurnError {
                        message: e.message.clone(),
                        error_kind: Some(
                            e.data
                                .as_ref()
                                .and_then(|d| d.get("errorKind"))
                                .and_then(Value::as_str)
                                .map_or(ErrorKind::ProtocolError, ErrorKind::parse),
                        ),
                        prompt_id: Some(prompt_id.clone()),
                    }),
                    None,
                    Some(&prompt_id),
                );
            }
        }
        self.running = None;
        self.start_next();
    }

    pub(super) fn enqueue(
        &mut self,
        client_id: String,
        prompt_id: Option<String>,
        prompt: Vec<Value>,
    ) -> ApiResult<PromptAccepted> {
        if let Some(pid) = &prompt_id
            && self.seen_set.contains(pid)
        {
            let position = self
                .queue
                .iter()
                .position(|q| &q.prompt_id == pid)
                .map_or(0, |i| i + 1);
            return Ok(PromptAccepted {
                prompt_id: pid.clone(),
                position,
                duplicate: true,
            });
        }
        let busy = usize::from(self.running.is_some());
        if self.queue.len() + busy > self.queue_limit {
            return Err(ApiError::new(
                ErrorKind::PromptQueueFull,
                format!("{} prompts are already waiting", self.queue.len()),
            )
            .hint("wait for the running turn to finish")
            .retry_after(1));
        }
        let prompt_id = prompt_id.unwrap_or_else(|| super::new_id("p"));
        self.remember(prompt_id.clone());
        let position = self.queue.len() + busy;
        self.publish(
            Event::PromptQueued(PromptQueued {
                prompt_id: prompt_id.clone(),
                position: Some(position as u64),
            }),
            Some(&client_id),
            Some(&prompt_id),
        );
        self.queue.push_back(QueuedPrompt {
            prompt_id: prompt_id.clone(),
            client_id,
            prompt,
        });
        self.start_next();
        Ok(PromptAccepted {
            prompt_id,
            position,
            duplicate: false,
        })
    }

    pub(super) fn remember(&mut self, prompt_id: String) {
        self.seen_set.insert(prompt_id.clone());
        self.seen_prompts.push_back(prompt_id);
        if self.seen_prompts.len() > REMEMBERED_PROMPTS
            && let Some(old) = self.seen_prompts.pop_front()
        {
            self.seen_set.remove(&old);
        }
    }

    pub(super) fn start_next(&mut self) {
        if self.running.is_some() || self.ended {
            return;
        }
        let Some(next) = self.queue.pop_front() else {
            return;
        };
        let pid = next.prompt_id.clone();
        self.publish(
            Event::TurnStarted(TurnStarted {
                prompt_id: pid.clone(),
            }),
            Some(&next.client_id),
            Some(&pid),
        );
        // Echo the prompt so every client's transcript shows what was asked.
        for block in &next.prompt {
            let mut f = Frame::new(
                "session_update",
                json!({ "update": { "sessionUpdate": "user_message_chunk", "content": block } }),
            );
            f.prompt_id = Some(pid.clone());
            f.originator_client_id = Some(next.client_id.clone());
            self.session.bus.publish(f);
        }
        self.running = Some((pid.clone(), next.client_id));
        let cx = self.conn.cx.clone();
        let tx = self.conn.inbound_tx.clone();
        let params = json!({ "sessionId": self.conn.agent_session_id, "prompt": next.prompt });
        tokio::spawn(async move {
            let result = agent::request(&cx, "session/prompt", params).await;
            let _ = tx
                .send(Inbound::PromptDone {
                    prompt_id: pid,
                    result,
                })
                .await;
        });
    }

    /// Drops queued prompts (the session is ending).
    pub(super) fn finish_queue(&mut self) {
        while let Some(q) = self.queue.pop_front() {
            self.publish(
                Event::PromptCancelled(PromptCancelled {
                    prompt_id: Some(q.prompt_id.clone()),
                }),
                None,
                Some(&q.prompt_id),
            );
        }
    }
}
