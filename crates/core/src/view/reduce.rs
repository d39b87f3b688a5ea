//! The reducer: `reduce(&mut view, &frame)`, pure and deterministic.
//!
//! Order of checks for every frame:
//! 1. ids: a frame whose id is not above `lastEventId` is stale (replay
//!    overlap or reordering) and is dropped; otherwise the id advances
//!    `lastEventId` whether or not the payload then applies;
//! 2. validation: a known type with a bad payload is counted and skipped
//!    whole;
//! 3. the resync gate: while awaiting a resync only
//!    [`RESYNC_PASSTHROUGH_TYPES`](crate::event::RESYNC_PASSTHROUGH_TYPES)
//!    apply;
//! 4. the event itself.

use alloc::string::{String, ToString};

use super::{
    ClientInfo, Lifecycle, MAX_PENDING_PERMISSIONS, MAX_RESOLVED_PERMISSIONS, MessageRole,
    PendingPermission, ReplayInfo, ResolvedPermission, ResyncInfo, SessionView, StreamErrorInfo,
    SwitchError, TERMINAL_TAIL_BYTES, TERMINAL_TAIL_HIGH_WATER, TerminalExit, TerminalView,
    ToolCallView, TranscriptEntry, TurnErrorInfo,
};
use crate::event::{
    Decoded, Event, PermissionOutcome, RESYNC_PASSTHROUGH_TYPES, SessionSnapshot, TypedFrame,
};
use crate::frame::{Frame, FrameError};
use crate::kinds::Provenance;
use crate::session_update::{Content, ContentChunk, SessionUpdate, ToolCallFields};
use crate::validate::ValidationError;
use serde_json::Value;

/// What the reducer did with a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// The frame changed (or confirmed) the view.
    Applied,
    /// An unknown type or `session_update` sub-type: counted, id advanced.
    Unknown,
    /// The id was not above `lastEventId`: dropped.
    Stale,
    /// Skipped by the resync gate (id advanced).
    Gated,
    /// A known type with an invalid payload: counted, skipped, id advanced.
    Invalid(ValidationError),
    /// Not a frame at all (from [`reduce_json`]).
    Malformed(FrameError),
}

/// Validates and applies one frame.
pub fn reduce(view: &mut SessionView, frame: &Frame) -> Applied {
    match TypedFrame::decode(frame) {
        Decoded::Ok(tf) => reduce_typed(view, &tf),
        Decoded::Invalid { id, error } => {
            if let Some(id) = id {
                if id <= view.last_event_id {
                    view.counters.stale_frames += 1;
                    return Applied::Stale;
                }
                view.last_event_id = id;
            }
            view.counters.invalid_payloads += 1;
            Applied::Invalid(error)
        }
    }
}

/// Parses, validates and applies one frame from JSON text.
pub fn reduce_json(view: &mut SessionView, text: &str) -> Applied {
    match Frame::from_json(text) {
        Ok(frame) => reduce(view, &frame),
        Err(e) => {
            view.counters.malformed_frames += 1;
            Applied::Malformed(e)
        }
    }
}

/// Applies an already-validated frame.
pub fn reduce_typed(view: &mut SessionView, tf: &TypedFrame) -> Applied {
    let snapshot = matches!(tf.event, Event::SessionSnapshot(_));
    if let (Some(id), false) = (tf.id, snapshot) {
        if id <= view.last_event_id {
            view.counters.stale_frames += 1;
            return Applied::Stale;
        }
        view.last_event_id = id;
    }
    if view.stream.awaiting_resync && !RESYNC_PASSTHROUGH_TYPES.contains(&tf.event.type_name()) {
        view.counters.gated_frames += 1;
        return Applied::Gated;
    }
    let outcome = apply(view, tf);
    // `applied` counts session events only: stream-control frames describe
    // this client's connection (a resumed client sees a `replay_complete` a
    // never-disconnected one does not), and a snapshot brings the counters
    // of the events that built it.
    if !tf.event.is_stream_control() && outcome == Applied::Applied {
        view.counters.applied += 1;
    }
    outcome
}

fn apply(view: &mut SessionView, tf: &TypedFrame) -> Applied {
    match &tf.event {
        Event::SessionStarted(s) => {
            view.session.kind = Some(s.kind.clone());
            view.session.agent = s.agent.clone();
            view.session.command = s.command.clone();
            view.session.cwd = s.cwd.clone();
            view.session.started_at = tf.server_timestamp;
            if s.current_mode_id.is_some() {
                view.mode.current_mode_id = s.current_mode_id.clone();
            }
            if !s.available_modes.is_empty() {
                view.mode.available_modes = s.available_modes.clone();
            }
            if s.current_model_id.is_some() {
                view.model.current_model_id = s.current_model_id.clone();
            }
            if !s.available_models.is_empty() {
                view.model.available_models = s.available_models.clone();
            }
            if !s.config_options.is_empty() {
                apply_config_options(view, &s.config_options);
            }
            if !s.available_commands.is_empty() {
                view.available_commands = s.available_commands.clone();
            }
            if s.kind == "terminal" || s.cols.is_some() {
                let t = view.terminal.get_or_insert_with(TerminalView::default);
                if let Some(c) = s.cols {
                    t.cols = c;
                }
                if let Some(r) = s.rows {
                    t.rows = r;
                }
            }
        }
        Event::SessionUpdate(u) => return apply_update(view, u, tf),
        Event::TurnStarted(t) => {
            view.turn.queued.retain(|p| *p != t.prompt_id);
            view.turn.running = true;
            view.turn.current_prompt_id = Some(t.prompt_id.clone());
        }
        Event::TurnComplete(t) => {
            let pid = t.prompt_id.as_ref().or(tf.prompt_id.as_ref());
            end_turn(view, pid);
            view.turn.last_stop_reason = Some(t.stop_reason.as_str().to_string());
        }
        Event::TurnError(t) => {
            let pid = t.prompt_id.as_ref().or(tf.prompt_id.as_ref());
            end_turn(view, pid);
            view.turn.last_error = Some(TurnErrorInfo {
                message: t.message.clone(),
                error_kind: t.error_kind.as_ref().map(|k| k.as_str().to_string()),
                prompt_id: pid.cloned(),
            });
        }
        Event::PromptQueued(q) => {
            if !view.turn.queued.contains(&q.prompt_id)
                && view.turn.current_prompt_id.as_ref() != Some(&q.prompt_id)
            {
                view.turn.queued.push(q.prompt_id.clone());
            }
        }
        Event::PromptCancelled(c) => {
            // Only takes a prompt out of the queue: a running turn always
            // ends with its own turn_complete / turn_error.
            if let Some(pid) = c.prompt_id.as_ref().or(tf.prompt_id.as_ref()) {
                view.turn.queued.retain(|p| p != pid);
            }
        }
        Event::PermissionRequest(r) => {
            let pending = PendingPermission {
                request_id: r.request_id.clone(),
                tool_call: r.tool_call.clone(),
                options: r.options.clone(),
                originator_client_id: tf.originator_client_id.clone(),
                prompt_id: tf.prompt_id.clone(),
                requested_at: tf.server_timestamp,
            };
            let perms = &mut view.permissions;
            if let Some(existing) = perms
                .pending
                .iter_mut()
                .find(|p| p.request_id == r.request_id)
            {
                *existing = pending;
            } else if perms.pending.len() >= MAX_PENDING_PERMISSIONS {
                perms.overflowed += 1;
            } else {
                perms.pending.push(pending);
            }
        }
        Event::PermissionResolved(r) => {
            let (outcome, option_id) = match &r.outcome {
                PermissionOutcome::Selected { option_id } => ("selected", Some(option_id.clone())),
                PermissionOutcome::Cancelled => ("cancelled", None),
            };
            // Older daemons put the voter only in the envelope.
            let voter = r
                .voter_client_id
                .clone()
                .or_else(|| tf.originator_client_id.clone());
            if !resolve_pending(view, &r.request_id, outcome, option_id, voter) {
                view.permissions_unmatched();
            }
        }
        Event::PermissionAlreadyResolved(r) => {
            // The daemon says it is over; if we still show it pending, we
            // missed the resolution — stop showing a card nobody can answer.
            resolve_pending(view, &r.request_id, "already_resolved", None, None);
        }
        Event::ModelSwitched(m) => {
            if let Some(opts) = &m.config_options {
                apply_config_options(view, opts);
            }
            view.model.current_model_id = Some(m.model_id.clone());
            view.model.last_switch_error = None;
        }
        Event::ModelSwitchFailed(m) => {
            view.model.last_switch_error = Some(SwitchError {
                requested_model_id: m.requested_model_id.clone(),
                error: m.error.clone(),
                error_kind: m.error_kind.as_ref().map(|k| k.as_str().to_string()),
            });
        }
        Event::ApprovalModeChanged(m) => {
            if let Some(opts) = &m.config_options {
                apply_config_options(view, opts);
            }
            view.mode.current_mode_id = Some(m.next.clone());
            view.mode.persisted = m.persisted;
            view.mode.scope = Some(m.scope.clone());
        }
        Event::ClientJoined(c) => {
            let info = ClientInfo {
                client_id: c.client_id.clone(),
                role: c.role.as_str().to_string(),
                name: c.name.clone(),
            };
            match view
                .presence
                .clients
                .iter_mut()
                .find(|x| x.client_id == c.client_id)
            {
                Some(existing) => *existing = info,
                None => view.presence.clients.push(info),
            }
        }
        Event::ClientLeft(c) => view.presence.clients.retain(|x| x.client_id != c.client_id),
        Event::OwnerChanged(o) => view.presence.owner_client_id = o.owner_client_id.clone(),
        // An agent's terminal (`terminalId`) is not the session's screen:
        // clients show it with the tool call that embeds it.
        Event::TerminalOutput(o) if o.terminal_id.is_some() => {}
        Event::TerminalExited(e) if e.terminal_id.is_some() => {}
        Event::TerminalOutput(o) => append_output(
            view.terminal.get_or_insert_with(TerminalView::default),
            &o.data,
        ),
        Event::TerminalResized(r) => {
            let t = view.terminal.get_or_insert_with(TerminalView::default);
            t.cols = r.cols;
            t.rows = r.rows;
        }
        Event::TerminalExited(e) => {
            view.terminal
                .get_or_insert_with(TerminalView::default)
                .exited = Some(TerminalExit {
                exit_code: e.exit_code,
                signal: e.signal.clone(),
            });
        }
        Event::ScrollbackCleared => {
            let t = view.terminal.get_or_insert_with(TerminalView::default);
            t.output_bytes_dropped += t.output.len() as u64;
            t.output.clear();
        }
        Event::SessionDied(d) => {
            view.lifecycle = Lifecycle {
                state: "died".into(),
                reason: Some(d.reason.clone()),
                exit_code: d.exit_code,
                signal_code: d.signal_code.clone(),
                error_kind: d.error_kind.as_ref().map(|k| k.as_str().to_string()),
                closed_by: None,
            };
            settle_after_end(view);
        }
        Event::SessionClosed(c) => {
            view.lifecycle = Lifecycle {
                state: "closed".into(),
                reason: Some(c.reason.clone()),
                closed_by: c.closed_by.clone(),
                ..Lifecycle::default()
            };
            settle_after_end(view);
        }
        // Known and validated, nothing to apply: the view goes on as it was
        // (a restored session is the same session; a degraded one still
        // delivers every event).
        Event::SessionRestored(_) | Event::SessionDegraded(_) => {}
        Event::SessionSnapshot(s) => apply_snapshot(view, s),
        Event::StateResyncRequired(r) => {
            view.stream.awaiting_resync = true;
            view.stream.resync_required_count += 1;
            view.stream.last_resync_required = Some(ResyncInfo {
                reason: r.reason.clone(),
                last_delivered_id: r.last_delivered_id,
                earliest_available_id: r.earliest_available_id,
            });
        }
        Event::ReplayComplete(r) => {
            view.stream.last_replay = Some(ReplayInfo {
                replayed_count: r.replayed_count,
                last_event_id: r.last_event_id,
            });
            view.stream.evicted = None;
        }
        Event::SlowClientWarning(_) => view.stream.slow_client_warnings += 1,
        Event::ClientEvicted(e) => view.stream.evicted = Some(e.reason.clone()),
        Event::StreamError(e) => {
            view.stream.stream_error = Some(StreamErrorInfo {
                error: e.error.clone(),
                error_kind: e.error_kind.as_ref().map(|k| k.as_str().to_string()),
            });
        }
        Event::Unknown(_) => {
            view.counters.unknown_types += 1;
            return Applied::Unknown;
        }
    }
    Applied::Applied
}

impl SessionView {
    fn permissions_unmatched(&mut self) {
        self.counters.unmatched_resolutions += 1;
    }
}

fn apply_update(view: &mut SessionView, u: &SessionUpdate, tf: &TypedFrame) -> Applied {
    match u {
        SessionUpdate::AgentMessageChunk(c) => append_chunk(view, MessageRole::Agent, c, tf),
        SessionUpdate::UserMessageChunk(c) => append_chunk(view, MessageRole::User, c, tf),
        SessionUpdate::AgentThoughtChunk(c) => append_chunk(view, MessageRole::Thought, c, tf),
        SessionUpdate::ToolCall(f) => upsert_tool_call(view, f, true, tf),
        SessionUpdate::ToolCallUpdate(f) => upsert_tool_call(view, f, false, tf),
        SessionUpdate::Plan(entries) => view.plan = entries.clone(),
        SessionUpdate::AvailableCommandsUpdate(c) => view.available_commands = c.clone(),
        SessionUpdate::CurrentModeUpdate { current_mode_id } => {
            view.mode.current_mode_id = Some(current_mode_id.clone());
        }
        SessionUpdate::UsageUpdate(raw) => view.usage = Some(raw.clone()),
        SessionUpdate::ConfigOptionUpdate(opts) => apply_config_options(view, opts),
        SessionUpdate::Other { .. } => {
            view.counters.unknown_session_updates += 1;
            return Applied::Unknown;
        }
    }
    Applied::Applied
}

/// Config options replace the list; the `model` / `mode` categories also
/// drive the current model and mode (agents that only speak config options).
fn apply_config_options(view: &mut SessionView, opts: &[Value]) {
    view.config_options = opts.to_vec();
    for opt in opts {
        let current = opt.get("currentValue").and_then(Value::as_str);
        match (opt.get("category").and_then(Value::as_str), current) {
            (Some("model"), Some(v)) => view.model.current_model_id = Some(v.to_string()),
            (Some("mode"), Some(v)) => view.mode.current_mode_id = Some(v.to_string()),
            _ => {}
        }
    }
}

fn append_chunk(view: &mut SessionView, role: MessageRole, c: &ContentChunk, tf: &TypedFrame) {
    let prompt_id = tf.prompt_id.as_ref();
    if let Some(TranscriptEntry::Message {
        role: r,
        text,
        attachments,
        message_id,
        prompt_id: p,
        chunks,
    }) = view.transcript.last_mut()
    {
        let same_message = c.message_id.is_none() || c.message_id == *message_id;
        let same_prompt = prompt_id.is_none() || prompt_id == p.as_ref();
        if *r == role && same_message && same_prompt {
            match &c.content {
                Content::Text(t) => text.push_str(t),
                Content::Other(v) => attachments.push(v.clone()),
            }
            *chunks += 1;
            return;
        }
    }
    let (text, attachments) = match &c.content {
        Content::Text(t) => (t.clone(), alloc::vec::Vec::new()),
        Content::Other(v) => (String::new(), alloc::vec![v.clone()]),
    };
    view.transcript.push(TranscriptEntry::Message {
        role,
        text,
        attachments,
        message_id: c.message_id.clone(),
        prompt_id: prompt_id.cloned(),
        chunks: 1,
    });
}

/// The daemon's stamp, else the `mcp__<server>__<tool>` rule on `_meta.toolName`.
fn stamped_provenance(f: &ToolCallFields) -> Option<Provenance> {
    f.provenance
        .clone()
        .or_else(|| f.tool_name.as_deref().map(Provenance::from_tool_name))
}

fn upsert_tool_call(view: &mut SessionView, f: &ToolCallFields, announce: bool, tf: &TypedFrame) {
    if let Some(&i) = view.tool_index.0.get(&f.tool_call_id) {
        let t = &mut view.tool_calls[i];
        if let Some(v) = &f.title {
            t.title = v.clone();
        }
        if let Some(v) = &f.kind {
            t.kind = v.clone();
        }
        if let Some(v) = &f.status {
            t.status = v.clone();
        }
        if let Some(v) = &f.content {
            t.content = v.clone();
        }
        if let Some(v) = &f.locations {
            t.locations = v.clone();
        }
        if f.raw_input.is_some() {
            t.raw_input = f.raw_input.clone();
        }
        if f.raw_output.is_some() {
            t.raw_output = f.raw_output.clone();
        }
        // Titles change as a call progresses; only a stamp or a tool name
        // re-derives provenance on an update.
        if let Some(p) = stamped_provenance(f) {
            set_provenance(t, &p);
        }
        t.announced |= announce;
        t.updates += 1;
        return;
    }
    let mut t = ToolCallView {
        tool_call_id: f.tool_call_id.clone(),
        title: f.title.clone().unwrap_or_default(),
        kind: f.kind.clone().unwrap_or_else(|| "other".into()),
        status: f.status.clone().unwrap_or_else(|| "pending".into()),
        content: f.content.clone().unwrap_or_default(),
        locations: f.locations.clone().unwrap_or_default(),
        raw_input: f.raw_input.clone(),
        raw_output: f.raw_output.clone(),
        announced: announce,
        prompt_id: tf.prompt_id.clone(),
        ..ToolCallView::default()
    };
    // Titles are for humans: only a stamp or a tool name says where a call
    // comes from.
    let provenance = stamped_provenance(f).unwrap_or(Provenance::Builtin);
    set_provenance(&mut t, &provenance);
    view.tool_index
        .0
        .insert(f.tool_call_id.clone(), view.tool_calls.len());
    view.tool_calls.push(t);
    view.transcript.push(TranscriptEntry::ToolCall {
        tool_call_id: f.tool_call_id.clone(),
    });
}

fn set_provenance(t: &mut ToolCallView, p: &Provenance) {
    t.provenance = p.as_str().to_string();
    t.server_id = p.server_id().map(ToString::to_string);
}

fn end_turn(view: &mut SessionView, prompt_id: Option<&String>) {
    if let Some(pid) = prompt_id {
        view.turn.queued.retain(|p| p != pid);
    }
    view.turn.running = false;
    view.turn.current_prompt_id = None;
    view.turn.turns_ended += 1;
}

/// Moves a pending request to `resolved`; false when it was not pending.
fn resolve_pending(
    view: &mut SessionView,
    request_id: &str,
    outcome: &str,
    option_id: Option<String>,
    voter: Option<String>,
) -> bool {
    let perms = &mut view.permissions;
    let Some(pos) = perms
        .pending
        .iter()
        .position(|p| p.request_id == request_id)
    else {
        return false;
    };
    let p = perms.pending.remove(pos);
    perms.resolved.push(ResolvedPermission {
        request_id: p.request_id,
        outcome: outcome.to_string(),
        option_id,
        voter_client_id: voter,
        originator_client_id: p.originator_client_id,
    });
    if perms.resolved.len() > MAX_RESOLVED_PERMISSIONS {
        let excess = perms.resolved.len() - MAX_RESOLVED_PERMISSIONS;
        perms.resolved.drain(..excess);
    }
    true
}

/// After a session ends nothing can run or be voted on: a daemon resolves
/// every pending request first, and the reducer makes sure of it.
fn settle_after_end(view: &mut SessionView) {
    view.turn.running = false;
    view.turn.current_prompt_id = None;
    view.turn.queued.clear();
    let ids: alloc::vec::Vec<String> = view
        .permissions
        .pending
        .iter()
        .map(|p| p.request_id.clone())
        .collect();
    for id in ids {
        resolve_pending(view, &id, "cancelled", None, None);
    }
}

fn append_output(t: &mut TerminalView, data: &str) {
    t.output.push_str(data);
    t.output_bytes_total += data.len() as u64;
    if t.output.len() > TERMINAL_TAIL_HIGH_WATER {
        let mut cut = t.output.len() - TERMINAL_TAIL_BYTES;
        while !t.output.is_char_boundary(cut) {
            cut += 1;
        }
        t.output.drain(..cut);
        t.output_bytes_dropped += cut as u64;
    }
}

/// A snapshot replaces the session state wholesale. The `stream` section
/// describes this client's own connection, so it is kept, with the resync
/// gate cleared.
fn apply_snapshot(view: &mut SessionView, s: &SessionSnapshot) {
    let mut stream = core::mem::take(&mut view.stream);
    stream.awaiting_resync = false;
    stream.evicted = None;
    *view = s.view.clone();
    view.rebuild_index();
    view.last_event_id = s.last_event_id;
    view.stream = stream;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Frame;

    #[test]
    fn an_agent_terminal_leaves_the_session_screen_alone() {
        let mut view = SessionView::new();
        let frames = [
            r#"{"v":1,"id":1,"type":"terminal_output","data":{"data":"mine"}}"#,
            r#"{"v":1,"id":2,"type":"terminal_output","data":{"data":"agent's","terminalId":"t1"}}"#,
            r#"{"v":1,"id":3,"type":"terminal_exited","data":{"exitCode":0,"terminalId":"t1"}}"#,
        ];
        for f in frames {
            assert_eq!(reduce_json(&mut view, f), Applied::Applied);
        }
        let t = view.terminal.as_ref().unwrap();
        assert_eq!((t.output.as_str(), t.exited.as_ref()), ("mine", None));
        assert_eq!(view.last_event_id, 3);
    }

    /// Raw JSON inside the view serializes with sorted keys whatever order
    /// it arrived in, so a daemon build (serde_json `preserve_order`, via
    /// the ACP crate) and the wasm build produce the same bytes. In a build
    /// without `preserve_order` this holds trivially; the workspace test run
    /// has it on.
    #[test]
    fn raw_values_in_the_view_are_key_sorted() {
        let text = r#"{"v":1,"id":1,"type":"session_update","data":{"update":{"sessionUpdate":"tool_call","toolCallId":"t","rawInput":{"zeta":1,"alpha":{"y":2,"b":3}}}}}"#;
        let mut view = SessionView::new();
        assert_eq!(
            reduce(&mut view, &Frame::from_json(text).unwrap()),
            Applied::Applied
        );
        assert!(
            view.to_json()
                .contains(r#""rawInput":{"alpha":{"b":3,"y":2},"zeta":1}"#),
            "{}",
            view.to_json()
        );
        // and through a snapshot
        let snap = Frame::from_json(&view.to_snapshot().to_json()).unwrap();
        let mut seeded = SessionView::new();
        reduce(&mut seeded, &snap);
        assert_eq!(seeded.to_json(), view.to_json());
    }
}
