//! Extra tokens from the real `switchyard token` command against a running
//! daemon on the same data dir: read-only tokens watch but never change
//! anything, full ones control, and revocation and creation need no
//! restart.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Runs `switchyard token ARGS --data-dir DIR`; returns stdout, checking
/// the exit status.
fn token_cmd(dir: &Path, args: &[&str], expect_ok: bool) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.success(), expect_ok, "{args:?}: {stderr}");
    (stdout, stderr)
}

fn create_token(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    let (stdout, _) = token_cmd(dir, &all, true);
    // Nothing but the token on stdout.
    let token = stdout.trim_end_matches('\n');
    assert_eq!(token.len(), 64, "{stdout:?}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{stdout:?}");
    token.to_string()
}

fn listed(dir: &Path) -> Vec<Value> {
    let (stdout, _) = token_cmd(dir, &["list", "--json"], true);
    serde_json::from_str::<Value>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn assert_forbidden((status, body): (StatusCode, Value), what: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert_eq!(body["error"]["kind"], "role_forbidden", "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_watch_full_tokens_control_revocation_is_immediate() {
    let srv = spawn_test_server().await;
    let data = srv.dir.path().to_path_buf();
    // Created while the daemon runs: no restart needed.
    let ro = create_token(&data, &["--read-only", "--name", "watcher"]);
    let full = create_token(&data, &["--name", "helper"]);

    let rows = listed(&data);
    assert_eq!(rows.len(), 2);
    let ro_row = rows.iter().find(|r| r["name"] == "watcher").unwrap();
    assert_eq!(ro_row["role"], "read-only");
    assert!(ro_row["id"].as_str().unwrap().starts_with("t_"));
    let full_row = rows.iter().find(|r| r["name"] == "helper").unwrap();
    assert_eq!(full_row["role"], "full");
    let (table, _) = token_cmd(&data, &["list"], true);
    assert!(table.contains("watcher") && table.contains("read-only"));
    let stored = std::fs::read_to_string(data.join("tokens.json")).unwrap();
    for text in [&stored, &table, &serde_json::to_string(&rows).unwrap()] {
        assert!(!text.contains(&ro) && !text.contains(&full));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("tokens.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The primary token creates a session; the read-only token watches it.
    let (sid, ctl) = srv.create_session().await;
    let attach = |role: &'static str| {
        let sid = sid.clone();
        let ro = ro.clone();
        let srv = &srv;
        async move {
            srv.send_as(
                &ro,
                Method::POST,
                &format!("/session/{sid}/attach"),
                None,
                Some(json!({ "role": role })),
            )
            .await
        }
    };
    let (status, body) = attach("observer").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "observer");
    let obs = body["clientId"].as_str().unwrap().to_string();
    let mut watching = srv.events_as(&ro, &sid, &obs, None).await;
    watching.until_kind("session_snapshot").await;
    let (status, _) = srv.prompt(&sid, &ctl, "hello from control").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    watching.until_kind("turn_complete").await;
    assert!(agent_text(&watching.view()).contains("hello from control"));
    let (status, _) = srv
        .send_as(&ro, Method::GET, &format!("/session/{sid}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "reading is allowed");

    // ... but never changes anything, whatever client id it presents.
    assert_forbidden(attach("control").await, "control attach");
    assert_forbidden(
        srv.send_as(
            &ro,
            Method::POST,
            "/session",
            None,
            Some(json!({ "cwd": srv.workspace.path() })),
        )
        .await,
        "create",
    );
    let prompt = json!({ "prompt": [{ "type": "text", "text": "sneaky" }] });
    for (method, path, body) in [
        (Method::POST, format!("/session/{sid}/prompt"), Some(prompt)),
        (Method::POST, format!("/session/{sid}/cancel"), None),
        (
            Method::POST,
            format!("/session/{sid}/permission/perm_1"),
            Some(json!({"outcome": {"outcome": "cancelled"}})),
        ),
        (Method::POST, format!("/session/{sid}/detach"), None),
        (Method::DELETE, format!("/session/{sid}"), None),
    ] {
        let what = format!("{method} {path}");
        assert_forbidden(
            srv.send_as(&ro, method, &path, Some(&ctl), body).await,
            &what,
        );
    }
    let (_, summary) = srv.get(&format!("/session/{sid}"), None).await;
    assert_eq!(summary["status"], "running");
    let clients: Vec<&str> = summary["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap())
        .collect();
    assert!(clients.contains(&ctl.as_str()), "control still attached");

    // A full token from `token create` controls.
    let (status, body) = srv
        .send_as(
            &full,
            Method::POST,
            &format!("/session/{sid}/attach"),
            None,
            Some(json!({ "role": "control" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let helper = body["clientId"].as_str().unwrap().to_string();
    let (status, body) = srv
        .send_as(
            &full,
            Method::POST,
            &format!("/session/{sid}/prompt"),
            Some(&helper),
            Some(json!({ "prompt": [{ "type": "text", "text": "from helper" }] })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    watching.until_kind("turn_complete").await;

    // Revoked: the very next request is refused.
    let ro_id = ro_row["id"].as_str().unwrap();
    token_cmd(&data, &["revoke", ro_id], true);
    let (status, body) = srv
        .send_as(&ro, Method::GET, &format!("/session/{sid}"), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["kind"], "unauthorized");
    let (status, _) = srv
        .send_as(&full, Method::GET, "/session", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "the other token still works");
    // Revoking again: a clear error and a failing exit status.
    let (_, stderr) = token_cmd(&data, &["revoke", ro_id], false);
    assert!(stderr.contains(ro_id), "{stderr}");
    assert_eq!(listed(&data).len(), 1);

    srv.running.shutdown().await.unwrap();
}
