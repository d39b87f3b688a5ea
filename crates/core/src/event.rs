//! The v1 event catalogue, typed.
//!
//! [`Event::decode`] validates a frame's `data` against its `type` and is the
//! only way the reducer sees a payload: a known type whose payload is wrong
//! yields a [`ValidationError`] with the field path and is never half
//! applied; an unknown type decodes to [`Event::Unknown`].
//! [`Event::to_frame`] is the other direction, used by the daemon.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::frame::Frame;
use crate::kinds::{ErrorKind, Role, StopReason};
use crate::session_update::{AvailableCommand, SessionUpdate};
use crate::validate::{
    Path, VResult, ValidationError, as_object, opt_bool, opt_i64, opt_object_array, opt_str,
    opt_string, opt_u64, raw, req, req_array_of, req_str, req_u64,
};
use crate::view::SessionView;

/// A typed event.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // each variant is documented on its payload type
pub enum Event {
    SessionStarted(SessionStarted),
    SessionUpdate(SessionUpdate),
    TurnStarted(TurnStarted),
    TurnComplete(TurnComplete),
    TurnError(TurnError),
    PromptQueued(PromptQueued),
    PromptCancelled(PromptCancelled),
    PermissionRequest(PermissionRequest),
    PermissionResolved(PermissionResolved),
    PermissionAlreadyResolved(PermissionAlreadyResolved),
    ModelSwitched(ModelSwitched),
    ModelSwitchFailed(ModelSwitchFailed),
    ApprovalModeChanged(ApprovalModeChanged),
    ClientJoined(ClientJoined),
    ClientLeft(ClientLeft),
    OwnerChanged(OwnerChanged),
    TerminalOutput(TerminalOutput),
    TerminalResized(TerminalResized),
    TerminalExited(TerminalExited),
    ScrollbackCleared,
    SessionDied(SessionDied),
    SessionClosed(SessionClosed),
    SessionRestored(SessionRestored),
    SessionDegraded(SessionDegraded),
    SessionSnapshot(Box<SessionSnapshot>),
    StateResyncRequired(StateResyncRequired),
    ReplayComplete(ReplayComplete),
    SlowClientWarning(SlowClientWarning),
    ClientEvicted(ClientEvicted),
    StreamError(StreamError),
    /// A type this build does not know. Tolerated and counted.
    Unknown(String),
}

/// Every event type this build knows, in catalogue order.
pub const KNOWN_TYPES: &[&str] = &[
    "session_started",
    "session_update",
    "turn_started",
    "turn_complete",
    "turn_error",
    "prompt_queued",
    "prompt_cancelled",
    "permission_request",
    "permission_resolved",
    "permission_already_resolved",
    "model_switched",
    "model_switch_failed",
    "approval_mode_changed",
    "client_joined",
    "client_left",
    "owner_changed",
    "terminal_output",
    "terminal_resized",
    "terminal_exited",
    "scrollback_cleared",
    "session_died",
    "session_closed",
    "session_restored",
    "session_degraded",
    "session_snapshot",
    "state_resync_required",
    "replay_complete",
    "slow_client_warning",
    "client_evicted",
    "stream_error",
];

/// The synthetic stream-control types: they carry no id, never consume one,
/// and are produced per subscriber rather than published to the session.
pub const STREAM_CONTROL_TYPES: &[&str] = &[
    "session_snapshot",
    "state_resync_required",
    "replay_complete",
    "slow_client_warning",
    "client_evicted",
    "stream_error",
];

/// The types the reducer still applies while awaiting a resync: lifecycle
/// ends and stream control. Everything else only advances `lastEventId`
/// until a snapshot arrives.
pub const RESYNC_PASSTHROUGH_TYPES: &[&str] = &[
    "session_snapshot",
    "state_resync_required",
    "replay_complete",
    "slow_client_warning",
    "client_evicted",
    "stream_error",
    "session_died",
    "session_closed",
    "terminal_exited",
];

/// `session_started`: the first event of every session. Seeds what the
/// session is and what it can do, so the log alone rebuilds the view.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct SessionStarted {
    /// `agent` or `terminal`.
    pub kind: String,
    /// Configured agent name (agent sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Command line (terminal sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The session's workspace directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The agent's current mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_mode_id: Option<String>,
    /// Modes the agent offers (`{id, name, description?}`), raw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub available_modes: Vec<Value>,
    /// The agent's current model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_model_id: Option<String>,
    /// Models the agent offers (`{modelId, name, description?}`), raw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub available_models: Vec<Value>,
    /// ACP config options, raw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub config_options: Vec<Value>,
    /// Slash commands known at start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub available_commands: Vec<AvailableCommand>,
    /// Terminal width (terminal sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    /// Terminal height (terminal sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
}

/// `turn_started`: a queued prompt became the running turn.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TurnStarted {
    /// The prompt now running.
    pub prompt_id: String,
}

/// `turn_complete`: the running turn ended normally (or was cancelled).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct TurnComplete {
    /// Why it ended.
    pub stop_reason: StopReason,
    /// The prompt that ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
}

/// `turn_error`: the running turn failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct TurnError {
    /// Human-readable message.
    pub message: String,
    /// Classification, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// The prompt that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
}

/// `prompt_queued`: a prompt was accepted and waits its turn.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct PromptQueued {
    /// The accepted prompt.
    pub prompt_id: String,
    /// 0-based position in the queue when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
}

/// `prompt_cancelled`: a queued or running prompt was cancelled.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct PromptCancelled {
    /// The cancelled prompt (absent: whatever was running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
}

/// `permission_request`: the agent asks before a tool call; fanned out to
/// every client.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PermissionRequest {
    /// Daemon-issued id used to vote.
    pub request_id: String,
    /// The tool call in question (ACP `ToolCallUpdate`), raw.
    pub tool_call: Value,
    /// The agent's options.
    pub options: Vec<PermissionOption>,
}

/// One option of a permission request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PermissionOption {
    /// The agent's id for the option (differs per agent).
    pub option_id: String,
    /// Label.
    pub name: String,
    /// `allow_once`, `allow_always`, `reject_once`, `reject_always`.
    pub kind: String,
}

/// How a permission request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(
        tag = "outcome",
        rename_all = "snake_case",
        rename_all_fields = "camelCase"
    )
)]
pub enum PermissionOutcome {
    /// An option was chosen.
    Selected {
        /// The chosen option.
        option_id: String,
    },
    /// Cancelled (turn cancelled, session closed, agent died, timeout).
    Cancelled,
}

impl PermissionOutcome {
    /// ACP's shape: `{"outcome":"selected","optionId":..}` or
    /// `{"outcome":"cancelled"}`.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Selected { option_id } => {
                serde_json::json!({"outcome": "selected", "optionId": option_id})
            }
            Self::Cancelled => serde_json::json!({"outcome": "cancelled"}),
        }
    }

    pub(crate) fn decode(v: &Value, p: &Path<'_>) -> VResult<Self> {
        let o = as_object(v, p)?;
        match req_str(o, "outcome", p)? {
            "selected" => Ok(Self::Selected {
                option_id: req_str(o, "optionId", p)?.to_string(),
            }),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(p.key("outcome").error(alloc::format!(
                "expected \"selected\" or \"cancelled\", found \"{other}\""
            ))),
        }
    }
}

impl Serialize for PermissionOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// `permission_resolved`: the first valid vote (or a cancellation) ended a
/// request.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct PermissionResolved {
    /// The request.
    pub request_id: String,
    /// What was decided.
    pub outcome: PermissionOutcome,
    /// The client whose vote decided it; absent when cancelled by the
    /// daemon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voter_client_id: Option<String>,
}

/// `permission_already_resolved`: a vote arrived after the request ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct PermissionAlreadyResolved {
    /// The request.
    pub request_id: String,
    /// The late voter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voter_client_id: Option<String>,
}

/// `model_switched`: the session's model changed (by anyone).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelSwitched {
    /// The model now in use.
    pub model_id: String,
    /// The agent's config options after the switch, raw, when it speaks
    /// config options (so the one event carries the whole new state).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub config_options: Option<Vec<Value>>,
}

/// `model_switch_failed`: a requested switch did not take effect.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct ModelSwitchFailed {
    /// What was asked for.
    pub requested_model_id: String,
    /// Why it failed.
    pub error: String,
    /// Classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
}

/// `approval_mode_changed`: the session's approval mode changed (by anyone).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct ApprovalModeChanged {
    /// The mode before, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::kinds::ApprovalMode>"))]
    pub previous: Option<String>,
    /// The mode now.
    #[cfg_attr(feature = "ts", ts(as = "crate::kinds::ApprovalMode"))]
    pub next: String,
    /// Whether it became the workspace default.
    pub persisted: bool,
    /// `session` or `workspace`.
    pub scope: String,
    /// The agent's config options after the change, raw, when it reports
    /// modes as a config option.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub config_options: Option<Vec<Value>>,
}

/// `client_joined`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct ClientJoined {
    /// Daemon-issued id.
    pub client_id: String,
    /// Its role.
    pub role: Role,
    /// Display name, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `client_left`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientLeft {
    /// Who left.
    pub client_id: String,
    /// `detached`, `idle_timeout`, `session_closed`, ...
    pub reason: String,
}

/// `owner_changed`: the terminal's owner changed; `null` = unowned.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OwnerChanged {
    /// The new owner.
    pub owner_client_id: Option<String>,
}

/// `terminal_output`: decoded PTY output (UTF-8, coalesced).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TerminalOutput {
    /// The text.
    pub data: String,
    /// Set when the output is from a terminal an agent started
    /// (`terminal/create`), not the session's own terminal; the reducer
    /// leaves the session's screen alone for those.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub terminal_id: Option<String>,
}

/// `terminal_resized`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TerminalResized {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// `terminal_exited`: the terminal's process ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TerminalExited {
    /// Exit status, when it exited normally.
    pub exit_code: Option<i64>,
    /// Signal name, when killed by one.
    pub signal: Option<String>,
    /// Set for a terminal an agent started (see [`TerminalOutput`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub terminal_id: Option<String>,
}

/// `session_died`: the session ended without being closed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionDied {
    /// `agent_exited`, `daemon_shutdown`, `daemon_restarted`, ...
    pub reason: String,
    /// Exit status, when known.
    pub exit_code: Option<i64>,
    /// Signal name, when killed by one.
    pub signal_code: Option<String>,
    /// Classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error_kind: Option<ErrorKind>,
}

/// `session_closed`: the session was closed on purpose.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct SessionClosed {
    /// `client_request`, `kill_all`, ...
    pub reason: String,
    /// The client that closed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
}

/// `session_restored`: a daemon restart brought a running session back (an
/// agent reopened with ACP `session/load`, a terminal cold-restored). The
/// reducer applies nothing: the view continues as it was.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct SessionRestored {
    /// `agent` or `terminal`.
    pub kind: String,
    /// `daemon_restarted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `session_load` or `cold_restore`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
    /// The new process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// A terminal's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    /// A terminal's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
}

/// `session_degraded`: the daemon could no longer store this session's
/// events (disk full, read-only file system); they are still delivered.
/// The reducer applies nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct SessionDegraded {
    /// `journal_write_failed`.
    pub reason: String,
    /// The storage error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `session_snapshot`: the complete view as of `last_event_id`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename_all = "camelCase"))]
pub struct SessionSnapshot {
    /// The view.
    pub view: SessionView,
    /// The last event the view includes.
    pub last_event_id: u64,
    /// Other fields (the daemon's epoch, a terminal's screen), raw.
    #[cfg_attr(feature = "ts", ts(skip))] // gen-ts: `[key: string]: unknown`
    pub extra: Map<String, Value>,
}

/// `state_resync_required`: the resume point is gone; a snapshot follows.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StateResyncRequired {
    /// `ring_evicted`, `epoch_reset`, ...
    pub reason: String,
    /// The id the client asked to resume after.
    pub last_delivered_id: Option<u64>,
    /// The oldest id the daemon can still replay.
    pub earliest_available_id: Option<u64>,
}

/// `replay_complete`: the replay of a resume is done; live frames follow.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReplayComplete {
    /// How many frames were replayed.
    pub replayed_count: u64,
    /// The last id replayed.
    pub last_event_id: u64,
}

/// `slow_client_warning`: this subscriber's queue is filling up.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct SlowClientWarning {
    /// Frames queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_frames: Option<u64>,
    /// Bytes queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_bytes: Option<u64>,
}

/// `client_evicted`: this subscriber fell too far behind and its stream is
/// closing; resume with `Last-Event-ID`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientEvicted {
    /// Why (`queue_overflow`, ...).
    pub reason: String,
}

/// `stream_error`: the daemon could not continue this stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct StreamError {
    /// Human-readable message.
    pub error: String,
    /// Classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
}

fn kind_opt(m: &Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<Option<ErrorKind>> {
    Ok(opt_str(m, key, p)?.map(ErrorKind::parse))
}

fn u16_field(m: &Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<u16> {
    let n = req_u64(m, key, p)?;
    u16::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| p.key(key).error("expected an integer in 1..=65535"))
}

fn opt_u16(m: &Map<String, Value>, key: &str, p: &Path<'_>) -> VResult<Option<u16>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => u16_field(m, key, p).map(Some),
    }
}

impl Event {
    /// Validates `frame.data` against `frame.kind`.
    pub fn decode(frame: &Frame) -> Result<Event, ValidationError> {
        Self::decode_parts(&frame.kind, &frame.data).map_err(|mut e| {
            e.event_type = frame.kind.clone();
            e
        })
    }

    fn decode_parts(kind: &str, data: &Value) -> VResult<Event> {
        let p = Path::root("data");
        let p = &p;
        // Types without a payload accept `null` or any object.
        if kind == "scrollback_cleared" {
            return Ok(Event::ScrollbackCleared);
        }
        if kind == "session_update" {
            return SessionUpdate::decode(data, p).map(Event::SessionUpdate);
        }
        if !KNOWN_TYPES.contains(&kind) {
            return Ok(Event::Unknown(kind.to_string()));
        }
        let m = as_object(data, p)?;
        Ok(match kind {
            "session_started" => Event::SessionStarted(SessionStarted {
                kind: req_str(m, "kind", p)?.to_string(),
                agent: opt_string(m, "agent", p)?,
                command: opt_string(m, "command", p)?,
                cwd: opt_string(m, "cwd", p)?,
                current_mode_id: opt_string(m, "currentModeId", p)?,
                available_modes: opt_object_array(m, "availableModes", p)?.unwrap_or_default(),
                current_model_id: opt_string(m, "currentModelId", p)?,
                available_models: opt_object_array(m, "availableModels", p)?.unwrap_or_default(),
                config_options: opt_object_array(m, "configOptions", p)?.unwrap_or_default(),
                available_commands: match m.get("availableCommands") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(_) => req_array_of(m, "availableCommands", p, |v, p| {
                        let o = as_object(v, p)?;
                        Ok(AvailableCommand {
                            name: req_str(o, "name", p)?.to_string(),
                            description: opt_str(o, "description", p)?.unwrap_or("").to_string(),
                            input: o.get("input").filter(|v| v.is_object()).map(raw),
                        })
                    })?,
                },
                cols: opt_u16(m, "cols", p)?,
                rows: opt_u16(m, "rows", p)?,
            }),
            "turn_started" => Event::TurnStarted(TurnStarted {
                prompt_id: req_str(m, "promptId", p)?.to_string(),
            }),
            "turn_complete" => Event::TurnComplete(TurnComplete {
                stop_reason: StopReason::parse(req_str(m, "stopReason", p)?),
                prompt_id: opt_string(m, "promptId", p)?,
            }),
            "turn_error" => Event::TurnError(TurnError {
                message: req_str(m, "message", p)?.to_string(),
                error_kind: kind_opt(m, "errorKind", p)?,
                prompt_id: opt_string(m, "promptId", p)?,
            }),
            "prompt_queued" => Event::PromptQueued(PromptQueued {
                prompt_id: req_str(m, "promptId", p)?.to_string(),
                position: opt_u64(m, "position", p)?,
            }),
            "prompt_cancelled" => Event::PromptCancelled(PromptCancelled {
                prompt_id: opt_string(m, "promptId", p)?,
            }),
            "permission_request" => {
                let tp = p.key("toolCall");
                let tool_call = req(m, "toolCall", p)?;
                let to = as_object(tool_call, &tp)?;
                req_str(to, "toolCallId", &tp)?;
                Event::PermissionRequest(PermissionRequest {
                    request_id: req_str(m, "requestId", p)?.to_string(),
                    tool_call: raw(tool_call),
                    options: req_array_of(m, "options", p, |v, p| {
                        let o = as_object(v, p)?;
                        Ok(PermissionOption {
                            option_id: req_str(o, "optionId", p)?.to_string(),
                            name: req_str(o, "name", p)?.to_string(),
                            kind: req_str(o, "kind", p)?.to_string(),
                        })
                    })?,
                })
            }
            "permission_resolved" => Event::PermissionResolved(PermissionResolved {
                request_id: req_str(m, "requestId", p)?.to_string(),
                outcome: PermissionOutcome::decode(req(m, "outcome", p)?, &p.key("outcome"))?,
                voter_client_id: opt_string(m, "voterClientId", p)?,
            }),
            "permission_already_resolved" => {
                Event::PermissionAlreadyResolved(PermissionAlreadyResolved {
                    request_id: req_str(m, "requestId", p)?.to_string(),
                    voter_client_id: opt_string(m, "voterClientId", p)?,
                })
            }
            "model_switched" => Event::ModelSwitched(ModelSwitched {
                model_id: req_str(m, "modelId", p)?.to_string(),
                config_options: opt_object_array(m, "configOptions", p)?,
            }),
            "model_switch_failed" => Event::ModelSwitchFailed(ModelSwitchFailed {
                requested_model_id: req_str(m, "requestedModelId", p)?.to_string(),
                error: req_str(m, "error", p)?.to_string(),
                error_kind: kind_opt(m, "errorKind", p)?,
            }),
            "approval_mode_changed" => Event::ApprovalModeChanged(ApprovalModeChanged {
                previous: opt_string(m, "previous", p)?,
                next: req_str(m, "next", p)?.to_string(),
                persisted: opt_bool(m, "persisted", p)?.unwrap_or(false),
                scope: opt_str(m, "scope", p)?.unwrap_or("session").to_string(),
                config_options: opt_object_array(m, "configOptions", p)?,
            }),
            "client_joined" => Event::ClientJoined(ClientJoined {
                client_id: req_str(m, "clientId", p)?.to_string(),
                role: {
                    let r = Role::parse(req_str(m, "role", p)?);
                    if !r.is_known() {
                        return Err(p.key("role").error("expected \"control\" or \"observer\""));
                    }
                    r
                },
                name: opt_string(m, "name", p)?,
            }),
            "client_left" => Event::ClientLeft(ClientLeft {
                client_id: req_str(m, "clientId", p)?.to_string(),
                reason: opt_str(m, "reason", p)?.unwrap_or("detached").to_string(),
            }),
            "owner_changed" => {
                if !m.contains_key("ownerClientId") {
                    return Err(p
                        .key("ownerClientId")
                        .error("required field is missing (use null for no owner)"));
                }
                Event::OwnerChanged(OwnerChanged {
                    owner_client_id: opt_string(m, "ownerClientId", p)?,
                })
            }
            "terminal_output" => Event::TerminalOutput(TerminalOutput {
                data: req_str(m, "data", p)?.to_string(),
                terminal_id: opt_string(m, "terminalId", p)?,
            }),
            "terminal_resized" => Event::TerminalResized(TerminalResized {
                cols: u16_field(m, "cols", p)?,
                rows: u16_field(m, "rows", p)?,
            }),
            "terminal_exited" => Event::TerminalExited(TerminalExited {
                exit_code: opt_i64(m, "exitCode", p)?,
                signal: opt_string(m, "signal", p)?,
                terminal_id: opt_string(m, "terminalId", p)?,
            }),
            "session_died" => Event::SessionDied(SessionDied {
                reason: req_str(m, "reason", p)?.to_string(),
                exit_code: opt_i64(m, "exitCode", p)?,
                signal_code: opt_string(m, "signalCode", p)?,
                error_kind: kind_opt(m, "errorKind", p)?,
            }),
            "session_closed" => Event::SessionClosed(SessionClosed {
                reason: opt_str(m, "reason", p)?.unwrap_or("closed").to_string(),
                closed_by: opt_string(m, "closedBy", p)?,
            }),
            "session_restored" => Event::SessionRestored(SessionRestored {
                kind: req_str(m, "kind", p)?.to_string(),
                reason: opt_string(m, "reason", p)?,
                how: opt_string(m, "how", p)?,
                pid: opt_i64(m, "pid", p)?,
                cols: opt_u16(m, "cols", p)?,
                rows: opt_u16(m, "rows", p)?,
            }),
            "session_degraded" => Event::SessionDegraded(SessionDegraded {
                reason: req_str(m, "reason", p)?.to_string(),
                error: opt_string(m, "error", p)?,
            }),
            "session_snapshot" => {
                let vp = p.key("view");
                let view_value = req(m, "view", p)?;
                as_object(view_value, &vp)?;
                let view = SessionView::from_value(view_value).map_err(|msg| vp.error(msg))?;
                let mut extra = m.clone();
                extra.values_mut().for_each(Value::sort_all_objects);
                extra.remove("view");
                extra.remove("lastEventId");
                Event::SessionSnapshot(Box::new(SessionSnapshot {
                    view,
                    last_event_id: req_u64(m, "lastEventId", p)?,
                    extra,
                }))
            }
            "state_resync_required" => Event::StateResyncRequired(StateResyncRequired {
                reason: req_str(m, "reason", p)?.to_string(),
                last_delivered_id: opt_u64(m, "lastDeliveredId", p)?,
                earliest_available_id: opt_u64(m, "earliestAvailableId", p)?,
            }),
            "replay_complete" => Event::ReplayComplete(ReplayComplete {
                replayed_count: opt_u64(m, "replayedCount", p)?.unwrap_or(0),
                last_event_id: req_u64(m, "lastEventId", p)?,
            }),
            "slow_client_warning" => Event::SlowClientWarning(SlowClientWarning {
                queued_frames: opt_u64(m, "queuedFrames", p)?,
                queued_bytes: opt_u64(m, "queuedBytes", p)?,
            }),
            "client_evicted" => Event::ClientEvicted(ClientEvicted {
                reason: opt_str(m, "reason", p)?.unwrap_or("evicted").to_string(),
            }),
            "stream_error" => Event::StreamError(StreamError {
                error: req_str(m, "error", p)?.to_string(),
                error_kind: kind_opt(m, "errorKind", p)?,
            }),
            // KNOWN_TYPES and this match list the same names; a name in one
            // but not the other is a bug caught by `every_known_type_decodes`.
            _ => Event::Unknown(kind.to_string()),
        })
    }

    /// The wire type name.
    pub fn type_name(&self) -> &str {
        match self {
            Event::SessionStarted(_) => "session_started",
            Event::SessionUpdate(_) => "session_update",
            Event::TurnStarted(_) => "turn_started",
            Event::TurnComplete(_) => "turn_complete",
            Event::TurnError(_) => "turn_error",
            Event::PromptQueued(_) => "prompt_queued",
            Event::PromptCancelled(_) => "prompt_cancelled",
            Event::PermissionRequest(_) => "permission_request",
            Event::PermissionResolved(_) => "permission_resolved",
            Event::PermissionAlreadyResolved(_) => "permission_already_resolved",
            Event::ModelSwitched(_) => "model_switched",
            Event::ModelSwitchFailed(_) => "model_switch_failed",
            Event::ApprovalModeChanged(_) => "approval_mode_changed",
            Event::ClientJoined(_) => "client_joined",
            Event::ClientLeft(_) => "client_left",
            Event::OwnerChanged(_) => "owner_changed",
            Event::TerminalOutput(_) => "terminal_output",
            Event::TerminalResized(_) => "terminal_resized",
            Event::TerminalExited(_) => "terminal_exited",
            Event::ScrollbackCleared => "scrollback_cleared",
            Event::SessionDied(_) => "session_died",
            Event::SessionClosed(_) => "session_closed",
            Event::SessionRestored(_) => "session_restored",
            Event::SessionDegraded(_) => "session_degraded",
            Event::SessionSnapshot(_) => "session_snapshot",
            Event::StateResyncRequired(_) => "state_resync_required",
            Event::ReplayComplete(_) => "replay_complete",
            Event::SlowClientWarning(_) => "slow_client_warning",
            Event::ClientEvicted(_) => "client_evicted",
            Event::StreamError(_) => "stream_error",
            Event::Unknown(name) => name,
        }
    }

    /// True for the id-less stream-control types.
    pub fn is_stream_control(&self) -> bool {
        STREAM_CONTROL_TYPES.contains(&self.type_name())
    }

    /// The payload as JSON.
    pub fn to_data(&self) -> Value {
        fn v<T: Serialize>(t: &T) -> Value {
            // Payload types serialize infallibly (string keys, no floats
            // that could be NaN).
            serde_json::to_value(t).unwrap_or(Value::Null)
        }
        match self {
            Event::SessionStarted(x) => v(x),
            Event::SessionUpdate(x) => x.to_data(),
            Event::TurnStarted(x) => v(x),
            Event::TurnComplete(x) => v(x),
            Event::TurnError(x) => v(x),
            Event::PromptQueued(x) => v(x),
            Event::PromptCancelled(x) => v(x),
            Event::PermissionRequest(x) => v(x),
            Event::PermissionResolved(x) => v(x),
            Event::PermissionAlreadyResolved(x) => v(x),
            Event::ModelSwitched(x) => v(x),
            Event::ModelSwitchFailed(x) => v(x),
            Event::ApprovalModeChanged(x) => v(x),
            Event::ClientJoined(x) => v(x),
            Event::ClientLeft(x) => v(x),
            Event::OwnerChanged(x) => v(x),
            Event::TerminalOutput(x) => v(x),
            Event::TerminalResized(x) => v(x),
            Event::TerminalExited(x) => v(x),
            Event::ScrollbackCleared | Event::Unknown(_) => Value::Object(Map::new()),
            Event::SessionDied(x) => v(x),
            Event::SessionClosed(x) => v(x),
            Event::SessionRestored(x) => v(x),
            Event::SessionDegraded(x) => v(x),
            Event::SessionSnapshot(s) => {
                let mut m = s.extra.clone();
                m.insert("view".into(), v(&s.view));
                m.insert("lastEventId".into(), s.last_event_id.into());
                Value::Object(m)
            }
            Event::StateResyncRequired(x) => v(x),
            Event::ReplayComplete(x) => v(x),
            Event::SlowClientWarning(x) => v(x),
            Event::ClientEvicted(x) => v(x),
            Event::StreamError(x) => v(x),
        }
    }

    /// A frame carrying this event (no id, no metadata yet).
    pub fn to_frame(&self) -> Frame {
        Frame::new(self.type_name(), self.to_data())
    }
}

/// A frame whose payload has been validated: the reducer's input.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedFrame {
    /// The frame's id.
    pub id: Option<u64>,
    /// The decoded event.
    pub event: Event,
    /// `originatorClientId`.
    pub originator_client_id: Option<String>,
    /// `promptId`.
    pub prompt_id: Option<String>,
    /// `_meta.serverTimestamp`.
    pub server_timestamp: Option<u64>,
}

/// The outcome of decoding a frame for the reducer.
// `Ok` is the hot, common case: boxing it would cost an allocation per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// A valid frame of a known or unknown type.
    Ok(TypedFrame),
    /// A known type whose payload failed validation. The id still counts as
    /// delivered.
    Invalid {
        /// The frame's id.
        id: Option<u64>,
        /// What failed.
        error: ValidationError,
    },
}

impl TypedFrame {
    /// Decodes a frame.
    pub fn decode(frame: &Frame) -> Decoded {
        match Event::decode(frame) {
            Ok(event) => Decoded::Ok(TypedFrame {
                id: frame.id,
                event,
                originator_client_id: frame.originator_client_id.clone(),
                prompt_id: frame.prompt_id.clone(),
                server_timestamp: frame.meta.server_timestamp,
            }),
            Err(error) => Decoded::Invalid {
                id: frame.id,
                error,
            },
        }
    }

    /// Back to a wire frame.
    pub fn to_frame(&self) -> Frame {
        let mut f = self.event.to_frame();
        f.id = self.id;
        f.originator_client_id = self.originator_client_id.clone();
        f.prompt_id = self.prompt_id.clone();
        f.meta.server_timestamp = self.server_timestamp;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal(kind: &str) -> Value {
        match kind {
            "session_started" => json!({"kind": "agent"}),
            "session_update" => json!({"update": {"sessionUpdate": "plan", "entries": []}}),
            "turn_started" => json!({"promptId": "p"}),
            "turn_complete" => json!({"stopReason": "end_turn"}),
            "turn_error" => json!({"message": "m"}),
            "prompt_queued" => json!({"promptId": "p"}),
            "prompt_cancelled"
            | "scrollback_cleared"
            | "slow_client_warning"
            | "client_evicted" => json!({}),
            "permission_request" => {
                json!({"requestId": "r", "toolCall": {"toolCallId": "t"}, "options": []})
            }
            "permission_resolved" => {
                json!({"requestId": "r", "outcome": {"outcome": "cancelled"}})
            }
            "permission_already_resolved" => json!({"requestId": "r"}),
            "model_switched" => json!({"modelId": "m"}),
            "model_switch_failed" => json!({"requestedModelId": "m", "error": "e"}),
            "approval_mode_changed" => json!({"next": "plan"}),
            "client_joined" => json!({"clientId": "c", "role": "observer"}),
            "client_left" => json!({"clientId": "c"}),
            "owner_changed" => json!({"ownerClientId": null}),
            "terminal_output" => json!({"data": "x"}),
            "terminal_resized" => json!({"cols": 80, "rows": 24}),
            "terminal_exited" => json!({"exitCode": 0}),
            "session_died" => json!({"reason": "agent_exited"}),
            "session_closed" => json!({"reason": "client_request"}),
            "session_restored" => json!({"kind": "agent"}),
            "session_degraded" => json!({"reason": "journal_write_failed"}),
            "session_snapshot" => json!({"view": {}, "lastEventId": 0}),
            "state_resync_required" => json!({"reason": "ring_evicted"}),
            "replay_complete" => json!({"lastEventId": 0}),
            "stream_error" => json!({"error": "e"}),
            other => panic!("no minimal payload for {other}"),
        }
    }

    #[test]
    fn every_known_type_decodes_and_round_trips_its_name() {
        for kind in KNOWN_TYPES {
            let f = Frame::new(*kind, minimal(kind));
            let e = Event::decode(&f).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(e.type_name(), *kind);
            assert!(!matches!(e, Event::Unknown(_)), "{kind}");
            // and back through the wire shape
            let again = Event::decode(&e.to_frame()).unwrap();
            assert_eq!(again, e, "{kind}");
        }
    }

    #[test]
    fn unknown_types_are_tolerated() {
        let f = Frame::new("future_thing", json!({"anything": 1}));
        assert_eq!(
            Event::decode(&f).unwrap(),
            Event::Unknown("future_thing".into())
        );
    }

    #[test]
    fn invalid_payloads_name_the_field() {
        let f = Frame::new(
            "permission_request",
            json!({"requestId": "r", "toolCall": {"toolCallId": "t"},
                   "options": [{"optionId": "a", "name": "A", "kind": "allow_once"},
                               {"optionId": "b", "name": "B"}]}),
        );
        let e = Event::decode(&f).unwrap_err();
        assert_eq!(e.event_type, "permission_request");
        assert_eq!(e.path, "data.options[1].kind");

        let f = Frame::new("terminal_resized", json!({"cols": 0, "rows": 24}));
        assert_eq!(Event::decode(&f).unwrap_err().path, "data.cols");

        let f = Frame::new("client_joined", json!({"clientId": "c", "role": "admin"}));
        assert_eq!(Event::decode(&f).unwrap_err().path, "data.role");

        let f = Frame::new("turn_complete", Value::Null);
        assert_eq!(Event::decode(&f).unwrap_err().path, "data");

        let f = Frame::new(
            "session_update",
            json!({"update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text"}}}),
        );
        assert_eq!(
            Event::decode(&f).unwrap_err().path,
            "data.update.content.text"
        );
    }

    #[test]
    fn newer_snapshots_still_load() {
        // A newer daemon's view: an unknown transcript kind, an unknown
        // message role and an unknown top-level field. Refusing it would
        // leave the client stuck behind the resync gate.
        let f = Frame::new(
            "session_snapshot",
            json!({"lastEventId": 9, "view": {
                "lastEventId": 9,
                "transcript": [
                    {"kind": "hologram", "beam": 1},
                    {"kind": "message", "role": "narrator", "text": "hi", "attachments": [],
                     "messageId": null, "promptId": null, "chunks": 1}],
                "futureSection": {"x": 1}}}),
        );
        match Event::decode(&f).unwrap() {
            Event::SessionSnapshot(s) => {
                assert_eq!(s.last_event_id, 9);
                assert_eq!(s.view.transcript.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_session_update_subtypes_are_kept_raw() {
        let raw = json!({"sessionUpdate": "hologram", "beam": [1, 2]});
        let f = Frame::new("session_update", json!({"update": raw.clone()}));
        match Event::decode(&f).unwrap() {
            Event::SessionUpdate(SessionUpdate::Other { kind, raw: r }) => {
                assert_eq!(kind, "hologram");
                assert_eq!(r, raw);
            }
            other => panic!("{other:?}"),
        }
    }
}
