//! The demo agent's ACP contract, exercised in-process through the SDK's
//! client side over a duplex pipe.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_client_protocol::ErrorCode;
use agent_client_protocol::v1::schema::{
    CancelNotification, LoadSessionRequest, SessionConfigKind, SessionConfigOptionCategory,
    SessionUpdate, SetSessionConfigOptionRequest, SetSessionModeRequest, StopReason,
};
use common::{
    Behaviour, Permission, TIMEOUT, TerminalCall, TestClient, agent_text, chunks, of_kind, options,
    workspace,
};
use serde_json::json;
use switchyard_demo_agent::{Error, MODELS, MODES};

async fn started(behaviour: Behaviour) -> (tempfile::TempDir, std::path::PathBuf, TestClient) {
    let (dir, cwd) = workspace();
    let client = TestClient::start(options(dir.path()), behaviour).await;
    client.initialize().await;
    (dir, cwd, client)
}

#[tokio::test]
async fn initialize_advertises_load_session_and_default_prompt_capabilities() {
    let (dir, _cwd) = workspace();
    let client = TestClient::start(options(dir.path()), Behaviour::default()).await;
    let response = client.initialize().await;
    assert!(response.agent_capabilities.load_session);
    assert!(!response.agent_capabilities.prompt_capabilities.image);
    assert!(!response.agent_capabilities.prompt_capabilities.audio);
    assert!(
        !response
            .agent_capabilities
            .prompt_capabilities
            .embedded_context
    );
    assert_eq!(
        response.agent_info.map(|info| info.name).as_deref(),
        Some("switchyard-demo-agent")
    );
}

#[tokio::test]
async fn new_session_offers_modes_models_and_commands() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session_id, response) = client.new_session(&cwd).await;
    assert!(!session_id.is_empty());

    assert_eq!(response["modes"]["currentModeId"], "default");
    let modes: Vec<_> = response["modes"]["availableModes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|mode| mode["id"].as_str().unwrap())
        .collect();
    assert_eq!(modes, MODES);

    // Stable form: one select config option for the model.
    let options = response["configOptions"].as_array().unwrap();
    assert_eq!(options.len(), 1);
    let model = &options[0];
    assert_eq!(model["id"], "model");
    assert_eq!(model["category"], "model");
    assert_eq!(model["type"], "select");
    assert_eq!(model["currentValue"], "demo-fast");
    let values: Vec<_> = model["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, MODELS);

    // Legacy form, as qwen-code / gemini-cli / claude-code-acp send it.
    assert_eq!(response["models"]["currentModelId"], "demo-fast");
    let legacy: Vec<_> = response["models"]["availableModels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| {
            assert!(model["name"].is_string());
            model["modelId"].as_str().unwrap()
        })
        .collect();
    assert_eq!(legacy, MODELS);

    // The typed stable fields parse with the SDK's schema, too.
    let typed: agent_client_protocol::v1::schema::NewSessionResponse =
        serde_json::from_value(response.clone()).unwrap();
    let option = &typed.config_options.unwrap()[0];
    assert_eq!(option.category, Some(SessionConfigOptionCategory::Model));
    assert!(matches!(option.kind, SessionConfigKind::Select(_)));

    let commands = client
        .wait_for(|update| match &update.typed {
            SessionUpdate::AvailableCommandsUpdate(commands) => {
                Some(commands.available_commands.clone())
            }
            _ => None,
        })
        .await;
    let names: Vec<_> = commands.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "echo", "write", "flood", "slow", "crash", "mode", "model", "plan", "think", "run", "hold",
        "release", "state",
    ] {
        assert!(
            names.contains(&expected),
            "missing /{expected} in {names:?}"
        );
    }
    let echo = commands.iter().find(|c| c.name == "echo").unwrap();
    assert!(!echo.description.is_empty());
    assert!(echo.input.is_some(), "/echo has an input hint");
}

#[tokio::test]
async fn echo_streams_several_chunks_that_concatenate_to_the_text() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let text = "héllo, wörld — a line\nand another";
    let response = client
        .prompt(&session, &format!("/echo {text}"))
        .await
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    let updates = client.take_updates();
    let pieces = chunks(&updates, "agent_message_chunk");
    assert!(pieces.len() >= 3, "{pieces:?}");
    assert_eq!(pieces.concat(), text);
    assert!(updates.iter().all(|u| u.session_id == session));
}

#[tokio::test]
async fn anything_else_gets_a_short_reply_in_two_chunks() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client.prompt(&session, "hello there").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    let updates = client.take_updates();
    assert!(chunks(&updates, "agent_message_chunk").len() >= 2);
    assert_eq!(agent_text(&updates), "You said: hello there");
}

#[tokio::test]
async fn write_with_permission_writes_the_absolute_path_and_completes() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client
        .prompt(&session, "/write notes/todo.txt buy milk\nand eggs")
        .await
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    let absolute = cwd.join("notes/todo.txt");

    let writes = client.writes.lock().unwrap().clone();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, absolute);
    assert_eq!(writes[0].content, "buy milk\nand eggs");
    assert_eq!(writes[0].session_id.to_string(), session);
    assert_eq!(
        std::fs::read_to_string(&absolute).unwrap(),
        "buy milk\nand eggs"
    );

    let updates = client.take_updates();
    let calls = of_kind(&updates, "tool_call");
    assert_eq!(calls.len(), 1);
    let call = &calls[0].raw;
    assert_eq!(call["kind"], "edit");
    assert_eq!(call["status"], "pending");
    assert_eq!(call["title"], "Write notes/todo.txt");
    assert_eq!(call["locations"], json!([{ "path": absolute }]));
    assert_eq!(
        call["rawInput"],
        json!({ "path": absolute, "content": "buy milk\nand eggs" })
    );

    let permissions = client.permissions.lock().unwrap().clone();
    assert_eq!(permissions.len(), 1);
    assert_eq!(
        permissions[0].tool_call.tool_call_id.to_string(),
        call["toolCallId"].as_str().unwrap()
    );
    let options = serde_json::to_value(&permissions[0].options).unwrap();
    assert_eq!(
        options,
        json!([
            { "optionId": "allow", "kind": "allow_once", "name": "Allow" },
            { "optionId": "reject", "kind": "reject_once", "name": "Reject" },
        ])
    );

    let done = of_kind(&updates, "tool_call_update");
    assert_eq!(done.len(), 1);
    let done = &done[0].raw;
    assert_eq!(done["toolCallId"], call["toolCallId"]);
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["content"],
        json!([{
            "type": "diff",
            "path": absolute,
            "oldText": null,
            "newText": "buy milk\nand eggs",
        }])
    );
    assert!(
        done["content"][0]
            .as_object()
            .unwrap()
            .contains_key("oldText")
    );
}

#[tokio::test]
async fn write_rejected_fails_the_tool_call_and_never_writes() {
    let (_dir, cwd, mut client) = started(Behaviour {
        permission: Permission::Reject,
        ..Behaviour::default()
    })
    .await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client.prompt(&session, "/write a.txt nope").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert!(client.writes.lock().unwrap().is_empty());
    assert!(!cwd.join("a.txt").exists());
    let updates = client.take_updates();
    let done = of_kind(&updates, "tool_call_update");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].raw["status"], "failed");
    assert!(agent_text(&updates).contains("Permission denied"));
}

#[tokio::test]
async fn write_with_cancelled_permission_ends_the_turn_cancelled() {
    let (_dir, cwd, mut client) = started(Behaviour {
        permission: Permission::Cancel,
        ..Behaviour::default()
    })
    .await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client.prompt(&session, "/write a.txt nope").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::Cancelled);
    assert!(client.writes.lock().unwrap().is_empty());
    let updates = client.take_updates();
    assert_eq!(
        of_kind(&updates, "tool_call_update")[0].raw["status"],
        "failed"
    );
}

#[tokio::test]
async fn write_that_the_client_fails_reports_the_error() {
    let (_dir, cwd, mut client) = started(Behaviour {
        write_error: Some("disk on fire".into()),
        ..Behaviour::default()
    })
    .await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client.prompt(&session, "/write a.txt text").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(client.writes.lock().unwrap().len(), 1);
    let updates = client.take_updates();
    let done = of_kind(&updates, "tool_call_update");
    assert_eq!(done[0].raw["status"], "failed");
    assert_eq!(done[0].raw["content"][0]["content"]["text"], "disk on fire");
    assert!(agent_text(&updates).contains("disk on fire"));
}

#[tokio::test]
async fn flood_delivers_exactly_n_chunks_in_order() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client.prompt(&session, "/flood 10000").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    let updates = client.take_updates();
    let pieces = chunks(&updates, "agent_message_chunk");
    assert_eq!(pieces.len(), 10_000);
    for (i, piece) in pieces.iter().enumerate() {
        assert_eq!(*piece, format!("chunk {i}\n"));
    }
}

#[tokio::test]
async fn slow_stops_promptly_on_cancel() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let started = Instant::now();
    let pending = client.send_prompt(&session, "/slow");
    // The first chunk proves the turn is under way.
    client
        .wait_for(|update| update.text("agent_message_chunk").map(drop))
        .await;
    let cancelled_at = Instant::now();
    client
        .cx
        .send_notification(CancelNotification::new(session.clone()))
        .unwrap();
    let response = tokio::time::timeout(TIMEOUT, pending.block_task())
        .await
        .expect("the prompt ends after cancel")
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::Cancelled);
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(2),
        "took {:?}",
        cancelled_at.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "not the full 30 s"
    );

    // The session is usable again afterwards.
    let response = client.prompt(&session, "/echo after").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
}

#[tokio::test]
async fn flood_stops_promptly_on_cancel() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let pending = client.send_prompt(&session, "/flood 1000000000");
    client
        .wait_for(|update| update.text("agent_message_chunk").map(drop))
        .await;
    client
        .cx
        .send_notification(CancelNotification::new(session.clone()))
        .unwrap();
    let response = tokio::time::timeout(TIMEOUT, pending.block_task())
        .await
        .expect("the flood ends after cancel")
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::Cancelled);
}

#[tokio::test]
async fn waiting_for_permission_leaves_the_agent_responsive_and_cancellable() {
    let (_dir, cwd, mut client) = started(Behaviour {
        permission: Permission::Hold,
        ..Behaviour::default()
    })
    .await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let pending = client.send_prompt(&session, "/write held.txt text");
    tokio::time::timeout(TIMEOUT, client.permission_asked.recv())
        .await
        .expect("the agent asks for permission")
        .unwrap();
    // The dispatch loop still answers while the permission is pending.
    client
        .request(SetSessionModeRequest::new(session.clone(), "plan"))
        .await
        .unwrap();
    client
        .cx
        .send_notification(CancelNotification::new(session.clone()))
        .unwrap();
    let response = tokio::time::timeout(TIMEOUT, pending.block_task())
        .await
        .expect("the prompt ends after cancel")
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::Cancelled);
    assert!(client.writes.lock().unwrap().is_empty());
    let updates = client.take_updates();
    assert_eq!(
        of_kind(&updates, "tool_call_update")[0].raw["status"],
        "failed"
    );
}

#[tokio::test]
async fn set_mode_switches_and_notifies_and_rejects_unknown_modes() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    client
        .request(SetSessionModeRequest::new(session.clone(), "plan"))
        .await
        .unwrap();
    let updates = client.take_updates();
    let modes: Vec<_> = updates
        .iter()
        .filter_map(|update| match &update.typed {
            SessionUpdate::CurrentModeUpdate(mode) => Some(mode.current_mode_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(modes, ["plan"]);

    let error = client
        .request(SetSessionModeRequest::new(session.clone(), "chaos"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
    assert!(client.take_updates().is_empty());

    let error = client
        .request(SetSessionModeRequest::new("no-such-session", "plan"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::from(-32002));
}

fn current_model(update: &common::Update) -> Option<String> {
    match &update.typed {
        SessionUpdate::ConfigOptionUpdate(update) => match &update.config_options[0].kind {
            SessionConfigKind::Select(select) => Some(select.current_value.to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn set_config_option_switches_model_and_notifies() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client
        .request(SetSessionConfigOptionRequest::new(
            session.clone(),
            "model",
            "demo-smart",
        ))
        .await
        .unwrap();
    match &response.config_options[0].kind {
        SessionConfigKind::Select(select) => assert_eq!(&*select.current_value.0, "demo-smart"),
        other => panic!("expected a select, got {other:?}"),
    }
    let updates = client.take_updates();
    let models: Vec<_> = updates.iter().filter_map(current_model).collect();
    assert_eq!(models, ["demo-smart"]);

    for (config, value) in [("model", "demo-huge"), ("temperature", "demo-fast")] {
        let error = client
            .request(SetSessionConfigOptionRequest::new(
                session.clone(),
                config,
                value,
            ))
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{config}={value}");
    }
    assert!(client.take_updates().is_empty());
}

#[tokio::test]
async fn legacy_set_model_switches_model_and_notifies() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client
        .raw(
            "session/set_model",
            json!({ "sessionId": session, "modelId": "demo-smart" }),
        )
        .await
        .unwrap();
    assert_eq!(response, json!({}));
    let updates = client.take_updates();
    let models: Vec<_> = updates.iter().filter_map(current_model).collect();
    assert_eq!(models, ["demo-smart"]);

    let error = client
        .raw(
            "session/set_model",
            json!({ "sessionId": session, "modelId": "gpt-17" }),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
}

#[tokio::test]
async fn mode_and_model_commands_change_state_from_a_prompt() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    client.prompt(&session, "/mode yolo").await.unwrap();
    let updates = client.take_updates();
    assert_eq!(
        of_kind(&updates, "current_mode_update")[0].raw["currentModeId"],
        "yolo"
    );
    assert!(agent_text(&updates).contains("yolo"));

    client.prompt(&session, "/model demo-smart").await.unwrap();
    let updates = client.take_updates();
    let models: Vec<_> = updates.iter().filter_map(current_model).collect();
    assert_eq!(models, ["demo-smart"]);

    client.prompt(&session, "/mode chaos").await.unwrap();
    let updates = client.take_updates();
    assert!(of_kind(&updates, "current_mode_update").is_empty());
    assert!(agent_text(&updates).contains("Unknown mode"));
}

#[tokio::test]
async fn plan_and_think_send_their_updates() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    client.prompt(&session, "/plan").await.unwrap();
    let updates = client.take_updates();
    let plan = match &of_kind(&updates, "plan")[0].typed {
        SessionUpdate::Plan(plan) => plan.clone(),
        _ => unreachable!(),
    };
    assert_eq!(plan.entries.len(), 3);
    let raw = serde_json::to_value(&plan.entries).unwrap();
    let statuses: std::collections::HashSet<_> = raw
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].to_string())
        .collect();
    let priorities: std::collections::HashSet<_> = raw
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["priority"].to_string())
        .collect();
    assert_eq!((statuses.len(), priorities.len()), (3, 3));
    assert!(!agent_text(&updates).is_empty());

    client.prompt(&session, "/think").await.unwrap();
    let updates = client.take_updates();
    assert!(chunks(&updates, "agent_thought_chunk").len() >= 2);
    assert!(!agent_text(&updates).is_empty());
}

#[tokio::test]
async fn run_uses_the_client_terminal() {
    let (_dir, cwd, mut client) = started(Behaviour {
        terminal: true,
        ..Behaviour::default()
    })
    .await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client
        .prompt(&session, "/run echo 'hello from sh' | cat")
        .await
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(
        *client.terminal_calls.lock().unwrap(),
        [
            TerminalCall::Create {
                command: "echo 'hello from sh' | cat".into(),
                args: vec![],
            },
            TerminalCall::WaitForExit,
            TerminalCall::Output,
            TerminalCall::Release,
        ]
    );
    let updates = client.take_updates();
    let call = &of_kind(&updates, "tool_call")[0].raw;
    assert_eq!(call["kind"], "execute");
    assert_eq!(
        call["content"],
        json!([{ "type": "terminal", "terminalId": "term-1" }])
    );
    let done = &of_kind(&updates, "tool_call_update")[0].raw;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["content"][0]["content"]["text"], "hello from sh\n");
}

#[tokio::test]
async fn run_without_terminal_capability_says_so() {
    let (_dir, cwd, mut client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let response = client.prompt(&session, "/run ls").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert!(client.terminal_calls.lock().unwrap().is_empty());
    let updates = client.take_updates();
    assert!(of_kind(&updates, "tool_call").is_empty());
    assert!(agent_text(&updates).contains("terminal"));
}

#[tokio::test]
async fn unknown_methods_are_method_not_found() {
    let (_dir, cwd, client) = started(Behaviour::default()).await;
    let (session, _) = client.new_session(&cwd).await;
    for params in [json!({}), json!({ "sessionId": session })] {
        let error = client.raw("demo/nope", params).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
    }
    // Still alive.
    client.prompt(&session, "/echo ok").await.unwrap();
}

#[tokio::test]
async fn load_in_a_new_agent_replays_history_and_restores_mode_and_model() {
    let (dir, cwd) = workspace();
    let first = TestClient::start(options(dir.path()), Behaviour::default()).await;
    first.initialize().await;
    let (session, _) = first.new_session(&cwd).await;
    first.prompt(&session, "/echo one two three").await.unwrap();
    first.prompt(&session, "/plan").await.unwrap();
    first.prompt(&session, "/write w.txt body").await.unwrap();
    first
        .request(SetSessionModeRequest::new(session.clone(), "auto-edit"))
        .await
        .unwrap();
    first
        .raw(
            "session/set_model",
            json!({ "sessionId": session, "modelId": "demo-smart" }),
        )
        .await
        .unwrap();

    // A second agent (a fresh process, as far as state goes) loads it.
    let mut second = TestClient::start(options(dir.path()), Behaviour::default()).await;
    second.initialize().await;
    let response = second
        .raw(
            "session/load",
            serde_json::to_value(LoadSessionRequest::new(session.clone(), &cwd)).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response["modes"]["currentModeId"], "auto-edit");
    assert_eq!(response["configOptions"][0]["currentValue"], "demo-smart");
    assert_eq!(response["models"]["currentModelId"], "demo-smart");

    let replayed = second.take_updates();
    assert!(replayed.iter().all(|u| u.session_id == session));
    let kinds: Vec<_> = replayed
        .iter()
        .map(common::Update::kind)
        .filter(|kind| *kind != "available_commands_update")
        .collect();
    assert_eq!(
        kinds,
        [
            "user_message_chunk",
            "agent_message_chunk",
            "user_message_chunk",
            "plan",
            "agent_message_chunk",
            "user_message_chunk",
            "tool_call",
            "tool_call_update",
            "agent_message_chunk",
        ]
    );
    assert_eq!(
        chunks(&replayed, "user_message_chunk"),
        ["/echo one two three", "/plan", "/write w.txt body"]
    );
    assert_eq!(chunks(&replayed, "agent_message_chunk")[0], "one two three");
    assert_eq!(of_kind(&replayed, "tool_call")[0].raw["status"], "pending");

    // The loaded session carries on.
    let response = second.prompt(&session, "/echo again").await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
}

#[tokio::test]
async fn load_of_an_unknown_session_is_resource_not_found() {
    let (_dir, cwd, client) = started(Behaviour::default()).await;
    for id in ["0b5c0d2e-missing", "../../etc/passwd"] {
        let error = client
            .request(LoadSessionRequest::new(id, &cwd))
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::from(-32002), "{id}");
    }
}

#[tokio::test]
async fn crash_in_process_calls_the_hook_and_ends_the_connection() {
    let (dir, cwd) = workspace();
    let exits = Arc::new(Mutex::new(Vec::new()));
    let hook_exits = exits.clone();
    let mut client = TestClient::start(
        options(dir.path()).exit_hook(move |code| hook_exits.lock().unwrap().push(code)),
        Behaviour::default(),
    )
    .await;
    client.initialize().await;
    let (session, _) = client.new_session(&cwd).await;
    client.take_updates();

    let pending = client.send_prompt(&session, "/crash");
    client
        .wait_for(|update| update.text("agent_message_chunk").map(drop))
        .await;
    let outcome = tokio::time::timeout(TIMEOUT, pending.block_task())
        .await
        .expect("the prompt fails once the agent is gone");
    assert!(outcome.is_err(), "a crashed agent does not answer");
    let ended = tokio::time::timeout(TIMEOUT, client.agent)
        .await
        .expect("the agent stops")
        .unwrap();
    assert!(
        matches!(ended, Err(Error::Crashed { exit_code: 3 })),
        "{ended:?}"
    );
    assert_eq!(*exits.lock().unwrap(), [3]);
}

#[tokio::test]
async fn agent_returns_ok_when_its_input_closes() {
    let (dir, _cwd) = workspace();
    let (agent_io, client_io) = tokio::io::duplex(1024);
    let (read, write) = tokio::io::split(agent_io);
    let agent = tokio::spawn(switchyard_demo_agent::run_with(
        read,
        write,
        options(dir.path()),
    ));
    drop(client_io);
    let ended = tokio::time::timeout(TIMEOUT, agent).await.unwrap().unwrap();
    assert!(ended.is_ok(), "{ended:?}");
}
