//! Deterministic frame-stream generators for benches, property tests and the
//! wasm differential test (feature `testgen`; not part of the protocol).
//!
//! A stream is described by a list of *choices* `(op, param)`; each choice
//! maps to one frame. Property tests generate and shrink choice lists,
//! benches and the differential test draw them from a seeded PRNG, and all
//! of them get the same frames for the same choices on every platform.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::{Value, json};

use crate::frame::Frame;
use crate::view::{SessionView, reduce};

/// A small, fast, seedable PRNG (xorshift64*), identical everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (a zero seed is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % u64::from(n.max(1))) as u32
    }
}

/// The operations a choice can name. Ops `< SESSION_OPS` are session events
/// (they carry ids); the rest are stream-control or deliberately broken
/// frames.
pub const SESSION_OPS: u8 = 28;
/// All ops, including stream control, malformed, stale and unknown frames.
pub const ALL_OPS: u8 = 36;

/// Builds frames from choices. `ops` limits which ops are used (`op % ops`).
#[derive(Clone, Debug)]
pub struct Builder {
    next_id: u64,
    ts: u64,
    tool_calls: u32,
    requests: u32,
    prompts: u32,
    frames: Vec<Frame>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

const CLIENTS: [&str; 4] = ["c_alpha", "c_bravo", "c_charlie", "c_delta"];
const MODES: [&str; 4] = ["default", "plan", "auto-edit", "yolo"];
const MODELS: [&str; 2] = ["demo-fast", "demo-smart"];
const WORDS: [&str; 12] = [
    "the ", "daemon ", "streams ", "every ", "frame ", "to ", "all ", "clients ", "é ", "日本 ",
    "🚂 ", "\n",
];

impl Builder {
    /// An empty stream whose first frame will be `session_started`.
    pub fn new() -> Self {
        Builder {
            next_id: 1,
            ts: 1_763_769_600_000,
            tool_calls: 0,
            requests: 0,
            prompts: 0,
            frames: Vec::new(),
        }
    }

    /// The frames so far.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Takes the frames.
    pub fn finish(self) -> Vec<Frame> {
        self.frames
    }

    fn push(&mut self, kind: &str, data: Value, prompt: bool, originator: Option<&str>) {
        self.ts += 7;
        let mut f = Frame::new(kind, data)
            .with_id(self.next_id)
            .with_timestamp(self.ts);
        self.next_id += 1;
        if prompt && self.prompts > 0 {
            f.prompt_id = Some(format!("p{}", self.prompts));
        }
        f.originator_client_id = originator.map(String::from);
        self.frames.push(f);
    }

    fn push_control(&mut self, kind: &str, data: Value) {
        self.ts += 1;
        self.frames
            .push(Frame::new(kind, data).with_timestamp(self.ts));
    }

    fn update(&mut self, update: Value) {
        self.push("session_update", json!({ "update": update }), true, None);
    }

    fn text(param: u32) -> String {
        let mut s = String::new();
        for i in 0..(1 + param % 4) {
            s.push_str(WORDS[((param >> (i * 3)) as usize + i as usize) % WORDS.len()]);
        }
        s
    }

    /// Appends the frame for one choice.
    pub fn choice(&mut self, op: u8, param: u32) {
        let client = CLIENTS[(param as usize) % CLIENTS.len()];
        let tc = |n: u32| format!("tc{}", n);
        match op {
            0 => self.push(
                "session_started",
                json!({"kind": "agent", "agent": "demo", "cwd": "/work",
                       "currentModeId": "default",
                       "availableModes": [{"id": "default", "name": "Default"}, {"id": "plan", "name": "Plan"}],
                       "currentModelId": "demo-fast",
                       "availableModels": [{"modelId": "demo-fast", "name": "Fast"}, {"modelId": "demo-smart", "name": "Smart"}]}),
                false,
                None,
            ),
            1..=3 => self.update(json!({"sessionUpdate": "agent_message_chunk",
                                        "content": {"type": "text", "text": Self::text(param)}})),
            4 => self.update(json!({"sessionUpdate": "user_message_chunk",
                                    "content": {"type": "text", "text": Self::text(param)}})),
            5 => self.update(json!({"sessionUpdate": "agent_thought_chunk",
                                    "content": {"type": "text", "text": Self::text(param)}})),
            6 => {
                self.tool_calls += 1;
                let name = if param.is_multiple_of(3) { "mcp__github__search" } else { "write_file" };
                self.update(json!({"sessionUpdate": "tool_call", "toolCallId": tc(self.tool_calls),
                                   "title": format!("Call {}", self.tool_calls), "kind": "edit",
                                   "status": "pending", "_meta": {"toolName": name}}));
            }
            7 => {
                // Updates for the latest call, an older one, or one never announced.
                let id = match param % 4 {
                    0 => self.tool_calls + 1000,
                    1 => self.tool_calls.saturating_sub(1).max(1),
                    _ => self.tool_calls.max(1),
                };
                let status = ["in_progress", "completed", "failed"][(param % 3) as usize];
                self.update(json!({"sessionUpdate": "tool_call_update", "toolCallId": tc(id),
                                   "status": status,
                                   "content": [{"type": "content", "content": {"type": "text", "text": Self::text(param)}}]}));
            }
            8 => self.update(json!({"sessionUpdate": "plan", "entries": [
                {"content": "read", "priority": "high", "status": "completed"},
                {"content": Self::text(param), "priority": "low", "status": "pending"}]})),
            9 => self.update(json!({"sessionUpdate": "available_commands_update", "availableCommands": [
                {"name": "echo", "description": "echo text", "input": {"hint": "text"}},
                {"name": format!("cmd{}", param % 5), "description": ""}]})),
            10 => self.update(json!({"sessionUpdate": "current_mode_update",
                                     "currentModeId": MODES[(param % 4) as usize]})),
            11 => self.update(json!({"sessionUpdate": "usage_update", "used": param, "size": 200000})),
            12 => self.update(json!({"sessionUpdate": "config_option_update", "configOptions": [
                {"id": "model", "name": "Model", "category": "model", "type": "select",
                 "currentValue": MODELS[(param % 2) as usize], "options": []}]})),
            13 => {
                self.prompts += 1;
                let pid = format!("p{}", self.prompts);
                self.push("prompt_queued", json!({"promptId": pid, "position": 0}), false, Some(client));
            }
            14 => {
                let pid = format!("p{}", self.prompts.max(1));
                self.push("turn_started", json!({"promptId": pid}), false, None);
            }
            15 => {
                let reason = ["end_turn", "cancelled", "max_tokens", "refusal"][(param % 4) as usize];
                self.push("turn_complete", json!({"stopReason": reason, "promptId": format!("p{}", self.prompts.max(1))}), false, None);
            }
            16 => self.push("turn_error", json!({"message": "agent failed", "errorKind": "agent_exited"}), true, None),
            17 => self.push("prompt_cancelled", json!({"promptId": format!("p{}", self.prompts.max(1))}), false, Some(client)),
            18 => {
                self.requests += 1;
                let rid = format!("r{}", self.requests);
                self.push("permission_request", json!({"requestId": rid,
                    "toolCall": {"toolCallId": tc(self.tool_calls.max(1)), "title": "Write notes.txt"},
                    "options": [{"optionId": "allow", "name": "Allow", "kind": "allow_once"},
                                {"optionId": "reject", "name": "Reject", "kind": "reject_once"}]}), true, Some(client));
            }
            19 => {
                // Resolves the latest, an earlier one, or one that never existed.
                let n = match param % 4 {
                    0 => self.requests + 500,
                    1 => self.requests.saturating_sub(1).max(1),
                    _ => self.requests.max(1),
                };
                let outcome = if param.is_multiple_of(5) { json!({"outcome": "cancelled"}) }
                    else { json!({"outcome": "selected", "optionId": "allow"}) };
                self.push("permission_resolved", json!({"requestId": format!("r{n}"), "outcome": outcome,
                    "voterClientId": client}), false, Some(client));
            }
            20 => self.push("model_switched", json!({"modelId": MODELS[(param % 2) as usize]}), false, Some(client)),
            21 => self.push("approval_mode_changed", json!({"previous": "default",
                "next": MODES[(param % 4) as usize],
                "persisted": param.is_multiple_of(2), "scope": if param.is_multiple_of(2) { "workspace" } else { "session" }}), false, Some(client)),
            22 => self.push("client_joined", json!({"clientId": client,
                "role": if param.is_multiple_of(2) { "control" } else { "observer" }, "name": "tab"}), false, None),
            23 => self.push("client_left", json!({"clientId": client, "reason": "detached"}), false, None),
            24 => self.push("owner_changed", json!({"ownerClientId": if param.is_multiple_of(3) { Value::Null } else { client.into() }}), false, None),
            25 => self.push("terminal_output", json!({"data": format!("{}\r\n", Self::text(param))}), false, None),
            26 => match param % 4 {
                0 => self.push("terminal_resized", json!({"cols": 80 + param % 40, "rows": 24 + param % 10}), false, None),
                1 => self.push("scrollback_cleared", json!({}), false, None),
                2 => self.push("model_switch_failed", json!({"requestedModelId": "nope", "error": "unknown model", "errorKind": "invalid_model"}), false, Some(client)),
                _ => self.push("permission_already_resolved", json!({"requestId": format!("r{}", self.requests.max(1)), "voterClientId": client}), false, Some(client)),
            },
            27 => match param % 8 {
                0 => self.push("session_died", json!({"reason": "agent_exited", "exitCode": 3, "signalCode": null, "errorKind": "agent_exited"}), false, None),
                1 => self.push("session_closed", json!({"reason": "client_request", "closedBy": client}), false, Some(client)),
                2 => self.push("terminal_exited", json!({"exitCode": 0, "signal": null}), false, None),
                3 => self.push("future_event", json!({"x": param}), false, None),
                4 => self.update(json!({"sessionUpdate": "future_update", "x": param})),
                // Known types with invalid payloads: counted, skipped whole.
                5 => self.push("permission_request", json!({"requestId": "bad", "toolCall": {"toolCallId": "t"}, "options": [{"optionId": 1}]}), false, None),
                6 => self.update(json!({"sessionUpdate": "tool_call", "title": "no id"})),
                _ => self.push("turn_complete", json!({"stopReason": 5}), false, None),
            },
            // --- stream-level ops (not session events) ---
            28 => {
                // a stale duplicate of an earlier frame
                if let Some(prev) = self.frames.iter().rev().find(|f| f.id.is_some()).cloned() {
                    self.frames.push(prev);
                }
            }
            29 => self.push_control("state_resync_required", json!({"reason": "ring_evicted",
                "lastDeliveredId": self.next_id.saturating_sub(2), "earliestAvailableId": self.next_id})),
            30 => {
                let mut view = SessionView::new();
                for f in &self.frames {
                    reduce(&mut view, f);
                }
                self.frames.push(view.to_snapshot());
            }
            31 => self.push_control("replay_complete", json!({"replayedCount": param % 50, "lastEventId": self.next_id - 1})),
            32 => self.push_control("slow_client_warning", json!({"queuedFrames": param % 1000})),
            33 => self.push_control("client_evicted", json!({"reason": "queue_overflow"})),
            34 => self.push_control("stream_error", json!({"error": "boom", "errorKind": "internal"})),
            _ => {
                // a frame from the past: lower id than what was delivered
                if self.next_id > 3 {
                    let mut f = Frame::new("model_switched", json!({"modelId": "ancient"}))
                        .with_id(self.next_id / 2);
                    f.meta.server_timestamp = Some(self.ts);
                    self.frames.push(f);
                }
            }
        }
    }
}

/// Frames for a list of choices (first frame: `session_started`).
pub fn frames_from_choices(choices: &[(u8, u32)], ops: u8) -> Vec<Frame> {
    let mut b = Builder::new();
    b.choice(0, 0);
    for &(op, param) in choices {
        b.choice(op % ops.max(1), param);
    }
    b.finish()
}

/// Random choices from a seed (uniform over `ops`).
pub fn random_choices(seed: u64, len: usize, ops: u8) -> Vec<(u8, u32)> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| (rng.below(u32::from(ops)) as u8, rng.next_u64() as u32))
        .collect()
}

/// A realistic stream of about `n` frames: turns of streamed replies with
/// thoughts, tool calls and their updates, permissions, plans, presence,
/// mode/model changes and interleaved terminal output. Weighted like a busy
/// agent session, not uniformly.
pub fn realistic_stream(n: usize, seed: u64) -> Vec<Frame> {
    // (op, weight): chunks dominate, as they do in real sessions.
    const WEIGHTS: &[(u8, u32)] = &[
        (1, 300),
        (2, 100),
        (3, 100),
        (4, 10),
        (5, 60),
        (6, 25),
        (7, 60),
        (8, 8),
        (9, 2),
        (10, 2),
        (11, 10),
        (12, 2),
        (13, 10),
        (14, 10),
        (15, 9),
        (16, 1),
        (17, 1),
        (18, 10),
        (19, 10),
        (20, 2),
        (21, 2),
        (22, 3),
        (23, 2),
        (24, 2),
        (25, 150),
        (26, 3),
    ];
    let total: u32 = WEIGHTS.iter().map(|w| w.1).sum();
    let mut rng = Rng::new(seed);
    let mut b = Builder::new();
    b.choice(0, 0);
    while b.frames().len() < n {
        let mut pick = rng.below(total);
        let op = WEIGHTS
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or(1, |w| w.0);
        b.choice(op, rng.next_u64() as u32);
    }
    b.finish()
}
