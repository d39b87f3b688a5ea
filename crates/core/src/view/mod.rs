//! The view state every client converges on, and the pure reducer that
//! builds it from frames.
//!
//! The view serializes with a fixed field order (struct declaration order;
//! raw JSON objects keep serde_json's sorted keys), so two builds — native,
//! wasm in Node, wasm in a browser — can be compared byte for byte.
//! Every field is always present (`null` / `[]` / `0` when empty) so a
//! client in another language never has to guess.

mod reduce;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::PermissionOption;
use crate::session_update::{AvailableCommand, PlanEntry};

pub use reduce::{Applied, reduce, reduce_json, reduce_typed};

/// Pending permission requests kept at most; more are counted in
/// [`Permissions::overflowed`] and dropped.
pub const MAX_PENDING_PERMISSIONS: usize = 64;
/// Resolved permission requests remembered (oldest dropped first).
pub const MAX_RESOLVED_PERMISSIONS: usize = 32;
/// The terminal output tail is trimmed back to this many bytes ...
pub const TERMINAL_TAIL_BYTES: usize = 64 * 1024;
/// ... once it grows past this many (hysteresis keeps appends amortised O(1)).
pub const TERMINAL_TAIL_HIGH_WATER: usize = TERMINAL_TAIL_BYTES + TERMINAL_TAIL_BYTES / 2;

/// The complete view of one session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
// TS: `SessionViewState`, clear of the wasm SDK's `SessionView` class.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "SessionViewState"))]
pub struct SessionView {
    /// Highest event id seen (0 before any).
    pub last_event_id: u64,
    /// What the session is.
    pub session: SessionInfo,
    /// Alive, died or closed, and why.
    pub lifecycle: Lifecycle,
    /// Messages, thoughts and tool-call markers in arrival order.
    pub transcript: Vec<TranscriptEntry>,
    /// Tool calls in order of first appearance.
    pub tool_calls: Vec<ToolCallView>,
    /// The agent's current plan.
    pub plan: Vec<PlanEntry>,
    /// Slash commands the agent offers.
    pub available_commands: Vec<AvailableCommand>,
    /// Model selection.
    pub model: ModelState,
    /// Approval mode.
    pub mode: ModeState,
    /// ACP config options, raw, as last reported.
    pub config_options: Vec<Value>,
    /// Last usage report, raw.
    pub usage: Option<Value>,
    /// Pending and recently resolved permission requests.
    pub permissions: Permissions,
    /// Who is attached, and the terminal owner.
    pub presence: Presence,
    /// The turn machine.
    pub turn: TurnState,
    /// Terminal state (terminal sessions, or once a terminal frame arrives).
    pub terminal: Option<TerminalView>,
    /// State of this client's stream (resync gate, errors, warnings).
    pub stream: StreamState,
    /// What the reducer tolerated.
    pub counters: Counters,
    /// toolCallId -> index into `tool_calls`; derived, never serialized.
    #[serde(skip)]
    pub(crate) tool_index: ToolIndex,
}

/// What the session is (from `session_started`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionInfo {
    /// `agent` or `terminal`; `null` until `session_started`.
    pub kind: Option<String>,
    /// Agent name.
    pub agent: Option<String>,
    /// Terminal command.
    pub command: Option<String>,
    /// Workspace directory.
    pub cwd: Option<String>,
    /// `serverTimestamp` of `session_started`.
    pub started_at: Option<u64>,
}

/// The session's lifecycle as seen on the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Lifecycle {
    /// `alive`, `died` or `closed`.
    pub state: String,
    /// The ending event's reason.
    pub reason: Option<String>,
    /// Exit status, when the end carried one.
    pub exit_code: Option<i64>,
    /// Signal name, when the end carried one.
    pub signal_code: Option<String>,
    /// Classification of the end.
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::kinds::ErrorKind>"))]
    pub error_kind: Option<String>,
    /// Who closed it (`session_closed`).
    pub closed_by: Option<String>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            state: String::from("alive"),
            reason: None,
            exit_code: None,
            signal_code: None,
            error_kind: None,
            closed_by: None,
        }
    }
}

/// Who said a transcript message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum MessageRole {
    /// The prompt (echoed to every client).
    User,
    /// The agent's reply.
    Agent,
    /// The agent's reasoning; never merged into a reply.
    Thought,
    /// A role from a newer daemon's snapshot; kept so the snapshot still
    /// loads (a client that cannot load a snapshot stays stuck in resync).
    #[serde(other)]
    Other,
}

/// One transcript entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TranscriptEntry {
    /// Consecutive chunks of one role merged into one message.
    #[serde(rename_all = "camelCase")]
    Message {
        /// Whose.
        role: MessageRole,
        /// Concatenated text chunks.
        text: String,
        /// Non-text blocks (images, resources), raw, in order.
        attachments: Vec<Value>,
        /// The agent's message id, when it sent one.
        message_id: Option<String>,
        /// The prompt the message belongs to.
        prompt_id: Option<String>,
        /// Chunks merged in.
        chunks: u64,
    },
    /// Where a tool call first appeared.
    #[serde(rename_all = "camelCase")]
    ToolCall {
        /// The call (see [`SessionView::tool_calls`]).
        tool_call_id: String,
    },
    /// An entry kind from a newer daemon's snapshot, which this build
    /// cannot show; kept as a placeholder so the snapshot still loads.
    #[serde(other)]
    Unknown,
}

/// A tool call, merged from every `tool_call` / `tool_call_update`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ToolCallView {
    /// The id.
    pub tool_call_id: String,
    /// Title.
    pub title: String,
    /// ACP kind (`edit`, `execute`, ...); `other` when never given.
    pub kind: String,
    /// Status; `pending` when never given.
    pub status: String,
    /// `builtin`, `mcp` or `subagent`.
    pub provenance: String,
    /// The MCP server, for `mcp`.
    pub server_id: Option<String>,
    /// Content (blocks, diffs, terminals), raw; replaced by updates.
    pub content: Vec<Value>,
    /// Locations, raw; replaced by updates.
    pub locations: Vec<Value>,
    /// Raw input.
    pub raw_input: Option<Value>,
    /// Raw output.
    pub raw_output: Option<Value>,
    /// Whether a `tool_call` announced it (some agents only send updates).
    pub announced: bool,
    /// Updates merged in.
    pub updates: u64,
    /// The prompt it belongs to.
    pub prompt_id: Option<String>,
}

/// Model selection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelState {
    /// The model in use.
    pub current_model_id: Option<String>,
    /// What the agent offers, raw (`{modelId, name, ...}`).
    pub available_models: Vec<Value>,
    /// The last failed switch, cleared by the next success.
    pub last_switch_error: Option<SwitchError>,
}

/// A failed model switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SwitchError {
    /// What was asked for.
    pub requested_model_id: String,
    /// Why it failed.
    pub error: String,
    /// Classification.
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::kinds::ErrorKind>"))]
    pub error_kind: Option<String>,
}

/// Approval mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModeState {
    /// The mode in effect.
    pub current_mode_id: Option<String>,
    /// What the agent offers, raw (`{id, name, ...}`).
    pub available_modes: Vec<Value>,
    /// Whether the last change became the workspace default.
    pub persisted: bool,
    /// `session` or `workspace` (of the last change).
    pub scope: Option<String>,
}

/// Permission requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Permissions {
    /// Waiting for a vote, oldest first.
    pub pending: Vec<PendingPermission>,
    /// Recently resolved, oldest first.
    pub resolved: Vec<ResolvedPermission>,
    /// Requests dropped because `pending` was full.
    pub overflowed: u64,
}

/// A request waiting for a vote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PendingPermission {
    /// Vote on this id.
    pub request_id: String,
    /// The tool call in question, raw.
    pub tool_call: Value,
    /// The agent's options.
    pub options: Vec<PermissionOption>,
    /// The client whose prompt caused it.
    pub originator_client_id: Option<String>,
    /// The prompt it belongs to.
    pub prompt_id: Option<String>,
    /// When the daemon published it.
    pub requested_at: Option<u64>,
}

/// A resolved request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ResolvedPermission {
    /// The request.
    pub request_id: String,
    /// `selected`, `cancelled`, or `already_resolved` (the daemon said it
    /// was resolved but this view missed the resolution).
    pub outcome: String,
    /// The chosen option, for `selected`.
    pub option_id: Option<String>,
    /// Who decided; `null` when the daemon cancelled it.
    pub voter_client_id: Option<String>,
    /// The client whose prompt caused it.
    pub originator_client_id: Option<String>,
}

/// Attached clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Presence {
    /// In order of joining.
    pub clients: Vec<ClientInfo>,
    /// The terminal's owner (terminal sessions).
    pub owner_client_id: Option<String>,
}

/// One attached client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientInfo {
    /// Daemon-issued id.
    pub client_id: String,
    /// `control` or `observer`.
    #[cfg_attr(feature = "ts", ts(as = "crate::kinds::Role"))]
    pub role: String,
    /// Display name.
    pub name: Option<String>,
}

/// The turn machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TurnState {
    /// A turn is running.
    pub running: bool,
    /// The running prompt.
    pub current_prompt_id: Option<String>,
    /// Prompts waiting, FIFO.
    pub queued: Vec<String>,
    /// How the last turn ended.
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::kinds::StopReason>"))]
    pub last_stop_reason: Option<String>,
    /// The last turn error.
    pub last_error: Option<TurnErrorInfo>,
    /// Turns ended (completed, failed or cancelled).
    pub turns_ended: u64,
}

/// A turn error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TurnErrorInfo {
    /// Message.
    pub message: String,
    /// Classification.
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::kinds::ErrorKind>"))]
    pub error_kind: Option<String>,
    /// The prompt that failed.
    pub prompt_id: Option<String>,
}

/// A terminal's state as the stream describes it. The character grid lives
/// in the daemon's screen model; this is size, a bounded tail of output and
/// the exit status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TerminalView {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// The last [`TERMINAL_TAIL_BYTES`]..[`TERMINAL_TAIL_HIGH_WATER`] bytes
    /// of output, trimmed on a character boundary.
    pub output: String,
    /// Bytes trimmed off the front of `output` so far.
    pub output_bytes_dropped: u64,
    /// Total output bytes seen.
    pub output_bytes_total: u64,
    /// Set once the process exited.
    pub exited: Option<TerminalExit>,
}

impl Default for TerminalView {
    fn default() -> Self {
        TerminalView {
            cols: 80,
            rows: 24,
            output: String::new(),
            output_bytes_dropped: 0,
            output_bytes_total: 0,
            exited: None,
        }
    }
}

/// How a terminal's process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TerminalExit {
    /// Exit status.
    pub exit_code: Option<i64>,
    /// Signal name.
    pub signal: Option<String>,
}

/// This client's stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StreamState {
    /// The resync gate: set by `state_resync_required`, cleared by
    /// `session_snapshot`. While set, only passthrough types apply.
    pub awaiting_resync: bool,
    /// Resyncs this view went through.
    pub resync_required_count: u64,
    /// The last `state_resync_required` payload.
    pub last_resync_required: Option<ResyncInfo>,
    /// The last `stream_error`.
    pub stream_error: Option<StreamErrorInfo>,
    /// Set by `client_evicted` (its reason); cleared by the next snapshot or
    /// replay completion.
    pub evicted: Option<String>,
    /// `slow_client_warning`s received.
    pub slow_client_warnings: u64,
    /// The last `replay_complete`.
    pub last_replay: Option<ReplayInfo>,
}

/// A `state_resync_required` payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ResyncInfo {
    /// Why.
    pub reason: String,
    /// Where the client wanted to resume.
    pub last_delivered_id: Option<u64>,
    /// The oldest replayable id.
    pub earliest_available_id: Option<u64>,
}

/// A `stream_error` payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StreamErrorInfo {
    /// Message.
    pub error: String,
    /// Classification.
    #[cfg_attr(feature = "ts", ts(as = "Option<crate::kinds::ErrorKind>"))]
    pub error_kind: Option<String>,
}

/// A `replay_complete` payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReplayInfo {
    /// Frames replayed.
    pub replayed_count: u64,
    /// Last id replayed.
    pub last_event_id: u64,
}

/// What the reducer tolerated instead of failing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Counters {
    /// Session events applied. Stream-control frames (snapshots included)
    /// are not counted: they describe a client's connection, not the
    /// session, so two clients of one session agree on this number.
    pub applied: u64,
    /// Frames of a type this build does not know.
    pub unknown_types: u64,
    /// `session_update` sub-types this build does not know.
    pub unknown_session_updates: u64,
    /// Known types whose payload failed validation (skipped whole).
    pub invalid_payloads: u64,
    /// Frames that could not even be parsed as an envelope.
    pub malformed_frames: u64,
    /// `permission_resolved` for a request that was not pending.
    pub unmatched_resolutions: u64,
    /// Frames whose id was not above `lastEventId` (replay overlap, reorder).
    pub stale_frames: u64,
    /// Frames skipped by the resync gate.
    pub gated_frames: u64,
}

/// Derived index; equal whenever the tool calls are equal, so it never
/// affects comparisons.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolIndex(pub(crate) BTreeMap<String, usize>);

impl PartialEq for ToolIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl SessionView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// The view as JSON text, in the stable field order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The view as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a view (a snapshot's `view`), rebuilding derived indexes.
    /// Missing fields take their defaults, unknown fields are ignored, so a
    /// newer daemon's snapshot still loads.
    pub fn from_value(v: &Value) -> Result<SessionView, String> {
        // Sorting first makes the raw values inside the view canonical
        // (see `validate::raw`); struct fields do not care about key order.
        let mut sorted = v.clone();
        sorted.sort_all_objects();
        let mut view = SessionView::deserialize(&sorted).map_err(|e| alloc::format!("{e}"))?;
        view.rebuild_index();
        Ok(view)
    }

    pub(crate) fn rebuild_index(&mut self) {
        self.tool_index.0 = self
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, t)| (t.tool_call_id.clone(), i))
            .collect();
    }

    /// A `session_snapshot` frame (no id: stream control) carrying this
    /// view. Reducing it and then events `k+1..n` equals reducing `1..n`.
    pub fn to_snapshot(&self) -> crate::frame::Frame {
        let mut data = serde_json::Map::new();
        data.insert("view".into(), self.to_value());
        data.insert("lastEventId".into(), self.last_event_id.into());
        crate::frame::Frame::new("session_snapshot", Value::Object(data))
    }

    /// Looks up a tool call.
    pub fn tool_call(&self, id: &str) -> Option<&ToolCallView> {
        self.tool_index.0.get(id).map(|i| &self.tool_calls[*i])
    }
}
