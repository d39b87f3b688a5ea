//! Session creation failures, closing, and daemon shutdown.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use switchyard_server::config::AgentSpec;

fn pid_alive(pid: i64) -> bool {
    // A zombie keeps its /proc entry, so this only turns false once the
    // process has been reaped.
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_start_failures_have_their_own_kinds() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/auth_agent.py");
    // The default (30 s) init timeout: a slow machine must not turn a
    // refusal into a timeout.
    let srv = spawn_test_server_with(|c| {
        c.agents.insert(
            "missing".into(),
            AgentSpec::parse("/nonexistent/agent --acp").unwrap(),
        );
        c.agents.insert(
            "locked".into(),
            AgentSpec::parse(&format!("python3 {fixture}")).unwrap(),
        );
    })
    .await;
    let cwd = srv.workspace.path();
    for (agent, status, kind) in [
        ("missing", StatusCode::BAD_GATEWAY, "missing_binary"),
        ("locked", StatusCode::BAD_GATEWAY, "auth_required"),
    ] {
        let (st, err) = srv
            .post("/session", None, json!({"agent": agent, "cwd": cwd}))
            .await;
        assert_eq!(
            (st, err["error"]["kind"].as_str()),
            (status, Some(kind)),
            "{agent}: {err}"
        );
        assert!(err["error"]["hint"].is_string(), "{agent} has a hint");
    }
    // An agent that never answers: its own daemon with a short timeout.
    let mute = spawn_test_server_with(|c| {
        c.limits.init_timeout = Duration::from_millis(300);
        c.agents
            .insert("mute".into(), AgentSpec::parse("sleep 30").unwrap());
    })
    .await;
    let (st, err) = mute
        .post("/session", None, json!({"agent": "mute", "cwd": cwd}))
        .await;
    assert_eq!(
        (st, err["error"]["kind"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("init_timeout")),
        "{err}"
    );
    mute.running.shutdown().await.unwrap();
    let (st, err) = srv.post("/session", None, json!({"agent": "nope"})).await;
    assert_eq!(
        (st, err["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (st, err) = srv
        .post("/session", None, json!({"cwd": "/definitely/not/here"}))
        .await;
    assert_eq!(
        (st, err["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (_, list) = srv.get("/session", None).await;
    assert_eq!(
        list["sessions"].as_array().unwrap().len(),
        0,
        "failed creations leave nothing"
    );
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_publishes_session_closed_once_and_ends_the_agent() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    let pid = summary["agentPid"].as_i64().unwrap();
    assert!(pid_alive(pid));
    let mut s = srv.events(&sid, &a, None).await;
    s.next().await;
    srv.prompt(&sid, &a, "/write x.txt never").await;
    s.until_kind("permission_request").await;
    let (st, _) = srv.close(&sid, &a).await;
    assert_eq!(st, StatusCode::OK);
    // The pending permission is cancelled before the session closes.
    let resolved = s.until_kind("permission_resolved").await;
    assert_eq!(resolved.data["outcome"]["outcome"], "cancelled");
    let closed = s.until_kind("session_closed").await;
    assert_eq!(closed.data["closedBy"], a.as_str());
    while let Some(f) = s.next().await {
        assert!(
            !matches!(f.kind.as_str(), "session_closed" | "session_died"),
            "{}",
            f.kind
        );
    }
    assert!(!pid_alive(pid), "agent {pid} is gone (and reaped)");
    assert!(!srv.workspace.path().join("x.txt").exists());
    let (st, err) = srv.close(&sid, &a).await;
    assert_eq!(st, StatusCode::CONFLICT, "{err}");
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_every_session_once_and_exits_zero() {
    // Without a journal a shutdown is every session's end; with one, the
    // sessions are suspended and restored (tests/restart.rs).
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "t0k3n",
            "--no-journal",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first.rsplit(' ').next().unwrap().to_string();
    let second = lines.next_line().await.unwrap().unwrap();
    assert!(second.contains("?token=t0k3n"), "{second}");
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{url}/session"))
        .bearer_auth("t0k3n")
        .json(&json!({"cwd": ws.path()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["sessionId"].as_str().unwrap();
    let cid = created["clientId"].as_str().unwrap();
    let pid = created["agentPid"].as_i64().unwrap();
    let resp = http
        .get(format!("{url}/session/{sid}/events"))
        .bearer_auth("t0k3n")
        .header("x-client-id", cid)
        .send()
        .await
        .unwrap();
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let body = resp.text().await.unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let died = body.matches("event: session_died").count();
    assert_eq!(died, 1, "exactly one session_died:\n{body}");
    assert!(body.contains("daemon_shutdown"));
    assert!(!pid_alive(pid), "agent {pid} was ended");
}
