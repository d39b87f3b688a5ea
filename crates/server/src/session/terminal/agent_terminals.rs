//! Terminals an agent runs (`terminal/create` and friends).
//!
//! The agent asks for a command; the daemon runs it with the same
//! machinery as terminal sessions ([`super::pty`]: own process group,
//! coalesced UTF-8 output, reaped on exit) and streams its output to every
//! client as `terminal_output{data, terminalId}`, so everyone watches the
//! command an agent's tool call embeds (`{"type":"terminal","terminalId"}`)
//! while it runs. `terminal_exited{exitCode, signal, terminalId}` follows
//! the last output. The core reducer keeps these apart from a session's own
//! screen; a late joiner's snapshot carries each terminal's output tail and
//! exit status under `agentTerminals` ([`AgentTerminalTails`]).
//!
//! What the agent gets back follows ACP: `terminal/output` returns what was
//! captured, cut from the start (on a character boundary) to
//! `outputByteLimit` with `truncated: true`; `terminal/wait_for_exit`
//! answers once the process ended; `terminal/kill` ends the command and
//! keeps the output; `terminal/release` ends it and forgets it. The working
//! directory must be inside the session's workspace; a `command` with no
//! `args` that looks like a shell line runs through `sh -c`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::{Responder, V1};
use serde_json::{Map, Value, json};
use switchyard_core::event::{TerminalExited, TerminalOutput};
use switchyard_core::{ErrorKind, Event, Frame};
use tokio::sync::{mpsc, watch};

use super::pty::{self, ExitInfo, Proc, ProcEvent, ProcSpec};
use crate::bus::{Bus, SnapshotExtra};
use crate::session::fs::{self, FsError};

/// Output kept for the agent when it sets no `outputByteLimit`.
pub const DEFAULT_OUTPUT_LIMIT: usize = 1 << 20;
/// The largest `outputByteLimit` honoured (larger ones are clamped).
pub const MAX_OUTPUT_LIMIT: usize = 16 << 20;
/// Agent terminals alive at once per session.
pub const MAX_TERMINALS: usize = 16;
/// Output tail per terminal in a snapshot.
pub const TAIL_BYTES: usize = 64 * 1024;
/// Terminals a snapshot describes (the most recent).
pub const TAIL_TERMINALS: usize = 32;
/// How long the last output may take after the exit.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How long `terminal/kill` waits for the process to be gone.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Output captured for the agent, bounded by its limit.
#[derive(Debug, Default)]
struct Captured {
    text: String,
    truncated: bool,
}

impl Captured {
    fn push(&mut self, data: &str, limit: usize) {
        self.text.push_str(data);
        if self.text.len() > limit {
            let mut cut = self.text.len() - limit;
            while !self.text.is_char_boundary(cut) {
                cut += 1;
            }
            self.text.drain(..cut);
            self.truncated = true;
        }
    }
}

struct AgentTerminal {
    proc: Mutex<Proc>,
    captured: Arc<Mutex<Captured>>,
    exit: watch::Receiver<Option<ExitInfo>>,
}

/// One agent session's terminals.
pub struct AgentTerminals {
    bus: Bus,
    root: PathBuf,
    trusted: bool,
    terminals: Mutex<HashMap<String, Arc<AgentTerminal>>>,
    next_id: AtomicU64,
}

type RpcResult = Result<Value, agent_client_protocol::Error>;

impl AgentTerminals {
    /// Terminals for the session whose bus is `bus` and workspace
    /// `workspace`. Commands only run in trusted workspaces: an agent that
    /// may not write a file there may not run a shell there either.
    pub fn new(bus: Bus, workspace: &fs::Workspace) -> Arc<AgentTerminals> {
        Arc::new(AgentTerminals {
            bus,
            root: workspace.root().to_path_buf(),
            trusted: workspace.trusted(),
            terminals: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// Whether `method` is one of ours.
    pub fn handles(method: &str) -> bool {
        matches!(
            method,
            "terminal/create"
                | "terminal/output"
                | "terminal/wait_for_exit"
                | "terminal/kill"
                | "terminal/release"
        )
    }

    /// Serves one request on a task of its own (`wait_for_exit` may take as
    /// long as the command runs; the connection's loop must not wait).
    pub fn serve(self: &Arc<Self>, method: String, params: Value, responder: Responder<Value, V1>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let result = match method.as_str() {
                "terminal/create" => this.create(&params),
                "terminal/output" => this.output(&params),
                "terminal/wait_for_exit" => this.wait_for_exit(&params).await,
                "terminal/kill" => this.kill(&params).await,
                "terminal/release" => this.release(&params).await,
                _ => Err(agent_client_protocol::Error::method_not_found()),
            };
            if let Err(e) = &result {
                tracing::info!(%method, "agent terminal request failed: {}", e.message);
            }
            let _ = responder.respond_with_result(result);
        });
    }

    fn create(self: &Arc<Self>, params: &Value) -> RpcResult {
        if !self.trusted {
            return Err(FsError {
                kind: ErrorKind::UntrustedWorkspace,
                message: format!(
                    "the workspace {} is not under a trusted root; agents may not run commands in it",
                    self.root.display()
                ),
                hint: Some("start the daemon with --trusted-root covering this workspace".into()),
            }
            .into_acp());
        }
        let command = params["command"]
            .as_str()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| invalid("terminal/create needs a non-empty command"))?;
        let args: Vec<String> = match params.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| invalid("args must be an array of strings"))?,
        };
        let mut env = Vec::new();
        if let Some(list) = params.get("env").and_then(Value::as_array) {
            for var in list {
                match (var["name"].as_str(), var["value"].as_str()) {
                    (Some(n), Some(v)) if !n.is_empty() => env.push((n.to_string(), v.to_string())),
                    _ => return Err(invalid("env entries are {\"name\", \"value\"} strings")),
                }
            }
        }
        let cwd = match params["cwd"].as_str() {
            None => self.root.clone(),
            Some(dir) => fs::confine(&self.root, dir).map_err(FsError::into_acp)?,
        };
        if !cwd.is_dir() {
            return Err(FsError {
                kind: ErrorKind::InvalidRequest,
                message: format!("cwd {} is not a directory", cwd.display()),
                hint: Some("give an existing directory inside the workspace".into()),
            }
            .into_acp());
        }
        let limit = params["outputByteLimit"]
            .as_u64()
            .map_or(DEFAULT_OUTPUT_LIMIT, |l| {
                usize::try_from(l)
                    .unwrap_or(usize::MAX)
                    .min(MAX_OUTPUT_LIMIT)
            });
        let (program, args) = if args.is_empty() && is_shell_line(command) {
            (
                "/bin/sh".to_string(),
                vec!["-c".to_string(), command.to_string()],
            )
        } else {
            (command.to_string(), args)
        };
        if self.terminals.lock().expect("terminals lock").len() >= MAX_TERMINALS {
            return Err(FsError {
                kind: ErrorKind::SessionBusy,
                message: format!("this session already runs {MAX_TERMINALS} terminals"),
                hint: Some("release terminals you are done with (terminal/release)".into()),
            }
            .into_acp());
        }
        let id = format!("term-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let spec = ProcSpec {
            program,
            args,
            cwd,
            env,
            cols: 120,
            rows: 40,
            plain_output: true,
        };
        let captured = Arc::new(Mutex::new(Captured::default()));
        let sink_captured = Arc::clone(&captured);
        let bus = self.bus.clone();
        let sink_id = id.clone();
        let sink: pty::Sink = Box::new(move |data: String| {
            sink_captured
                .lock()
                .expect("captured lock")
                .push(&data, limit);
            bus.wait_for_room(crate::bus::UNCOMMITTED_MAX);
            bus.publish(
                Event::TerminalOutput(TerminalOutput {
                    data,
                    terminal_id: Some(sink_id.clone()),
                })
                .to_frame(),
            );
        });
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut proc = pty::spawn(&spec, sink, events_tx).map_err(|e| {
            FsError {
                kind: e.kind.clone(),
                message: e.message.clone(),
                hint: e.hint.clone(),
            }
            .into_acp()
        })?;
        proc.close_input();
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(watch_exit(self.bus.clone(), id.clone(), events_rx, exit_tx));
        self.terminals.lock().expect("terminals lock").insert(
            id.clone(),
            Arc::new(AgentTerminal {
                proc: Mutex::new(proc),
                captured,
                exit: exit_rx,
            }),
        );
        tracing::info!(terminal = %id, command = %spec.display(), "agent terminal started");
        Ok(json!({ "terminalId": id }))
    }

    fn get(&self, params: &Value) -> Result<Arc<AgentTerminal>, agent_client_protocol::Error> {
        let id = params["terminalId"]
            .as_str()
            .ok_or_else(|| invalid("terminalId is required"))?;
        self.terminals
            .lock()
            .expect("terminals lock")
            .get(id)
            .cloned()
            .ok_or_else(|| invalid(&format!("no terminal {id:?} (never created, or released)")))
    }

    fn output(&self, params: &Value) -> RpcResult {
        let t = self.get(params)?;
        let c = t.captured.lock().expect("captured lock");
        let mut out = json!({ "output": c.text, "truncated": c.truncated });
        if let Some(exit) = t.exit.borrow().as_ref() {
            out["exitStatus"] = exit_json(exit);
        }
        Ok(out)
    }

    async fn wait_for_exit(&self, params: &Value) -> RpcResult {
        let t = self.get(params)?;
        let mut exit = t.exit.clone();
        let info = exit
            .wait_for(Option::is_some)
            .await
            .map_err(|_| agent_client_protocol::Error::internal_error())?
            .clone()
            .unwrap_or(ExitInfo {
                exit_code: None,
                signal: None,
            });
        Ok(exit_json(&info))
    }

    async fn kill(&self, params: &Value) -> RpcResult {
        let t = self.get(params)?;
        end(&t).await;
        Ok(json!({}))
    }

    async fn release(&self, params: &Value) -> RpcResult {
        let t = self.get(params)?;
        if let Some(id) = params["terminalId"].as_str() {
            self.terminals.lock().expect("terminals lock").remove(id);
        }
        end(&t).await;
        Ok(json!({}))
    }

    /// Ends every terminal (the session is ending) and waits, bounded, for
    /// each one's `terminal_exited` to be published: the session's own
    /// last word (`session_closed`, `session_died`) comes after them.
    pub async fn end_all(&self) {
        let all = self.take_all();
        futures::future::join_all(all.iter().map(|t| end(t))).await;
    }

    /// Kills every terminal without waiting (a last resort once the
    /// session has ended).
    pub fn kill_all(&self) {
        for t in self.take_all() {
            t.proc.lock().expect("proc lock").signal_all(libc::SIGKILL);
        }
    }

    fn take_all(&self) -> Vec<Arc<AgentTerminal>> {
        self.terminals
            .lock()
            .expect("terminals lock")
            .drain()
            .map(|(_, t)| t)
            .collect()
    }
}

/// Kills the command and whatever it started; waits (bounded) for the
/// exit to be recorded.
async fn end(t: &AgentTerminal) {
    if t.exit.borrow().is_some() {
        // Leftover background jobs, if any.
        t.proc.lock().expect("proc lock").signal_all(libc::SIGKILL);
        return;
    }
    t.proc.lock().expect("proc lock").signal_all(libc::SIGKILL);
    let mut exit = t.exit.clone();
    let _ = tokio::time::timeout(KILL_WAIT, exit.wait_for(Option::is_some)).await;
}

/// Publishes the exit once the output is drained (or after a grace).
async fn watch_exit(
    bus: Bus,
    id: String,
    mut events: mpsc::UnboundedReceiver<ProcEvent>,
    exit_tx: watch::Sender<Option<ExitInfo>>,
) {
    let mut drained = false;
    let mut exit = None;
    while exit.is_none() {
        match events.recv().await {
            Some(ProcEvent::Drained) => drained = true,
            Some(ProcEvent::Exited(info)) => exit = Some(info),
            None => break,
        }
    }
    if !drained {
        let _ = tokio::time::timeout(DRAIN_GRACE, async {
            while let Some(ev) = events.recv().await {
                if matches!(ev, ProcEvent::Drained) {
                    break;
                }
            }
        })
        .await;
    }
    let info = exit.unwrap_or(ExitInfo {
        exit_code: None,
        signal: None,
    });
    bus.publish(
        Event::TerminalExited(TerminalExited {
            exit_code: info.exit_code,
            signal: info.signal.clone(),
            terminal_id: Some(id),
        })
        .to_frame(),
    );
    let _ = exit_tx.send(Some(info));
}

fn exit_json(e: &ExitInfo) -> Value {
    json!({ "exitCode": e.exit_code, "signal": e.signal })
}

fn invalid(message: &str) -> agent_client_protocol::Error {
    FsError {
        kind: ErrorKind::InvalidRequest,
        message: message.to_string(),
        hint: None,
    }
    .into_acp()
}

/// A `command` with no `args` that needs a shell: anything beyond a plain
/// program name or path.
fn is_shell_line(command: &str) -> bool {
    !command
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./+:@%,=".contains(c))
}

/// The `agentTerminals` part of an agent session's snapshot: each recent
/// agent terminal's output tail and exit status, kept in step with the bus.
#[derive(Debug, Default)]
pub struct AgentTerminalTails {
    /// By first appearance; the oldest are dropped beyond
    /// [`TAIL_TERMINALS`].
    order: Vec<String>,
    tails: BTreeMap<String, Tail>,
}

#[derive(Debug, Default)]
struct Tail {
    output: String,
    bytes_dropped: u64,
    exit: Option<Value>,
}

impl AgentTerminalTails {
    fn tail(&mut self, id: &str) -> &mut Tail {
        if !self.tails.contains_key(id) {
            self.order.push(id.to_string());
            if self.order.len() > TAIL_TERMINALS {
                let old = self.order.remove(0);
                self.tails.remove(&old);
            }
        }
        self.tails.entry(id.to_string()).or_default()
    }
}

impl SnapshotExtra for AgentTerminalTails {
    fn observe(&mut self, frame: &Frame) {
        let d = &frame.data;
        let Some(id) = d.get("terminalId").and_then(Value::as_str) else {
            return;
        };
        match frame.kind.as_str() {
            "terminal_output" => {
                let t = self.tail(id);
                t.output.push_str(d["data"].as_str().unwrap_or_default());
                if t.output.len() > TAIL_BYTES + TAIL_BYTES / 2 {
                    let mut cut = t.output.len() - TAIL_BYTES;
                    while !t.output.is_char_boundary(cut) {
                        cut += 1;
                    }
                    t.output.drain(..cut);
                    t.bytes_dropped += cut as u64;
                }
            }
            "terminal_exited" => {
                self.tail(id).exit =
                    Some(json!({ "exitCode": d["exitCode"], "signal": d["signal"] }));
            }
            _ => {}
        }
    }

    fn extend(&mut self, data: &mut Map<String, Value>) {
        let terminals: Map<String, Value> = self
            .tails
            .iter()
            .map(|(id, t)| {
                (
                    id.clone(),
                    json!({
                        "output": t.output,
                        "outputBytesDropped": t.bytes_dropped,
                        "exitStatus": t.exit,
                    }),
                )
            })
            .collect();
        data.insert("agentTerminals".into(), Value::Object(terminals));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_is_cut_from_the_start_on_a_char_boundary() {
        let mut c = Captured::default();
        c.push("abc", 5);
        assert_eq!((c.text.as_str(), c.truncated), ("abc", false));
        // "abc€€" is 9 bytes: the last 5 would start inside the first €.
        c.push("€€", 5);
        assert_eq!((c.text.as_str(), c.truncated), ("€", true));
        assert!(c.text.len() <= 5);
    }

    fn terminals(trusted: bool) -> (tempfile::TempDir, Arc<AgentTerminals>) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let roots = if trusted {
            vec![root.clone()]
        } else {
            Vec::new()
        };
        let policy = Arc::new(fs::FsPolicy::new(1 << 20, 1 << 20, roots));
        let bus = Bus::new(crate::bus::BusConfig::default());
        (dir, AgentTerminals::new(bus, &policy.workspace(root)))
    }

    fn error_kind(e: &agent_client_protocol::Error) -> String {
        e.data.as_ref().unwrap()["errorKind"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn commands_run_in_the_workspace_only() {
        let (_dir, t) = terminals(true);
        for cwd in ["/", "..", "sub/../../"] {
            let err = t
                .create(&json!({"sessionId": "s", "command": "pwd", "cwd": cwd}))
                .unwrap_err();
            assert_eq!(error_kind(&err), "path_outside_workspace", "{cwd}");
        }
        let created = t
            .create(&json!({"sessionId": "s", "command": "pwd; echo a  b", "cwd": "sub"}))
            .unwrap();
        let id = json!({"sessionId": "s", "terminalId": created["terminalId"]});
        let exit = t.wait_for_exit(&id).await.unwrap();
        assert_eq!(exit, json!({"exitCode": 0, "signal": null}));
        let out = t.output(&id).unwrap();
        assert!(
            out["output"].as_str().unwrap().ends_with("/sub\na b\n"),
            "{out}"
        );
        assert_eq!(out["exitStatus"]["exitCode"], 0);
        t.release(&id).await.unwrap();
        assert!(t.output(&id).is_err(), "released terminals are gone");

        let (_dir, untrusted) = terminals(false);
        let err = untrusted
            .create(&json!({"sessionId": "s", "command": "true"}))
            .unwrap_err();
        assert_eq!(error_kind(&err), "untrusted_workspace");
    }

    #[test]
    fn shell_lines_are_told_from_program_names() {
        assert!(!is_shell_line("ls"));
        assert!(!is_shell_line("/usr/bin/env"));
        assert!(is_shell_line("echo hi | cat"));
        assert!(is_shell_line("ls -la"));
        assert!(is_shell_line("a && b"));
    }
}
