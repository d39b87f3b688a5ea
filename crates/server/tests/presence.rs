//! Presence: `client_joined` / `client_left`, detach and the grace period.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

fn present(s: &EventStream) -> Vec<String> {
    s.view()
        .presence
        .clients
        .iter()
        .map(|c| c.client_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_announces_client_left_once_and_forgets_the_client() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    s.next().await;
    let b = srv.attach(&sid, "observer").await;
    let joined = s.until_kind("client_joined").await;
    assert_eq!(
        (
            joined.data["clientId"].as_str(),
            joined.data["role"].as_str()
        ),
        (Some(b.as_str()), Some("observer"))
    );

    let (st, body) = srv
        .post(&format!("/session/{sid}/detach"), Some(&b), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let left = s.until_kind("client_left").await;
    assert_eq!(
        (left.data["clientId"].as_str(), left.data["reason"].as_str()),
        (Some(b.as_str()), Some("detached"))
    );
    assert_eq!(present(&s), vec![a.clone()]);

    // The id is gone: a second detach and any other request are refused.
    let (st, err) = srv
        .post(&format!("/session/{sid}/detach"), Some(&b), json!({}))
        .await;
    assert_eq!(
        (st, err["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_client"))
    );
    let (st, _) = srv.get(&format!("/session/{sid}/events"), Some(&b)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // A late joiner's snapshot shows the same presence.
    let c = srv.attach(&sid, "observer").await;
    let mut late = srv.events(&sid, &c, None).await;
    let snap = late.next().await.unwrap();
    let ids: Vec<_> = snap.data["view"]["presence"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![a.clone(), c.clone()]);
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_an_open_stream_leave_after_the_grace_period() {
    let srv =
        spawn_test_server_with(|c| c.limits.presence_grace = Duration::from_millis(200)).await;
    let (sid, a) = srv.create_session().await;
    let mut watch = srv.events(&sid, &a, None).await;
    watch.next().await;

    // Never opens a stream.
    let idle = srv.attach(&sid, "observer").await;
    // Opens one, then drops it.
    let gone = srv.attach(&sid, "observer").await;
    let s_gone = srv.events(&sid, &gone, None).await;
    // Keeps one open throughout.
    let stay = srv.attach(&sid, "control").await;
    let mut s_stay = srv.events(&sid, &stay, None).await;
    s_stay.next().await;
    drop(s_gone);

    let mut left = Vec::new();
    while left.len() < 2 {
        let f = watch.until_kind("client_left").await;
        assert_eq!(f.data["reason"], "idle_timeout");
        left.push(f.data["clientId"].as_str().unwrap().to_string());
    }
    left.sort();
    let mut expected = vec![idle.clone(), gone.clone()];
    expected.sort();
    assert_eq!(left, expected);
    // The creator (its stream is `watch`) and `stay` are still here.
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    let mut ids: Vec<_> = summary["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec![a.clone(), stay.clone()];
    want.sort();
    assert_eq!(ids, want);
    let (st, _) = srv.prompt(&sid, &idle, "hi").await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "an idle-timed-out client is unknown"
    );
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creator_can_give_a_name() {
    let srv = spawn_test_server().await;
    let (st, body) = srv
        .post(
            "/session",
            None,
            json!({ "cwd": srv.workspace.path(), "name": "Ada" }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["clients"][0]["name"], "Ada");
    let (sid, a) = (
        body["sessionId"].as_str().unwrap(),
        body["clientId"].as_str().unwrap(),
    );
    let mut s = srv.events(sid, a, None).await;
    s.next().await;
    assert_eq!(s.view().presence.clients[0].name.as_deref(), Some("Ada"));
    let (st, e) = srv
        .post(
            "/session",
            None,
            json!({ "cwd": srv.workspace.path(), "name": "x".repeat(201) }),
        )
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}
