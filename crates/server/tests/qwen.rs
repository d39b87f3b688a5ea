//! End to end with a real third-party ACP agent: `@qwen-code/qwen-code`
//! 0.15.10 run as `qwen --acp`, driven THROUGH the daemon over real
//! HTTP/SSE on 127.0.0.1:0. The model is the fake OpenAI-compatible endpoint
//! (`switchyard_tests::fake_llm`), so everything stays offline and
//! deterministic. Facts about qwen used here: docs/notes/qwen-acp.md.
//!
//! The qwen executable is `$SWITCHYARD_QWEN` when set, else whatever
//! `scripts/install-qwen.sh` (npm registry, idempotent, cached outside the
//! repo) prints. These tests never skip silently: when qwen cannot be
//! installed they fail and say why. Only `SWITCHYARD_SKIP_QWEN=1` skips them.
//!
//! Each agent process gets an EMPTY environment plus what qwen needs and a
//! fresh `HOME` (the daemon's agents inherit its environment and the config
//! has no per-agent env, so the agent command is `/usr/bin/env -i ... qwen
//! --acp`). That `HOME` also marks the test's qwen processes, so each test
//! can check that none outlives its session.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use switchyard_core::view::{MessageRole, TranscriptEntry};
use switchyard_core::{Frame, SessionView};
use switchyard_server::config::AgentSpec;
use switchyard_tests::fake_llm::{FakeLlm, Script};

/// The ONLY way to skip these tests.
const SKIP_ENV: &str = "SWITCHYARD_SKIP_QWEN";
/// A prebuilt qwen executable (skips the install script).
const QWEN_ENV: &str = "SWITCHYARD_QWEN";
/// qwen's `initialize` takes 2 s alone, up to 9 s next to cargo and other
/// qwen processes on 2 cores.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a process of an ended session may take to disappear.
const EXIT_DEADLINE: Duration = Duration::from_secs(5);

fn skipped(test: &str) -> bool {
    let skip = std::env::var(SKIP_ENV).is_ok_and(|v| v == "1");
    if skip {
        eprintln!("{test}: SKIPPED because {SKIP_ENV}=1");
    }
    skip
}

/// `$SWITCHYARD_QWEN`, else the last stdout line of the install script.
fn find_or_install_qwen() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(QWEN_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{QWEN_ENV}={} is not an executable file",
                path.display()
            ))
        };
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-qwen.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}):\n{stderr}{stdout}",
            script.display(),
            out.status
        ));
    }
    let path = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| format!("{} printed no path:\n{stderr}", script.display()))?;
    if !path.is_file() {
        return Err(format!(
            "{} printed {}, which does not exist:\n{stderr}",
            script.display(),
            path.display()
        ));
    }
    Ok(path)
}

/// The qwen executable; installed at most once per test binary.
async fn qwen_bin() -> PathBuf {
    static QWEN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = tokio::task::spawn_blocking(|| QWEN.get_or_init(find_or_install_qwen).clone())
        .await
        .expect("install task");
    found.unwrap_or_else(|e| {
        panic!(
            "qwen-code is required for these tests and could not be installed: {e}\n\
             (install it with scripts/install-qwen.sh, point {QWEN_ENV} at a `qwen` \
             executable, or set {SKIP_ENV}=1 to skip these tests)"
        )
    })
}

/// The processes (pid, command line) whose environment or arguments carry
/// `HOME=<home>`: the `env -i` wrapper before it execs, qwen (node) after,
/// and anything either started.
fn processes_of(home: &Path) -> Vec<(i32, String)> {
    let marker = format!("HOME={}", home.display());
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let read = |what: &str| std::fs::read(entry.path().join(what)).unwrap_or_default();
        let (cmdline, environ) = (read("cmdline"), read("environ"));
        let has = |bytes: &[u8]| bytes.split(|b| *b == 0).any(|w| w == marker.as_bytes());
        if has(&cmdline) || has(&environ) {
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmd.trim_end().to_string()));
        }
    }
    found
}

/// qwen's fresh `HOME`, which also marks this test's qwen processes.
struct Home(tempfile::TempDir);

impl Home {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Home {
    /// Safety net for a failed test: SIGKILL whatever this test's qwen left
    /// (by pid; a passing test has already checked there is nothing).
    fn drop(&mut self) {
        for (pid, _) in processes_of(self.path()) {
            // SAFETY: kill only sends a signal, to a process this test started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// One daemon whose default agent is qwen, talking to its own fake model.
struct Qwen {
    srv: TestServer,
    fake: FakeLlm,
    /// qwen's `HOME` (settings, transcripts, debug logs).
    home: Home,
    /// The session cwd, canonical (as the daemon and qwen see it).
    workspace: PathBuf,
}

impl Qwen {
    async fn start() -> Qwen {
        let qwen = qwen_bin().await;
        let fake = FakeLlm::start(Script::default()).await;
        let home = Home(
            tempfile::Builder::new()
                .prefix("switchyard-qwen-home-")
                .tempdir()
                .unwrap(),
        );
        // Required, not cosmetic: without usageStatisticsEnabled=false qwen
        // connects to a usage-statistics host during turns.
        std::fs::create_dir_all(home.path().join(".qwen")).unwrap();
        std::fs::write(
            home.path().join(".qwen/settings.json"),
            json!({
                "general": {"enableAutoUpdate": false},
                "privacy": {"usageStatisticsEnabled": false},
                "telemetry": {"enabled": false},
            })
            .to_string(),
        )
        .unwrap();
        // `cli.js` starts with `#!/usr/bin/env node`: node must be on PATH.
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let spec = AgentSpec {
            program: "/usr/bin/env".into(),
            args: vec![
                "-i".into(),
                format!("PATH={path}"),
                format!("HOME={}", home.path().display()),
                "OPENAI_API_KEY=sk-fake".into(),
                format!("OPENAI_BASE_URL={}", fake.base_url),
                format!("OPENAI_MODEL={}", fake.model),
                qwen.to_string_lossy().into_owned(),
                "--acp".into(),
            ],
        };
        let srv = spawn_test_server_with(move |config| {
            config.agents.insert("qwen".into(), spec);
            config.default_agent = "qwen".into();
            config.limits.init_timeout = INIT_TIMEOUT;
        })
        .await;
        let workspace = std::fs::canonicalize(srv.workspace.path()).unwrap();
        Qwen {
            srv,
            fake,
            home,
            workspace,
        }
    }

    /// Creates a qwen session in the workspace and subscribes to it:
    /// (sessionId, clientId, stream after its snapshot).
    async fn session(&self) -> (String, String, EventStream) {
        let (status, body) = self
            .srv
            .post("/session", None, json!({ "cwd": self.workspace }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "POST /session: {body}");
        assert_eq!(body["agent"], "qwen", "{body}");
        let sid = body["sessionId"].as_str().unwrap().to_string();
        let client = body["clientId"].as_str().unwrap().to_string();
        let mut stream = self.srv.events(&sid, &client, None).await;
        let snapshot = stream.next().await.expect("a snapshot");
        assert_eq!(snapshot.kind, "session_snapshot");
        // The view was seeded from qwen's session/new answer.
        let view = stream.view();
        assert_eq!(view.session.agent.as_deref(), Some("qwen"));
        assert_eq!(view.mode.current_mode_id.as_deref(), Some("default"));
        let model = view.model.current_model_id.clone().unwrap_or_default();
        assert!(model.contains("fake-model"), "current model {model:?}");
        (sid, client, stream)
    }

    /// Prompts with text; returns the promptId.
    async fn prompt(&self, sid: &str, client: &str, text: &str) -> String {
        let (status, body) = self.srv.prompt(sid, client, text).await;
        assert_eq!(status, StatusCode::ACCEPTED, "prompt {text:?}: {body}");
        body["promptId"].as_str().unwrap().to_string()
    }

    /// Closes the session through the daemon, checks that no process of
    /// this test's qwen remains, and shuts the daemon down.
    async fn close(self, sid: &str, client: &str, mut stream: EventStream) {
        let alive = processes_of(self.home.path());
        assert!(
            !alive.is_empty(),
            "qwen should be running before the close (is the HOME marker right?)"
        );
        let (status, body) = self.srv.close(sid, client).await;
        assert_eq!(status, StatusCode::OK, "DELETE /session/{sid}: {body}");
        assert_eq!(body["status"], "closed", "{body}");
        let closed = stream.until_kind("session_closed").await;
        assert_eq!(closed.data["closedBy"], client);

        // The close itself ends qwen's process group (qwen re-executes
        // itself, so there are two node processes): checked before the
        // daemon's shutdown, which would end them too.
        let deadline = tokio::time::Instant::now() + EXIT_DEADLINE;
        loop {
            let left = processes_of(self.home.path());
            if left.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "qwen processes outlived their closed session by {EXIT_DEADLINE:?} \
                 (before the close: {alive:?}): {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.srv.running.shutdown().await.unwrap();
        self.fake.shutdown().await;
    }
}

/// `sessionUpdate` of a `session_update` frame.
fn update_kind(f: &Frame) -> Option<&str> {
    if f.kind != "session_update" {
        return None;
    }
    f.data["update"]["sessionUpdate"].as_str()
}

/// Text of an `agent_message_chunk` frame (qwen ends every LLM round with
/// an empty one carrying usage).
fn chunk_text(f: &Frame) -> Option<&str> {
    if update_kind(f) != Some("agent_message_chunk") {
        return None;
    }
    f.data["update"]["content"]["text"].as_str()
}

/// The agent's text for one prompt, as the core reducer assembled it.
fn agent_text_of(view: &SessionView, prompt_id: &str) -> String {
    view.transcript
        .iter()
        .filter_map(|e| match e {
            TranscriptEntry::Message {
                role: MessageRole::Agent,
                text,
                prompt_id: Some(p),
                ..
            } if p == prompt_id => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn kinds(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match update_kind(f) {
            Some(u) => format!("session_update/{u}"),
            None => f.kind.clone(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen_text_turn_streams_chunks_and_ends_the_turn() {
    if skipped("qwen_text_turn_streams_chunks_and_ends_the_turn") {
        return;
    }
    let q = Qwen::start().await;
    let (sid, a, mut s) = q.session().await;

    let pid = q.prompt(&sid, &a, "say hello").await;
    let end = s
        .until(|f| f.kind == "turn_complete" || f.kind == "turn_error")
        .await;
    assert_eq!(end.kind, "turn_complete", "{}", end.to_json());
    assert_eq!(end.prompt_id.as_deref(), Some(pid.as_str()));
    assert_eq!(end.data["stopReason"], "end_turn");

    let texts: Vec<&str> = s
        .received
        .iter()
        .filter(|f| f.prompt_id.as_deref() == Some(pid.as_str()))
        .filter_map(chunk_text)
        .filter(|t| !t.is_empty())
        .collect();
    assert!(
        texts.len() >= 2,
        "the reply streams in several chunks: {texts:?} in {:?}",
        kinds(&s.received)
    );
    let view = s.view();
    let text = agent_text_of(&view, &pid);
    assert!(
        text.contains("Hello from the fake model"),
        "agent text {text:?}"
    );
    assert!(!view.turn.running);
    assert_eq!(view.turn.last_stop_reason.as_deref(), Some("end_turn"));
    // The daemon's own view agrees (qwen's available_commands_update may
    // come after the turn, so the daemon can be ahead of this stream).
    let (_, summary) = q.srv.get(&format!("/session/{sid}"), None).await;
    assert!(
        summary["lastEventId"].as_u64() >= Some(view.last_event_id),
        "{summary}"
    );
    assert_eq!(summary["status"], "running", "{summary}");
    assert_eq!(summary["view"]["turn"]["running"], false, "{summary}");
    assert_eq!(
        summary["view"]["turn"]["lastStopReason"], "end_turn",
        "{summary}"
    );
    // qwen really asked the fake model.
    let requests = q.fake.requests();
    assert!(!requests.is_empty());
    assert_eq!(requests[0]["model"], "fake-model");

    q.close(&sid, &a, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen_write_is_approved_through_the_daemon_and_the_file_is_written() {
    if skipped("qwen_write_is_approved_through_the_daemon_and_the_file_is_written") {
        return;
    }
    let q = Qwen::start().await;
    let (sid, a, mut s) = q.session().await;
    let target = q.workspace.join("notes.txt");
    let target_str = target.to_string_lossy().into_owned();

    let pid = q
        .prompt(&sid, &a, &format!("write the file {target_str} with hi"))
        .await;
    let req = s
        .until(|f| {
            matches!(
                f.kind.as_str(),
                "permission_request" | "turn_complete" | "turn_error"
            )
        })
        .await;
    assert_eq!(
        req.kind,
        "permission_request",
        "{}",
        kinds(&s.received).join(" ")
    );
    assert_eq!(req.prompt_id.as_deref(), Some(pid.as_str()));
    assert_eq!(req.originator_client_id.as_deref(), Some(a.as_str()));
    let rid = req.data["requestId"].as_str().unwrap().to_string();
    // qwen's tool call, passed through verbatim.
    let tool_call = &req.data["toolCall"];
    let call_id = tool_call["toolCallId"]
        .as_str()
        .unwrap_or_else(|| panic!("toolCall without toolCallId: {tool_call}"))
        .to_string();
    assert_eq!(tool_call["kind"], "edit", "{tool_call}");
    assert_eq!(
        tool_call["rawInput"]["file_path"], target_str,
        "{tool_call}"
    );
    assert_eq!(tool_call["rawInput"]["content"], "hi", "{tool_call}");
    // qwen's options, passed through; choose by kind, never by id.
    let options = req.data["options"].as_array().expect("options");
    let option_kinds: Vec<&str> = options.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert!(
        option_kinds.contains(&"allow_once") && option_kinds.contains(&"reject_once"),
        "{options:?}"
    );
    let allow = options
        .iter()
        .find(|o| o["kind"] == "allow_once")
        .and_then(|o| o["optionId"].as_str())
        .expect("an allow_once option")
        .to_string();
    // Not written before the vote.
    assert!(!target.exists(), "written before the vote");

    let (status, body) = q
        .srv
        .post(
            &format!("/session/{sid}/permission/{rid}"),
            Some(&a),
            json!({"outcome": {"outcome": "selected", "optionId": allow}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "vote: {body}");
    assert_eq!(body["voterClientId"], a.as_str());

    let resolved = s.until_kind("permission_resolved").await;
    assert_eq!(resolved.data["requestId"], rid.as_str());
    assert_eq!(resolved.data["voterClientId"], a.as_str());
    assert_eq!(resolved.data["outcome"]["outcome"], "selected");
    assert_eq!(resolved.data["outcome"]["optionId"], allow.as_str());

    let done = s
        .until(|f| {
            (update_kind(f) == Some("tool_call_update")
                && f.data["update"]["toolCallId"] == call_id.as_str()
                && matches!(
                    f.data["update"]["status"].as_str(),
                    Some("completed" | "failed")
                ))
                || f.kind == "turn_complete"
                || f.kind == "turn_error"
        })
        .await;
    assert_eq!(
        done.data["update"]["status"],
        "completed",
        "{}",
        done.to_json()
    );
    assert_eq!(done.prompt_id.as_deref(), Some(pid.as_str()));
    // Stamped by the daemon.
    assert_eq!(done.data["update"]["_meta"]["provenance"], "builtin");

    let end = s
        .until(|f| f.kind == "turn_complete" || f.kind == "turn_error")
        .await;
    assert_eq!(end.kind, "turn_complete", "{}", end.to_json());
    assert_eq!(end.prompt_id.as_deref(), Some(pid.as_str()));
    assert_eq!(end.data["stopReason"], "end_turn");

    let written = std::fs::read_to_string(&target)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", target.display()));
    assert_eq!(written, "hi");

    let view = s.view();
    assert!(view.permissions.pending.is_empty());
    let call = view
        .tool_calls
        .iter()
        .find(|c| c.tool_call_id == call_id)
        .unwrap_or_else(|| panic!("tool call {call_id} not in the view"));
    assert_eq!(call.status, "completed");
    let text = agent_text_of(&view, &pid);
    assert!(
        text.contains("The tool call finished."),
        "agent text {text:?}"
    );
    // Round 2 carried the tool result back to the model.
    let requests = q.fake.requests();
    assert!(requests.len() >= 2, "{} LLM requests", requests.len());
    let last = requests.last().unwrap()["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["role"], "tool", "{last}");

    q.close(&sid, &a, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen_cancelled_turn_ends_cancelled_and_the_session_still_works() {
    if skipped("qwen_cancelled_turn_ends_cancelled_and_the_session_still_works") {
        return;
    }
    let q = Qwen::start().await;
    let (sid, a, mut s) = q.session().await;

    let slow = q.prompt(&sid, &a, "go slow").await;
    let first = s
        .until(|f| {
            chunk_text(f).is_some_and(|t| !t.is_empty())
                || f.kind == "turn_complete"
                || f.kind == "turn_error"
        })
        .await;
    assert_eq!(
        update_kind(&first),
        Some("agent_message_chunk"),
        "{}",
        first.to_json()
    );
    assert_eq!(first.prompt_id.as_deref(), Some(slow.as_str()));
    assert!(
        chunk_text(&first).unwrap().starts_with("tick"),
        "{}",
        first.to_json()
    );

    let (status, body) = q
        .srv
        .post(&format!("/session/{sid}/cancel"), Some(&a), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "cancel: {body}");
    assert_eq!(body["cancelled"], true);
    let end = s
        .until(|f| f.kind == "turn_complete" || f.kind == "turn_error")
        .await;
    assert_eq!(end.kind, "turn_complete", "{}", end.to_json());
    assert_eq!(end.prompt_id.as_deref(), Some(slow.as_str()));
    assert_eq!(end.data["stopReason"], "cancelled");
    let cancelled_at = s.received.len();

    // qwen aborted its request to the model.
    let deadline = tokio::time::Instant::now() + EXIT_DEADLINE;
    while q.fake.disconnects() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "qwen did not abort the model stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The session still works.
    let hello = q.prompt(&sid, &a, "say hello").await;
    let end = s
        .until(|f| {
            (f.kind == "turn_complete" || f.kind == "turn_error")
                && f.prompt_id.as_deref() == Some(hello.as_str())
        })
        .await;
    assert_eq!(end.kind, "turn_complete", "{}", end.to_json());
    assert_eq!(end.data["stopReason"], "end_turn");
    // Nothing of the cancelled turn arrived after its end.
    let late: Vec<String> = s.received[cancelled_at..]
        .iter()
        .filter(|f| chunk_text(f).is_some_and(|t| t.contains("tick")))
        .map(Frame::to_json)
        .collect();
    assert!(late.is_empty(), "chunks after the cancel: {late:?}");

    let view = s.view();
    let text = agent_text_of(&view, &hello);
    assert!(
        text.contains("Hello from the fake model"),
        "agent text {text:?}"
    );
    assert!(!text.contains("tick"), "agent text {text:?}");
    assert!(agent_text_of(&view, &slow).starts_with("tick"));
    assert_eq!(view.turn.last_stop_reason.as_deref(), Some("end_turn"));

    q.close(&sid, &a, s).await;
}
