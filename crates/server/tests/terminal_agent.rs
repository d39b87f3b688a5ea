//! Agent-run terminals: the demo agent's `/run` goes through ACP
//! `terminal/*`, the daemon runs the command on a PTY, and every client
//! watches its output live.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_core::Frame;

/// The output of agent terminal `id` in `frames`.
fn agent_output(frames: &[Frame], id: &str) -> String {
    frames
        .iter()
        .filter(|f| f.kind == "terminal_output" && f.data["terminalId"] == id)
        .filter_map(|f| f.data["data"].as_str())
        .collect()
}

/// The terminal id a tool call embeds, once one does.
fn embedded_terminal(f: &Frame) -> Option<String> {
    if f.kind != "session_update" {
        return None;
    }
    f.data["update"]["content"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "terminal")
        .and_then(|c| c["terminalId"].as_str())
        .map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_watch_the_command_an_agent_runs() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_session().await;
    let observer = srv.attach(&sid, "observer").await;
    let mut a = srv.events(&sid, &owner, None).await;
    let mut b = srv.events(&sid, &observer, None).await;
    a.until_kind("session_snapshot").await;
    b.until_kind("session_snapshot").await;

    let (st, body) = srv
        .prompt(
            &sid,
            &owner,
            "/run printf 'one\\ntwo\\n'; echo done-$((40+2)); pwd",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    // The agent waits for the command's exit before it ends the turn; a
    // fast command may exit (and its frames go out) before the agent has
    // embedded the terminal in its tool call, so no order between the two.
    a.until_kind("turn_complete").await;
    b.until_kind("turn_complete").await;
    let call = a
        .received
        .iter()
        .find(|f| embedded_terminal(f).is_some())
        .expect("a tool call embeds the terminal")
        .clone();
    let id = embedded_terminal(&call).unwrap();
    assert_eq!(call.data["update"]["status"], "in_progress");
    for s in [&a, &b] {
        let exits: Vec<_> = s
            .received
            .iter()
            .filter(|f| f.kind == "terminal_exited" && f.data["terminalId"] == id.as_str())
            .collect();
        assert_eq!(exits.len(), 1, "one terminal_exited per stream");
        assert_eq!(exits[0].data["exitCode"], 0);
    }
    let expected = format!(
        "one\ntwo\ndone-42\n{}\n",
        std::fs::canonicalize(srv.workspace.path())
            .unwrap()
            .display()
    );
    assert_eq!(
        agent_output(&a.received, &id),
        expected,
        "plain output, no echo"
    );
    assert_eq!(agent_output(&b.received, &id), expected);
    // Output came before the exit, on both streams in the same frames.
    let (live_a, live_b) = common_live(&a.received, &b.received);
    assert_eq!(live_a, live_b);

    // The agent got the output back and reported it.
    let view = a.view();
    let tc = view
        .tool_calls
        .iter()
        .find(|t| t.raw_output.is_some())
        .expect("the tool call was completed with the output");
    assert_eq!(tc.status, "completed");
    assert_eq!(tc.raw_output.as_ref().unwrap()["exitCode"], 0);
    assert_eq!(tc.raw_output.as_ref().unwrap()["truncated"], false);
    assert!(
        serde_json::to_string(&tc.content)
            .unwrap()
            .contains(&serde_json::to_string(&expected).unwrap()),
        "{:?}",
        tc.content
    );
    assert!(
        agent_text(&view).contains("exited with code 0"),
        "{}",
        agent_text(&view)
    );
    // The session's own terminal state is untouched by an agent terminal.
    assert!(view.terminal.is_none());

    // A late joiner gets the terminal's tail and exit in the snapshot.
    let late = srv.attach(&sid, "observer").await;
    let mut c = srv.events(&sid, &late, None).await;
    let snap = c.until_kind("session_snapshot").await;
    let t = &snap.data["agentTerminals"][&id];
    assert_eq!(
        t["output"],
        expected.as_str(),
        "{}",
        snap.data["agentTerminals"]
    );
    assert_eq!(t["exitStatus"]["exitCode"], 0);
    assert!(snap.data["view"]["terminal"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_beyond_the_limit_is_cut_from_the_start() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_session().await;
    let mut a = srv.events(&sid, &owner, None).await;
    a.keep = true;
    // 1.5 MB, over the demo agent's 1 MiB outputByteLimit, with a
    // multi-byte character at every position so the cut has to find a
    // boundary.
    srv.prompt(
        &sid,
        &owner,
        "/run i=0; while [ $i -lt 3000 ]; do printf '%0500d€\\n' $i; i=$((i+1)); done; echo tail-end",
    )
    .await;
    a.until_kind("turn_complete").await;
    let view = a.view();
    let tc = view
        .tool_calls
        .iter()
        .find(|t| t.raw_output.is_some())
        .expect("completed tool call");
    let raw = tc.raw_output.as_ref().unwrap();
    assert_eq!(raw["truncated"], true, "{raw}");
    assert_eq!(raw["exitCode"], 0);
    let text = tc
        .content
        .iter()
        .find_map(|c| c["content"]["text"].as_str().or(c["text"].as_str()))
        .expect("output text");
    assert!(
        text.len() <= 1 << 20 && text.len() > (1 << 20) - 4,
        "{}",
        text.len()
    );
    assert!(text.ends_with("tail-end\n"));
    // Cut from the start: the last line written is whole, the first kept
    // line is a partial one, and no line was lost in between.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[lines.len() - 2].len(), 500 + '€'.len_utf8());
    assert!(lines[0].len() <= 503);
}

fn sleeps_with(arg: &str) -> usize {
    let wanted = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted.as_bytes()))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_turn_kills_the_agents_command() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_session().await;
    let mut a = srv.events(&sid, &owner, None).await;
    srv.prompt(&sid, &owner, "/run sleep 4242; echo never")
        .await;
    let call = a.until(|f| embedded_terminal(f).is_some()).await;
    let id = embedded_terminal(&call).unwrap();
    assert_eq!(sleeps_with("4242"), 1);
    let (st, body) = srv
        .post(&format!("/session/{sid}/cancel"), Some(&owner), json!({}))
        .await;
    assert_eq!(
        (st, body["cancelled"].clone()),
        (StatusCode::OK, Value::Bool(true))
    );
    let exited = a
        .until(|f| f.kind == "terminal_exited" && f.data["terminalId"] == id.as_str())
        .await;
    assert_eq!(exited.data["signal"], "SIGKILL", "{}", exited.data);
    assert!(!agent_output(&a.received, &id).contains("never"));
    // Killed means gone (reaped), not a zombie.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sleeps_with("4242") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sleep 4242 survived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn closing_the_session_ends_the_agents_command_before_saying_closed() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_session().await;
    let mut a = srv.events(&sid, &owner, None).await;
    srv.prompt(&sid, &owner, "/run sleep 4343; echo never")
        .await;
    let call = a.until(|f| embedded_terminal(f).is_some()).await;
    let id = embedded_terminal(&call).unwrap();
    assert_eq!(sleeps_with("4343"), 1);
    let (st, _) = srv.close(&sid, &owner).await;
    assert!(st.is_success(), "{st}");
    a.until_kind("session_closed").await;
    // The command's exit is part of the session's story: told before the
    // session says it is closed, never after.
    let exited = a
        .received
        .iter()
        .position(|f| f.kind == "terminal_exited" && f.data["terminalId"] == id.as_str());
    let closed = a.received.iter().position(|f| f.kind == "session_closed");
    assert!(
        exited.is_some() && exited < closed,
        "terminal_exited at {exited:?}, session_closed at {closed:?}"
    );
    assert_eq!(sleeps_with("4343"), 0, "sleep 4343 outlived its session");
}
