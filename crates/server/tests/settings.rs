//! Model and approval-mode changes: exactly one event per change, whichever
//! path caused it; serialized, bounded, reconciled with the agent.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_core::Frame;

/// Prompts `text` and reads `s` until that prompt's turn completes.
async fn turn(srv: &TestServer, s: &mut EventStream, sid: &str, client: &str, text: &str) {
    let (st, body) = srv.prompt(sid, client, text).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    let pid = body["promptId"].as_str().unwrap().to_string();
    s.until(|f| f.kind == "turn_complete" && f.prompt_id.as_deref() == Some(&pid))
        .await;
}

/// The agent's own account of its state (`/state` → "mode=… model=…").
async fn agent_state(
    srv: &TestServer,
    s: &mut EventStream,
    sid: &str,
    client: &str,
) -> (String, String) {
    turn(srv, s, sid, client, "/state").await;
    let text = agent_text(&s.view());
    let at = text.rfind("mode=").expect("a /state answer");
    let mut words = text[at..].split_whitespace();
    let mode = words
        .next()
        .unwrap()
        .trim_start_matches("mode=")
        .to_string();
    let model = words
        .next()
        .unwrap()
        .trim_start_matches("model=")
        .to_string();
    (mode, model)
}

fn of_kind<'a>(frames: &'a [Frame], kind: &str) -> Vec<&'a Frame> {
    frames.iter().filter(|f| f.kind == kind).collect()
}

/// A fresh observer's snapshot: (model, mode).
async fn snapshot_config(srv: &TestServer, sid: &str) -> (Option<String>, Option<String>) {
    let o = srv.attach(sid, "observer").await;
    let mut s = srv.events(sid, &o, None).await;
    let snap = s.next().await.unwrap();
    assert_eq!(snap.kind, "session_snapshot");
    let v = &snap.data["view"];
    (
        v["model"]["currentModelId"].as_str().map(String::from),
        v["mode"]["currentModeId"].as_str().map(String::from),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_yields_exactly_one_event_on_two_streams() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    // Known from creation on: the very first snapshot already has them.
    assert_eq!(
        snapshot_config(&srv, &sid).await,
        (Some("demo-fast".into()), Some("default".into()))
    );
    let b = srv.attach(&sid, "observer").await;
    let mut sa = srv.events(&sid, &a, None).await;
    let mut sb = srv.events(&sid, &b, None).await;

    // HTTP model, HTTP mode.
    let (st, body) = srv
        .post(
            &format!("/session/{sid}/model"),
            Some(&a),
            json!({ "modelId": "demo-smart" }),
        )
        .await;
    assert_eq!(
        (st, body["modelId"].as_str()),
        (StatusCode::OK, Some("demo-smart")),
        "{body}"
    );
    let (st, body) = srv
        .post(
            &format!("/session/{sid}/approval-mode"),
            Some(&a),
            json!({ "mode": "plan" }),
        )
        .await;
    assert_eq!(
        (st, body["mode"].as_str(), body["persisted"].as_bool()),
        (StatusCode::OK, Some("plan"), Some(false)),
        "{body}"
    );
    // Agent-internal model and mode.
    turn(&srv, &mut sa, &sid, &a, "/model demo-fast").await;
    turn(&srv, &mut sa, &sid, &a, "/mode yolo").await;
    turn(&srv, &mut sa, &sid, &a, "/echo marker").await;
    let last = sa.received.last().unwrap().id;
    sb.until(|f| f.id == last).await;

    for s in [&sa, &sb] {
        let models: Vec<_> = of_kind(&s.received, "model_switched")
            .iter()
            .map(|f| {
                (
                    f.data["modelId"].as_str().unwrap().to_string(),
                    f.originator_client_id.clone(),
                )
            })
            .collect();
        assert_eq!(
            models,
            vec![
                ("demo-smart".to_string(), Some(a.clone())),
                ("demo-fast".to_string(), Some(a.clone())),
            ]
        );
        let modes: Vec<_> = of_kind(&s.received, "approval_mode_changed")
            .iter()
            .map(|f| {
                (
                    f.data["previous"].as_str().unwrap().to_string(),
                    f.data["next"].as_str().unwrap().to_string(),
                    f.data["scope"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            modes,
            vec![
                ("default".into(), "plan".into(), "session".into()),
                ("plan".into(), "yolo".into(), "session".into()),
            ]
        );
        // The agent's raw reports were promoted, not forwarded as well.
        assert!(
            !s.received.iter().any(|f| f.kind == "session_update"
                && matches!(
                    f.data["update"]["sessionUpdate"].as_str(),
                    Some("current_mode_update" | "config_option_update")
                )),
            "raw configuration updates leaked"
        );
        // The model event carries the agent's config options too.
        let switched = of_kind(&s.received, "model_switched")[0];
        assert_eq!(
            switched.data["configOptions"][0]["currentValue"],
            "demo-smart"
        );
        let v = s.view();
        assert_eq!(v.model.current_model_id.as_deref(), Some("demo-fast"));
        assert_eq!(v.mode.current_mode_id.as_deref(), Some("yolo"));
        assert_eq!(v.config_options[0]["currentValue"], "demo-fast");
    }
    let (la, lb) = common_live(&sa.received, &sb.received);
    assert_eq!(la, lb, "both streams carry the same frames");
    assert_eq!(
        snapshot_config(&srv, &sid).await,
        (Some("demo-fast".into()), Some("yolo".into()))
    );
    assert_eq!(
        agent_state(&srv, &mut sa, &sid, &a).await,
        ("yolo".to_string(), "demo-fast".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_changes_are_refused_with_the_allowed_values_and_change_nothing() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let o = srv.attach(&sid, "observer").await;
    let mut s = srv.events(&sid, &a, None).await;
    let model = format!("/session/{sid}/model");
    let mode = format!("/session/{sid}/approval-mode");

    let (st, e) = srv
        .post(&model, Some(&a), json!({ "modelId": "gpt-9" }))
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_model"))
    );
    let hint = e["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("demo-fast") && hint.contains("demo-smart"),
        "{hint}"
    );
    let (st, e) = srv
        .post(&mode, Some(&a), json!({ "mode": "reckless" }))
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_mode"))
    );
    assert!(
        e["error"]["hint"].as_str().unwrap().contains("auto-edit"),
        "{e}"
    );
    let (st, e) = srv.post(&mode, Some(&o), json!({ "mode": "plan" })).await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::FORBIDDEN, Some("role_forbidden"))
    );
    let (st, e) = srv
        .post(&model, None, json!({ "modelId": "demo-smart" }))
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("client_id_required"))
    );
    let (st, e) = srv
        .post(&model, Some(&a), json!({ "model": "demo-smart" }))
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{e}"
    );
    let (st, e) = srv
        .post(&mode, Some(&a), json!({ "mode": "plan", "persist": "yes" }))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");

    // Nothing was published for any of them.
    turn(&srv, &mut s, &sid, &a, "/echo after").await;
    assert!(of_kind(&s.received, "model_switched").is_empty());
    assert!(of_kind(&s.received, "model_switch_failed").is_empty());
    assert!(of_kind(&s.received, "approval_mode_changed").is_empty());
    assert_eq!(
        snapshot_config(&srv, &sid).await,
        (Some("demo-fast".into()), Some("default".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persist_makes_the_mode_the_workspace_default() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    // The second round persists the mode already in effect: still
    // announced, once.
    for _ in 0..2 {
        let (st, body) = srv
            .post(
                &format!("/session/{sid}/approval-mode"),
                Some(&a),
                json!({ "mode": "auto-edit", "persist": true }),
            )
            .await;
        assert_eq!(
            (st, body["persisted"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{body}"
        );
        let ev = s.until_kind("approval_mode_changed").await;
        assert_eq!(
            (
                ev.data["next"].as_str(),
                ev.data["persisted"].as_bool(),
                ev.data["scope"].as_str()
            ),
            (Some("auto-edit"), Some(true), Some("workspace"))
        );
    }
    turn(&srv, &mut s, &sid, &a, "/echo marker").await;
    assert_eq!(of_kind(&s.received, "approval_mode_changed").len(), 2);

    // A new session in the same workspace starts in it, from its first event.
    let (sid2, c2) = srv.create_session().await;
    let mut s2 = srv.events(&sid2, &c2, None).await;
    let snap = s2.next().await.unwrap();
    assert_eq!(snap.data["view"]["mode"]["currentModeId"], "auto-edit");
    assert_eq!(
        agent_state(&srv, &mut s2, &sid2, &c2).await.0,
        "auto-edit",
        "the agent itself runs in the persisted mode"
    );
    // A session elsewhere does not.
    let other = tempfile::tempdir().unwrap();
    let (st, body) = srv
        .post("/session", None, json!({ "cwd": other.path() }))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(body["view"]["currentModeId"], "default");
    let stored = std::fs::read_to_string(srv.dir.path().join("workspace-defaults.json")).unwrap();
    assert!(stored.contains("auto-edit"), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_change_followed_by_a_newer_one_ends_on_the_newer() {
    let srv =
        spawn_test_server_with(|c| c.limits.change_timeout = Duration::from_millis(1500)).await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    let model = format!("/session/{sid}/model");

    // The agent holds set requests unanswered until /release.
    turn(&srv, &mut s, &sid, &a, "/hold").await;
    let (st, e) = srv
        .post(&model, Some(&a), json!({ "modelId": "demo-smart" }))
        .await;
    assert_eq!(
        (st, e["error"]["kind"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("request_timeout")),
        "{e}"
    );
    let failed = s.until_kind("model_switch_failed").await;
    assert_eq!(failed.data["requestedModelId"], "demo-smart");
    assert_eq!(failed.data["errorKind"], "request_timeout");

    // The newer change waits behind the unanswered one at the agent; the
    // late answer lands first and cannot revert it.
    let newer = {
        let http = srv.http.clone();
        let url = srv.url(&model);
        let token = srv.running.token.clone();
        let a = a.clone();
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("x-client-id", a)
                .json(&json!({ "modelId": "demo-fast" }))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        })
    };
    turn(&srv, &mut s, &sid, &a, "/release").await;
    let (st, body) = newer.await.unwrap();
    assert_eq!(
        (st, body["modelId"].as_str()),
        (StatusCode::OK, Some("demo-fast")),
        "{body}"
    );
    s.until(|f| f.kind == "model_switched" && f.data["modelId"] == "demo-fast")
        .await;

    assert_eq!(
        s.view().model.current_model_id.as_deref(),
        Some("demo-fast")
    );
    assert_eq!(
        snapshot_config(&srv, &sid).await.0.as_deref(),
        Some("demo-fast")
    );
    assert_eq!(agent_state(&srv, &mut s, &sid, &a).await.1, "demo-fast");
    // Every switch on the bus is a real change: the late one (the agent
    // did apply demo-smart) and then the newer one.
    let switched: Vec<_> = of_kind(&s.received, "model_switched")
        .iter()
        .map(|f| f.data["modelId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(switched, ["demo-smart", "demo-fast"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_queued_past_its_deadline_is_never_sent() {
    let srv =
        spawn_test_server_with(|c| c.limits.change_timeout = Duration::from_millis(800)).await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    let mode = format!("/session/{sid}/approval-mode");
    turn(&srv, &mut s, &sid, &a, "/hold").await;
    let (r1, r2) = tokio::join!(
        srv.post(&mode, Some(&a), json!({ "mode": "plan" })),
        srv.post(&mode, Some(&a), json!({ "mode": "yolo" })),
    );
    for (st, e) in [&r1, &r2] {
        assert_eq!(
            (*st, e["error"]["kind"].as_str()),
            (StatusCode::GATEWAY_TIMEOUT, Some("request_timeout")),
            "{e}"
        );
    }
    turn(&srv, &mut s, &sid, &a, "/release").await;
    // Only the first was ever sent; the agent applied it late, and the bus
    // says so once.
    let (mode_now, _) = agent_state(&srv, &mut s, &sid, &a).await;
    let changes = of_kind(&s.received, "approval_mode_changed");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].data["next"].as_str(), Some(mode_now.as_str()));
    assert!(mode_now == "plan" || mode_now == "yolo");
    assert_eq!(
        s.view().mode.current_mode_id.as_deref(),
        Some(mode_now.as_str())
    );
}

/// Iterations of the interleaving test.
const RACES: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_agent_internal_changes_racing_always_converge() {
    let srv = spawn_test_server().await;
    let (sid, a) = srv.create_session().await;
    let mut s = srv.events(&sid, &a, None).await;
    let modes = ["default", "plan", "auto-edit", "yolo"];
    let models = ["demo-fast", "demo-smart"];
    for i in 0..RACES {
        // Alternate the axis; pick two different targets.
        let (path, body, internal) = if i % 2 == 0 {
            let (x, y) = (modes[i % 4], modes[(i / 2 + 1) % 4]);
            let y = if x == y { modes[(i + 2) % 4] } else { y };
            (
                format!("/session/{sid}/approval-mode"),
                json!({ "mode": x }),
                format!("/mode {y}"),
            )
        } else {
            let (x, y) = (models[(i / 2) % 2], models[(i / 2 + 1) % 2]);
            (
                format!("/session/{sid}/model"),
                json!({ "modelId": x }),
                format!("/model {y}"),
            )
        };
        let (http, prompt) = tokio::join!(
            srv.post(&path, Some(&a), body),
            srv.prompt(&sid, &a, &internal)
        );
        assert_eq!(http.0, StatusCode::OK, "{}", http.1);
        assert_eq!(prompt.0, StatusCode::ACCEPTED, "{}", prompt.1);
        let pid = prompt.1["promptId"].as_str().unwrap().to_string();
        s.until(|f| f.kind == "turn_complete" && f.prompt_id.as_deref() == Some(&pid))
            .await;
    }
    let (agent_mode, agent_model) = agent_state(&srv, &mut s, &sid, &a).await;
    let v = s.view();
    assert_eq!(v.mode.current_mode_id.as_deref(), Some(agent_mode.as_str()));
    assert_eq!(
        v.model.current_model_id.as_deref(),
        Some(agent_model.as_str())
    );
    assert_eq!(
        snapshot_config(&srv, &sid).await,
        (Some(agent_model.clone()), Some(agent_mode.clone()))
    );
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["view"]["currentModeId"], agent_mode.as_str());
    assert_eq!(summary["view"]["currentModelId"], agent_model.as_str());
    // No event repeats the value in effect: each is a real change.
    let mut mode = Some("default".to_string());
    for f in of_kind(&s.received, "approval_mode_changed") {
        assert_eq!(f.data["previous"].as_str(), mode.as_deref());
        assert_ne!(
            f.data["next"].as_str(),
            mode.as_deref(),
            "a duplicate event"
        );
        mode = f.data["next"].as_str().map(String::from);
    }
    let mut model = "demo-fast".to_string();
    for f in of_kind(&s.received, "model_switched") {
        let next = f.data["modelId"].as_str().unwrap();
        assert_ne!(next, model, "a duplicate event");
        model = next.to_string();
    }
    assert_eq!(mode.as_deref(), Some(agent_mode.as_str()));
    assert_eq!(model, agent_model);
}
