//! Permission policies and timeouts: who may answer, and what happens when
//! nobody does.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_server::config::PermissionPolicy;

fn allow() -> Value {
    json!({"outcome": {"outcome": "selected", "optionId": "allow"}})
}

async fn create(srv: &TestServer, policy: Option<&str>) -> (String, String) {
    let mut body = json!({ "cwd": srv.workspace.path() });
    if let Some(p) = policy {
        body["permissionPolicy"] = p.into();
    }
    let (st, body) = srv.post("/session", None, body).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    (
        body["sessionId"].as_str().unwrap().to_string(),
        body["clientId"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_resolved_by_another_clients_vote_names_both() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let b = srv.attach(&sid, "control").await;
    let mut sb = srv.events(&sid, &b, None).await;
    let (st, _) = srv.prompt(&sid, &a, "/write notes.txt hello").await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let req = sb.until_kind("permission_request").await;
    assert_eq!(req.originator_client_id.as_deref(), Some(a.as_str()));
    let rid = req.data["requestId"].as_str().unwrap();
    let (st, body) = srv
        .post(
            &format!("/session/{sid}/permission/{rid}"),
            Some(&b),
            allow(),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let resolved = sb.until_kind("permission_resolved").await;
    assert_eq!(resolved.data["voterClientId"], b.as_str());
    assert_eq!(resolved.originator_client_id.as_deref(), Some(b.as_str()));
    sb.until_kind("turn_complete").await;
    let view = sb.view();
    let r = &view.permissions.resolved[0];
    assert_eq!(r.voter_client_id.as_deref(), Some(b.as_str()));
    assert_eq!(r.originator_client_id.as_deref(), Some(a.as_str()));
    assert_eq!(
        std::fs::read_to_string(srv.workspace.path().join("notes.txt")).unwrap(),
        "hello"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn designated_lets_only_the_prompting_client_answer() {
    let srv = spawn_test_server().await;
    let (st, e) = srv
        .post(
            "/session",
            None,
            json!({ "cwd": srv.workspace.path(), "permissionPolicy": "loudest" }),
        )
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (sid, a) = create(&srv, Some("designated")).await;
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["permissionPolicy"], "designated");
    let b = srv.attach(&sid, "control").await;
    let mut sa = srv.events(&sid, &a, None).await;
    srv.prompt(&sid, &a, "/write notes.txt mine").await;
    let req = sa.until_kind("permission_request").await;
    let path = format!(
        "/session/{sid}/permission/{}",
        req.data["requestId"].as_str().unwrap()
    );
    let (st, e) = srv.post(&path, Some(&b), allow()).await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::FORBIDDEN, Some("role_forbidden")),
        "{e}"
    );
    assert!(e["error"]["message"].as_str().unwrap().contains(&a));
    let (st, body) = srv.post(&path, Some(&a), allow()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let resolved = sa.until_kind("permission_resolved").await;
    assert_eq!(resolved.data["voterClientId"], a.as_str());
    sa.until_kind("turn_complete").await;

    // Once the designated client has left, anyone in control may answer.
    let mut sb = srv.events(&sid, &b, None).await;
    srv.prompt(&sid, &a, "/write other.txt orphan").await;
    let req = sa.until_kind("permission_request").await;
    let (st, _) = srv
        .post(&format!("/session/{sid}/detach"), Some(&a), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let path = format!(
        "/session/{sid}/permission/{}",
        req.data["requestId"].as_str().unwrap()
    );
    let (st, body) = srv.post(&path, Some(&b), allow()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    sb.until(|f| f.kind == "turn_complete" && f.prompt_id == req.prompt_id)
        .await;
    assert_eq!(
        std::fs::read_to_string(srv.workspace.path().join("other.txt")).unwrap(),
        "orphan"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_policy_applies_unless_a_session_overrides_it() {
    let srv = spawn_test_server_with(|c| c.permission_policy = PermissionPolicy::Designated).await;
    let (sid, a) = create(&srv, None).await;
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["permissionPolicy"], "designated");
    let (sid2, _) = create(&srv, Some("first-responder")).await;
    let (_, summary) = srv.get(&format!("/session/{sid2}"), None).await;
    assert_eq!(summary["permissionPolicy"], "first-responder");
    let (_, caps) = srv.get("/capabilities", None).await;
    assert_eq!(caps["permissionPolicy"], "designated");
    srv.close(&sid, &a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_request_times_out_as_cancelled_with_no_voter() {
    let srv =
        spawn_test_server_with(|c| c.limits.permission_timeout = Some(Duration::from_millis(300)))
            .await;
    let (sid, a) = srv.create_session().await;
    let o = srv.attach(&sid, "observer").await;
    let mut so = srv.events(&sid, &o, None).await;
    srv.prompt(&sid, &a, "/write late.txt never").await;
    let req = so.until_kind("permission_request").await;
    let resolved = so.until_kind("permission_resolved").await;
    assert_eq!(resolved.data["requestId"], req.data["requestId"]);
    assert_eq!(resolved.data["outcome"]["outcome"], "cancelled");
    assert!(resolved.data.get("voterClientId").is_none());
    so.until_kind("turn_complete").await;
    assert!(so.view().permissions.pending.is_empty());
    assert!(!srv.workspace.path().join("late.txt").exists());
    // A vote after the timeout is told it is over.
    let (st, e) = srv
        .post(
            &format!(
                "/session/{sid}/permission/{}",
                req.data["requestId"].as_str().unwrap()
            ),
            Some(&a),
            allow(),
        )
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::CONFLICT, Some("permission_already_resolved"))
    );
}
