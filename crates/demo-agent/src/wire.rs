//! The demo agent's wire vocabulary: its catalogs (modes, models, commands)
//! and the JSON it puts on the wire.
//!
//! `session/update` payloads are built as JSON rather than through the
//! schema structs because the schema skips fields that equal their default
//! (`status: "pending"`, `oldText: null`), and the demo agent promises to
//! send them explicitly.

use agent_client_protocol::v1::schema::{
    AvailableCommand, AvailableCommandInput, AvailableCommandsUpdate, CurrentModeUpdate, Plan,
    PlanEntry, PlanEntryPriority, PlanEntryStatus, SessionConfigOption,
    SessionConfigOptionCategory, SessionConfigSelectOption, SessionMode, SessionModeState,
    SessionUpdate, UnstructuredCommandInput,
};
use agent_client_protocol::{JsonRpcRequest, UntypedMessage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Session modes, as `(id, name, description)`; the first is the default.
pub(crate) const MODES: [(&str, &str, &str); 4] = [
    ("default", "Default", "Asks before every edit"),
    ("plan", "Plan", "Plans without touching files"),
    ("auto-edit", "Auto-edit", "Edits without asking"),
    ("yolo", "YOLO", "Does anything without asking"),
];

/// Models, as `(id, name, description)`; the first is the default.
pub(crate) const MODELS: [(&str, &str, &str); 2] = [
    ("demo-fast", "Demo Fast", "Quick and shallow"),
    ("demo-smart", "Demo Smart", "Slow and thoughtful"),
];

/// The config option id that carries the model in the stable protocol.
pub(crate) const MODEL_CONFIG_ID: &str = "model";

/// Slash commands, as `(name, description, input hint)`.
const COMMANDS: [(&str, &str, Option<&str>); 13] = [
    (
        "echo",
        "Stream the text back in several chunks",
        Some("text to echo"),
    ),
    (
        "write",
        "Write a file through the client, after asking permission",
        Some("PATH TEXT"),
    ),
    (
        "flood",
        "Stream N tiny chunks as fast as possible",
        Some("N"),
    ),
    (
        "slow",
        "Stream slowly for about 30 seconds (cancellable)",
        None,
    ),
    (
        "crash",
        "Exit the agent process mid-turn with status 3",
        None,
    ),
    (
        "mode",
        "Switch the session mode",
        Some("default | plan | auto-edit | yolo"),
    ),
    ("model", "Switch the model", Some("demo-fast | demo-smart")),
    ("plan", "Show a three-step plan", None),
    ("think", "Stream some thoughts, then answer", None),
    (
        "run",
        "Run a shell command in a client terminal",
        Some("shell command"),
    ),
    (
        "hold",
        "Hold model and mode change requests unanswered until /release (to test timeouts)",
        None,
    ),
    (
        "release",
        "Apply and answer held model and mode changes",
        None,
    ),
    ("state", "Report the current mode and model", None),
];

pub(crate) fn is_mode(id: &str) -> bool {
    MODES.iter().any(|(mode, ..)| *mode == id)
}

pub(crate) fn is_model(id: &str) -> bool {
    MODELS.iter().any(|(model, ..)| *model == id)
}

pub(crate) fn mode_ids() -> String {
    MODES.map(|(id, ..)| id).join(", ")
}

pub(crate) fn model_ids() -> String {
    MODELS.map(|(id, ..)| id).join(", ")
}

pub(crate) fn mode_state(current: &str) -> SessionModeState {
    let modes = MODES
        .iter()
        .map(|(id, name, description)| SessionMode::new(*id, *name).description(*description))
        .collect();
    SessionModeState::new(current.to_owned(), modes)
}

pub(crate) fn config_options(current_model: &str) -> Vec<SessionConfigOption> {
    let values: Vec<_> = MODELS
        .iter()
        .map(|(id, name, description)| {
            SessionConfigSelectOption::new(*id, *name).description(*description)
        })
        .collect();
    vec![
        SessionConfigOption::select(MODEL_CONFIG_ID, "Model", current_model.to_owned(), values)
            .category(SessionConfigOptionCategory::Model)
            .description("Which demo model answers"),
    ]
}

/// The pre-config-options `models` object that qwen-code, gemini-cli and
/// claude-code-acp still send, and that schema 1.15 no longer models.
pub(crate) fn legacy_models(current_model: &str) -> Value {
    let available: Vec<Value> = MODELS
        .iter()
        .map(|(id, name, description)| {
            json!({ "modelId": id, "name": name, "description": description })
        })
        .collect();
    json!({ "currentModelId": current_model, "availableModels": available })
}

/// The `session/new` / `session/load` response body: the typed stable part
/// plus the legacy `models` field.
pub(crate) fn with_legacy_models(stable: impl Serialize, current_model: &str) -> Value {
    let mut body = serde_json::to_value(stable).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut body {
        map.insert("models".into(), legacy_models(current_model));
    }
    body
}

fn typed_update(update: SessionUpdate) -> Value {
    serde_json::to_value(update).unwrap_or(Value::Null)
}

pub(crate) fn available_commands() -> Value {
    let commands = COMMANDS
        .iter()
        .map(|(name, description, hint)| {
            let command = AvailableCommand::new(*name, *description);
            match hint {
                Some(hint) => command.input(AvailableCommandInput::Unstructured(
                    UnstructuredCommandInput::new(*hint),
                )),
                None => command,
            }
        })
        .collect();
    typed_update(SessionUpdate::AvailableCommandsUpdate(
        AvailableCommandsUpdate::new(commands),
    ))
}

pub(crate) fn current_mode(mode: &str) -> Value {
    typed_update(SessionUpdate::CurrentModeUpdate(CurrentModeUpdate::new(
        mode.to_owned(),
    )))
}

pub(crate) fn config_option_update(current_model: &str) -> Value {
    typed_update(SessionUpdate::ConfigOptionUpdate(
        agent_client_protocol::v1::schema::ConfigOptionUpdate::new(config_options(current_model)),
    ))
}

pub(crate) fn plan() -> Value {
    typed_update(SessionUpdate::Plan(Plan::new(vec![
        PlanEntry::new(
            "Read the relevant code",
            PlanEntryPriority::High,
            PlanEntryStatus::Completed,
        ),
        PlanEntry::new(
            "Make the change",
            PlanEntryPriority::Medium,
            PlanEntryStatus::InProgress,
        ),
        PlanEntry::new(
            "Run the tests",
            PlanEntryPriority::Low,
            PlanEntryStatus::Pending,
        ),
    ])))
}

pub(crate) const AGENT_MESSAGE: &str = "agent_message_chunk";
pub(crate) const AGENT_THOUGHT: &str = "agent_thought_chunk";
pub(crate) const USER_MESSAGE: &str = "user_message_chunk";

pub(crate) fn text_chunk(kind: &str, text: &str) -> Value {
    json!({ "sessionUpdate": kind, "content": { "type": "text", "text": text } })
}

pub(crate) fn text_content(text: &str) -> Value {
    json!({ "type": "content", "content": { "type": "text", "text": text } })
}

pub(crate) fn session_update(session_id: &str, update: &Value) -> UntypedMessage {
    // Serialising a `Value` into a `Value` cannot fail.
    UntypedMessage::new(
        "session/update",
        json!({ "sessionId": session_id, "update": update }),
    )
    .expect("JSON values serialise")
}

/// Legacy `session/set_model` (pre-config-options agents still expose it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetSessionModelRequest {
    pub(crate) session_id: String,
    pub(crate) model_id: String,
}

/// `session/new`, answered with raw JSON so the response can carry `models`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct NewSession(pub(crate) agent_client_protocol::v1::schema::NewSessionRequest);

/// `session/load`, answered with raw JSON so the response can carry `models`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct LoadSession(pub(crate) agent_client_protocol::v1::schema::LoadSessionRequest);

macro_rules! raw_response_request {
    ($ty:ty, $method:literal) => {
        impl agent_client_protocol::JsonRpcMessage for $ty {
            fn matches_method(method: &str) -> bool {
                method == $method
            }

            fn method(&self) -> &str {
                $method
            }

            fn to_untyped_message(&self) -> Result<UntypedMessage, agent_client_protocol::Error> {
                UntypedMessage::new($method, self)
            }

            fn parse_message(
                method: &str,
                params: &Value,
            ) -> Result<Self, agent_client_protocol::Error> {
                if method != $method {
                    return Err(agent_client_protocol::Error::method_not_found());
                }
                serde_json::from_value(params.clone())
                    .map_err(|e| agent_client_protocol::Error::invalid_params().data(e.to_string()))
            }
        }

        impl JsonRpcRequest for $ty {
            type Response = Value;
        }
    };
}

raw_response_request!(NewSession, "session/new");
raw_response_request!(LoadSession, "session/load");
raw_response_request!(SetSessionModelRequest, "session/set_model");
