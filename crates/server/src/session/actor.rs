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
    PermissionOption, SessionClosed, SessionDied, SessionStarted, TurnError,
};
use switchyard_core::session_update::AvailableCommand;
use switchyard_core::{ErrorKind, Event, Frame};
use tokio::sync::{mpsc, oneshot};

use super::agent::{self, AgentConn, Inbound};
use super::provenance::stamp_provenance;
use super::settings::{Axis, Settings};
use super::terminal::agent_terminals::{AgentTerminalTails, AgentTerminals};
use super::{Session, Status, fs};
use crate::bus::UNCOMMITTED_MAX;
use crate::config::PermissionPolicy;
use crate::defaults::WorkspaceDefaults;
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
    /// Switch the model.
    SetModel {
        /// Who asked.
        client_id: String,
        /// The model id.
        model_id: String,
        /// `{sessionId, modelId}` with the model now in use.
        reply: oneshot::Sender<ApiResult<Value>>,
    },
    /// Switch the approval mode.
    SetMode {
        /// Who asked.
        client_id: String,
        /// The mode id.
        mode: String,
        /// Make it the workspace's default.
        persist: bool,
        /// `{sessionId, mode, persisted}` with the mode now in effect.
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
    /// The daemon is stopping and the session is journaled: end the agent
    /// but publish no ending, so the restarted daemon restores the session.
    Suspend {
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

pub(super) struct QueuedPrompt {
    pub(super) prompt_id: String,
    pub(super) client_id: String,
    pub(super) prompt: Vec<Value>,
}

pub(super) struct PendingPermission {
    pub(super) responder: Responder<Value, V1>,
    pub(super) options: Vec<PermissionOption>,
    pub(super) prompt_id: Option<String>,
    /// The client whose prompt caused the request.
    pub(super) originator: Option<String>,
}

/// Deadlines the actor set itself; they come back through its own channel.
#[derive(Debug)]
pub(super) enum Timer {
    /// A model or mode change's deadline.
    Change { axis: Axis, seq: u64 },
    /// A permission request's deadline (`--permission-timeout-secs`).
    Permission { request_id: String },
}

/// How a session's actor is set up.
pub(crate) struct ActorConfig {
    pub(super) queue_limit: usize,
    pub(super) change_timeout: Duration,
    pub(super) permission_timeout: Option<Duration>,
    pub(super) permission_policy: PermissionPolicy,
    pub(super) defaults: Arc<WorkspaceDefaults>,
}

/// How long a closed/shut-down agent gets before its group is SIGKILLed.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Prompt ids remembered for idempotency.
pub(super) const REMEMBERED_PROMPTS: usize = 4096;
/// Resolved request ids remembered to answer late votes with 409.
pub(super) const REMEMBERED_RESOLUTIONS: usize = 1024;

pub(super) struct Actor {
    pub(super) session: Arc<Session>,
    pub(super) conn: AgentConn,
    pub(super) inbound: mpsc::Receiver<Inbound>,
    pub(super) queue: VecDeque<QueuedPrompt>,
    pub(super) queue_limit: usize,
    pub(super) running: Option<(String, String)>,
    /// The running prompt's request failed because the agent went away.
    pub(super) lost_turn: bool,
    pub(super) seen_prompts: VecDeque<String>,
    pub(super) seen_set: HashSet<String>,
    pub(super) pending: HashMap<String, PendingPermission>,
    pub(super) resolved: VecDeque<String>,
    pub(super) next_request: u64,
    pub(super) eof: bool,
    pub(super) exit: Option<std::process::ExitStatus>,
    pub(super) ended: bool,
    /// The agent's model, mode and config options, and the change lanes.
    pub(super) settings: Settings,
    pub(super) change_timeout: Duration,
    pub(super) permission_timeout: Option<Duration>,
    pub(super) permission_policy: PermissionPolicy,
    pub(super) defaults: Arc<WorkspaceDefaults>,
    timers: mpsc::UnboundedSender<Timer>,
    /// Commands the agent runs (`terminal/*`).
    terminals: Arc<AgentTerminals>,
}

/// Starts the actor for a session and publishes its first event:
/// `session_started` for a new session, or — for one restored after a
/// restart — the `restored` frame (`session_restored`).
pub(crate) fn start(
    session: Arc<Session>,
    mut conn: AgentConn,
    commands: mpsc::UnboundedReceiver<Command>,
    config: ActorConfig,
    restored: Option<Frame>,
) {
    match restored {
        None => {
            let started = session_started(&session, &conn.new_session);
            session
                .bus
                .publish(Event::SessionStarted(started).to_frame());
        }
        Some(frame) => {
            session.bus.publish(frame);
        }
    }
    let settings = Settings::from_new_session(&conn.new_session);
    session
        .bus
        .set_snapshot_extra(Box::new(AgentTerminalTails::default()));
    let terminals = AgentTerminals::new(session.bus.clone(), &session.fs);
    let inbound = std::mem::replace(&mut conn.inbound, mpsc::channel(1).1);
    let (timers, timer_rx) = mpsc::unbounded_channel();
    let actor = Actor {
        session,
        conn,
        inbound,
        queue: VecDeque::new(),
        queue_limit: config.queue_limit,
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
        settings,
        change_timeout: config.change_timeout,
        permission_timeout: config.permission_timeout,
        permission_policy: config.permission_policy,
        defaults: config.defaults,
        timers,
        terminals,
    };
    tokio::spawn(actor.run(commands, timer_rx));
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
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut timers: mpsc::UnboundedReceiver<Timer>,
    ) {
        // An ending that is waiting for the other half (EOF or exit status).
        let mut settle_deadline: Option<tokio::time::Instant> = None;
        loop {
            let deadline = settle_deadline;
            // With too much of its output still waiting for the journal,
            // the agent is not read from (its pipe then holds it back);
            // commands and timers are still served meanwhile.
            let room = self.session.bus.has_room(UNCOMMITTED_MAX);
            tokio::select! {
                // Agent output first: a command must not overtake what the
                // agent already said.
                biased;
                msg = self.inbound.recv(), if room => match msg {
                    Some(msg) => self.on_inbound(msg),
                    None => break,
                },
                () = self.session.bus.room(UNCOMMITTED_MAX), if !room => {}
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd).await,
                    None => {
                        // Every handle is gone: nobody can reach this session.
                        self.end_agent(libc::SIGTERM).await;
                        break;
                    }
                },
                Some(timer) = timers.recv() => self.on_timer(timer),
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
                    self.died().await;
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

    pub(super) fn publish(
        &self,
        event: Event,
        originator: Option<&str>,
        prompt_id: Option<&str>,
    ) -> u64 {
        let mut f = event.to_frame();
        f.originator_client_id = originator.map(String::from);
        f.prompt_id = prompt_id.map(String::from);
        self.session.bus.publish(f)
    }

    pub(super) fn running_prompt(&self) -> Option<(&str, &str)> {
        self.running.as_ref().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    /// Delivers `timer` back to this actor after `after`.
    pub(super) fn timer_after(&self, after: Duration, timer: Timer) {
        let tx = self.timers.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(timer);
        });
    }

    fn on_timer(&mut self, timer: Timer) {
        if self.ended {
            return;
        }
        match timer {
            Timer::Change { axis, seq } => self.on_change_timeout(axis, seq),
            Timer::Permission { request_id } => self.on_permission_timeout(&request_id),
        }
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
            Inbound::ChangeDone { axis, seq, result } => self.on_change_done(axis, seq, result),
            Inbound::Eof => self.eof = true,
            Inbound::Loaded(_) => {}
            Inbound::Exited(status) => self.exit = Some(status),
        }
    }

    fn on_session_update(&mut self, mut params: Value) {
        // Model and mode reports become one promoted event each (or none).
        if self.on_config_update(&params["update"]) {
            return;
        }
        if let Some(obj) = params.as_object_mut() {
            // The agent's own session id means nothing to our clients.
            obj.remove("sessionId");
            if let Some(update) = obj.get_mut("update") {
                stamp_provenance(update);
            }
        }
        // Session-level state changes belong to no turn, even when they
        // arrive during one.
        let session_level = matches!(
            params["update"]["sessionUpdate"].as_str(),
            Some("available_commands_update")
        );
        let prompt = self
            .running_prompt()
            .filter(|_| !session_level)
            .map(|(p, _)| p.to_string());
        let mut f = Frame::new("session_update", params);
        f.prompt_id = prompt;
        self.session.bus.publish(f);
    }

    fn on_agent_request(&mut self, method: &str, params: Value, responder: Responder<Value, V1>) {
        match method {
            "session/request_permission" => self.on_permission_request(params, responder),
            "fs/read_text_file" | "fs/write_text_file" => {
                let ws = self.session.fs.clone();
                let method = method.to_string();
                tokio::spawn(async move {
                    let result = if method == "fs/read_text_file" {
                        ws.read_text_file(&params).await
                    } else {
                        ws.write_text_file(&params).await
                    };
                    if let Err(e) = &result {
                        tracing::info!(%method, kind = %e.kind, "agent file access refused: {}", e.message);
                    }
                    let _ = responder.respond_with_result(result.map_err(fs::FsError::into_acp));
                });
            }
            m if AgentTerminals::handles(m) => {
                self.terminals.serve(m.to_string(), params, responder);
            }
            other => {
                tracing::debug!(session = %self.session.id, method = %other, "unsupported agent request");
                let _ =
                    responder.respond_with_error(agent_client_protocol::Error::method_not_found());
            }
        }
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
            Command::SetModel {
                client_id,
                model_id,
                reply,
            } => self.request_change(Axis::Model, client_id, model_id, false, reply),
            Command::SetMode {
                client_id,
                mode,
                persist,
                reply,
            } => self.request_change(Axis::Mode, client_id, mode, persist, reply),
            Command::Close { client_id, reply } => {
                self.finish_queue();
                self.cancel_pending_permissions();
                self.terminals.end_all().await;
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
            Command::Suspend { reply } => {
                tracing::info!(session = %self.session.id, "suspended for a daemon restart");
                self.ended = true;
                self.end_agent(libc::SIGTERM).await;
                let _ = reply.send(Ok(()));
            }
            Command::Shutdown { reply } => {
                self.finish_queue();
                self.cancel_pending_permissions();
                self.terminals.end_all().await;
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

    /// The agent went away on its own: settle everything, then exactly one
    /// `session_died`.
    async fn died(&mut self) {
        self.ended = true;
        self.terminals.end_all().await;
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
        self.terminals.kill_all();
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
        // The leader is reaped by its waiter task. Whatever else the agent
        // started (qwen runs as two node processes) gets SIGKILL, and we wait
        // for the group to empty so "closed" means "nothing left running".
        agent::kill_group(self.conn.pgid, libc::SIGKILL);
        agent::wait_group_gone(self.conn.pgid, KILL_GRACE).await;
    }

    async fn conn_next(&mut self) -> Option<Inbound> {
        self.inbound.recv().await
    }
}

fn reply_ended(cmd: Command, id: &str) {
    cmd.refuse(|| {
        ApiError::new(ErrorKind::SessionBusy, format!("session {id} has ended"))
            .hint("the session is readable but no longer accepts changes")
    });
}

impl Command {
    /// Answers without running it: a request gets `err()`; close, shutdown
    /// and suspend succeed, as there is nothing left for them to do.
    pub(crate) fn refuse(self, err: impl Fn() -> ApiError) {
        match self {
            Command::Prompt { reply, .. } => drop(reply.send(Err(err()))),
            Command::Cancel { reply, .. } => drop(reply.send(Err(err()))),
            Command::Vote { reply, .. } => drop(reply.send(Err(err()))),
            Command::SetModel { reply, .. } | Command::SetMode { reply, .. } => {
                drop(reply.send(Err(err())))
            }
            Command::Close { reply, .. }
            | Command::Shutdown { reply }
            | Command::Suspend { reply } => drop(reply.send(Ok(()))),
        }
    }
}
