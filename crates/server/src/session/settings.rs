//! Model and approval-mode changes, exactly once whichever path caused them.
//!
//! The actor keeps one mirror of what the agent last *said* about its model,
//! mode and config options. The whole exactly-once rule is: publish
//! `model_switched` / `approval_mode_changed` when, and only when, the
//! agent's word changes the mirror. The daemon never publishes what it
//! *asked* for.
//!
//! - An HTTP change whose notification (`current_mode_update`,
//!   `config_option_update`) arrives before its answer is published at the
//!   notification; the answer then changes nothing. An agent that answers
//!   without notifying is published at the answer (a successful answer means
//!   "the value is now what you asked", at that point in the agent's order).
//! - A change the agent makes on its own is published when it reports it.
//! - Racing HTTP and agent-internal changes converge on the agent's real
//!   final value, because answers are consumed in wire order with the
//!   notifications (see [`AgentConn::send_ordered`]), so the last word the
//!   mirror takes is the agent's last word.
//!
//! Changes are serialized per axis: at most one set request per axis is out
//! at the agent, *including one whose HTTP caller already timed out*. A late
//! answer therefore always lands before the next change is even sent, and
//! cannot revert a newer one — no generation bookkeeping on answers needed.
//! A change still queued when its deadline passes fails without ever being
//! sent.
//!
//! [`AgentConn::send_ordered`]: super::agent::AgentConn::send_ordered

use std::collections::VecDeque;

use serde_json::{Value, json};
use switchyard_core::event::{ApprovalModeChanged, ModelSwitchFailed, ModelSwitched};
use switchyard_core::{ErrorKind, Event, Frame};
use tokio::sync::oneshot;

use super::actor::{Actor, Timer};
use super::agent::Inbound;
use crate::error::{ApiError, ApiResult};

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// The model.
    Model,
    /// The approval mode.
    Mode,
}

impl Axis {
    fn index(self) -> usize {
        match self {
            Axis::Model => 0,
            Axis::Mode => 1,
        }
    }
}

/// A change a client asked for.
#[derive(Debug)]
pub struct Change {
    seq: u64,
    client_id: String,
    value: String,
    persist: bool,
    reply: oneshot::Sender<ApiResult<Value>>,
}

/// The set request out at the agent for one axis.
#[derive(Debug)]
struct Sent {
    seq: u64,
    value: String,
    /// `None` once the caller timed out: the agent's answer still counts
    /// (it is the agent's word), but nobody waits for it.
    change: Option<Change>,
    /// A notification for this value was already published on its behalf.
    announced: bool,
    /// Why persisting the announced mode failed, for the caller's answer.
    persist_error: Option<String>,
}

#[derive(Debug, Default)]
struct Lane {
    sent: Option<Sent>,
    waiting: VecDeque<Change>,
}

/// The mirror of the agent's configuration, and the change lanes.
#[derive(Debug, Default)]
pub struct Settings {
    /// The model the agent last reported.
    pub model: Option<String>,
    /// The approval mode the agent last reported.
    pub mode: Option<String>,
    config_options: Vec<Value>,
    /// Model ids the agent offers.
    models: Vec<String>,
    /// Mode ids the agent offers.
    modes: Vec<String>,
    /// Config option id of the `model` category, when the agent has one.
    model_option: Option<String>,
    /// Config option id of the `mode` category (agents without `modes`).
    mode_option: Option<String>,
    /// The agent answered `session/new` with `modes`.
    has_modes: bool,
    lanes: [Lane; 2],
    next_seq: u64,
}

impl Settings {
    /// Seeds the mirror from the agent's `session/new` answer.
    pub fn from_new_session(new_session: &Value) -> Settings {
        let mut s = Settings::default();
        if let Some(modes) = new_session.get("modes").filter(|m| m.is_object()) {
            s.has_modes = true;
            s.mode = modes
                .get("currentModeId")
                .and_then(Value::as_str)
                .map(String::from);
            s.modes = ids(modes.get("availableModes"), "id");
        }
        if let Some(models) = new_session.get("models").filter(|m| m.is_object()) {
            s.model = models
                .get("currentModelId")
                .and_then(Value::as_str)
                .map(String::from);
            s.models = ids(models.get("availableModels"), "modelId");
        }
        if let Some(opts) = new_session.get("configOptions").and_then(Value::as_array) {
            s.take_options(opts.clone());
        }
        s
    }

    /// Takes a config option list as the agent's word; returns the model and
    /// mode it names.
    fn take_options(&mut self, opts: Vec<Value>) -> (Option<String>, Option<String>) {
        let (mut model, mut mode) = (None, None);
        for opt in &opts {
            let id = opt.get("id").and_then(Value::as_str).map(String::from);
            let current = opt
                .get("currentValue")
                .and_then(Value::as_str)
                .map(String::from);
            match opt.get("category").and_then(Value::as_str) {
                Some("model") => {
                    self.model_option = id;
                    self.models = option_values(opt);
                    model = current;
                }
                Some("mode") if !self.has_modes => {
                    self.mode_option = id;
                    self.modes = option_values(opt);
                    mode = current;
                }
                _ => {}
            }
        }
        self.config_options = opts;
        (model, mode)
    }

    fn allowed(&self, axis: Axis) -> &[String] {
        match axis {
            Axis::Model => &self.models,
            Axis::Mode => &self.modes,
        }
    }

    fn current(&self, axis: Axis) -> Option<&String> {
        match axis {
            Axis::Model => self.model.as_ref(),
            Axis::Mode => self.mode.as_ref(),
        }
    }

    fn lane(&mut self, axis: Axis) -> &mut Lane {
        &mut self.lanes[axis.index()]
    }
}

/// `availableModes[].id` / `availableModels[].modelId`.
fn ids(list: Option<&Value>, key: &str) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get(key).and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The values of a select config option (flat or grouped).
fn option_values(opt: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for o in opt
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(v) = o.get("value").and_then(Value::as_str) {
            out.push(v.to_string());
        }
        for g in o
            .get("options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(v) = g.get("value").and_then(Value::as_str) {
                out.push(v.to_string());
            }
        }
    }
    out
}

impl Actor {
    // ---- the client side: requests ----

    /// Queues a change (validated against what the agent offers) and sends
    /// it when its lane is free. The reply comes when the agent answers or
    /// the deadline passes.
    pub(super) fn request_change(
        &mut self,
        axis: Axis,
        client_id: String,
        value: String,
        persist: bool,
        reply: oneshot::Sender<ApiResult<Value>>,
    ) {
        let allowed = self.settings.allowed(axis);
        if allowed.is_empty() || !allowed.contains(&value) {
            let (kind, what) = match axis {
                Axis::Model => (ErrorKind::InvalidModel, "model"),
                Axis::Mode => (ErrorKind::InvalidMode, "approval mode"),
            };
            let err = if allowed.is_empty() {
                ApiError::new(kind, format!("this agent offers no {what} choice"))
            } else {
                ApiError::new(kind, format!("unknown {what} {value:?}"))
                    .hint(format!("allowed: {}", allowed.join(", ")))
            };
            let _ = reply.send(Err(err));
            return;
        }
        self.settings.next_seq += 1;
        let seq = self.settings.next_seq;
        self.timer_after(self.change_timeout, Timer::Change { axis, seq });
        self.settings.lane(axis).waiting.push_back(Change {
            seq,
            client_id,
            value,
            persist,
            reply,
        });
        self.send_next_change(axis);
    }

    fn send_next_change(&mut self, axis: Axis) {
        if self.settings.lane(axis).sent.is_some() {
            return;
        }
        let Some(change) = self.settings.lane(axis).waiting.pop_front() else {
            return;
        };
        let sid = self.conn.agent_session_id.clone();
        let (method, params) = match (axis, &self.settings) {
            (
                Axis::Model,
                Settings {
                    model_option: Some(id),
                    ..
                },
            )
            | (
                Axis::Mode,
                Settings {
                    mode_option: Some(id),
                    ..
                },
            ) => (
                "session/set_config_option",
                json!({ "sessionId": sid, "configId": id, "value": change.value }),
            ),
            (Axis::Model, _) => (
                "session/set_model",
                json!({ "sessionId": sid, "modelId": change.value }),
            ),
            (Axis::Mode, _) => (
                "session/set_mode",
                json!({ "sessionId": sid, "modeId": change.value }),
            ),
        };
        tracing::info!(session = %self.session.id, client = %change.client_id, %method, value = %change.value, "configuration change");
        let seq = change.seq;
        self.settings.lane(axis).sent = Some(Sent {
            seq,
            value: change.value.clone(),
            change: Some(change),
            announced: false,
            persist_error: None,
        });
        self.conn
            .send_ordered(method, params, move |result| Inbound::ChangeDone {
                axis,
                seq,
                result,
            });
    }

    /// The agent answered a set request (in wire order).
    pub(super) fn on_change_done(
        &mut self,
        axis: Axis,
        seq: u64,
        result: Result<Value, agent_client_protocol::Error>,
    ) {
        if self.settings.lane(axis).sent.as_ref().map(|s| s.seq) != Some(seq) {
            return;
        }
        match result {
            Ok(answer) => {
                // The answer is the agent's word: the options it returns, or
                // (for answers without them) "it is now what you asked".
                let value = self
                    .settings
                    .lane(axis)
                    .sent
                    .as_ref()
                    .map(|s| s.value.clone());
                match answer.get("configOptions").and_then(Value::as_array) {
                    Some(opts) => self.agent_says(None, None, Some(opts.clone())),
                    None => match axis {
                        Axis::Model => self.agent_says(value, None, None),
                        Axis::Mode => self.agent_says(None, value, None),
                    },
                }
                let sent = self.settings.lane(axis).sent.take().expect("checked above");
                if let Some(change) = sent.change {
                    self.settle(axis, change, sent.announced, sent.persist_error);
                } else {
                    tracing::info!(session = %self.session.id, ?axis, value = %sent.value, "late answer to a timed-out change");
                }
            }
            Err(e) => {
                let sent = self.settings.lane(axis).sent.take().expect("checked above");
                let kind = if i32::from(e.code) == -32602 {
                    match axis {
                        Axis::Model => ErrorKind::InvalidModel,
                        Axis::Mode => ErrorKind::InvalidMode,
                    }
                } else if agent_client_protocol::is_incoming_transport_closed(&e)
                    || agent_client_protocol::is_connection_terminated(&e)
                {
                    ErrorKind::AgentExited
                } else {
                    ErrorKind::ProtocolError
                };
                match sent.change {
                    Some(change) => self.fail_change(
                        axis,
                        change,
                        kind,
                        format!("the agent refused: {}", e.message),
                    ),
                    None => {
                        tracing::info!(session = %self.session.id, ?axis, "late refusal of a timed-out change: {}", e.message)
                    }
                }
            }
        }
        self.send_next_change(axis);
    }

    /// A change's deadline passed: fail it, whether it is out at the agent
    /// (which may still apply it; its word will be mirrored then) or still
    /// queued (then it is never sent).
    pub(super) fn on_change_timeout(&mut self, axis: Axis, seq: u64) {
        let lane = self.settings.lane(axis);
        let (change, message) = if let Some(sent) = lane.sent.as_mut().filter(|s| s.seq == seq) {
            match sent.change.take() {
                Some(c) => (
                    c,
                    "the agent did not answer in time; it may still apply the change, and the session will show whatever it does",
                ),
                None => return,
            }
        } else if let Some(i) = lane.waiting.iter().position(|c| c.seq == seq) {
            (
                lane.waiting.remove(i).expect("index from position"),
                "an earlier change is still waiting for the agent's answer",
            )
        } else {
            return;
        };
        self.fail_change(axis, change, ErrorKind::RequestTimeout, message.into());
    }

    fn fail_change(&mut self, axis: Axis, change: Change, kind: ErrorKind, message: String) {
        if axis == Axis::Model {
            self.publish(
                Event::ModelSwitchFailed(ModelSwitchFailed {
                    requested_model_id: change.value.clone(),
                    error: message.clone(),
                    error_kind: Some(kind.clone()),
                }),
                Some(&change.client_id),
                None,
            );
        }
        let mut err = ApiError::new(kind, message);
        if let Some(current) = self.settings.current(axis) {
            err = err.hint(format!("the session is still on {current:?}"));
        }
        let _ = change.reply.send(Err(err));
    }

    /// The agent accepted a change: answer the caller with the value the
    /// mirror now holds (never simply the one it asked for).
    fn settle(
        &mut self,
        axis: Axis,
        change: Change,
        announced: bool,
        mut persist_error: Option<String>,
    ) {
        let body = match axis {
            Axis::Model => json!({ "sessionId": self.session.id, "modelId": self.settings.model }),
            Axis::Mode => {
                let mut persisted = announced && change.persist && persist_error.is_none();
                if change.persist && !announced {
                    // Same mode as before, so nothing was published yet; the
                    // persistence itself is the change to announce.
                    match self.persist_mode(&change.value) {
                        Ok(()) => {
                            persisted = true;
                            self.publish(
                                Event::ApprovalModeChanged(ApprovalModeChanged {
                                    previous: self.settings.mode.clone(),
                                    next: change.value.clone(),
                                    persisted: true,
                                    scope: "workspace".into(),
                                    config_options: None,
                                }),
                                Some(&change.client_id),
                                None,
                            );
                        }
                        Err(e) => persist_error = Some(e),
                    }
                }
                let mut body = json!({
                    "sessionId": self.session.id,
                    "mode": self.settings.mode,
                    "persisted": persisted,
                });
                if let Some(e) = persist_error {
                    body["persistError"] = e.into();
                }
                body
            }
        };
        let _ = change.reply.send(Ok(body));
    }

    fn persist_mode(&mut self, mode: &str) -> Result<(), String> {
        self.defaults
            .set_approval_mode(&self.session.cwd, mode)
            .map_err(|e| {
                tracing::warn!(session = %self.session.id, "cannot persist the approval mode: {e}");
                format!("the mode changed but could not be saved as the workspace default: {e}")
            })
    }

    // ---- the agent side: its word ----

    /// Handles the configuration part of a `session/update`; returns false
    /// when the update is something else.
    pub(super) fn on_config_update(&mut self, update: &Value) -> bool {
        match update["sessionUpdate"].as_str() {
            Some("current_mode_update") => {
                if let Some(m) = update["currentModeId"].as_str() {
                    self.agent_says(None, Some(m.to_string()), None);
                }
                true
            }
            // Not in ACP v1, but sent by agents that predate config options.
            Some("current_model_update") => {
                let m = update["currentModelId"]
                    .as_str()
                    .or_else(|| update["modelId"].as_str());
                if let Some(m) = m {
                    self.agent_says(Some(m.to_string()), None, None);
                }
                true
            }
            Some("config_option_update") => {
                if let Some(opts) = update["configOptions"].as_array() {
                    self.agent_says(None, None, Some(opts.clone()));
                }
                true
            }
            _ => false,
        }
    }

    /// Takes the agent's word and publishes what it changed: one
    /// `model_switched`, one `approval_mode_changed`, or (when only other
    /// options changed) the raw `config_option_update` — nothing when
    /// nothing changed.
    fn agent_says(
        &mut self,
        model: Option<String>,
        mode: Option<String>,
        options: Option<Vec<Value>>,
    ) {
        let options_changed = options
            .as_ref()
            .is_some_and(|o| *o != self.settings.config_options);
        let (mut model, mut mode) = (model, mode);
        if let Some(opts) = options.clone() {
            let (m, md) = self.settings.take_options(opts);
            model = model.or(m);
            mode = mode.or(md);
        }
        let mut carried = false;
        let originator = self.running_prompt().map(|(_, c)| c.to_string());

        if let Some(m) = model.filter(|m| Some(m) != self.settings.model.as_ref()) {
            self.settings.model = Some(m.clone());
            let by = self.announce(Axis::Model, &m).map(|(c, _)| c);
            self.publish(
                Event::ModelSwitched(ModelSwitched {
                    model_id: m,
                    config_options: options.clone(),
                }),
                by.as_deref().or(originator.as_deref()),
                None,
            );
            carried = options.is_some();
        }
        if let Some(next) = mode.filter(|m| Some(m) != self.settings.mode.as_ref()) {
            let previous = self.settings.mode.replace(next.clone());
            let by = self.announce(Axis::Mode, &next);
            let persist = by.as_ref().is_some_and(|(_, p)| *p);
            let persisted = persist && {
                match self.persist_mode(&next) {
                    Ok(()) => true,
                    Err(e) => {
                        if let Some(sent) = self.settings.lane(Axis::Mode).sent.as_mut() {
                            sent.persist_error = Some(e);
                        }
                        false
                    }
                }
            };
            self.publish(
                Event::ApprovalModeChanged(ApprovalModeChanged {
                    previous,
                    next,
                    persisted,
                    scope: if persisted { "workspace" } else { "session" }.into(),
                    config_options: if carried { None } else { options.clone() },
                }),
                by.as_ref()
                    .map(|(c, _)| c.as_str())
                    .or(originator.as_deref()),
                None,
            );
            carried = options.is_some();
        }
        if options_changed && !carried {
            let opts = options.unwrap_or_default();
            self.session.bus.publish(Frame::new(
                "session_update",
                json!({ "update": { "sessionUpdate": "config_option_update", "configOptions": opts } }),
            ));
        }
    }

    /// When the change out at the agent asked for `value`, the published
    /// change is on its behalf: returns its client and persist flag, and
    /// marks it announced.
    fn announce(&mut self, axis: Axis, value: &str) -> Option<(String, bool)> {
        let sent = self.settings.lane(axis).sent.as_mut()?;
        if sent.value != value {
            return None;
        }
        sent.announced = true;
        sent.change
            .as_ref()
            .map(|c| (c.client_id.clone(), c.persist))
    }
}
