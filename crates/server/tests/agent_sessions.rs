//! End to end over real HTTP/SSE on 127.0.0.1:0 with the demo agent as a
//! real child process speaking ACP.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_the_same_frames_and_the_daemons_view() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let b = srv.attach(&sid, "control").await;
    let mut sa = srv.events(&sid, &a, None).await;
    let mut sb = srv.events(&sid, &b, None).await;
    assert_eq!(sa.next().await.unwrap().kind, "session_snapshot");
    assert_eq!(sb.next().await.unwrap().kind, "session_snapshot");

    let (status, body) = srv.prompt(&sid, &a, "/echo hello shared world").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let pid = body["promptId"].as_str().unwrap().to_string();
    let end_a = sa.until_kind("turn_complete").await;
    let end_b = sb.until_kind("turn_complete").await;
    assert_eq!(end_a.prompt_id.as_deref(), Some(pid.as_str()));
    assert_eq!(end_a.data["stopReason"], "end_turn");
    assert_eq!(end_a, end_b);

    // Identical live sequences.
    let (la, lb) = common_live(&sa.received, &sb.received);
    assert!(!la.is_empty());
    assert_eq!(la, lb);
    let chunks = sa
        .received
        .iter()
        .filter(|f| f.data["update"]["sessionUpdate"] == "agent_message_chunk")
        .count();
    assert!(chunks >= 3, "echo streams in several chunks, got {chunks}");

    let va = sa.view();
    assert_eq!(agent_text(&va), "hello shared world");
    assert_eq!(va.to_json(), sb.view().to_json());
    // The daemon's own view agrees on the session state.
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["lastEventId"], va.last_event_id);
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_cannot_mutate_anything() {
    let srv = spawn_test_server().await;
    let (sid, _a) = srv.create_session().await;
    let o = srv.attach(&sid, "observer").await;
    let checks = [
        (
            format!("/session/{sid}/prompt"),
            json!({"prompt": [{"type": "text", "text": "hi"}]}),
        ),
        (format!("/session/{sid}/cancel"), json!({})),
        (
            format!("/session/{sid}/permission/perm_1"),
            json!({"outcome": {"outcome": "cancelled"}}),
        ),
    ];
    for (path, body) in checks {
        let (status, err) = srv.post(&path, Some(&o), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {err}");
        assert_eq!(err["error"]["kind"], "role_forbidden", "{path}");
    }
    let (status, err) = srv.close(&sid, &o).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["error"]["kind"], "role_forbidden");
    // ...but may watch.
    let mut s = srv.events(&sid, &o, None).await;
    assert_eq!(s.next().await.unwrap().kind, "session_snapshot");
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_are_required_and_checked() {
    let srv = spawn_test_server().await;
    let (sid, _a) = srv.create_session().await;
    let body = json!({"prompt": [{"type": "text", "text": "hi"}]});
    let (status, err) = srv
        .post(&format!("/session/{sid}/prompt"), None, body.clone())
        .await;
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("client_id_required"))
    );
    let (status, err) = srv
        .post(
            &format!("/session/{sid}/prompt"),
            Some("c_nobody"),
            body.clone(),
        )
        .await;
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_client"))
    );
    let (status, err) = srv
        .post("/session/s_missing/prompt", Some("c_x"), body)
        .await;
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("session_not_found"))
    );
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_clear_errors() {
    let srv = spawn_test_server_with(|c| c.limits.max_body_bytes = 4096).await;
    let (sid, a) = srv.create_session().await;
    let path = format!("/session/{sid}/prompt");
    let resp = srv
        .http
        .post(srv.url(&path))
        .bearer_auth(&srv.running.token)
        .header("x-client-id", &a)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["kind"], "parse_error");

    let (status, err) = srv.post(&path, Some(&a), json!({"prompt": "nope"})).await;
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let big = "x".repeat(10_000);
    let (status, err) = srv
        .post(
            &path,
            Some(&a),
            json!({"prompt": [{"type": "text", "text": big}]}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );

    let (status, err) = srv
        .post(
            &format!("/session/{sid}/attach"),
            None,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_host_and_origin_are_enforced() {
    let srv = spawn_test_server().await;
    let health = srv.http.get(srv.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let r = srv.http.get(srv.url("/session")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = srv
        .http
        .get(srv.url("/session"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = srv
        .http
        .get(srv.url(&format!("/session?token={}", srv.running.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // DNS rebinding: a foreign Host name.
    let r = srv
        .http
        .get(srv.url("/session"))
        .bearer_auth(&srv.running.token)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let err: serde_json::Value = r.json().await.unwrap();
    assert_eq!(err["error"]["kind"], "forbidden_origin");
    // A foreign page.
    let r = srv
        .http
        .get(srv.url("/session"))
        .bearer_auth(&srv.running.token)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Same origin is fine.
    let r = srv
        .http
        .get(srv.url("/session"))
        .bearer_auth(&srv.running.token)
        .header("origin", srv.running.url())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_race_has_exactly_one_winner_and_the_file_is_written() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let b = srv.attach(&sid, "control").await;
    let mut sa = srv.events(&sid, &a, None).await;
    let (status, _) = srv.prompt(&sid, &a, "/write notes.txt hello").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let req = sa.until_kind("permission_request").await;
    assert_eq!(req.originator_client_id.as_deref(), Some(a.as_str()));
    let rid = req.data["requestId"].as_str().unwrap().to_string();
    let path = format!("/session/{sid}/permission/{rid}");
    let allow = json!({"outcome": {"outcome": "selected", "optionId": "allow"}});
    let (ra, rb) = tokio::join!(
        srv.post(&path, Some(&a), allow.clone()),
        srv.post(&path, Some(&b), allow.clone())
    );
    let mut statuses = [ra.0, rb.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{ra:?} {rb:?}"
    );
    let loser = if ra.0 == StatusCode::CONFLICT {
        &ra.1
    } else {
        &rb.1
    };
    assert_eq!(loser["error"]["kind"], "permission_already_resolved");
    let winner = if ra.0 == StatusCode::OK { &a } else { &b };
    let resolved = sa.until_kind("permission_resolved").await;
    assert_eq!(resolved.data["voterClientId"], winner.as_str());
    sa.until_kind("turn_complete").await;
    let written = std::fs::read_to_string(srv.workspace.path().join("notes.txt")).unwrap();
    assert_eq!(written, "hello");
    // Unknown request and unknown option.
    let (status, err) = srv
        .post(
            &format!("/session/{sid}/permission/perm_999"),
            Some(&a),
            allow,
        )
        .await;
    assert_eq!(
        (status, err["error"]["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("permission_not_found"))
    );
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_produces_exactly_one_session_died() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    srv.prompt(&sid, &a, "/crash").await;
    let died = s.until_kind("session_died").await;
    assert_eq!(died.data["reason"], "agent_exited");
    assert_eq!(died.data["exitCode"], 3);
    // The stream ends after the session ended; no second ending on it.
    while let Some(f) = s.next().await {
        assert!(
            f.kind != "session_died" && f.kind != "session_closed",
            "second ending: {}",
            f.kind
        );
    }
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["status"], "died");
    let (status, err) = srv.prompt(&sid, &a, "hello?").await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_prompt_ids_are_idempotent() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    let body = json!({"prompt": [{"type": "text", "text": "/echo once"}], "promptId": "p-fixed"});
    let (s1, b1) = srv
        .post(&format!("/session/{sid}/prompt"), Some(&a), body.clone())
        .await;
    let (s2, b2) = srv
        .post(&format!("/session/{sid}/prompt"), Some(&a), body)
        .await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(b1["promptId"], b2["promptId"]);
    assert_eq!(b2["duplicate"], true);
    s.until_kind("turn_complete").await;
    // A marker prompt proves nothing else ran in between.
    srv.prompt(&sid, &a, "/echo marker").await;
    s.until(|f| f.kind == "turn_complete" && f.prompt_id.as_deref() != Some("p-fixed"))
        .await;
    let started = s
        .received
        .iter()
        .filter(|f| f.kind == "turn_started")
        .count();
    assert_eq!(started, 2, "p-fixed ran once, then the marker");
    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_get_cors_and_preflights_need_no_token() {
    let origin = "http://app.example:5173";
    let srv = spawn_test_server_with(|c| c.allowed_origins = vec![origin.into()]).await;
    let pre = srv
        .http
        .request(reqwest::Method::OPTIONS, srv.url("/session"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, x-client-id, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    assert_eq!(pre.headers()["access-control-allow-origin"], origin);
    let got = srv
        .http
        .get(srv.url("/session"))
        .bearer_auth(&srv.running.token)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["access-control-allow-origin"], origin);
    // Other origins: no CORS grant, and refused outright.
    let other = srv
        .http
        .get(srv.url("/session"))
        .bearer_auth(&srv.running.token)
        .header("origin", "http://other.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    srv.running.shutdown().await.unwrap();
}
