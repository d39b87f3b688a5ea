//! Shared vocabularies: error kinds, roles, approval modes, stop reasons and
//! tool-call provenance.
//!
//! Every enum that travels as a string keeps values it does not know in an
//! `Other` variant, so an older client never rejects a newer daemon's frame
//! just because a vocabulary grew.

use alloc::string::{String, ToString};
use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a string-backed enum with an `Other(String)` fallback, plus
/// `as_str`, `parse`, `Display` and serde impls that go through the string.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this build does not know, preserved verbatim.
            Other(String),
        }

        impl $name {
            /// Every value this build knows, in declaration order.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s.as_str(),
                }
            }

            /// Parses the wire spelling; unknown strings become `Other`.
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_string()),
                }
            }

            /// True when the value is one this build knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok(Self::parse(&s))
            }
        }
    };
}

open_enum! {
    /// Why something failed. One enum for HTTP error bodies
    /// (`{"error":{"kind",...}}`), `stream_error`, `turn_error`,
    /// `session_died` and errors returned to agents over ACP.
    // TS (here and below): examples/gen-ts.rs writes `KnownErrorKind` from `KNOWN`.
    #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "KnownErrorKind | (string & {})"))]
    pub enum ErrorKind {
        /// The request is well-formed JSON but semantically invalid.
        InvalidRequest = "invalid_request",
        /// The body is not valid JSON.
        ParseError = "parse_error",
        /// The body exceeds the configured limit.
        PayloadTooLarge = "payload_too_large",
        /// Missing or wrong token.
        Unauthorized = "unauthorized",
        /// Host or Origin header not allowed.
        ForbiddenOrigin = "forbidden_origin",
        /// No session with that id.
        SessionNotFound = "session_not_found",
        /// A session-scoped request without `X-Client-Id`.
        ClientIdRequired = "client_id_required",
        /// `X-Client-Id` names no attached client.
        UnknownClient = "unknown_client",
        /// The client's role (or token) does not allow this.
        RoleForbidden = "role_forbidden",
        /// Terminal control needs the session owner.
        OwnerRequired = "owner_required",
        /// The session cannot take this request right now.
        SessionBusy = "session_busy",
        /// The prompt queue is full.
        PromptQueueFull = "prompt_queue_full",
        /// No pending permission request with that id.
        PermissionNotFound = "permission_not_found",
        /// Another vote already resolved the request.
        PermissionAlreadyResolved = "permission_already_resolved",
        /// The option id is not one the agent offered.
        InvalidOption = "invalid_option",
        /// Unknown approval mode.
        InvalidMode = "invalid_mode",
        /// Unknown model.
        InvalidModel = "invalid_model",
        /// The agent or terminal command was not found.
        MissingBinary = "missing_binary",
        /// The agent did not answer `initialize` in time.
        InitTimeout = "init_timeout",
        /// The agent requires authentication first.
        AuthRequired = "auth_required",
        /// The agent broke the ACP protocol.
        ProtocolError = "protocol_error",
        /// The agent process exited.
        AgentExited = "agent_exited",
        /// A prompt or request ran past its deadline.
        PromptDeadlineExceeded = "prompt_deadline_exceeded",
        /// The agent did not answer a request (model or mode change) in time.
        RequestTimeout = "request_timeout",
        /// A path resolves outside the session's workspace.
        PathOutsideWorkspace = "path_outside_workspace",
        /// A symlink leads outside the workspace.
        SymlinkEscape = "symlink_escape",
        /// A file exceeds the read or write cap.
        FileTooLarge = "file_too_large",
        /// A read hit binary (non-UTF-8) content.
        BinaryFile = "binary_file",
        /// The workspace is outside the trusted roots (read-only for agents).
        UntrustedWorkspace = "untrusted_workspace",
        /// A filesystem or process I/O failure.
        IoError = "io_error",
        /// A bug or an unexpected state in the daemon.
        Internal = "internal",
    }
}

open_enum! {
    /// A client's role in a session.
    #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "KnownRole | (string & {})"))]
    pub enum Role {
        /// May prompt, vote, change model/mode, drive terminals (when owner).
        Control = "control",
        /// Read-only: may only watch.
        Observer = "observer",
    }
}

open_enum! {
    /// An approval mode. The four below are the demo agent's and qwen-code's
    /// vocabulary; agents may report their own ids, kept as `Other`.
    #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "KnownApprovalMode | (string & {})"))]
    pub enum ApprovalMode {
        /// Ask before edits and commands.
        Default = "default",
        /// Plan only, never edit.
        Plan = "plan",
        /// Edits without asking, commands still ask.
        AutoEdit = "auto-edit",
        /// Never ask.
        Yolo = "yolo",
    }
}

open_enum! {
    /// Why a turn ended (ACP `StopReason`).
    #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "KnownStopReason | (string & {})"))]
    pub enum StopReason {
        /// The agent finished.
        EndTurn = "end_turn",
        /// Token limit.
        MaxTokens = "max_tokens",
        /// Too many model requests in one turn.
        MaxTurnRequests = "max_turn_requests",
        /// The model refused.
        Refusal = "refusal",
        /// The turn was cancelled.
        Cancelled = "cancelled",
    }
}

/// Where a tool call comes from. Travels in a tool call's `_meta` as
/// `{"provenance": "builtin" | "mcp" | "subagent", "serverId"?: "..."}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// A tool built into the agent.
    Builtin,
    /// A tool served by an MCP server.
    Mcp {
        /// The MCP server's id.
        server_id: String,
    },
    /// A tool run by a sub-agent.
    Subagent,
    /// A provenance this build does not know.
    Other(String),
}

impl Provenance {
    /// The `provenance` string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Builtin => "builtin",
            Self::Mcp { .. } => "mcp",
            Self::Subagent => "subagent",
            Self::Other(s) => s,
        }
    }

    /// The MCP server id, for `mcp`.
    pub fn server_id(&self) -> Option<&str> {
        match self {
            Self::Mcp { server_id } => Some(server_id),
            _ => None,
        }
    }

    /// Builds a provenance from the `_meta` pair; `mcp` without a server id
    /// keeps an empty one rather than failing.
    pub fn from_parts(provenance: &str, server_id: Option<&str>) -> Self {
        match provenance {
            "builtin" => Self::Builtin,
            "mcp" => Self::Mcp {
                server_id: server_id.unwrap_or_default().to_string(),
            },
            "subagent" => Self::Subagent,
            other => Self::Other(other.to_string()),
        }
    }

    /// The naming rule agents use for MCP tools: `mcp__<server>__<tool>`.
    /// Anything else (including a malformed prefix) is builtin.
    pub fn from_tool_name(name: &str) -> Self {
        if let Some(rest) = name.strip_prefix("mcp__")
            && let Some((server, tool)) = rest.split_once("__")
            && !server.is_empty()
            && !tool.is_empty()
        {
            return Self::Mcp {
                server_id: server.to_string(),
            };
        }
        Self::Builtin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kind_round_trips_known_and_unknown() {
        for k in ErrorKind::KNOWN {
            let parsed = ErrorKind::parse(k);
            assert!(parsed.is_known(), "{k}");
            assert_eq!(parsed.as_str(), *k);
        }
        let odd = ErrorKind::parse("quota_exceeded");
        assert_eq!(odd, ErrorKind::Other("quota_exceeded".into()));
        let json = serde_json::to_string(&odd).unwrap();
        assert_eq!(json, "\"quota_exceeded\"");
        let back: ErrorKind = serde_json::from_str(&json).unwrap();
        assert_eq!(back, odd);
    }

    #[test]
    fn error_kind_has_the_documented_minimum() {
        assert!(ErrorKind::KNOWN.len() >= 30);
        assert_eq!(ErrorKind::parse("owner_required"), ErrorKind::OwnerRequired);
    }

    #[test]
    fn provenance_naming_rule() {
        assert_eq!(
            Provenance::from_tool_name("mcp__github__create_issue"),
            Provenance::Mcp {
                server_id: "github".into()
            }
        );
        assert_eq!(Provenance::from_tool_name("mcp____x"), Provenance::Builtin);
        assert_eq!(
            Provenance::from_tool_name("mcp__srv__"),
            Provenance::Builtin
        );
        assert_eq!(Provenance::from_tool_name("read_file"), Provenance::Builtin);
    }
}
