//! An in-process ACP client (the SDK's client side) wired to an in-process
//! demo agent over a tokio duplex pipe.

#![allow(dead_code)] // Each test binary uses a different part of this.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::v1::schema::{
    ClientCapabilities, ContentBlock, CreateTerminalRequest, CreateTerminalResponse,
    FileSystemCapabilities, InitializeRequest, InitializeResponse, KillTerminalRequest,
    KillTerminalResponse, NewSessionRequest, PromptRequest, PromptResponse, ReleaseTerminalRequest,
    ReleaseTerminalResponse, RequestPermissionOutcome, RequestPermissionRequest,
    RequestPermissionResponse, SelectedPermissionOutcome, SessionNotification, SessionUpdate,
    TerminalExitStatus, TerminalOutputRequest, TerminalOutputResponse, TextContent,
    WaitForTerminalExitRequest, WaitForTerminalExitResponse, WriteTextFileRequest,
    WriteTextFileResponse,
};
use agent_client_protocol::v1::{ConnectionTo, Responder, SentRequest};
use agent_client_protocol::{
    Agent, ByteStreams, Client, Error, ErrorCode, UntypedMessage, schema::ProtocolVersion,
};
use serde_json::Value;
use switchyard_demo_agent::DemoAgentOptions;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

/// Generous: only reached when something is broken.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How the test client answers `session/request_permission`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Allow,
    Reject,
    Cancel,
    /// Never answer (the responder is kept, so no error reply goes out).
    Hold,
}

/// What the test client does when the agent asks it for something.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub permission: Permission,
    /// `Some(message)` makes `fs/write_text_file` fail with that message.
    pub write_error: Option<String>,
    /// Advertise the `terminal` capability.
    pub terminal: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            permission: Permission::Allow,
            write_error: None,
            terminal: false,
        }
    }
}

/// A terminal request the agent made, as the fake client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalCall {
    Create { command: String, args: Vec<String> },
    WaitForExit,
    Output,
    Kill,
    Release,
}

pub struct TestClient {
    pub cx: ConnectionTo<Agent>,
    updates: mpsc::UnboundedReceiver<Value>,
    pub writes: Arc<Mutex<Vec<WriteTextFileRequest>>>,
    pub permissions: Arc<Mutex<Vec<RequestPermissionRequest>>>,
    pub terminal_calls: Arc<Mutex<Vec<TerminalCall>>>,
    /// One message per permission request received.
    pub permission_asked: mpsc::UnboundedReceiver<()>,
    held: Arc<Mutex<Vec<Responder<RequestPermissionResponse>>>>,
    pub agent: JoinHandle<switchyard_demo_agent::Result<()>>,
    behaviour: Behaviour,
}

impl TestClient {
    /// Starts an agent with `options` and connects a client to it.
    pub async fn start(options: DemoAgentOptions, behaviour: Behaviour) -> Self {
        let (agent_io, client_io) = tokio::io::duplex(64 * 1024);
        let (agent_read, agent_write) = tokio::io::split(agent_io);
        let agent = tokio::spawn(switchyard_demo_agent::run_with(
            agent_read,
            agent_write,
            options,
        ));

        let (client_read, client_write) = tokio::io::split(client_io);
        let transport = ByteStreams::new(client_write.compat_write(), client_read.compat());
        let (updates_tx, updates) = mpsc::unbounded_channel();
        let writes = Arc::new(Mutex::new(Vec::new()));
        let permissions = Arc::new(Mutex::new(Vec::new()));
        let terminal_calls = Arc::new(Mutex::new(Vec::new()));
        let (cx_tx, cx_rx) = oneshot::channel();

        let permission = behaviour.permission;
        let write_error = behaviour.write_error.clone();
        let (seen_writes, seen_permissions) = (writes.clone(), permissions.clone());
        let (asked_tx, permission_asked) = mpsc::unbounded_channel();
        let held = Arc::new(Mutex::new(Vec::new()));
        let hold = held.clone();
        let terminal_log = [(); 5].map(|()| terminal_calls.clone());
        let [on_create, on_wait, on_output, on_kill, on_release] = terminal_log;

        tokio::spawn(
            Client
                .v1()
                .name("demo-agent-test-client")
                .on_receive_notification(
                    async move |notification: UntypedMessage, _cx| {
                        // Kept raw: typed structs would hide fields the
                        // agent sends explicitly, like `status: "pending"`.
                        if notification.method() == "session/update" {
                            let _ = updates_tx.send(notification.params().clone());
                        }
                        Ok(())
                    },
                    agent_client_protocol::on_receive_notification!(),
                )
                .on_receive_request(
                    async move |request: RequestPermissionRequest, responder, _cx| {
                        seen_permissions.lock().unwrap().push(request);
                        let _ = asked_tx.send(());
                        let outcome = match permission {
                            Permission::Allow => RequestPermissionOutcome::Selected(
                                SelectedPermissionOutcome::new("allow"),
                            ),
                            Permission::Reject => RequestPermissionOutcome::Selected(
                                SelectedPermissionOutcome::new("reject"),
                            ),
                            Permission::Cancel => RequestPermissionOutcome::Cancelled,
                            Permission::Hold => {
                                hold.lock().unwrap().push(responder);
                                return Ok(());
                            }
                        };
                        responder.respond(RequestPermissionResponse::new(outcome))
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |request: WriteTextFileRequest, responder, _cx| {
                        seen_writes.lock().unwrap().push(request.clone());
                        if let Some(message) = &write_error {
                            return responder.respond_with_error(Error::new(
                                ErrorCode::INTERNAL_ERROR,
                                message.clone(),
                            ));
                        }
                        match std::fs::create_dir_all(request.path.parent().unwrap())
                            .and_then(|()| std::fs::write(&request.path, &request.content))
                        {
                            Ok(()) => responder.respond(WriteTextFileResponse::new()),
                            Err(error) => responder.respond_with_error(Error::new(
                                ErrorCode::INTERNAL_ERROR,
                                error.to_string(),
                            )),
                        }
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |request: CreateTerminalRequest, responder, _cx| {
                        on_create.lock().unwrap().push(TerminalCall::Create {
                            command: request.command,
                            args: request.args,
                        });
                        responder.respond(CreateTerminalResponse::new("term-1"))
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |_: WaitForTerminalExitRequest, responder, _cx| {
                        on_wait.lock().unwrap().push(TerminalCall::WaitForExit);
                        responder.respond(WaitForTerminalExitResponse::new(
                            TerminalExitStatus::new().exit_code(0),
                        ))
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |_: TerminalOutputRequest, responder, _cx| {
                        on_output.lock().unwrap().push(TerminalCall::Output);
                        responder.respond(
                            TerminalOutputResponse::new("hello from sh\n", false)
                                .exit_status(TerminalExitStatus::new().exit_code(0)),
                        )
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |_: KillTerminalRequest, responder, _cx| {
                        on_kill.lock().unwrap().push(TerminalCall::Kill);
                        responder.respond(KillTerminalResponse::new())
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |_: ReleaseTerminalRequest, responder, _cx| {
                        on_release.lock().unwrap().push(TerminalCall::Release);
                        responder.respond(ReleaseTerminalResponse::new())
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .connect_with(transport, async move |cx: ConnectionTo<Agent>| {
                    let _ = cx_tx.send(cx.clone());
                    cx.incoming_closed().await;
                    Ok(())
                }),
        );

        let cx = tokio::time::timeout(TIMEOUT, cx_rx)
            .await
            .expect("client connects")
            .expect("client connection context");
        Self {
            cx,
            updates,
            writes,
            permissions,
            terminal_calls,
            permission_asked,
            held,
            agent,
            behaviour,
        }
    }

    pub async fn initialize(&self) -> InitializeResponse {
        let capabilities = ClientCapabilities::new()
            .fs(FileSystemCapabilities::new()
                .read_text_file(true)
                .write_text_file(true))
            .terminal(self.behaviour.terminal);
        self.request(InitializeRequest::new(ProtocolVersion::V1).client_capabilities(capabilities))
            .await
            .expect("initialize succeeds")
    }

    /// Sends `request` and waits for the answer.
    pub async fn request<R: agent_client_protocol::JsonRpcRequest>(
        &self,
        request: R,
    ) -> Result<R::Response, Error> {
        tokio::time::timeout(TIMEOUT, self.cx.send_request(request).block_task())
            .await
            .expect("the agent answers in time")
    }

    /// Sends a request by method name and returns the raw JSON answer, for
    /// fields the typed schema does not model.
    pub async fn raw(&self, method: &str, params: Value) -> Result<Value, Error> {
        self.request(UntypedMessage::new(method, params).unwrap())
            .await
    }

    /// Creates a session in `cwd`; returns its id and the raw response.
    pub async fn new_session(&self, cwd: &Path) -> (String, Value) {
        let response = self
            .raw(
                "session/new",
                serde_json::to_value(NewSessionRequest::new(cwd)).unwrap(),
            )
            .await
            .expect("session/new succeeds");
        let id = response["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        (id, response)
    }

    pub fn send_prompt(&self, session_id: &str, text: &str) -> SentRequest<PromptResponse> {
        self.cx.send_request(prompt_request(session_id, text))
    }

    pub async fn prompt(&self, session_id: &str, text: &str) -> Result<PromptResponse, Error> {
        self.request(prompt_request(session_id, text)).await
    }

    /// The next `session/update` the agent sent.
    pub async fn next_update(&mut self) -> Update {
        let params = tokio::time::timeout(TIMEOUT, self.updates.recv())
            .await
            .expect("an update arrives in time")
            .expect("the connection is open");
        Update::parse(params)
    }

    /// Waits for the first update `pick` accepts, skipping others.
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&Update) -> Option<T>) -> T {
        loop {
            if let Some(found) = pick(&self.next_update().await) {
                return found;
            }
        }
    }

    /// Every update already delivered. The client handles notifications in
    /// arrival order before the response that follows them, so after a
    /// request returns this holds everything the agent sent before answering.
    pub fn take_updates(&mut self) -> Vec<Update> {
        let mut updates = Vec::new();
        while let Ok(params) = self.updates.try_recv() {
            updates.push(Update::parse(params));
        }
        updates
    }
}

pub fn prompt_request(session_id: &str, text: &str) -> PromptRequest {
    PromptRequest::new(
        session_id.to_owned(),
        vec![ContentBlock::Text(TextContent::new(text))],
    )
}

/// Agent options with sessions saved in `dir`.
pub fn options(dir: &Path) -> DemoAgentOptions {
    DemoAgentOptions::new().state_dir(dir.join("state"))
}

/// A fresh directory that serves as both workspace (`cwd`) and state dir.
pub fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("workspace");
    std::fs::create_dir_all(&cwd).unwrap();
    (dir, cwd)
}

/// One `session/update`, both as sent and as the SDK's schema reads it
/// (parsing it proves the agent's hand-built JSON is schema-valid).
#[derive(Debug, Clone)]
pub struct Update {
    pub session_id: String,
    /// The `update` object exactly as it was on the wire.
    pub raw: Value,
    pub typed: SessionUpdate,
}

impl Update {
    fn parse(params: Value) -> Self {
        let notification: SessionNotification = serde_json::from_value(params.clone())
            .unwrap_or_else(|e| panic!("invalid session/update {params}: {e}"));
        Self {
            session_id: notification.session_id.to_string(),
            raw: params["update"].clone(),
            typed: notification.update,
        }
    }

    /// The `sessionUpdate` discriminator.
    pub fn kind(&self) -> &str {
        self.raw["sessionUpdate"].as_str().unwrap_or_default()
    }

    /// The text of a text chunk of the given kind.
    pub fn text(&self, kind: &str) -> Option<&str> {
        (self.kind() == kind).then(|| self.raw["content"]["text"].as_str())?
    }
}

/// The concatenated text of the agent message chunks in `updates`.
pub fn agent_text(updates: &[Update]) -> String {
    chunks(updates, "agent_message_chunk").concat()
}

/// The texts of every chunk of `kind`, in order.
pub fn chunks<'a>(updates: &'a [Update], kind: &str) -> Vec<&'a str> {
    updates
        .iter()
        .filter_map(|update| update.text(kind))
        .collect()
}

/// The updates of one kind.
pub fn of_kind<'a>(updates: &'a [Update], kind: &str) -> Vec<&'a Update> {
    updates.iter().filter(|u| u.kind() == kind).collect()
}
