//! `spawn_test_server`: a real daemon on 127.0.0.1:0 with the demo agent,
//! plus an SSE reader built on core's parser.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_core::sse::SseParser;
use switchyard_core::{Frame, SessionView, reduce};
use switchyard_server::app::{self, Running};
use switchyard_server::config::{AgentSpec, Config};

/// Upper bound for waiting on an event that must come; a failure deadline,
/// never a synchronisation sleep.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct TestServer {
    pub running: Running,
    /// Requests to it (`srv.post(…)`, `srv.http`, … through `Deref`).
    pub api: Api,
    pub dir: tempfile::TempDir,
    pub workspace: tempfile::TempDir,
}

impl std::ops::Deref for TestServer {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// HTTP to one daemon, with its token: what the in-process server and the
/// daemon process share.
pub struct Api {
    pub http: reqwest::Client,
    /// `http://127.0.0.1:port`.
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: String, token: String) -> Api {
        Api {
            http: reqwest::Client::new(),
            base,
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn req_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        client: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(c) = client {
            r = r.header("x-client-id", c);
        }
        r
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        client: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send_as(&self.token, method, path, client, body).await
    }

    /// Like [`send`](Self::send), with another token than the daemon's
    /// primary one.
    pub async fn send_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        client: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req_as(token, method, path, client);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn post(&self, path: &str, client: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, client, Some(body))
            .await
    }

    pub async fn get(&self, path: &str, client: Option<&str>) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, client, None).await
    }

    pub async fn prompt(&self, session: &str, client: &str, text: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/session/{session}/prompt"),
            Some(client),
            json!({ "prompt": [{ "type": "text", "text": text }] }),
        )
        .await
    }

    /// `POST /session` with `body`, which must succeed: (sessionId, clientId).
    pub async fn create(&self, body: Value) -> (String, String) {
        let (status, body) = self.post("/session", None, body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["sessionId"].as_str().unwrap().to_string(),
            body["clientId"].as_str().unwrap().to_string(),
        )
    }

    /// Opens `client`'s event stream, resuming after `last_event_id`.
    pub async fn events(
        &self,
        session: &str,
        client: &str,
        last_event_id: Option<u64>,
    ) -> EventStream {
        EventStream::from_response(self.events_raw(session, client, last_event_id, None).await)
    }

    /// Like [`events`](Self::events), with another token.
    pub async fn events_as(
        &self,
        token: &str,
        session: &str,
        client: &str,
        last_event_id: Option<u64>,
    ) -> EventStream {
        EventStream::from_response(
            self.events_raw_as(token, session, client, last_event_id, None)
                .await,
        )
    }

    /// The stream's raw response, with `Last-Event-ID` and epoch if given.
    pub async fn events_raw(
        &self,
        session: &str,
        client: &str,
        last_event_id: Option<u64>,
        epoch: Option<&str>,
    ) -> reqwest::Response {
        self.events_raw_as(&self.token, session, client, last_event_id, epoch)
            .await
    }

    async fn events_raw_as(
        &self,
        token: &str,
        session: &str,
        client: &str,
        last_event_id: Option<u64>,
        epoch: Option<&str>,
    ) -> reqwest::Response {
        let mut r = self.req_as(
            token,
            reqwest::Method::GET,
            &format!("/session/{session}/events"),
            Some(client),
        );
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id.to_string());
        }
        if let Some(e) = epoch {
            r = r.header("x-switchyard-epoch", e);
        }
        r.send().await.unwrap()
    }
}

pub fn demo_agent() -> AgentSpec {
    AgentSpec {
        program: env!("CARGO_BIN_EXE_switchyard").into(),
        args: vec!["demo-agent".into()],
    }
}

pub async fn spawn_test_server_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = Config::new(addr, dir.path().to_path_buf());
    config.agents.insert("demo".into(), demo_agent());
    // Agents may write in the test workspace (the default trusted root is
    // the daemon's working directory, which a temp dir is not under).
    config.trusted_roots = vec![workspace.path().to_path_buf()];
    tweak(&mut config);
    let running = app::start(config).await.unwrap();
    TestServer {
        api: Api::new(running.url(), running.token.clone()),
        running,
        dir,
        workspace,
    }
}

pub async fn spawn_test_server() -> TestServer {
    spawn_test_server_with(|_| {}).await
}

impl TestServer {
    /// `DELETE /session/{id}` as `client`.
    pub async fn close(&self, session: &str, client: &str) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::DELETE,
            &format!("/session/{session}"),
            Some(client),
            None,
        )
        .await
    }

    /// Creates a demo-agent session in the test workspace: (sessionId, clientId).
    pub async fn create_session(&self) -> (String, String) {
        self.create(json!({ "cwd": self.workspace.path() })).await
    }

    /// Creates a terminal session (`kind` is added): (sessionId, clientId).
    pub async fn create_terminal(&self, mut body: Value) -> (String, String) {
        body["kind"] = "terminal".into();
        if body.get("cwd").is_none() {
            body["cwd"] = json!(self.workspace.path());
        }
        self.create(body).await
    }

    /// `POST /session/{id}/input` as `client`.
    pub async fn input(&self, session: &str, client: &str, data: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/session/{session}/input"),
            Some(client),
            json!({ "data": data }),
        )
        .await
    }

    pub async fn attach(&self, session: &str, role: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/session/{session}/attach"),
                None,
                json!({ "role": role }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["clientId"].as_str().unwrap().to_string()
    }
}

impl EventStream {
    /// Wraps a `GET /session/{id}/events` response (which must be 200).
    pub fn from_response(resp: reqwest::Response) -> EventStream {
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        assert_eq!(resp.headers()["x-accel-buffering"], "no");
        EventStream {
            body: Box::pin(resp.bytes_stream()),
            parser: SseParser::new(),
            ready: VecDeque::new(),
            received: Vec::new(),
            raw: Vec::new(),
            keep: true,
        }
    }
}

type Body = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Frames from one SSE connection.
pub struct EventStream {
    body: Body,
    parser: SseParser,
    ready: VecDeque<(Frame, String)>,
    /// Every frame received so far, in order (unless `keep` is off).
    pub received: Vec<Frame>,
    /// The `data:` line of every frame received so far, byte for byte
    /// (unless `keep` is off).
    pub raw: Vec<String>,
    /// Keep frames in `received` and `raw` (off for floods).
    pub keep: bool,
}

impl EventStream {
    /// The next frame; None at end of stream.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some((f, raw)) = self.ready.pop_front() {
                if self.keep {
                    self.received.push(f.clone());
                    self.raw.push(raw);
                }
                return Some(f);
            }
            let chunk = tokio::time::timeout(DEADLINE, self.body.next())
                .await
                .expect("no frame within the deadline")?;
            let chunk = chunk.ok()?;
            let mut out = Vec::new();
            self.parser.feed(&chunk, &mut out).unwrap();
            for ev in out {
                let f = Frame::from_json(&ev.data).expect("daemon sent a valid frame");
                assert_eq!(ev.event, f.kind, "event: line equals type");
                if let Some(id) = f.id {
                    assert_eq!(ev.id, id.to_string(), "id: line equals id");
                }
                assert!(
                    f.meta.server_timestamp.is_some(),
                    "serverTimestamp on {}",
                    f.kind
                );
                self.ready.push_back((f, ev.data));
            }
        }
    }

    /// Reads until a frame matching `pred` arrives; returns it.
    pub async fn until(&mut self, mut pred: impl FnMut(&Frame) -> bool) -> Frame {
        // Heartbeats keep `next` from ever timing out, so the whole wait
        // has a deadline of its own: a test fails, it never hangs.
        let mut seen = Vec::new();
        let found = tokio::time::timeout(DEADLINE, async {
            loop {
                let f = self.next().await.expect("stream ended early");
                if pred(&f) {
                    return f;
                }
                seen.push(format!("{} {}", f.kind, f.data));
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no matching frame within {DEADLINE:?}; saw {seen:?}"))
    }

    /// Reads raw chunks until at least `n` heartbeat comments have arrived.
    pub async fn await_heartbeats(&mut self, n: u64) {
        while self.parser.comments_seen() < n {
            let chunk = tokio::time::timeout(DEADLINE, self.body.next())
                .await
                .expect("no heartbeat within the deadline")
                .expect("stream ended")
                .unwrap();
            let mut out = Vec::new();
            self.parser.feed(&chunk, &mut out).unwrap();
            for ev in out {
                self.ready
                    .push_back((Frame::from_json(&ev.data).expect("valid frame"), ev.data));
            }
        }
    }

    /// The `retry:` value the daemon sent, if any.
    pub fn retry(&self) -> Option<u64> {
        self.parser.retry()
    }

    /// Reads until the session's own terminal output seen so far on this
    /// stream (from `from` on) contains `needle`; returns that output.
    pub async fn until_output(&mut self, needle: &str) -> String {
        let mut text = String::new();
        let found = tokio::time::timeout(DEADLINE, async {
            loop {
                let f = self.next().await.expect("stream ended early");
                if f.kind == "terminal_output" && f.data.get("terminalId").is_none() {
                    text.push_str(f.data["data"].as_str().unwrap_or_default());
                    if text.contains(needle) {
                        return;
                    }
                }
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "no {needle:?} within {DEADLINE:?}; output: {text:?}"
        );
        text
    }

    /// Reads until a frame of `kind`.
    pub async fn until_kind(&mut self, kind: &str) -> Frame {
        self.until(|f| f.kind == kind).await
    }

    /// The view these frames reduce to.
    pub fn view(&self) -> SessionView {
        let mut v = SessionView::new();
        for f in &self.received {
            reduce(&mut v, f);
        }
        v
    }
}

/// The frames two clients both received live: those after the later of
/// their two snapshots. (The demo agent's `available_commands_update`
/// arrives on its own schedule and may land in one client's snapshot and in
/// the other's live frames.)
pub fn common_live(a: &[Frame], b: &[Frame]) -> (Vec<String>, Vec<String>) {
    let snap_id = |fs: &[Frame]| {
        fs.iter()
            .find(|f| f.kind == "session_snapshot")
            .and_then(|f| f.data["lastEventId"].as_u64())
            .unwrap_or(0)
    };
    let from = snap_id(a).max(snap_id(b));
    let live = |fs: &[Frame]| -> Vec<String> {
        fs.iter()
            .filter(|f| f.id.is_some_and(|id| id > from))
            .map(Frame::to_json)
            .collect()
    };
    (live(a), live(b))
}

/// The session's own terminal output in `frames`, concatenated.
pub fn terminal_text(frames: &[Frame]) -> String {
    frames
        .iter()
        .filter(|f| f.kind == "terminal_output" && f.data.get("terminalId").is_none())
        .filter_map(|f| f.data["data"].as_str())
        .collect()
}

/// The agent's text replies in a view, concatenated.
pub fn agent_text(v: &SessionView) -> String {
    v.transcript
        .iter()
        .filter_map(|e| match e {
            switchyard_core::view::TranscriptEntry::Message {
                role: switchyard_core::view::MessageRole::Agent,
                text,
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The daemon binary as its own process, for what an in-process server
/// cannot do: `kill -9`, restart on the same data dir (and port), start-up
/// failures.
pub struct DaemonProc {
    child: Option<tokio::process::Child>,
    pub addr: SocketAddr,
    /// Requests to it (`d.post(…)`, `d.token`, … through `Deref`).
    pub api: Api,
    pub log: std::path::PathBuf,
}

impl std::ops::Deref for DaemonProc {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// How to start a [`DaemonProc`].
#[derive(Clone)]
pub struct DaemonOpts {
    pub data_dir: std::path::PathBuf,
    pub workspace: std::path::PathBuf,
    /// `127.0.0.1:0` or a port to rebind.
    pub listen: String,
    pub token: String,
    pub extra: Vec<String>,
    /// Soft and hard `RLIMIT_FSIZE` (bytes) for the daemon.
    pub file_size_limit: Option<u64>,
}

impl DaemonOpts {
    pub fn new(data_dir: &std::path::Path, workspace: &std::path::Path) -> DaemonOpts {
        DaemonOpts {
            data_dir: data_dir.to_path_buf(),
            workspace: workspace.to_path_buf(),
            listen: "127.0.0.1:0".into(),
            token: "test-token-0123456789".into(),
            extra: Vec::new(),
            file_size_limit: None,
        }
    }

    fn command(&self, log: &std::path::Path) -> tokio::process::Command {
        let bin = env!("CARGO_BIN_EXE_switchyard");
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&self.listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--token")
            .arg(&self.token)
            .arg("--trusted-root")
            .arg(&self.workspace)
            .arg("--agent")
            .arg(format!("noload={bin} demo-agent --no-load-session"))
            .args(&self.extra)
            .env(
                "SWITCHYARD_DEMO_AGENT_STATE_DIR",
                self.data_dir.join("demo-agent"),
            )
            .env("SWITCHYARD_LOG", "switchyard_server=debug")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true);
        if let Some(limit) = self.file_size_limit {
            // SAFETY: setrlimit in the child before exec; no allocation.
            unsafe {
                cmd.pre_exec(move || {
                    let r = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd
    }

    fn next_log(&self) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.data_dir.join(format!("daemon-{n}.log"))
    }

    /// Starts the daemon and waits until it listens.
    pub async fn start(&self) -> DaemonProc {
        use tokio::io::AsyncBufReadExt;
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let log = self.next_log();
        let mut child = self.command(&log).spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("daemon did not start in time")
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "daemon exited before listening:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let url = first.rsplit(' ').next().unwrap();
        let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        // Keep reading stdout so the daemon never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        DaemonProc {
            child: Some(child),
            addr,
            api: Api::new(format!("http://{addr}"), self.token.clone()),
            log,
        }
    }

    /// Runs the daemon expecting it to refuse to start: (exit status, log).
    pub async fn start_fails(&self) -> (std::process::ExitStatus, String) {
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let log = self.next_log();
        let mut child = self.command(&log).spawn().unwrap();
        let status = tokio::time::timeout(DEADLINE, child.wait())
            .await
            .expect("the daemon should have exited")
            .unwrap();
        (status, std::fs::read_to_string(&log).unwrap_or_default())
    }
}

impl DaemonProc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().and_then(|c| c.id()).unwrap()
    }

    /// `kill -9` and reap.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
        tokio::time::timeout(DEADLINE, child.wait())
            .await
            .expect("daemon did not stop")
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates a session of `agent` in `cwd`: (sessionId, clientId).
    pub async fn create_session(&self, agent: &str, cwd: &std::path::Path) -> (String, String) {
        self.create(json!({ "agent": agent, "cwd": cwd })).await
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
