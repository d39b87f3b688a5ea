//! Resume, resync and backpressure over real SSE.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use switchyard_core::SessionView;

fn chunk_count(frames: &[switchyard_core::Frame]) -> usize {
    frames
        .iter()
        .filter(|f| f.data["update"]["sessionUpdate"] == "agent_message_chunk")
        .count()
}

/// A view without this client's own stream section, which legitimately
/// differs between a client that resynced and one that did not.
fn session_state(v: &SessionView) -> Value {
    let mut j: Value = serde_json::from_str(&v.to_json()).unwrap();
    j.as_object_mut().unwrap().remove("stream");
    j
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_drops_mid_turn_resumes_with_exactly_what_it_missed() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let b = srv.attach(&sid, "observer").await;
    let mut sa = srv.events(&sid, &a, None).await;
    let mut sb = srv.events(&sid, &b, None).await;
    sa.next().await;
    sb.next().await;
    srv.prompt(&sid, &a, "/flood 2000").await;
    // B reads a little of the turn, then its connection drops.
    let mut seen = 0;
    let last = sb
        .until(|f| {
            if f.data["update"]["sessionUpdate"] == "agent_message_chunk" {
                seen += 1;
            }
            seen == 50
        })
        .await;
    let resume_from = last.id.unwrap();
    let before = sb.received.clone();
    drop(sb);
    sa.until_kind("turn_complete").await;

    let mut sb2 = srv.events(&sid, &b, Some(resume_from)).await;
    let done = sb2.until_kind("replay_complete").await;
    let replayed = &sb2.received[..sb2.received.len() - 1];
    assert_eq!(done.data["replayedCount"], replayed.len());
    assert_eq!(
        replayed.first().unwrap().id,
        Some(resume_from + 1),
        "no gap"
    );
    // Together: exactly A's frames, no gap, no duplicate.
    let mut combined = before.clone();
    combined.extend(replayed.iter().cloned());
    let (b_frames, a_frames) = common_live(&combined, &sa.received);
    assert_eq!(b_frames, a_frames);
    assert_eq!(chunk_count(&sa.received), 2000);
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_past_the_ring_resyncs_in_band_to_the_same_view() {
    // In memory: with the journal, a resume past the ring is replayed from
    // it instead (tests/journal.rs).
    let srv = spawn_test_server_with(|c| {
        c.limits.ring_frames = 64;
        c.journal = None;
    })
    .await;
    let (sid, a) = srv.create_session().await;
    let b = srv.attach(&sid, "observer").await;
    let mut sa = srv.events(&sid, &a, None).await;
    sa.next().await;
    srv.prompt(&sid, &a, "/flood 500").await;
    sa.until_kind("turn_complete").await;

    let mut sb = srv.events(&sid, &b, Some(3)).await;
    let resync = sb.next().await.unwrap();
    assert_eq!(resync.kind, "state_resync_required");
    assert_eq!(resync.id, None, "stream control carries no id");
    assert_eq!(resync.data["reason"], "ring_evicted");
    assert_eq!(resync.data["lastDeliveredId"], 3);
    assert!(resync.data["earliestAvailableId"].as_u64().unwrap() > 4);
    let snap = sb.next().await.unwrap();
    assert_eq!(snap.kind, "session_snapshot");

    let (va, vb) = (sa.view(), sb.view());
    assert!(vb.stream.resync_required_count == 1 && !vb.stream.awaiting_resync);
    assert_eq!(session_state(&vb), session_state(&va));
    assert_eq!(agent_text(&vb).lines().count(), 500);

    // An id from the future (the daemon's log was reset): epoch_reset.
    let mut sc = srv.events(&sid, &b, Some(10_000_000)).await;
    let r = sc.next().await.unwrap();
    assert_eq!(
        (r.kind.as_str(), r.data["reason"].as_str()),
        ("state_resync_required", Some("epoch_reset"))
    );
    assert_eq!(sc.next().await.unwrap().kind, "session_snapshot");
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_evicted_while_a_fast_one_gets_everything() {
    const N: usize = 60_000;
    let srv = spawn_test_server_with(|c| {
        // 4096 frames absorb a fast reader's jitter; the stalled one
        // overflows them once its socket buffers are full.
        c.limits.queue_frames = 4096;
        c.limits.ring_frames = 100_000;
    })
    .await;
    let (sid, a) = srv.create_session().await;
    let s = srv.attach(&sid, "observer").await;
    let mut fast = srv.events(&sid, &a, None).await;
    fast.next().await;
    // The stalled client connects and then reads nothing.
    let mut stalled = srv.events(&sid, &s, None).await;
    srv.prompt(&sid, &a, &format!("/flood {N}")).await;
    fast.until_kind("turn_complete").await;
    assert_eq!(
        chunk_count(&fast.received),
        N,
        "the fast client lost nothing"
    );

    // Now the stalled client reads what it had: its queue, then the
    // eviction notice, then the end of its stream.
    while let Some(f) = stalled.next().await {
        if f.kind == "client_evicted" {
            break;
        }
    }
    let evicted = stalled.received.last().unwrap().clone();
    assert_eq!(evicted.kind, "client_evicted");
    assert_eq!(evicted.data["reason"], "queue_overflow");
    assert!(
        stalled.next().await.is_none(),
        "stream closed after eviction"
    );
    let last = stalled.received.iter().rev().find_map(|f| f.id).unwrap();

    // It resumes and catches up completely.
    let mut again = srv.events(&sid, &s, Some(last)).await;
    again.until_kind("replay_complete").await;
    let (va, vs) = (fast.view(), again.received.clone());
    let mut all = stalled.received.clone();
    all.retain(|f| f.kind != "client_evicted" && f.kind != "slow_client_warning");
    all.extend(vs);
    let mut v = SessionView::new();
    for f in &all {
        switchyard_core::reduce(&mut v, f);
    }
    assert_eq!(
        session_state(&v)["transcript"],
        session_state(&va)["transcript"]
    );
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_running_turn_and_the_queue_is_bounded() {
    let srv = spawn_test_server_with(|c| c.limits.prompt_queue = 1).await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    let (st, p1) = srv.prompt(&sid, &a, "/slow").await;
    assert_eq!(st, StatusCode::ACCEPTED);
    s.until(|f| f.data["update"]["sessionUpdate"] == "agent_message_chunk")
        .await;
    let (st, q) = srv.prompt(&sid, &a, "/echo queued").await;
    assert_eq!(
        (st, q["position"].as_u64()),
        (StatusCode::ACCEPTED, Some(1))
    );
    // Queue (1) is full.
    let resp = srv
        .http
        .post(srv.url(&format!("/session/{sid}/prompt")))
        .bearer_auth(&srv.running.token)
        .header("x-client-id", &a)
        .json(&serde_json::json!({"prompt": [{"type": "text", "text": "one too many"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["kind"], "prompt_queue_full");

    let (st, c) = srv
        .post(
            &format!("/session/{sid}/cancel"),
            Some(&a),
            serde_json::json!({}),
        )
        .await;
    assert_eq!((st, c["cancelled"].as_bool()), (StatusCode::OK, Some(true)));
    let end = s.until_kind("turn_complete").await;
    assert_eq!(end.data["stopReason"], "cancelled");
    assert_eq!(end.prompt_id, p1["promptId"].as_str().map(String::from));
    // The queued prompt runs next.
    let end2 = s.until_kind("turn_complete").await;
    assert_eq!(end2.prompt_id, q["promptId"].as_str().map(String::from));
    assert_eq!(end2.data["stopReason"], "end_turn");
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_streams_get_429() {
    let srv = spawn_test_server_with(|c| c.limits.max_subscribers = 2).await;
    let (sid, a) = srv.create_session().await;
    let _s1 = srv.events(&sid, &a, None).await;
    let _s2 = srv.events(&sid, &a, None).await;
    let (status, err) = srv.get(&format!("/session/{sid}/events"), Some(&a)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["error"]["kind"], "session_busy");
    let (status, err) = srv
        .send(
            reqwest::Method::GET,
            &format!("/session/{sid}/events?lastEventId=abc"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_carry_retry_and_heartbeats() {
    let srv =
        spawn_test_server_with(|c| c.limits.heartbeat = std::time::Duration::from_millis(50)).await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    assert_eq!(s.next().await.unwrap().kind, "session_snapshot");
    assert_eq!(s.retry(), Some(1000), "retry: preamble");
    s.await_heartbeats(2).await;
    srv.running.shutdown().await.unwrap();
}
