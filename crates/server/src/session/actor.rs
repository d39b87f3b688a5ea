//! The session actor: one task per agent session that owns the agent
//! connection, the prompt queue and the pending permission requests.
//!
//! HTTP handlers send [`Command`]s; the agent connection sends
//! [`Inbound`]s. Both are handled one at a time, so every event reaches the
//! bus in the order it happened, and each ending (agent exit, close,
//! shutdown) is published exactly once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol::{Responder, V1};
use serde_json::{Value, json};
use switchyard_core::event::{
    PermissionAlreadyResolved, PermissionOption, PermissionOutcome, PermissionRequest,
    PermissionResolved, PromptCancelled, PromptQueued, SessionClosed, SessionDied, SessionStarted,
    TurnComplete, TurnError, TurnStarted,
};
use switchyard_core::session_update::AvailableCommand;
use switchyard_core::{ErrorKind, Event, Frame, Provenance, StopReason};
use tokio::sync::{mpsc, oneshot};

use super::agent::{self, AgentConn, Inbound};
use super::{Session, Status, fs};
use crate::error::{ApiError, ApiResult};

/// Requests from HTTP handlers.
#[derive(Debug)]
pub enum Command {
    /// Queue a prompt.
    Prompt {
        /// The prompting client.
        client_id: String,
        /// Client-chosen id (idempotency key) or a generated one.
        prompt_id: Option<String>,
        /// ACP content blocks.
        prompt: Vec<Value>,
        /// `(promptId, position)`.
        reply: oneshot::Sender<ApiResult<PromptAccepted>>,
    },
    /// Cancel the running turn.
    Cancel {
        /// Who asked.
        client_id: String,
        /// Whether a turn was running.
        reply: oneshot::Sender<ApiResult<bool>>,
    },
    /// Vote on a permission request.
    Vote {
        /// The voter.
        client_id: String,
        /// The request.
        request_id: String,
        /// ACP outcome object.
        outcome: Value,
        /// The resolved outcome.
        reply: oneshot::Sender<ApiResult<Value>>,
    },
    /// Close the session.
    Close {
        /// Who closed it.
        client_id: String,
        /// Done.
        reply: oneshot::Sender<ApiResult<()>>,
    },
    /// The daemon is stopping.
    Shutdown {
        /// Done.
        reply: oneshot::Sender<ApiResult<()>>,
    },
}

/// The answer to an accepted prompt.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptAccepted {
    /// The prompt's id.
    pub prompt_id: String,
    /// 0 = runs now; n = n prompts ahead of it.
    pub position: usize,
    /// True when this promptId had been submitted before (nothing new
    /// happened).
    pub duplicate: bool,
}

struct QueuedPrompt {
    prompt_id: String,
    client_id: String,
    prompt: Vec<Value>,
}

struct PendingPermission {
    responder: Responder<Value, V1>,
    options: Vec<PermissionOption>,
    prompt_id: Option<String>,
}

/// How long a closed/shut-down agent gets before its group is SIGKILLed.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Prompt ids remembered for idempotency.
const REMEMBERED_PROMPTS: usize = 4096;
/// Resolved request ids remembered to answer late votes with 409.
const REMEMBERED_RESOLUTIONS: usize = 1024;

struct Actor {
    session: Arc<Session>,
    conn: AgentConn,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    queue: VecDeque<QueuedPrompt>,
    queue_limit: usize,
    running: Option<(String, String)>,
    /// The running prompt's request failed because the agent went away.
    lost_turn: bool,
    seen_prompts: VecDeque<String>,
    seen_set: HashSet<String>,
    pending: HashMap<String, PendingPermission>,
    resolved: VecDeque<String>,
    next_request: u64,
    eof: bool,
    exit: Option<std::process::ExitStatus>,
    ended: bool,
}

/// Starts the actor for a freshly created session and publishes
/// `session_started`.
pub(super) fn start(
    session: Arc<Session>,
    mut conn: AgentConn,
    commands: mpsc::UnboundedReceiver<Command>,
    queue_limit: usize,
) {
    let started = session_started(&session, &conn.new_session);
    session
        .bus
        .publish(Event::SessionStarted(started).to_frame());
    let inbound = std::mem::replace(&mut conn.inbound, mpsc::unbounded_channel().1);
    let actor = Actor {
        session,
        conn,
        inbound,
        queue: VecDeque::new(),
        queue_limit,
        running: None,
        lost_turn: false,
        seen_prompts: VecDeque::new(),
        seen_set: HashSet::new(),
        pending: HashMap::new(),
        resolved: VecDeque::new(),
        next_request: 1,
        eof: false,
        exit: None,
        ended: false,
    };
    tokio::spawn(actor.run(commands));
}

/// Seeds the view from the agent's `session/new` answer: modes, models
/// (legacy `models` and config options), commands.
fn session_started(session: &Session, new_session: &Value) -> SessionStarted {
    let modes = new_session.get("modes");
    let models = new_session.get("models");
    let config_options: Vec<Value> = new_session
        .get("configOptions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let model_from_options = config_options.iter().find_map(|o| {
        (o.get("category").and_then(Value::as_str) == Some("model"))
            .then(|| o.get("currentValue").and_then(Value::as_str))
            .flatten()
            .map(String::from)
    });
    SessionStarted {
        kind: "agent".into(),
        agent: Some(session.agent.clone()),
        command: None,
        cwd: Some(session.cwd.to_string_lossy().into_owned()),
        current_mode_id: modes
            .and_then(|m| m.get("currentModeId"))
            .and_then(Value::as_str)
            .map(String::from),
        available_modes: modes
            .and_then(|m| m.get("availableModes"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        current_model_id: models
            .and_then(|m| m.get("currentModelId"))
            .and_then(Value::as_str)
            .map(String::from)
            .or(model_from_options),
        available_models: models
            .and_then(|m| m.get("availableModels"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        config_options,
        available_commands: Vec::<AvailableCommand>::new(),
        cols: None,
        rows: None,
    }
}

impl Actor {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        // An ending that is waiting for the other half (EOF or exit status).
        let mut settle_deadline: Option<tokio::time::Instant> = None;
        loop {
            let deadline = settle_deadline;
            tokio::select! {
                // Agent output first: a command must not overtake what the
                // agent already said.
                biased;
                msg = self.inbound.recv() => match msg {
                    Some(msg) => self.on_inbound(msg),
                    None => break,
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd).await,
                    None => {
                        // Every handle is gone: nobody can reach this session.
                        self.end_agent(libc::SIGTERM).await;
                        break;
                    }
                },
                _ = async { tokio::time::sleep_until(deadline.unwrap()).await }, if deadline.is_some() => {
                    // EOF without exit (or exit without EOF) for too long:
                    // finish the ending with what we know.
                    if self.exit.is_none() {
                        agent::kill_group(self.conn.pgid, libc::SIGKILL);
                    }
                    self.eof = true;
                    if self.exit.is_none() {
                        settle_deadline = None;
                        continue;
                    }
                }
            }
            if !self.ended && (self.eof || self.exit.is_some()) {
                if self.eof && self.exit.is_some() {
                    self.died();
                    settle_deadline = None;
                } else if settle_deadline.is_none() {
                    settle_deadline = Some(tokio::time::Instant::now() + KILL_GRACE);
                }
            }
            if self.ended && self.exit.is_some() {
                // Keep answering commands with "ended" by dropping them.
                break;
            }
        }
        self.session.bus.close();
        // Answer whatever is still queued, so no HTTP request hangs.
        commands.close();
        while let Ok(cmd) = commands.try_recv() {
            reply_ended(cmd, &self.session.id);
        }
    }

    fn publish(&self, event: Event, originator: Option<&str>, prompt_id: Option<&str>) -> u64 {
        let mut f = event.to_frame();
        f.originator_client_id = originator.map(String::from);
        f.prompt_id = prompt_id.map(String::from);
        self.session.bus.publish(f)
    }

    fn running_prompt(&self) -> Option<(&str, &str)> {
        self.running.as_ref().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    // ---- agent side ----

    fn on_inbound(&mut self, msg: Inbound) {
        match msg {
            Inbound::Notification { method, params } => {
                if method == "session/update" {
                    self.on_session_update(params);
                } else {
                    tracing::debug!(session = %self.session.id, %method, "ignored agent notification");
                }
            }
            Inbound::Request {
                method,
                params,
                responder,
            } => self.on_agent_request(&method, params, responder),
            Inbound::PromptDone { prompt_id, result } => self.on_prompt_done(prompt_id, result),
            Inbound::Eof => self.eof = true,
            Inbound::Exited(status) => self.exit = Some(status),
        }
    }

    fn on_session_update(&mut self, mut params: Value) {
        if let Some(obj) = params.as_object_mut() {
            // The agent's own session id means nothing to our clients.
            obj.remove("sessionId");
            if let Some(update) = obj.get_mut("update") {
                stamp_provenance(update);
            }
        }
        let prompt = self.running_prompt().map(|(p, _)| p.to_string());
        let mut f = Frame::new("session_update", params);
        f.prompt_id = prompt;
        self.session.bus.publish(f);
    }

    fn on_agent_request(&mut self, method: &str, params: Value, responder: Responder<Value, V1>) {
        match method {
            "session/request_permission" => self.on_permission_request(params, responder),
            "fs/read_text_file" | "fs/write_text_file" => {
                let cwd = self.session.cwd.clone();
                let method = method.to_string();
                tokio::spawn(async move {
                    let result = if method == "fs/read_text_file" {
                        fs::read_text_file(&cwd, &params).await
                    } else {
                        fs::write_text_file(&cwd, &params).await
                    };
                    let _ = responder.respond_with_result(result.map_err(fs::FsError::into_acp));
                });
            }
            other => {
                tracing::debug!(session = %self.session.id, method = %other, "unsupported agent request");
                let _ =
                    responder.respond_with_error(agent_client_protocol::Error::method_not_found());
            }
        }
    }

    fn on_permission_request(&mut self, params: Value, responder: Responder<Value, V1>) {
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
        self.pending.insert(
            request_id,
            PendingPermission {
                responder,
                options,
                prompt_id,
            },
        );
    }

    fn on_prompt_done(
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

    // ---- client side ----

    async fn on_command(&mut self, cmd: Command) {
        if self.ended {
            reply_ended(cmd, &self.session.id);
            return;
        }
        match cmd {
            Command::Prompt {
                client_id,
                prompt_id,
                prompt,
                reply,
            } => {
                let _ = reply.send(self.enqueue(client_id, prompt_id, prompt));
            }
            Command::Cancel { client_id, reply } => {
                let running = self.running.is_some();
                if running {
                    tracing::info!(session = %self.session.id, client = %client_id, "cancel");
                    self.cancel_pending_permissions();
                    agent::notify(
                        &self.conn.cx,
                        "session/cancel",
                        json!({ "sessionId": self.conn.agent_session_id }),
                    );
                }
                let _ = reply.send(Ok(running));
            }
            Command::Vote {
                client_id,
                request_id,
                outcome,
                reply,
            } => {
                let _ = reply.send(self.vote(&client_id, &request_id, outcome));
            }
            Command::Close { client_id, reply } => {
                self.finish_queue();
                self.cancel_pending_permissions();
                self.publish(
                    Event::SessionClosed(SessionClosed {
                        reason: "client_request".into(),
                        closed_by: Some(client_id.clone()),
                    }),
                    Some(&client_id),
                    None,
                );
                self.ended = true;
                self.session.set_status(Status::Closed);
                self.end_agent(libc::SIGTERM).await;
                let _ = reply.send(Ok(()));
            }
            Command::Shutdown { reply } => {
                self.finish_queue();
                self.cancel_pending_permissions();
                self.publish(
                    Event::SessionDied(SessionDied {
                        reason: "daemon_shutdown".into(),
                        exit_code: None,
                        signal_code: None,
                        error_kind: None,
                    }),
                    None,
                    None,
                );
                self.ended = true;
                self.session.set_status(Status::Died);
                self.end_agent(libc::SIGTERM).await;
                let _ = reply.send(Ok(()));
            }
        }
    }

    fn enqueue(
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

    fn remember(&mut self, prompt_id: String) {
        self.seen_set.insert(prompt_id.clone());
        self.seen_prompts.push_back(prompt_id);
        if self.seen_prompts.len() > REMEMBERED_PROMPTS
            && let Some(old) = self.seen_prompts.pop_front()
        {
            self.seen_set.remove(&old);
        }
    }

    fn start_next(&mut self) {
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
            let _ = tx.send(Inbound::PromptDone {
                prompt_id: pid,
                result,
            });
        });
    }

    fn vote(&mut self, client_id: &str, request_id: &str, outcome: Value) -> ApiResult<Value> {
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

    fn resolve(&mut self, request_id: &str, outcome: PermissionOutcome, voter: Option<&str>) {
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

    fn cancel_pending_permissions(&mut self) {
        let mut ids: Vec<String> = self.pending.keys().cloned().collect();
        ids.sort();
        for id in ids {
            self.resolve(&id, PermissionOutcome::Cancelled, None);
        }
    }

    /// Drops queued prompts (the session is ending).
    fn finish_queue(&mut self) {
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

    /// The agent went away on its own: settle everything, then exactly one
    /// `session_died`.
    fn died(&mut self) {
        self.ended = true;
        self.session.set_status(Status::Died);
        self.cancel_pending_permissions();
        if let Some((pid, _)) = self.running.take() {
            self.publish(
                Event::TurnError(TurnError {
                    message: "the agent exited during the turn".into(),
                    error_kind: Some(ErrorKind::AgentExited),
                    prompt_id: Some(pid.clone()),
                }),
                None,
                Some(&pid),
            );
        }
        self.finish_queue();
        let (exit_code, signal_code) = self
            .exit
            .as_ref()
            .map(agent::describe_exit)
            .unwrap_or((None, None));
        self.publish(
            Event::SessionDied(SessionDied {
                reason: "agent_exited".into(),
                exit_code,
                signal_code,
                error_kind: Some(ErrorKind::AgentExited),
            }),
            None,
            None,
        );
        tracing::info!(session = %self.session.id, ?exit_code, "agent exited");
    }

    /// Ends the agent's process group: SIGTERM (or the given signal), then
    /// SIGKILL after a grace period, and reaps it.
    async fn end_agent(&mut self, signal: i32) {
        self.conn.stop.take();
        if self.exit.is_some() {
            return;
        }
        agent::kill_group(self.conn.pgid, signal);
        let deadline = tokio::time::Instant::now() + KILL_GRACE;
        loop {
            match tokio::time::timeout_at(deadline, self.conn_next()).await {
                Ok(Some(Inbound::Exited(status))) => {
                    self.exit = Some(status);
                    break;
                }
                Ok(Some(Inbound::Request { responder, .. })) => {
                    let _ = responder
                        .respond_with_error(agent_client_protocol::Error::internal_error());
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    agent::kill_group(self.conn.pgid, libc::SIGKILL);
                    break;
                }
            }
        }
        // The group leader is reaped by its waiter task; anything else in
        // the group got SIGKILL if it outlived the grace period.
        agent::kill_group(self.conn.pgid, libc::SIGKILL);
    }

    async fn conn_next(&mut self) -> Option<Inbound> {
        self.inbound.recv().await
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

fn reply_ended(cmd: Command, id: &str) {
    let err = || {
        ApiError::new(ErrorKind::SessionBusy, format!("session {id} has ended"))
            .hint("the session is readable but no longer accepts changes")
    };
    match cmd {
        Command::Prompt { reply, .. } => drop(reply.send(Err(err()))),
        Command::Cancel { reply, .. } => drop(reply.send(Err(err()))),
        Command::Vote { reply, .. } => drop(reply.send(Err(err()))),
        Command::Close { reply, .. } | Command::Shutdown { reply } => drop(reply.send(Ok(()))),
    }
}

/// Stamps `_meta.provenance` (+ `serverId`) on tool calls that do not carry
/// one: sub-agent markers win, then the `mcp__<server>__<tool>` naming rule
/// on `_meta.toolName` or the title, else builtin.
fn stamp_provenance(update: &mut Value) {
    let kind = update.get("sessionUpdate").and_then(Value::as_str);
    if !matches!(kind, Some("tool_call" | "tool_call_update")) {
        return;
    }
    let Some(obj) = update.as_object_mut() else {
        return;
    };
    let title = obj.get("title").and_then(Value::as_str).map(String::from);
    let meta = obj.entry("_meta").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if meta.contains_key("provenance") {
        return;
    }
    let provenance = if meta.contains_key("subagent") || meta.contains_key("parentToolCallId") {
        Provenance::Subagent
    } else {
        meta.get("toolName")
            .and_then(Value::as_str)
            .map(String::from)
            .or(title)
            .map_or(Provenance::Builtin, |n| Provenance::from_tool_name(&n))
    };
    meta.insert("provenance".into(), provenance.as_str().into());
    if let Some(s) = provenance.server_id() {
        meta.insert("serverId".into(), s.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_is_stamped_once() {
        let mut u = json!({"sessionUpdate": "tool_call", "toolCallId": "t", "title": "x",
                           "_meta": {"toolName": "mcp__gh__search"}});
        stamp_provenance(&mut u);
        assert_eq!(u["_meta"]["provenance"], "mcp");
        assert_eq!(u["_meta"]["serverId"], "gh");
        let mut u = json!({"sessionUpdate": "tool_call_update", "toolCallId": "t",
                           "_meta": {"provenance": "subagent"}});
        stamp_provenance(&mut u);
        assert_eq!(u["_meta"]["provenance"], "subagent");
        let mut u = json!({"sessionUpdate": "tool_call", "toolCallId": "t", "title": "Read file"});
        stamp_provenance(&mut u);
        assert_eq!(u["_meta"]["provenance"], "builtin");
        let mut u = json!({"sessionUpdate": "plan", "entries": []});
        stamp_provenance(&mut u);
        assert!(u.get("_meta").is_none());
    }
}
