//! One ACP agent child process and the client side of its connection.
//!
//! The agent runs in its own process group so that ending a session ends
//! everything the agent started (codex-acp and claude-code-acp ignore stdin
//! EOF, and agents spawn tools of their own).
//!
//! Everything the agent sends — notifications, requests, and our own
//! prompt's completion — is forwarded, in order, into one channel that the
//! session actor drains. Handlers never wait for a human: a permission
//! request's responder travels to the actor and is answered whenever the
//! vote arrives, so the connection's dispatch loop never stalls.
//!
//! Messages go untyped (`serde_json::Value`) on purpose: the stable schema
//! has dropped `models` and `session/set_model`, and unknown
//! `session/update` variants would be lost in typed form, while real agents
//! still send and need all of them.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::{Agent, ByteStreams, Client, Responder, UntypedMessage, V1};
use serde_json::{Value, json};
use switchyard_core::ErrorKind;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::config::AgentSpec;
use crate::error::ApiError;

/// What the agent connection feeds the session actor, in arrival order.
#[derive(Debug)]
pub enum Inbound {
    /// A notification (`session/update`, ...).
    Notification {
        /// JSON-RPC method.
        method: String,
        /// Raw params.
        params: Value,
    },
    /// A request the agent is waiting on.
    Request {
        /// JSON-RPC method.
        method: String,
        /// Raw params.
        params: Value,
        /// Answer it with this, now or later.
        responder: Responder<Value, V1>,
    },
    /// The agent answered a model or mode change (in wire order).
    ChangeDone {
        /// Which axis.
        axis: super::settings::Axis,
        /// Which change.
        seq: u64,
        /// The agent's answer.
        result: Result<Value, agent_client_protocol::Error>,
    },
    /// Our `session/prompt` finished.
    PromptDone {
        /// Which prompt.
        prompt_id: String,
        /// The agent's answer.
        result: Result<Value, agent_client_protocol::Error>,
    },
    /// The agent answered `session/load` (in wire order: every history
    /// update it replayed came before this).
    Loaded(Result<Value, agent_client_protocol::Error>),
    /// The agent closed its stdout; everything it sent has been forwarded.
    Eof,
    /// The agent process exited.
    Exited(ExitStatus),
}

/// A running, initialized agent with one ACP session.
pub struct AgentConn {
    /// Sends requests and notifications to the agent.
    pub cx: ConnectionTo<Agent>,
    /// The agent's id for our session.
    pub agent_session_id: String,
    /// The agent's `initialize` answer.
    pub init: Value,
    /// The agent's `session/new` answer (modes, models, config options).
    pub new_session: Value,
    /// Process group id (the agent's pid).
    pub pgid: Option<i32>,
    /// Where `Inbound` arrives.
    pub inbound: mpsc::Receiver<Inbound>,
    /// Sender for the same channel (prompt tasks report through it).
    pub inbound_tx: mpsc::Sender<Inbound>,
    /// Dropping it ends the connection's foreground.
    pub stop: Option<oneshot::Sender<()>>,
}

/// Messages from the agent waiting for the session actor. When it is full
/// the connection's dispatch loop waits, the agent's stdout pipe fills and
/// the agent itself blocks: a flooding agent is slowed to the pace the
/// session can publish at, instead of the daemon buffering without bound.
/// (Subscribers are never the brake: the bus never waits for them.)
const INBOUND_CAPACITY: usize = 1024;

/// Client capabilities we advertise: confined file access and terminals
/// (`terminal/*`, see `session::terminal::agent_terminals`).
fn client_capabilities() -> Value {
    json!({ "fs": { "readTextFile": true, "writeTextFile": true }, "terminal": true })
}

/// Spawns `spec` in `cwd`, runs `initialize` and `session/new`, all within
/// `timeout`.
pub async fn spawn(spec: &AgentSpec, cwd: &Path, timeout: Duration) -> Result<AgentConn, ApiError> {
    spawn_with(spec, cwd, timeout, None).await
}

/// Like [`spawn`], but with `load` set, reopens the agent's session of that
/// id with `session/load` instead of starting a new one (after a daemon
/// restart). The history the agent replays while loading is dropped: the
/// journal already has it, and publishing it again would duplicate it.
/// Fails with `protocol_error` when the agent does not advertise
/// `loadSession`.
pub async fn spawn_with(
    spec: &AgentSpec,
    cwd: &Path,
    timeout: Duration,
    load: Option<&str>,
) -> Result<AgentConn, ApiError> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::new(
                ErrorKind::MissingBinary,
                format!("agent command not found: {}", spec.program),
            )
            .hint("install the agent or fix --agent NAME=COMMAND")
        } else {
            ApiError::new(
                ErrorKind::IoError,
                format!("could not start {}: {e}", spec.display()),
            )
        }
    })?;
    let pgid = child.id().map(|p| p as i32);
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    if let Some(stderr) = child.stderr.take() {
        let name = spec.program.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(agent = %name, "stderr: {line}");
            }
        });
    }

    let (tx, mut rx) = mpsc::channel(INBOUND_CAPACITY);
    let (cx_tx, cx_rx) = oneshot::channel::<ConnectionTo<Agent>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();

    let notif_tx = tx.clone();
    let req_tx = tx.clone();
    let eof_tx = tx.clone();
    let transport = ByteStreams::new(stdin.compat_write(), stdout.compat());
    tokio::spawn(async move {
        let result = Client
            .v1()
            .name("switchyard")
            .on_receive_notification(
                async move |n: UntypedMessage, _cx| {
                    let (method, params) = n.into_parts();
                    let _ = notif_tx
                        .send(Inbound::Notification { method, params })
                        .await;
                    Ok(())
                },
                agent_client_protocol::on_receive_notification!(),
            )
            .on_receive_request(
                async move |r: UntypedMessage, responder: Responder<Value, V1>, _cx| {
                    let (method, params) = r.into_parts();
                    let _ = req_tx
                        .send(Inbound::Request {
                            method,
                            params,
                            responder,
                        })
                        .await;
                    Ok(())
                },
                agent_client_protocol::on_receive_request!(),
            )
            .connect_with(transport, async move |cx: ConnectionTo<Agent>| {
                let _ = cx_tx.send(cx.clone());
                tokio::select! {
                    _ = cx.incoming_closed() => {
                        let _ = eof_tx.send(Inbound::Eof).await;
                    }
                    _ = stop_rx => {}
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::debug!("agent connection ended: {e}");
        }
    });
    spawn_waiter(child, tx.clone());

    let cx = cx_rx
        .await
        .map_err(|_| ApiError::internal("agent connection did not start"))?;

    let handshake = async {
        let init = request(
            &cx,
            "initialize",
            json!({
                "protocolVersion": 1,
                "clientCapabilities": client_capabilities(),
                "clientInfo": { "name": "switchyard", "version": env!("CARGO_PKG_VERSION") },
            }),
        )
        .await
        .map_err(|e| classify_start_error("initialize", &e))?;
        let new_session = match load {
            None => request(
                &cx,
                "session/new",
                json!({ "cwd": cwd.to_string_lossy(), "mcpServers": [] }),
            )
            .await
            .map_err(|e| classify_start_error("session/new", &e))?,
            Some(id) => {
                if init["agentCapabilities"]["loadSession"] != json!(true) {
                    return Err(ApiError::new(
                        ErrorKind::ProtocolError,
                        "the agent does not support session/load",
                    ));
                }
                let mut answer = load_session(&cx, &tx, &mut rx, id, cwd).await?;
                // The rest of the daemon reads the session id from here.
                answer["sessionId"] = json!(id);
                answer
            }
        };
        Ok::<_, ApiError>((init, new_session))
    };
    let (init, new_session) = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            kill_group(pgid, libc::SIGKILL);
            return Err(e);
        }
        Err(_) => {
            kill_group(pgid, libc::SIGKILL);
            return Err(ApiError::new(
                ErrorKind::InitTimeout,
                format!(
                    "{} did not finish initialize/session/new within {} ms",
                    spec.display(),
                    timeout.as_millis()
                ),
            )
            .hint("check that the command speaks ACP on stdio (e.g. `qwen --acp`)"));
        }
    };
    let agent_session_id = new_session
        .get("sessionId")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            kill_group(pgid, libc::SIGKILL);
            ApiError::new(
                ErrorKind::ProtocolError,
                "session/new answer has no sessionId",
            )
        })?
        .to_string();

    Ok(AgentConn {
        cx,
        agent_session_id,
        init,
        new_session,
        pgid,
        inbound: rx,
        inbound_tx: tx,
        stop: Some(stop_tx),
    })
}

/// Sends `session/load` and drains what the agent sends until its answer,
/// which arrives in wire order (see [`AgentConn::send_ordered`]): everything
/// before it is the replayed history.
async fn load_session(
    cx: &ConnectionTo<Agent>,
    tx: &mpsc::Sender<Inbound>,
    rx: &mut mpsc::Receiver<Inbound>,
    id: &str,
    cwd: &Path,
) -> Result<Value, ApiError> {
    let params = json!({ "sessionId": id, "cwd": cwd.to_string_lossy(), "mcpServers": [] });
    let tx = tx.clone();
    UntypedMessage::new("session/load", params)
        .and_then(|msg| {
            cx.send_request(msg)
                .on_receiving_result(async move |result| {
                    let _ = tx.send(Inbound::Loaded(result)).await;
                    Ok(())
                })
        })
        .map_err(|e| classify_start_error("session/load", &e))?;
    let mut dropped = 0u64;
    loop {
        match rx.recv().await {
            Some(Inbound::Loaded(Ok(answer))) => {
                tracing::debug!(dropped, "session/load replayed history (not republished)");
                return Ok(answer);
            }
            Some(Inbound::Loaded(Err(e))) => return Err(classify_start_error("session/load", &e)),
            Some(Inbound::Notification { .. }) => dropped += 1,
            Some(Inbound::Request { responder, .. }) => {
                // Nothing may act for the session while it is being reopened.
                let _ =
                    responder.respond_with_error(agent_client_protocol::Error::internal_error());
            }
            Some(Inbound::Eof) | Some(Inbound::Exited(_)) | None => {
                return Err(ApiError::new(
                    ErrorKind::AgentExited,
                    "the agent exited during session/load",
                ));
            }
            Some(_) => {}
        }
    }
}

impl AgentConn {
    /// Sends a request whose answer must keep its place among the agent's
    /// notifications: the answer is pushed into the inbound channel from
    /// inside the connection's dispatch loop (ordered consumption), so a
    /// notification the agent wrote after its answer cannot overtake it.
    pub fn send_ordered(
        &self,
        method: &str,
        params: Value,
        wrap: impl FnOnce(Result<Value, agent_client_protocol::Error>) -> Inbound + Send + 'static,
    ) {
        let tx = self.inbound_tx.clone();
        let sent = UntypedMessage::new(method, params).and_then(|msg| {
            self.cx
                .send_request(msg)
                .on_receiving_result(async move |result| {
                    let _ = tx.send(wrap(result)).await;
                    Ok(())
                })
        });
        if let Err(e) = sent {
            // The connection is gone; the session's ending (or the change's
            // deadline) answers the caller.
            tracing::debug!("{method} not sent: {e}");
        }
    }
}

/// Starts a new session in the workspace's persisted approval mode, when
/// the agent offers it and is not already in it. The answer is folded into
/// the `session/new` answer, so the session's first event already says so.
/// Failing to apply it is logged, not fatal: the session starts in the
/// agent's own mode.
pub async fn apply_default_mode(conn: &mut AgentConn, mode: &str, timeout: Duration) {
    let Some(modes) = conn.new_session.get_mut("modes").filter(|m| m.is_object()) else {
        return;
    };
    let offered = modes["availableModes"]
        .as_array()
        .is_some_and(|a| a.iter().any(|m| m["id"] == mode));
    if !offered || modes["currentModeId"] == mode {
        return;
    }
    let req = request(
        &conn.cx,
        "session/set_mode",
        json!({ "sessionId": conn.agent_session_id, "modeId": mode }),
    );
    match tokio::time::timeout(timeout, req).await {
        Ok(Ok(_)) => {
            if let Some(modes) = conn.new_session.get_mut("modes") {
                modes["currentModeId"] = mode.into();
            }
        }
        Ok(Err(e)) => tracing::warn!("workspace default mode {mode:?} not applied: {}", e.message),
        Err(_) => tracing::warn!("workspace default mode {mode:?} not applied: no answer in time"),
    }
}

fn spawn_waiter(mut child: Child, tx: mpsc::Sender<Inbound>) {
    tokio::spawn(async move {
        match child.wait().await {
            Ok(status) => {
                let _ = tx.send(Inbound::Exited(status)).await;
            }
            Err(e) => tracing::warn!("waiting for agent failed: {e}"),
        }
    });
}

/// Sends an untyped request and waits for the answer. Never call from inside
/// a connection handler (it would wait on the loop it blocks).
pub async fn request(
    cx: &ConnectionTo<Agent>,
    method: &str,
    params: Value,
) -> Result<Value, agent_client_protocol::Error> {
    let msg = UntypedMessage::new(method, params)?;
    cx.send_request(msg).block_task().await
}

/// Sends a notification.
pub fn notify(cx: &ConnectionTo<Agent>, method: &str, params: Value) {
    match UntypedMessage::new(method, params) {
        Ok(msg) => {
            if let Err(e) = cx.send_notification(msg) {
                tracing::debug!("notification {method} not sent: {e}");
            }
        }
        Err(e) => tracing::warn!("notification {method} not encoded: {e}"),
    }
}

/// Maps a failed handshake request to the error kind a client can act on.
fn classify_start_error(step: &str, e: &agent_client_protocol::Error) -> ApiError {
    let code: i32 = e.code.into();
    if agent_client_protocol::is_incoming_transport_closed(e)
        || agent_client_protocol::is_connection_terminated(e)
    {
        return ApiError::new(
            ErrorKind::AgentExited,
            format!("the agent exited during {step}"),
        )
        .hint("run the agent command by hand to see its error output");
    }
    if code == -32000 {
        return ApiError::new(
            ErrorKind::AuthRequired,
            format!("the agent requires authentication ({step}): {}", e.message),
        )
        .hint("log in with the agent's own CLI first, then retry");
    }
    ApiError::new(
        ErrorKind::ProtocolError,
        format!("{step} failed: {} (code {code})", e.message),
    )
}

/// Signals the whole process group (the agent and whatever it started).
pub fn kill_group(pgid: Option<i32>, signal: i32) {
    #[cfg(unix)]
    if let Some(pgid) = pgid.filter(|p| *p > 0) {
        // SAFETY: killpg only sends a signal; a stale group id fails with
        // ESRCH, which is fine.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Waits (polling, bounded by `limit`) until no process is left in the
/// group. There is no event for "a process group emptied", so this polls;
/// it runs only while a session is being ended.
pub async fn wait_group_gone(pgid: Option<i32>, limit: Duration) {
    #[cfg(unix)]
    if let Some(pgid) = pgid.filter(|p| *p > 0) {
        let deadline = tokio::time::Instant::now() + limit;
        // SAFETY: signal 0 only checks whether the group still exists.
        while unsafe { libc::killpg(pgid, 0) } == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The exit status as (`exitCode`, `signalCode`).
pub fn describe_exit(status: &ExitStatus) -> (Option<i64>, Option<String>) {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return (None, Some(signal_name(sig)));
        }
    }
    (status.code().map(i64::from), None)
}

/// `SIGKILL`-style names for the common signals.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        other => format!("SIG{other}"),
    }
}
