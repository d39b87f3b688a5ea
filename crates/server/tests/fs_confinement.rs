//! The agent's file access over real ACP and HTTP/SSE: a scripted agent
//! (tests/fixtures/fs_agent.py) tries every way out of its workspace; each
//! refusal reaches it as a JSON-RPC error with `errorKind` and `hint`, and
//! reaches every client as a failed tool call. Nothing lands outside.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_server::config::AgentSpec;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fs_agent.py");
const MAX_READ: u64 = 4096;
const MAX_WRITE: u64 = 1024;

/// `base/{ws,outside,untrusted}`, canonical.
struct Dirs {
    _base: tempfile::TempDir,
    base: PathBuf,
    ws: PathBuf,
    outside: PathBuf,
    untrusted: PathBuf,
}

fn dirs() -> Dirs {
    let base_dir = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(base_dir.path()).unwrap();
    let [ws, outside, untrusted] = ["ws", "outside", "untrusted"].map(|n| {
        let p = base.join(n);
        std::fs::create_dir(&p).unwrap();
        p
    });
    Dirs {
        _base: base_dir,
        base,
        ws,
        outside,
        untrusted,
    }
}

async fn server(d: &Dirs) -> TestServer {
    let ws = d.ws.clone();
    spawn_test_server_with(move |c| {
        c.agents.insert(
            "fs".into(),
            AgentSpec {
                program: "python3".into(),
                args: vec![FIXTURE.into()],
            },
        );
        c.trusted_roots = vec![ws];
        c.limits.max_read_bytes = MAX_READ;
        c.limits.max_write_bytes = MAX_WRITE;
    })
    .await
}

async fn fs_session(srv: &TestServer, cwd: &Path) -> (String, String) {
    let (status, body) = srv
        .post("/session", None, json!({ "agent": "fs", "cwd": cwd }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["sessionId"].as_str().unwrap().to_string(),
        body["clientId"].as_str().unwrap().to_string(),
    )
}

/// What the agent reported for tool call `tc<i>` on one stream:
/// (status, errorKind from the JSON-RPC error, text content).
fn outcome(stream: &EventStream, i: usize) -> (String, Option<Value>, String) {
    let view = stream.view();
    let call = view
        .tool_call(&format!("tc{i}"))
        .unwrap_or_else(|| panic!("tool call tc{i} never reached this stream"));
    assert!(call.announced, "tc{i}: a tool_call announced it");
    let text = call.content[0]["content"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let error = call
        .raw_output
        .as_ref()
        .and_then(|o| o.get("error"))
        .cloned();
    (call.status.clone(), error, text)
}

/// Checks op `i` ended as `expected` (an errorKind, or "completed") on
/// `stream`.
fn check(stream: &EventStream, i: usize, expected: &str, who: &str) {
    let (status, error, text) = outcome(stream, i);
    if expected == "completed" {
        assert_eq!(status, "completed", "{who} tc{i}: {error:?}");
        return;
    }
    assert_eq!(status, "failed", "{who} tc{i}: expected {expected}");
    let error = error.unwrap();
    assert_eq!(error["data"]["errorKind"], expected, "{who} tc{i}: {error}");
    let hint = error["data"]["hint"].as_str().unwrap_or_default();
    assert!(!hint.is_empty(), "{who} tc{i}: a hint in {error}");
    assert!(
        text.starts_with(&format!("{expected}: ")),
        "{who} tc{i}: {text}"
    );
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_escape_is_refused_with_its_kind_and_seen_by_every_client() {
    let d = dirs();
    std::fs::write(d.outside.join("secret.txt"), "top secret").unwrap();
    std::fs::write(d.ws.join("bin.dat"), [0x89, b'P', b'N', b'G', 0, 0, 0xff]).unwrap();
    std::fs::write(d.ws.join("big_read.txt"), "r".repeat(MAX_READ as usize + 1)).unwrap();
    std::fs::write(d.untrusted.join("readme.txt"), "hello").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(&d.outside, d.ws.join("link_out")).unwrap();
        symlink(d.outside.join("dangling_target.txt"), d.ws.join("dangling")).unwrap();
    }
    let srv = server(&d).await;
    let (sid, ctl) = fs_session(&srv, &d.ws).await;
    let obs = srv.attach(&sid, "observer").await;
    let mut a = srv.events(&sid, &ctl, None).await;
    let mut b = srv.events(&sid, &obs, None).await;
    a.until_kind("session_snapshot").await;
    b.until_kind("session_snapshot").await;

    let out = |p: &str| d.outside.join(p).to_string_lossy().into_owned();
    let ops: Vec<(Value, &str)> = vec![
        (
            json!({"op": "write", "path": "../outside/dotdot.txt", "content": "x"}),
            "path_outside_workspace",
        ),
        (
            json!({"op": "write", "path": out("abs.txt"), "content": "x"}),
            "path_outside_workspace",
        ),
        (
            json!({"op": "read", "path": out("secret.txt")}),
            "path_outside_workspace",
        ),
        (
            json!({"op": "read", "path": "link_out/secret.txt"}),
            "symlink_escape",
        ),
        (
            json!({"op": "write", "path": "link_out/via_link.txt", "content": "x"}),
            "symlink_escape",
        ),
        (
            json!({"op": "write", "path": "dangling", "content": "x"}),
            "symlink_escape",
        ),
        (
            json!({"op": "write", "path": "big.txt", "repeat": ["w", MAX_WRITE + 1]}),
            "file_too_large",
        ),
        (
            json!({"op": "read", "path": "big_read.txt"}),
            "file_too_large",
        ),
        (json!({"op": "read", "path": "bin.dat"}), "binary_file"),
        // Within the rules, the same agent reads and writes fine.
        (
            json!({"op": "write", "path": "sub/ok.txt", "content": "fine"}),
            "completed",
        ),
        (json!({"op": "read", "path": "sub/ok.txt"}), "completed"),
        (
            json!({"op": "write", "path": "at_cap.txt", "repeat": ["c", MAX_WRITE]}),
            "completed",
        ),
    ];
    let script = json!({ "ops": ops.iter().map(|(op, _)| op).collect::<Vec<_>>() });
    let (status, body) = srv.prompt(&sid, &ctl, &script.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    a.until_kind("turn_complete").await;
    b.until_kind("turn_complete").await;

    for (i, (_, expected)) in ops.iter().enumerate() {
        check(&a, i, expected, "control");
        check(&b, i, expected, "observer");
    }
    let (_, _, read_back) = outcome(&a, 10);
    assert_eq!(read_back, "fine");

    // Nothing escaped; the allowed writes are where they belong, 0600.
    assert_eq!(names(&d.outside), vec!["secret.txt"]);
    assert_eq!(names(&d.base), vec!["outside", "untrusted", "ws"]);
    assert_eq!(
        names(&d.ws),
        vec![
            "at_cap.txt",
            "big_read.txt",
            "bin.dat",
            "dangling",
            "link_out",
            "sub"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(d.ws.join("sub/ok.txt")).unwrap(),
        "fine"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.ws.join("sub/ok.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A workspace outside the trusted roots: reads work, writes do not.
    let (usid, uctl) = fs_session(&srv, &d.untrusted).await;
    let mut u = srv.events(&usid, &uctl, None).await;
    let script = json!({ "ops": [
        {"op": "write", "path": "u.txt", "content": "nope"},
        {"op": "read", "path": "readme.txt"},
    ]});
    srv.prompt(&usid, &uctl, &script.to_string()).await;
    u.until_kind("turn_complete").await;
    check(&u, 0, "untrusted_workspace", "untrusted");
    check(&u, 1, "completed", "untrusted");
    assert_eq!(outcome(&u, 1).2, "hello");
    assert_eq!(names(&d.untrusted), vec!["readme.txt"]);

    srv.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_to_one_path_are_serialized_and_leave_no_temp_files() {
    let d = dirs();
    let srv = spawn_test_server_with({
        let ws = d.ws.clone();
        move |c| {
            c.agents.insert(
                "fs".into(),
                AgentSpec {
                    program: "python3".into(),
                    args: vec![FIXTURE.into()],
                },
            );
            c.trusted_roots = vec![ws];
        }
    })
    .await;
    let (sid, ctl) = fs_session(&srv, &d.ws).await;
    let mut a = srv.events(&sid, &ctl, None).await;
    const WRITERS: usize = 12;
    const SIZE: usize = 256 * 1024;
    let letters: Vec<String> = (0..WRITERS)
        .map(|i| char::from(b'a' + i as u8).to_string())
        .collect();
    let ops: Vec<Value> = letters
        .iter()
        .map(|l| json!({"op": "write", "path": "same.txt", "repeat": [l, SIZE]}))
        .collect();
    let script = json!({ "ops": ops, "concurrent": true });
    srv.prompt(&sid, &ctl, &script.to_string()).await;
    a.until_kind("turn_complete").await;
    for i in 0..WRITERS {
        check(&a, i, "completed", "writer");
    }
    let text = std::fs::read_to_string(d.ws.join("same.txt")).unwrap();
    assert_eq!(text.len(), SIZE, "no torn file");
    let first = &text[..1];
    assert!(letters.iter().any(|l| l == first));
    assert!(
        text.chars().all(|c| c.to_string() == first),
        "no mixed file"
    );
    assert_eq!(names(&d.ws), vec!["same.txt"], "no temp files left");
    assert_eq!(srv.running.registry.fs_policy().locked_paths(), 0);
    srv.running.shutdown().await.unwrap();
}
