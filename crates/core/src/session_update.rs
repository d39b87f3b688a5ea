//! `session_update` payloads: the agent's ACP `session/update` notification,
//! `{"sessionId": "...", "update": {"sessionUpdate": "<sub-type>", ...}}`.
//!
//! Only the fields the reducer needs are typed; anything else (content
//! blocks other than text, diffs, raw tool input) stays raw JSON so nothing
//! an agent says is lost on the way to a client. Unknown sub-types are kept
//! whole in [`SessionUpdate::Other`].

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::kinds::Provenance;
use crate::validate::{
    Path, VResult, as_object, opt_object_array, opt_object_value, opt_str, opt_string, raw, req,
    req_array_of, req_str,
};

/// One typed `session/update`.
#[derive(Clone, Debug, PartialEq)]
// TS: the `update` object as `to_data` writes it, tagged by `sessionUpdate`.
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(
        tag = "sessionUpdate",
        rename_all = "snake_case",
        rename_all_fields = "camelCase"
    )
)]
pub enum SessionUpdate {
    /// A piece of the agent's reply.
    AgentMessageChunk(ContentChunk),
    /// A piece of the user's prompt, echoed to every client.
    UserMessageChunk(ContentChunk),
    /// A piece of the agent's reasoning.
    AgentThoughtChunk(ContentChunk),
    /// A tool call announced (or re-announced).
    ToolCall(ToolCallFields),
    /// An update to a tool call, possibly one never announced.
    ToolCallUpdate(ToolCallFields),
    /// The agent's plan; replaces the previous one.
    Plan(#[cfg_attr(feature = "ts", ts(type = "{ entries: Array<PlanEntry> }"))] Vec<PlanEntry>),
    /// The slash commands the agent offers; replaces the previous list.
    AvailableCommandsUpdate(
        #[cfg_attr(
            feature = "ts",
            ts(type = "{ availableCommands: Array<AvailableCommand> }")
        )]
        Vec<AvailableCommand>,
    ),
    /// The agent's own mode changed.
    CurrentModeUpdate {
        /// The new mode id.
        current_mode_id: String,
    },
    /// Token/context usage (an unstable ACP extension; kept raw).
    UsageUpdate(#[cfg_attr(feature = "ts", ts(type = "{ [key: string]: unknown }"))] Value),
    /// The agent's config options changed (the model is the option with
    /// `category: "model"`).
    ConfigOptionUpdate(
        #[cfg_attr(feature = "ts", ts(type = "{ configOptions: Array<JsonValue> }"))] Vec<Value>,
    ),
    /// A sub-type this build does not know, kept whole.
    #[cfg_attr(feature = "ts", ts(skip))] // no literal to narrow on
    Other {
        /// The `sessionUpdate` discriminator.
        kind: String,
        /// The whole `update` object.
        raw: Value,
    },
}

/// A message/thought chunk.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(rename_all = "camelCase", optional_fields)
)]
pub struct ContentChunk {
    /// The content block.
    pub content: Content,
    /// An agent-assigned message id, when the agent sends one; chunks with
    /// different ids never merge.
    pub message_id: Option<String>,
}

/// An ACP content block.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(rename = "ContentBlock", untagged)
)]
pub enum Content {
    /// `{"type":"text","text":...}`
    #[cfg_attr(feature = "ts", ts(type = r#"{ type: "text", text: string }"#))]
    Text(String),
    /// Any other block (image, audio, resource, resource_link), raw.
    #[cfg_attr(feature = "ts", ts(type = "{ type: string, [key: string]: unknown }"))]
    Other(Value),
}

/// The fields of `tool_call` and `tool_call_update`. For `tool_call_update`
/// every field but the id is optional, and present fields replace old ones.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(rename_all = "camelCase", optional_fields)
)]
pub struct ToolCallFields {
    /// The call's id, unique within the session.
    pub tool_call_id: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// ACP tool kind (`read`, `edit`, `execute`, ...), kept as a string.
    pub kind: Option<String>,
    /// `pending`, `in_progress`, `completed`, `failed` (or newer values).
    pub status: Option<String>,
    /// Content produced by the call (content blocks, diffs, terminals), raw.
    pub content: Option<Vec<Value>>,
    /// Files the call touches, raw.
    pub locations: Option<Vec<Value>>,
    /// The tool's raw input.
    pub raw_input: Option<Value>,
    /// The tool's raw output.
    pub raw_output: Option<Value>,
    /// `_meta.provenance` (+ `_meta.serverId`) when the daemon stamped it.
    // TS: the wire nests this and `tool_name` in `_meta` (see `to_value`).
    #[cfg_attr(
        feature = "ts",
        ts(
            rename = "_meta",
            optional,
            type = "{ provenance?: string, serverId?: string, toolName?: string }"
        )
    )]
    pub provenance: Option<Provenance>,
    /// `_meta.toolName`, used for the `mcp__<server>__<tool>` rule.
    #[cfg_attr(feature = "ts", ts(skip))] // in `_meta`, above
    pub tool_name: Option<String>,
}

/// One plan entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PlanEntry {
    /// What the step is.
    pub content: String,
    /// `high`, `medium`, `low`.
    pub priority: String,
    /// `pending`, `in_progress`, `completed`.
    pub status: String,
}

/// One slash command the agent offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AvailableCommand {
    /// Command name without the slash.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Input hint, raw (`{"hint": "..."}`).
    #[serde(default)]
    pub input: Option<Value>,
}

impl SessionUpdate {
    /// The `sessionUpdate` discriminator.
    pub fn kind(&self) -> &str {
        match self {
            Self::AgentMessageChunk(_) => "agent_message_chunk",
            Self::UserMessageChunk(_) => "user_message_chunk",
            Self::AgentThoughtChunk(_) => "agent_thought_chunk",
            Self::ToolCall(_) => "tool_call",
            Self::ToolCallUpdate(_) => "tool_call_update",
            Self::Plan(_) => "plan",
            Self::AvailableCommandsUpdate(_) => "available_commands_update",
            Self::CurrentModeUpdate { .. } => "current_mode_update",
            Self::UsageUpdate(_) => "usage_update",
            Self::ConfigOptionUpdate(_) => "config_option_update",
            Self::Other { kind, .. } => kind,
        }
    }

    /// Decodes `data` of a `session_update` frame (`p` is its path).
    pub(crate) fn decode(data: &Value, p: &Path<'_>) -> VResult<SessionUpdate> {
        let m = as_object(data, p)?;
        let up = p.key("update");
        let u = as_object(req(m, "update", p)?, &up)?;
        let kind = req_str(u, "sessionUpdate", &up)?;
        Ok(match kind {
            "agent_message_chunk" => Self::AgentMessageChunk(decode_chunk(u, &up)?),
            "user_message_chunk" => Self::UserMessageChunk(decode_chunk(u, &up)?),
            "agent_thought_chunk" => Self::AgentThoughtChunk(decode_chunk(u, &up)?),
            "tool_call" => Self::ToolCall(decode_tool_call(u, &up)?),
            "tool_call_update" => Self::ToolCallUpdate(decode_tool_call(u, &up)?),
            "plan" => Self::Plan(req_array_of(u, "entries", &up, decode_plan_entry)?),
            "available_commands_update" => Self::AvailableCommandsUpdate(req_array_of(
                u,
                "availableCommands",
                &up,
                decode_command,
            )?),
            "current_mode_update" => Self::CurrentModeUpdate {
                current_mode_id: req_str(u, "currentModeId", &up)?.to_string(),
            },
            "usage_update" => Self::UsageUpdate(raw(&Value::Object(u.clone()))),
            "config_option_update" => {
                let opts = req_array_of(u, "configOptions", &up, |v, p| {
                    let o = as_object(v, p)?;
                    req_str(o, "id", p)?;
                    opt_str(o, "category", p)?;
                    Ok(raw(v))
                })?;
                Self::ConfigOptionUpdate(opts)
            }
            other => Self::Other {
                kind: other.to_string(),
                raw: raw(&Value::Object(u.clone())),
            },
        })
    }

    /// The `session_update` frame payload for this update (`sessionId`
    /// omitted: the frame's session is implied by the stream).
    pub fn to_data(&self) -> Value {
        let update = match self {
            Self::AgentMessageChunk(c) | Self::UserMessageChunk(c) | Self::AgentThoughtChunk(c) => {
                let mut o = Map::new();
                o.insert("sessionUpdate".into(), self.kind().into());
                o.insert("content".into(), c.content.to_value());
                if let Some(id) = &c.message_id {
                    o.insert("messageId".into(), id.as_str().into());
                }
                Value::Object(o)
            }
            Self::ToolCall(t) | Self::ToolCallUpdate(t) => t.to_value(self.kind()),
            Self::Plan(entries) => json!({"sessionUpdate": "plan", "entries": entries}),
            Self::AvailableCommandsUpdate(cmds) => {
                json!({"sessionUpdate": "available_commands_update", "availableCommands": cmds})
            }
            Self::CurrentModeUpdate { current_mode_id } => {
                json!({"sessionUpdate": "current_mode_update", "currentModeId": current_mode_id})
            }
            Self::UsageUpdate(raw) | Self::Other { raw, .. } => raw.clone(),
            Self::ConfigOptionUpdate(opts) => {
                json!({"sessionUpdate": "config_option_update", "configOptions": opts})
            }
        };
        json!({ "update": update })
    }
}

impl Content {
    /// The text, for text blocks.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Content::Text(t) => Some(t),
            Content::Other(_) => None,
        }
    }

    /// The block as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Content::Text(t) => json!({"type": "text", "text": t}),
            Content::Other(v) => v.clone(),
        }
    }

    pub(crate) fn decode(v: &Value, p: &Path<'_>) -> VResult<Content> {
        let o = as_object(v, p)?;
        match req_str(o, "type", p)? {
            "text" => Ok(Content::Text(req_str(o, "text", p)?.to_string())),
            _ => Ok(Content::Other(raw(v))),
        }
    }
}

impl ToolCallFields {
    fn to_value(&self, kind: &str) -> Value {
        let mut o = Map::new();
        o.insert("sessionUpdate".into(), kind.into());
        o.insert("toolCallId".into(), self.tool_call_id.as_str().into());
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                o.insert(k.into(), v);
            }
        };
        put("title", self.title.as_deref().map(Into::into));
        put("kind", self.kind.as_deref().map(Into::into));
        put("status", self.status.as_deref().map(Into::into));
        put("content", self.content.clone().map(Value::Array));
        put("locations", self.locations.clone().map(Value::Array));
        put("rawInput", self.raw_input.clone());
        put("rawOutput", self.raw_output.clone());
        let mut meta = Map::new();
        if let Some(p) = &self.provenance {
            meta.insert("provenance".into(), p.as_str().into());
            if let Some(s) = p.server_id() {
                meta.insert("serverId".into(), s.into());
            }
        }
        if let Some(n) = &self.tool_name {
            meta.insert("toolName".into(), n.as_str().into());
        }
        if !meta.is_empty() {
            o.insert("_meta".into(), Value::Object(meta));
        }
        Value::Object(o)
    }
}

fn decode_chunk(u: &Map<String, Value>, p: &Path<'_>) -> VResult<ContentChunk> {
    Ok(ContentChunk {
        content: Content::decode(req(u, "content", p)?, &p.key("content"))?,
        message_id: opt_string(u, "messageId", p)?,
    })
}

fn decode_tool_call(u: &Map<String, Value>, p: &Path<'_>) -> VResult<ToolCallFields> {
    let mut provenance = None;
    let mut tool_name = None;
    if let Some(meta) = opt_object_value(u, "_meta", p)? {
        let mp = p.key("_meta");
        let mo = as_object(&meta, &mp)?;
        if let Some(prov) = opt_str(mo, "provenance", &mp)? {
            provenance = Some(Provenance::from_parts(prov, opt_str(mo, "serverId", &mp)?));
        }
        tool_name = opt_string(mo, "toolName", &mp)?;
    }
    Ok(ToolCallFields {
        tool_call_id: req_str(u, "toolCallId", p)?.to_string(),
        title: opt_string(u, "title", p)?,
        kind: opt_string(u, "kind", p)?,
        status: opt_string(u, "status", p)?,
        content: opt_object_array(u, "content", p)?,
        locations: opt_object_array(u, "locations", p)?,
        raw_input: u.get("rawInput").filter(|v| !v.is_null()).map(raw),
        raw_output: u.get("rawOutput").filter(|v| !v.is_null()).map(raw),
        provenance,
        tool_name,
    })
}

fn decode_plan_entry(v: &Value, p: &Path<'_>) -> VResult<PlanEntry> {
    let o = as_object(v, p)?;
    Ok(PlanEntry {
        content: req_str(o, "content", p)?.to_string(),
        priority: opt_str(o, "priority", p)?.unwrap_or("medium").to_string(),
        status: opt_str(o, "status", p)?.unwrap_or("pending").to_string(),
    })
}

fn decode_command(v: &Value, p: &Path<'_>) -> VResult<AvailableCommand> {
    let o = as_object(v, p)?;
    Ok(AvailableCommand {
        name: req_str(o, "name", p)?.to_string(),
        description: opt_str(o, "description", p)?.unwrap_or("").to_string(),
        input: opt_object_value(o, "input", p)?,
    })
}
