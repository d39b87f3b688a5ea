//! The web client's static files (`--web-dir`), served at `/` as the
//! router's fallback.
//!
//! Static files carry no secrets, so they need no token (a browser's first
//! page load cannot send one as a header anyway); the API routes still do.
//! The Host/Origin guard applies to them like to every route. Only `GET` and
//! `HEAD` reach the files: any other method on a path no route matches is a
//! plain `404`, as without a web dir, so a client can tell a route this
//! daemon lacks from a method it refuses.

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, get_service};
use tower_http::services::ServeDir;

/// The Content-Security-Policy of every static response.
///
/// - `'wasm-unsafe-eval'`: the SDK's WebAssembly cannot compile without it;
///   nothing needs `'unsafe-eval'` or inline scripts.
/// - `style-src 'unsafe-inline'`: xterm.js styles its DOM renderer with
///   `<style>` elements it creates at run time. Styles cannot run code.
/// - `connect-src 'self'`: the API, the event stream and the `.wasm` fetch
///   are all same-origin.
/// - `frame-ancestors` is left open so an editor panel (a VS Code webview)
///   can frame the client.
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'";

/// What `/` answers when the daemon was started without `--web-dir`.
const NO_CLIENT: &str = "\
Switchyard daemon: no web client is being served.

Start the daemon with --web-dir DIR to serve one. From a clone of the
repository, scripts/run.sh builds the client (examples/web) when needed and
starts the daemon with --web-dir examples/web/dist; to build it by hand:

    scripts/build-sdk.sh
    cd examples/web && npm ci && npx vite build

The HTTP API is documented in docs/api.md.
";

/// Checks a `--web-dir` before serving it: it must be a directory holding
/// `index.html` (the built client, not its sources).
pub fn check_dir(dir: &Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if !dir.join("index.html").is_file() {
        return Err(format!(
            "{} has no index.html: build the web client first (cd examples/web && npm ci && npx vite build)",
            dir.display()
        ));
    }
    Ok(())
}

/// The fallback service: the files under `dir`, or the explanation page.
pub fn fallback<S>(dir: Option<PathBuf>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let files = match dir {
        Some(dir) => get_service(ServeDir::new(dir).append_index_html_on_directories(true)),
        None => get(no_client),
    };
    files
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn(headers))
}

/// `/` without a web dir; everything else is not found.
async fn no_client(req: Request) -> Response {
    if req.uri().path() == "/" {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            NO_CLIENT,
        )
            .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Security and caching headers on every static response.
async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The first page load's URL carries the token: never send it on.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Revalidate (ETag/Last-Modified) so a rebuilt client is picked up.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
