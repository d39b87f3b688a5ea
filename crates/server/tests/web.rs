//! The web client's static files at `/` (`--web-dir`): no token needed, a
//! strict CSP, the API still guarded, and a plain explanation without a
//! web dir.

mod common;

use common::*;
use reqwest::StatusCode;
use switchyard_server::web;

/// A built client's shape: `index.html` and a hashed asset.
fn client_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>Switchyard</title>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app-1234.js"), "export {};").unwrap();
    dir
}

#[tokio::test]
async fn serves_the_client_without_a_token_with_a_strict_csp() {
    let dir = client_dir();
    let path = dir.path().to_path_buf();
    let srv = spawn_test_server_with(move |c| c.web_dir = Some(path)).await;
    let http = reqwest::Client::new();

    // The page a user opens: `/?token=…`; no Authorization header.
    let resp = http.get(srv.url("/?token=whatever")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/html");
    assert_eq!(h["content-security-policy"], web::CSP);
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<title>Switchyard</title>")
    );
    let csp = web::CSP;
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    assert!(!csp.contains(" 'unsafe-eval'"), "{csp}");
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");

    let resp = http
        .get(srv.url("/assets/app-1234.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/javascript");
    assert_eq!(resp.text().await.unwrap(), "export {};");

    // Missing files, traversal and non-GET methods: plain 404s.
    for p in ["/nope.js", "/assets/../../etc/passwd", "/%2e%2e/etc/passwd"] {
        let resp = http.get(srv.url(p)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{p}");
    }
    let resp = http.post(srv.url("/index.html")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // A route this daemon does not have is a 404 without a JSON error, so
    // clients can tell it from a refusal.
    let (sid, cid) = srv.create_session().await;
    let resp = http
        .post(srv.url(&format!("/session/{sid}/no-such-route")))
        .bearer_auth(&srv.running.token)
        .header("x-client-id", &cid)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.text().await.unwrap(), "");

    // The API still needs the token, the files still need a good Host.
    let resp = http.get(srv.url("/session")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = http
        .get(srv.url("/"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    srv.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_web_dir_the_root_says_how_to_build_the_client() {
    let srv = spawn_test_server().await;
    let resp = reqwest::get(srv.url("/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let text = resp.text().await.unwrap();
    assert!(text.contains("--web-dir"), "{text}");
    assert!(text.contains("scripts/run.sh"), "{text}");
    let resp = reqwest::get(srv.url("/index.html")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    srv.running.shutdown().await.unwrap();
}

#[test]
fn a_web_dir_must_hold_a_built_client() {
    let empty = tempfile::tempdir().unwrap();
    let err = web::check_dir(empty.path()).unwrap_err();
    assert!(err.contains("no index.html"), "{err}");
    let err = web::check_dir(&empty.path().join("missing")).unwrap_err();
    assert!(err.contains("not a directory"), "{err}");
    assert!(web::check_dir(client_dir().path()).is_ok());
}
