//! Restarts and crashes of the real daemon binary on the same data dir:
//! nothing a client saw is lost or renumbered, clients resume gaplessly,
//! and sessions come back (or end with a reason).

mod common;

use std::collections::BTreeMap;

use common::{DEADLINE, DaemonOpts, DaemonProc, EventStream, agent_text};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_core::{SessionView, reduce};

/// A test's whole run is bounded: heartbeats keep an idle stream alive, so
/// a frame that never comes would otherwise wait forever.
async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(240), test)
        .await
        .expect("the test did not finish in 240 s");
}

/// Everything `stream` delivers until it ends (the daemon died).
async fn drain_until_end(stream: &mut EventStream) {
    while stream.next().await.is_some() {}
}

/// Id → raw frame JSON of every id'd frame a stream received.
fn by_id(stream: &EventStream) -> BTreeMap<u64, String> {
    stream
        .received
        .iter()
        .zip(&stream.raw)
        .filter_map(|(f, raw)| f.id.map(|id| (id, raw.clone())))
        .collect()
}

/// Opens a stream with `Last-Event-ID: 0` on `daemon` and reads the whole
/// stored log (up to `replay_complete`): id → raw JSON.
async fn whole_log(daemon: &DaemonProc, session: &str, client: &str) -> BTreeMap<u64, String> {
    let mut s = daemon.events(session, client, Some(0)).await;
    let done = s.until_kind("replay_complete").await;
    let log = by_id(&s);
    let last = done.data["lastEventId"].as_u64().unwrap();
    assert_eq!(
        log.keys().copied().collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>(),
        "the journal replays every id from 1, without a gap"
    );
    log
}

/// The part of a view that must match between clients (stream bookkeeping
/// differs by how each client got there).
fn session_part(v: &SessionView) -> Value {
    let mut j = serde_json::to_value(v).unwrap();
    let o = j.as_object_mut().unwrap();
    o.remove("stream");
    o.remove("counters");
    j
}

#[tokio::test]
async fn kill_9_during_a_flood_loses_no_event_and_reuses_no_id() {
    bounded(kill_9_during_a_flood_loses_no_event_and_reuses_no_id_body(
        &[],
    ))
    .await;
}

#[tokio::test]
async fn kill_9_during_a_flood_with_an_fsync_per_commit() {
    bounded(kill_9_during_a_flood_loses_no_event_and_reuses_no_id_body(
        &["--journal-sync", "full"],
    ))
    .await;
}

async fn kill_9_during_a_flood_loses_no_event_and_reuses_no_id_body(flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut opts = DaemonOpts::new(&dir.path().join("data"), ws.path());
    // A small ring, so resumes after the restart come from the journal.
    opts.extra = vec!["--ring-size".into(), "64".into()];
    opts.extra.extend(flags.iter().map(|f| f.to_string()));
    let mut d1 = opts.start().await;
    let (sid, creator) = d1.create_session("demo", ws.path()).await;
    let (_, att) = d1
        .post(
            &format!("/session/{sid}/attach"),
            None,
            json!({"role": "observer"}),
        )
        .await;
    let observer = att["clientId"].as_str().unwrap().to_string();
    let mut a = d1.events(&sid, &creator, None).await;
    let mut b = d1.events(&sid, &observer, None).await;
    let epoch = a.until_kind("session_snapshot").await.data["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = d1.prompt(&sid, &creator, "/flood 200000").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, before) = d1.get(&format!("/session/{sid}"), None).await;
    // Well into the flood, both clients streaming: kill -9.
    a.until(|f| f.id.is_some_and(|id| id > 1500)).await;
    b.until(|f| f.id.is_some_and(|id| id > 500)).await;
    d1.kill9().await;
    drain_until_end(&mut a).await;
    drain_until_end(&mut b).await;
    let seen_a = by_id(&a);
    let seen_b = by_id(&b);
    let last_a = *seen_a.keys().last().unwrap();
    let last_b = *seen_b.keys().last().unwrap();

    // Same data dir, same port, same token.
    opts.listen = d1.addr.to_string();
    let d2 = opts.start().await;
    assert_eq!(d2.addr, d1.addr);

    // The clients are back as they were, attached since when they were.
    let (_, after) = d2.get(&format!("/session/{sid}"), None).await;
    assert_eq!(
        before["clients"].as_array().map(Vec::len),
        Some(2),
        "{before}"
    );
    assert_eq!(after["clients"], before["clients"]);

    // Every id any client received exists with identical content.
    let log = whole_log(&d2, &sid, &creator).await;
    for (id, raw) in seen_a.iter().chain(&seen_b) {
        assert_eq!(
            log.get(id),
            Some(raw),
            "event {id} is stored as it was sent"
        );
    }
    // Ids continue after the stored ones: the restore's own events come
    // after everything any client saw before the crash.
    let restored_id = *log
        .iter()
        .find(|(_, raw)| raw.contains("\"type\":\"session_restored\""))
        .expect("a session_restored event")
        .0;
    assert!(restored_id > last_a.max(last_b));

    // Both clients resume where they were, gaplessly, in the same epoch.
    for (client, before, seen, last) in [
        (&creator, &a, &seen_a, last_a),
        (&observer, &b, &seen_b, last_b),
    ] {
        assert_eq!(
            seen.keys().copied().collect::<Vec<_>>(),
            (seen.keys().next().copied().unwrap()..=last).collect::<Vec<_>>(),
            "each client saw a gapless stream before the crash"
        );
        let resp = d2.events_raw(&sid, client, Some(last), Some(&epoch)).await;
        assert_eq!(resp.headers()["x-switchyard-epoch"], epoch.as_str());
        let mut s = EventStream::from_response(resp);
        let done = s.until_kind("replay_complete").await;
        let upto = done.data["lastEventId"].as_u64().unwrap();
        assert!(upto > restored_id);
        let replayed: Vec<u64> = s.received.iter().filter_map(|f| f.id).collect();
        assert_eq!(replayed, (last + 1..=upto).collect::<Vec<_>>());
        for (f, raw) in s.received.iter().zip(&s.raw) {
            // (Frames after the whole-log read are newer than it.)
            if let Some(stored) = f.id.and_then(|id| log.get(&id)) {
                assert_eq!(stored, raw, "replayed frames are the stored ones");
            }
        }
        // The session came back (the demo agent supports session/load),
        // and the turn that was running when the daemon died is reported.
        let kinds: Vec<&str> = s.received.iter().map(|f| f.kind.as_str()).collect();
        assert!(kinds.contains(&"session_restored"), "{kinds:?}");
        let err = s.received.iter().find(|f| f.kind == "turn_error").unwrap();
        assert!(err.data["message"].as_str().unwrap().contains("restarted"));

        // What this client saw before and after the crash reduces to the
        // same view as a fresh attach's, once both reach the same id.
        let mut view = SessionView::new();
        for f in before.received.iter().chain(&s.received) {
            reduce(&mut view, f);
        }
        let mut fresh = d2.events(&sid, client, None).await;
        let snap = fresh.until_kind("session_snapshot").await;
        let mut fresh_view = SessionView::new();
        reduce(&mut fresh_view, &snap);
        let target = view.last_event_id.max(fresh_view.last_event_id);
        while view.last_event_id < target {
            let f = s.next().await.unwrap();
            reduce(&mut view, &f);
        }
        while fresh_view.last_event_id < target {
            let f = fresh.next().await.unwrap();
            reduce(&mut fresh_view, &f);
        }
        assert_eq!(session_part(&view), session_part(&fresh_view));
    }

    // The restored session works: a new prompt is answered.
    let mut s = d2.events(&sid, &creator, None).await;
    let (status, body) = d2.prompt(&sid, &creator, "/echo after the crash").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    s.until(|f| f.kind == "turn_complete").await;
    assert!(agent_text(&s.view()).contains("after the crash"));
}

#[tokio::test]
async fn a_graceful_restart_reloads_agents_that_can_and_ends_those_that_cannot() {
    bounded(a_graceful_restart_reloads_agents_that_can_and_ends_those_that_cannot_body()).await;
}

async fn a_graceful_restart_reloads_agents_that_can_and_ends_those_that_cannot_body() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let opts = DaemonOpts::new(&dir.path().join("data"), ws.path());
    let mut d1 = opts.start().await;
    let (loads, c1) = d1.create_session("demo", ws.path()).await;
    let (noload, c2) = d1.create_session("noload", ws.path()).await;
    let (closed, c3) = d1.create_session("demo", ws.path()).await;
    for (sid, cid) in [(&loads, &c1), (&noload, &c2)] {
        let mut s = d1.events(sid, cid, None).await;
        d1.prompt(sid, cid, "/echo remember me").await;
        s.until_kind("turn_complete").await;
    }
    let (status, _) = d1
        .send(
            reqwest::Method::DELETE,
            &format!("/session/{closed}"),
            Some(&c3),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = d1.get(&format!("/session/{loads}"), None).await;
    let mut live = d1.events(&loads, &c1, None).await;
    live.until_kind("session_snapshot").await;
    let status = d1.terminate().await;
    assert!(status.success(), "{status:?}");
    // The stream just ends: no session_died for a session that comes back.
    drain_until_end(&mut live).await;
    assert!(!live.received.iter().any(|f| f.kind == "session_died"));

    let d2 = opts.start().await;
    let (_, list) = d2.get("/session", None).await;
    let states: BTreeMap<String, Value> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sessionId"].as_str().unwrap().to_string(),
                s["status"].clone(),
            )
        })
        .collect();
    assert_eq!(states[&loads], json!("running"));
    assert_eq!(states[&noload], json!("died"));
    assert_eq!(
        states[&closed],
        json!("closed"),
        "closed sessions stay listed"
    );

    // Reloaded: same epoch, the conversation is there once (the agent's
    // replayed history is not published again), and it answers.
    let (_, after) = d2.get(&format!("/session/{loads}"), None).await;
    assert_eq!(after["epoch"], before["epoch"]);
    let mut s = d2.events(&loads, &c1, None).await;
    let snap = s.until_kind("session_snapshot").await;
    let mut view = SessionView::new();
    reduce(&mut view, &snap);
    assert_eq!(agent_text(&view).matches("remember me").count(), 1);
    d2.prompt(&loads, &c1, "/echo and again").await;
    s.until_kind("turn_complete").await;
    let text = agent_text(&s.view());
    assert_eq!(text.matches("remember me").count(), 1, "{text}");
    assert!(text.contains("and again"));

    // Not reloadable: ended with the reason, still readable.
    let mut s = d2.events(&noload, &c2, None).await;
    let snap = s.until_kind("session_snapshot").await;
    assert_eq!(
        snap.data["view"]["lifecycle"]["reason"],
        json!("daemon_restarted")
    );
    let mut view = SessionView::new();
    reduce(&mut view, &snap);
    assert!(agent_text(&view).contains("remember me"));
    assert!(s.next().await.is_none(), "an ended session's stream ends");

    // Purge: only ended sessions, then gone from the list and the journal.
    let (status, body) = d2
        .send(
            reqwest::Method::DELETE,
            &format!("/session/{loads}?purge=true"),
            Some(&c1),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = d2
        .send(
            reqwest::Method::DELETE,
            &format!("/session/{closed}?purge=true"),
            Some(&c3),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["purged"], json!(true));
    let (status, _) = d2.get(&format!("/session/{closed}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    drop(d2);
    let d3 = opts.start().await;
    let (status, _) = d3.get(&format!("/session/{closed}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "purged for good");
    let (status, _) = d3.get(&format!("/session/{noload}"), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_old_epoch_gets_epoch_reset_and_a_snapshot() {
    bounded(an_old_epoch_gets_epoch_reset_and_a_snapshot_body()).await;
}

async fn an_old_epoch_gets_epoch_reset_and_a_snapshot_body() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let opts = DaemonOpts::new(&dir.path().join("data"), ws.path());
    let d = opts.start().await;
    let (sid, cid) = d.create_session("demo", ws.path()).await;
    let mut s = d.events(&sid, &cid, None).await;
    d.prompt(&sid, &cid, "/echo hi").await;
    s.until_kind("turn_complete").await;
    let last = s.view().last_event_id;
    for resp in [
        d.events_raw(&sid, &cid, Some(last - 2), Some("some-older-epoch"))
            .await,
        d.http
            .get(d.url(&format!(
                "/session/{sid}/events?lastEventId={}&epoch=x",
                last - 2
            )))
            .bearer_auth(&d.token)
            .header("x-client-id", &cid)
            .send()
            .await
            .unwrap(),
    ] {
        let mut r = EventStream::from_response(resp);
        let first = r.next().await.unwrap();
        assert_eq!(first.kind, "state_resync_required");
        assert_eq!(first.data["reason"], json!("epoch_reset"));
        assert_eq!(r.next().await.unwrap().kind, "session_snapshot");
    }
}

#[tokio::test]
async fn a_corrupt_or_newer_journal_refuses_to_start_and_is_left_alone() {
    bounded(a_corrupt_or_newer_journal_refuses_to_start_and_is_left_alone_body()).await;
}

async fn a_corrupt_or_newer_journal_refuses_to_start_and_is_left_alone_body() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("journal.sqlite3");
    let junk: Vec<u8> = (0..16384u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &junk).unwrap();
    let opts = DaemonOpts::new(&data, ws.path());
    let (status, log) = opts.start_fails().await;
    assert!(!status.success());
    assert!(log.contains("journal"), "{log}");
    assert!(log.contains("--reset-journal"), "{log}");
    assert_eq!(std::fs::read(&db).unwrap(), junk, "nothing deleted");

    // --reset-journal is the explicit way out.
    let mut reset = opts.clone();
    reset.extra = vec!["--reset-journal".into()];
    let mut d = reset.start().await;
    let (_, health) = d.get("/health", None).await;
    assert_eq!(health["journal"]["status"], json!("ok"));
    // Stopped and gone before the file is touched.
    assert!(d.terminate().await.success());

    // A schema from a newer daemon.
    let conn = rusqlite_like_set_version(&db, 999);
    assert!(conn);
    let (status, log) = opts.start_fails().await;
    assert!(!status.success());
    assert!(log.contains("newer"), "{log}");
}

/// Sets `PRAGMA user_version` with the sqlite3 CLI-free route: the daemon
/// crate's own dependency is not visible here, so patch the header bytes
/// (offset 60, big-endian u32) as SQLite defines them.
fn rusqlite_like_set_version(db: &std::path::Path, version: u32) -> bool {
    let mut bytes = std::fs::read(db).unwrap();
    if bytes.len() < 100 {
        return false;
    }
    bytes[60..64].copy_from_slice(&version.to_be_bytes());
    std::fs::write(db, bytes).unwrap();
    // The WAL may hold pages too; it was checkpointed when the daemon
    // exited cleanly, and is removed so only the header counts.
    let _ = std::fs::remove_file(db.with_extension("sqlite3-wal"));
    true
}

#[tokio::test]
async fn a_full_disk_degrades_the_session_and_the_daemon_lives_on() {
    bounded(a_full_disk_degrades_the_session_and_the_daemon_lives_on_body()).await;
}

async fn a_full_disk_degrades_the_session_and_the_daemon_lives_on_body() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut opts = DaemonOpts::new(&dir.path().join("data"), ws.path());
    // Files may not grow past 1 MiB: the journal's WAL hits it mid-flood.
    opts.file_size_limit = Some(1 << 20);
    let mut d = opts.start().await;
    let (sid, cid) = d.create_session("demo", ws.path()).await;
    let mut s = d.events(&sid, &cid, None).await;
    let epoch = s.until_kind("session_snapshot").await.data["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    d.prompt(&sid, &cid, "/flood 20000").await;
    let degraded = s.until_kind("session_degraded").await;
    assert_eq!(degraded.data["reason"], json!("journal_write_failed"));
    // Nothing was dropped: the stream stays gapless through the failure.
    s.until_kind("turn_complete").await;
    let ids: Vec<u64> = s.received.iter().filter_map(|f| f.id).collect();
    let first = ids[0];
    assert_eq!(ids, (first..first + ids.len() as u64).collect::<Vec<_>>());
    let (status, health) = d.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], json!("degraded"), "{health}");
    assert_eq!(health["journal"]["status"], json!("degraded"));
    assert_eq!(
        health["journal"]["degradedSessions"][0]["sessionId"],
        json!(sid)
    );
    // Still serving: another prompt on the same session is answered.
    d.prompt(&sid, &cid, "/echo still here").await;
    s.until(|f| f.kind == "turn_complete" && f.id > degraded.id)
        .await;
    assert!(agent_text(&s.view()).contains("still here"));

    // A crash while the disk is still full, then a restart with room again.
    // The client saw ids that were never stored: the restore must know
    // (from the flag; the journal's unit tests cover a flag the database
    // itself could not take), or it would hand those ids out again, in the
    // same epoch, for other frames.
    let last = s.view().last_event_id;
    d.kill9().await;
    drain_until_end(&mut s).await;
    opts.file_size_limit = None;
    opts.listen = d.addr.to_string();
    let d2 = opts.start().await;
    // The restored session goes on until its ids pass the client's.
    let mut fresh = d2.events(&sid, &cid, None).await;
    let (status, body) = d2.prompt(&sid, &cid, "/flood 30000").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    fresh
        .until(|f| f.kind == "turn_complete" && f.id > Some(last))
        .await;
    let resp = d2.events_raw(&sid, &cid, Some(last), Some(&epoch)).await;
    assert_ne!(resp.headers()["x-switchyard-epoch"], epoch.as_str());
    let mut r = EventStream::from_response(resp);
    let first = r.next().await.unwrap();
    assert_eq!(first.kind, "state_resync_required");
    assert_eq!(first.data["reason"], json!("epoch_reset"), "{}", first.data);
    let snap = r.next().await.unwrap();
    assert_eq!(snap.kind, "session_snapshot");
    assert_ne!(snap.data["epoch"], json!(epoch));
    let _ = DEADLINE;
}

#[tokio::test]
async fn a_terminal_is_cold_restored_after_kill_9() {
    bounded(a_terminal_is_cold_restored_after_kill_9_body()).await;
}

async fn a_terminal_is_cold_restored_after_kill_9_body() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut opts = DaemonOpts::new(&dir.path().join("data"), ws.path());
    let mut d1 = opts.start().await;
    let (status, body) = d1
        .post(
            "/session",
            None,
            json!({"kind": "terminal", "command": "/bin/sh", "env": {"PS1": "$ ", "ENV": ""},
                   "cwd": ws.path(), "cols": 100, "rows": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid = body["sessionId"].as_str().unwrap().to_string();
    let owner = body["clientId"].as_str().unwrap().to_string();
    let mut s = d1.events(&sid, &owner, None).await;
    let (st, _) = d1
        .post(
            &format!("/session/{sid}/input"),
            Some(&owner),
            json!({"data": "echo before-$((6*7))\r"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    s.until(|f| {
        f.kind == "terminal_output" && f.data["data"].as_str().unwrap_or("").contains("before-42")
    })
    .await;
    let (_, before) = d1.get(&format!("/session/{sid}"), None).await;
    let old_pid = before["agentPid"].as_i64().unwrap();
    d1.kill9().await;
    drain_until_end(&mut s).await;
    let last = s.received.iter().filter_map(|f| f.id).next_back().unwrap();

    opts.listen = d1.addr.to_string();
    let d2 = opts.start().await;
    let (_, after) = d2.get(&format!("/session/{sid}"), None).await;
    assert_eq!(after["status"], json!("running"), "{after}");
    assert_eq!(after["epoch"], before["epoch"]);
    let new_pid = after["agentPid"].as_i64().unwrap();
    assert_ne!(new_pid, old_pid, "a new process");

    // Resuming: the restore is announced and the owner released.
    let mut r = d2.events(&sid, &owner, Some(last)).await;
    let restored = r.until_kind("session_restored").await;
    assert_eq!(restored.data["kind"], json!("terminal"));
    assert_eq!(
        (restored.data["cols"].clone(), restored.data["rows"].clone()),
        (json!(100), json!(30))
    );
    let released = r.until_kind("owner_changed").await;
    assert_eq!(released.data["ownerClientId"], json!(null));

    // A fresh attach sees the old screen (same size) ...
    let mut fresh = d2.events(&sid, &owner, None).await;
    let snap = fresh.until_kind("session_snapshot").await;
    let screen = &snap.data["screen"];
    assert_eq!(
        (screen["cols"].clone(), screen["rows"].clone()),
        (json!(100), json!(30))
    );
    let text = format!("{}{}", screen["scrollback"], screen["formatted"]);
    assert!(text.contains("before-42"), "{text}");
    assert_eq!(snap.data["view"]["presence"]["ownerClientId"], json!(null));

    // ... and the new process, once claimed, runs in the same cwd.
    let (st, body) = d2
        .post(
            &format!("/session/{sid}/owner"),
            Some(&owner),
            json!({"action": "claim"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, _) = d2
        .post(
            &format!("/session/{sid}/input"),
            Some(&owner),
            json!({"data": "echo after-$((7*7)) $PWD\r"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let cwd = std::fs::canonicalize(ws.path()).unwrap();
    let needle = format!("after-49 {}", cwd.display());
    let mut out = String::new();
    while !out.contains(&needle) {
        let f = fresh.next().await.unwrap();
        if f.kind == "terminal_output" {
            out.push_str(f.data["data"].as_str().unwrap_or(""));
        }
    }
}

#[tokio::test]
async fn a_vote_in_flight_at_a_crash_is_settled_on_restore() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        let mut opts = DaemonOpts::new(&dir.path().join("data"), ws.path());
        let mut d1 = opts.start().await;
        let (sid, cid) = d1.create_session("demo", ws.path()).await;
        let mut s = d1.events(&sid, &cid, None).await;
        d1.prompt(&sid, &cid, "/write note.txt hello").await;
        let request = s.until_kind("permission_request").await;
        let request_id = request.data["requestId"].clone();
        d1.kill9().await;
        drain_until_end(&mut s).await;
        let last = s.received.iter().filter_map(|f| f.id).next_back().unwrap();

        opts.listen = d1.addr.to_string();
        let d2 = opts.start().await;
        let mut r = d2.events(&sid, &cid, Some(last)).await;
        let resolved = r.until_kind("permission_resolved").await;
        assert_eq!(resolved.data["requestId"], request_id);
        assert_eq!(resolved.data["outcome"]["outcome"], json!("cancelled"));
        let err = r.until_kind("turn_error").await;
        assert!(err.data["message"].as_str().unwrap().contains("restarted"));
        let mut view = SessionView::new();
        for f in s.received.iter().chain(&r.received) {
            reduce(&mut view, f);
        }
        assert!(view.permissions.pending.is_empty());
        assert!(!view.turn.running);
        // Nothing was written: the vote never happened.
        assert!(!ws.path().join("note.txt").exists());
    })
    .await;
}
