//! Terminal sessions end to end: a real shell on a real PTY, driven and
//! watched over real HTTP + SSE.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_core::Frame;

/// A plain `sh` with a fixed prompt: no user rc files, no surprises.
fn shell() -> Value {
    json!({ "command": "/bin/sh", "env": { "PS1": "$ ", "ENV": "" } })
}

fn kind(v: &Value) -> Option<&str> {
    v["error"]["kind"].as_str()
}

/// A vt100 screen fed with `text` (what a client's terminal would show).
fn screen_of(cols: u16, rows: u16, text: &str) -> String {
    let nz = |v: u16| std::num::NonZeroU16::new(v).unwrap();
    let mut p = vt100::Parser::new(nz(rows), nz(cols), 0);
    p.process(text.as_bytes());
    p.screen().contents()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_types_and_every_client_sees_the_same_bytes() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_terminal(shell()).await;
    let observer = srv.attach(&sid, "observer").await;
    let mut owner_events = srv.events(&sid, &owner, None).await;
    let mut observer_events = srv.events(&sid, &observer, None).await;
    let snap = owner_events.until_kind("session_snapshot").await;
    assert_eq!(snap.data["view"]["session"]["kind"], "terminal");
    assert_eq!(snap.data["view"]["presence"]["ownerClientId"], json!(owner));
    assert!(snap.data["screen"]["formatted"].is_string());

    let (st, body) = srv.input(&sid, &owner, "echo hello-$((6*7))\r").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    owner_events.until_output("hello-42\r\n").await;
    observer_events.until_output("hello-42\r\n").await;
    // A marker both will see after everything above.
    srv.input(&sid, &owner, "echo done-$((1+1))\r").await;
    owner_events.until_output("done-2\r\n").await;
    observer_events.until_output("done-2\r\n").await;
    let (a, b) = common_live(&owner_events.received, &observer_events.received);
    assert!(!a.is_empty());
    assert_eq!(a, b, "both clients got the same frames");

    // The summary says what runs and who owns it.
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["kind"], "terminal");
    assert_eq!(summary["terminal"]["command"], "/bin/sh");
    assert_eq!(summary["terminal"]["phase"], "running");
    assert_eq!(summary["terminal"]["ownerClientId"], json!(owner));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_are_refused_and_control_needs_the_owner() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_terminal(shell()).await;
    let observer = srv.attach(&sid, "observer").await;
    let other = srv.attach(&sid, "control").await;
    let path = |p: &str| format!("/session/{sid}/{p}");
    let mutations = [
        ("input", json!({"data": "x"})),
        ("resize", json!({"cols": 100, "rows": 30})),
        ("signal", json!({"signal": "INT"})),
    ];
    for (route, body) in &mutations {
        let (st, err) = srv.post(&path(route), Some(&observer), body.clone()).await;
        assert_eq!(
            (st, kind(&err)),
            (StatusCode::FORBIDDEN, Some("role_forbidden")),
            "{route}"
        );
        // Worded for a terminal, not for an agent session.
        let hint = err["error"]["hint"].as_str().unwrap_or_default();
        assert!(hint.contains("type") && !hint.contains("prompt"), "{hint}");
        let (st, err) = srv.post(&path(route), Some(&other), body.clone()).await;
        assert_eq!(
            (st, kind(&err)),
            (StatusCode::CONFLICT, Some("owner_required")),
            "{route}: {err}"
        );
        assert!(err["error"]["hint"].is_string());
    }
    for (route, body) in [
        ("clear-scrollback", json!({})),
        ("owner", json!({"action": "claim"})),
    ] {
        let (st, err) = srv.post(&path(route), Some(&observer), body).await;
        assert_eq!(
            (st, kind(&err)),
            (StatusCode::FORBIDDEN, Some("role_forbidden")),
            "{route}"
        );
    }
    let (st, err) = srv.close(&sid, &observer).await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::FORBIDDEN, Some("role_forbidden"))
    );

    // Bad input is refused whole.
    for (route, body) in [
        ("signal", json!({"signal": "USR1"})),
        ("resize", json!({"cols": 0, "rows": 30})),
        ("resize", json!({"cols": 5000, "rows": 30})),
        ("owner", json!({"action": "steal"})),
        ("input", json!({"text": "x"})),
    ] {
        let (st, err) = srv.post(&path(route), Some(&owner), body.clone()).await;
        assert_eq!(
            (st, kind(&err)),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{route} {body}"
        );
    }
    // Agent routes on a terminal, terminal routes on an agent.
    let (st, err) = srv.prompt(&sid, &owner, "hi").await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (agent_sid, agent_client) = srv.create_session().await;
    let (st, err) = srv
        .post(
            &format!("/session/{agent_sid}/input"),
            Some(&agent_client),
            json!({"data": "x"}),
        )
        .await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{err}"
    );
    // Unknown kinds and misplaced fields.
    let (st, err) = srv.post("/session", None, json!({"kind": "vm"})).await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (st, err) = srv.post("/session", None, json!({"cols": 80})).await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (st, err) = srv
        .post(
            "/session",
            None,
            json!({"kind": "terminal", "command": "/no/such/program"}),
        )
        .await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::BAD_GATEWAY, Some("missing_binary")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_is_claimed_released_and_handed_over() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_terminal(shell()).await;
    let b = srv.attach(&sid, "control").await;
    let mut events = srv.events(&sid, &a, None).await;
    events.until_kind("session_snapshot").await;
    let owner = |who: &str| json!({"action": who});
    let path = format!("/session/{sid}/owner");

    let (st, err) = srv.post(&path, Some(&b), owner("claim")).await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::CONFLICT, Some("owner_required"))
    );
    let (st, err) = srv.post(&path, Some(&b), owner("release")).await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::CONFLICT, Some("owner_required"))
    );

    let (st, body) = srv.post(&path, Some(&a), owner("release")).await;
    assert_eq!(
        (st, body["ownerClientId"].clone()),
        (StatusCode::OK, Value::Null)
    );
    let f = events.until_kind("owner_changed").await;
    assert_eq!(f.data["ownerClientId"], Value::Null);
    let (st, err) = srv.input(&sid, &a, "x").await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::CONFLICT, Some("owner_required"))
    );

    let (st, body) = srv.post(&path, Some(&b), owner("claim")).await;
    assert_eq!(
        (st, body["ownerClientId"].clone()),
        (StatusCode::OK, json!(b))
    );
    let f = events.until_kind("owner_changed").await;
    assert_eq!(f.data["ownerClientId"], json!(b));
    assert_eq!(f.originator_client_id, None);
    // Claiming what one owns is a no-op, not a second event.
    let (st, _) = srv.post(&path, Some(&b), owner("claim")).await;
    assert_eq!(st, StatusCode::OK);

    let (st, _) = srv.input(&sid, &b, "echo from-b-$((2+3))\r").await;
    assert_eq!(st, StatusCode::OK);
    events.until_output("from-b-5").await;
    let (st, err) = srv.input(&sid, &a, "x").await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::CONFLICT, Some("owner_required"))
    );

    // The owner leaving frees the terminal.
    let (st, _) = srv
        .post(&format!("/session/{sid}/detach"), Some(&b), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let f = events.until_kind("owner_changed").await;
    assert_eq!(f.data["ownerClientId"], Value::Null);
    let changes: Vec<&Frame> = events
        .received
        .iter()
        .filter(|f| f.kind == "owner_changed")
        .collect();
    assert_eq!(changes.len(), 3, "release, claim, departure");
    let (st, _) = srv.post(&path, Some(&a), owner("claim")).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_without_a_stream_past_the_grace_period_loses_the_terminal() {
    let srv =
        spawn_test_server_with(|c| c.limits.presence_grace = Duration::from_millis(300)).await;
    let (sid, creator) = srv.create_terminal(shell()).await;
    let watcher = srv.attach(&sid, "control").await;
    let mut events = srv.events(&sid, &watcher, None).await;
    // The creator never opens a stream.
    let left = events.until_kind("client_left").await;
    assert_eq!(left.data["clientId"], json!(creator));
    let f = events.until_kind("owner_changed").await;
    assert_eq!(f.data["ownerClientId"], Value::Null);
    let (st, _) = srv
        .post(
            &format!("/session/{sid}/owner"),
            Some(&watcher),
            json!({"action": "claim"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_reaches_the_program_and_only_the_owner_sets_the_size() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_terminal(shell()).await;
    let mut events = srv.events(&sid, &owner, None).await;
    srv.input(&sid, &owner, "stty size\r").await;
    events.until_output("24 80\r\n").await;
    let (st, body) = srv
        .post(
            &format!("/session/{sid}/resize"),
            Some(&owner),
            json!({"cols": 100, "rows": 30}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let f = events.until_kind("terminal_resized").await;
    assert_eq!(
        (f.data["cols"].clone(), f.data["rows"].clone()),
        (json!(100), json!(30))
    );
    assert_eq!(f.originator_client_id.as_deref(), Some(owner.as_str()));
    srv.input(&sid, &owner, "stty size\r").await;
    events.until_output("30 100\r\n").await;
    let view = events.view();
    let t = view.terminal.unwrap();
    assert_eq!((t.cols, t.rows), (100, 30));
    // A late joiner's screen has the new size.
    let late = srv.attach(&sid, "observer").await;
    let mut late_events = srv.events(&sid, &late, None).await;
    let snap = late_events.until_kind("session_snapshot").await;
    assert_eq!(
        (
            snap.data["screen"]["cols"].clone(),
            snap.data["screen"]["rows"].clone()
        ),
        (json!(100), json!(30))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_byte_characters_split_across_writes_arrive_whole() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_terminal(shell()).await;
    let mut events = srv.events(&sid, &owner, None).await;
    // The euro sign's three bytes in two writes, well apart in time, then
    // a four-byte emoji split 1 + 3, then an invalid byte.
    srv.input(
        &sid,
        &owner,
        "printf 'A\\342\\202'; sleep 0.3; printf '\\254B\\360'; sleep 0.3; printf '\\237\\230\\200C\\377D\\n'\r",
    )
    .await;
    let text = events.until_output("D\r\n").await;
    assert!(text.contains("A€B😀C\u{FFFD}D\r\n"), "{text:?}");
    assert_eq!(text.matches('\u{FFFD}').count(), 1, "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_sees_the_current_screen() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_terminal(shell()).await;
    let mut events = srv.events(&sid, &owner, None).await;
    srv.input(&sid, &owner, "echo old-stuff\r").await;
    events.until_output("old-stuff\r\n").await;
    srv.input(&sid, &owner, "clear; echo ready\r").await;
    events.until_output("ready\r\n$ ").await;

    let late = srv.attach(&sid, "observer").await;
    let mut late_events = srv.events(&sid, &late, None).await;
    let snap = late_events.until_kind("session_snapshot").await;
    let screen = &snap.data["screen"];
    assert_eq!(
        (screen["cols"].clone(), screen["rows"].clone()),
        (json!(80), json!(24))
    );
    let drawn = screen_of(80, 24, screen["formatted"].as_str().unwrap());
    let lines: Vec<&str> = drawn.lines().collect();
    assert_eq!(lines.first().copied(), Some("ready"), "{drawn:?}");
    assert_eq!(lines.get(1).map(|l| l.trim_end()), Some("$"), "{drawn:?}");
    assert!(!drawn.contains("old-"), "{drawn:?}");
    // The snapshot is small: the screen, not a replay of everything.
    assert!(snap.to_json().len() < 256 * 1024);

    // What scrolls off the top is the scrollback, as plain lines.
    srv.input(
        &sid,
        &owner,
        "for i in $(seq 1 60); do echo line-$i; done\r",
    )
    .await;
    events.until_output("line-60\r\n").await;
    let mut later = srv.events(&sid, &late, None).await;
    let snap = later.until_kind("session_snapshot").await;
    let scrollback = snap.data["screen"]["scrollback"].as_str().unwrap();
    assert!(
        scrollback.contains("line-10\r\nline-11\r\n"),
        "{scrollback:?}"
    );
    assert!(!scrollback.contains('\x1b'));

    // clear-scrollback empties it for the next joiner.
    let (st, _) = srv
        .post(
            &format!("/session/{sid}/clear-scrollback"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    events.until_kind("scrollback_cleared").await;
    let mut again = srv.events(&sid, &late, None).await;
    let snap = again.until_kind("session_snapshot").await;
    assert_eq!(snap.data["screen"]["scrollback"], "");
    assert_eq!(snap.data["view"]["terminal"]["output"], "");
}

fn zombie_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.get(1) == Some(&me.as_str()) && fields.first() == Some(&"Z") {
            out.push(stat);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_whole_group_with_exactly_one_exit() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv.create_terminal(shell()).await;
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    let pid = summary["terminal"]["pid"].as_i64().unwrap();
    let mut events = srv.events(&sid, &owner, None).await;
    // A background job that ignores hang-ups, and a foreground one.
    srv.input(
        &sid,
        &owner,
        "(trap '' HUP; sleep 1000) & echo bg=$!; sleep 1000\r",
    )
    .await;
    let mut text = events.until_output("\r\nbg=").await;
    while !text
        .rsplit("bg=")
        .next()
        .is_some_and(|t| t.contains("\r\n"))
    {
        text.push_str(&events.until_output("\n").await);
    }
    // The last "bg=": the first is the echo of the command line.
    let bg: i64 = text
        .rsplit("bg=")
        .next()
        .and_then(|t| t.split("\r\n").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no job pid in {text:?}"));
    assert!(pid_alive(bg));

    let (st, body) = srv.close(&sid, &owner).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "closed");
    // The stream ends after session_closed.
    while events.next().await.is_some() {}
    let kinds: Vec<&str> = events.received.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "terminal_exited").count(),
        1,
        "{kinds:?}"
    );
    let n = kinds.len();
    assert_eq!(&kinds[n - 2..], ["terminal_exited", "session_closed"]);
    let exited = &events.received[n - 2];
    assert_eq!(exited.data["signal"], "SIGHUP", "{}", exited.data);
    assert!(!pid_alive(pid), "the shell is reaped");
    assert!(!pid_alive(bg), "the HUP-ignoring job is gone too");
    assert!(zombie_children().is_empty(), "{:?}", zombie_children());
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["status"], "closed");
    assert_eq!(summary["terminal"]["phase"], "closed");
    // Closed means closed.
    let (st, err) = srv.input(&sid, &owner, "x").await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::CONFLICT, Some("session_busy")),
        "{err}"
    );
}

fn pid_alive(pid: i64) -> bool {
    // A zombie keeps its /proc entry until reaped.
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_exits_is_announced_once_and_stays_readable() {
    let srv = spawn_test_server().await;
    let (sid, owner) = srv
        .create_terminal(json!({
            "command": "/bin/sh",
            "args": ["-c", "read line; echo got-$line; exit 3"],
        }))
        .await;
    let mut events = srv.events(&sid, &owner, None).await;
    srv.input(&sid, &owner, "it\r").await;
    let exited = events.until_kind("terminal_exited").await;
    assert_eq!(
        (
            exited.data["exitCode"].clone(),
            exited.data["signal"].clone()
        ),
        (json!(3), Value::Null)
    );
    assert!(terminal_text(&events.received).contains("got-it\r\n"));
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(
        (
            summary["status"].clone(),
            summary["terminal"]["phase"].clone()
        ),
        (json!("exited"), json!("exited"))
    );
    let (st, err) = srv.input(&sid, &owner, "x").await;
    assert_eq!(
        (st, kind(&err)),
        (StatusCode::CONFLICT, Some("session_busy"))
    );
    // Still readable: a late joiner's snapshot shows the exit and the screen.
    let late = srv.attach(&sid, "observer").await;
    let mut late_events = srv.events(&sid, &late, None).await;
    let snap = late_events.until_kind("session_snapshot").await;
    assert_eq!(snap.data["view"]["terminal"]["exited"]["exitCode"], 3);
    assert!(
        screen_of(80, 24, snap.data["screen"]["formatted"].as_str().unwrap()).contains("got-it")
    );

    let (st, _) = srv.close(&sid, &owner).await;
    assert_eq!(st, StatusCode::OK);
    while events.next().await.is_some() {}
    let exits = events
        .received
        .iter()
        .filter(|f| f.kind == "terminal_exited")
        .count();
    assert_eq!(exits, 1);
    assert_eq!(events.received.last().unwrap().kind, "session_closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_closes_every_terminal_and_leaves_agents_alone() {
    let srv = spawn_test_server().await;
    let (t1, c1) = srv.create_terminal(shell()).await;
    let (t2, _) = srv.create_terminal(shell()).await;
    let (agent, _) = srv.create_session().await;
    let mut events = srv.events(&t1, &c1, None).await;
    let (st, body) = srv.post("/terminals/kill-all", None, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let mut killed: Vec<String> = serde_json::from_value(body["killed"].clone()).unwrap();
    killed.sort();
    let mut expected = vec![t1.clone(), t2.clone()];
    expected.sort();
    assert_eq!(killed, expected);
    let closed = events.until_kind("session_closed").await;
    assert_eq!(closed.data["reason"], "kill_all");
    let (_, summary) = srv.get(&format!("/session/{agent}"), None).await;
    assert_eq!(summary["status"], "running");
}

/// Peak resident memory of this process (the daemon runs in it), in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_reaches_a_fast_client_whole_while_a_stalled_one_is_evicted() {
    // Smaller budgets than the defaults, so the stalled client overflows
    // well within the flood; the bound is what is being tested.
    let srv = spawn_test_server_with(|c| {
        c.limits.queue_bytes = 8 << 20;
        c.limits.ring_bytes = 16 << 20;
    })
    .await;
    const LINES: u64 = 6_500_000; // ~54 MB of PTY output
    let (sid, owner) = srv
        .create_terminal(json!({
            "command": "/bin/sh",
            "args": ["-c", format!("stty -echo; echo READY; read go; seq 1 {LINES}; echo END")],
        }))
        .await;
    let stalled_id = srv.attach(&sid, "observer").await;
    // From the first frame (the ring still holds it), so `READY` is seen
    // even when it was printed before this stream opened.
    let mut fast = srv.events(&sid, &owner, Some(0)).await;
    fast.keep = false;
    // Attached and never read until the flood is over.
    let mut stalled = srv.events(&sid, &stalled_id, None).await;
    stalled.keep = false;
    fast.until_output("READY\r\n").await;
    let (st, _) = srv.input(&sid, &owner, "go\r").await;
    assert_eq!(st, StatusCode::OK);

    let mut expected = 1u64;
    let mut partial = String::new();
    let mut bytes = 0usize;
    let mut frames = 0usize;
    'flood: loop {
        let f = fast.next().await.expect("fast stream ended early");
        assert_ne!(f.kind, "client_evicted", "the fast client kept up");
        if f.kind != "terminal_output" {
            continue;
        }
        let data = f.data["data"].as_str().unwrap();
        bytes += data.len();
        frames += 1;
        partial.push_str(data);
        let mut consumed = 0;
        while let Some(end) = partial[consumed..].find("\r\n") {
            let line = &partial[consumed..consumed + end];
            consumed += end + 2;
            if line == "END" {
                break 'flood;
            }
            assert_eq!(line, expected.to_string(), "line {expected} in order");
            expected += 1;
        }
        partial.drain(..consumed);
    }
    assert_eq!(expected, LINES + 1, "every line arrived");
    assert!(bytes > 50_000_000, "{bytes} bytes");
    // Coalesced: far fewer frames than lines (or than 4 KiB reads).
    assert!(frames < bytes / 4096, "{frames} frames for {bytes} bytes");

    // The stalled client was cut off, not waited for, and is told so.
    let mut last = None;
    while let Some(f) = stalled.next().await {
        last = Some(f.kind);
    }
    assert_eq!(last.as_deref(), Some("client_evicted"));

    let hwm_mib = vm_hwm_kib() / 1024;
    assert!(hwm_mib < 400, "peak RSS {hwm_mib} MiB");
}
