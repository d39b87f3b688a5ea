//! Auth and origin checks, applied to every route but `/health`.
//!
//! - The token is random, created on first start in `<data_dir>/token` with
//!   mode 0600, compared in constant time, and never logged. It may come as
//!   `Authorization: Bearer <t>` or `?token=<t>` (for the first page load of
//!   the web client, which cannot set headers).
//! - `Host` must name this daemon (loopback names or the listen address):
//!   a page on another site that resolves its own name to 127.0.0.1 (DNS
//!   rebinding) sends its own name as Host and is refused.
//! - A browser request carrying `Origin` must come from this daemon's own
//!   origin or one allowed by `--allow-origin`.
//! - Extra tokens from `switchyard token create` ([`crate::tokens`]) are
//!   accepted too. A read-only one grants [`Grant { read_only: true }`]
//!   and is refused, here and once for all routes, every request that could
//!   change anything: any method but GET/HEAD, except attaching (as
//!   observer: the attach route checks the role) and detaching oneself.
//!   Routes added later are covered without doing anything.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use subtle::ConstantTimeEq;
use switchyard_core::ErrorKind;

use crate::error::ApiError;
use crate::extract::query_param;
use crate::tokens::TokenStore;

/// What a request's credentials allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The token only allows attaching as an observer.
    pub read_only: bool,
}

/// The daemon's auth settings.
#[derive(Clone)]
pub struct Auth {
    token: Arc<str>,
    allowed_hosts: Arc<[String]>,
    allowed_origins: Arc<[String]>,
    tokens: Option<Arc<TokenStore>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}

/// Reads `<data_dir>/token`, creating it (0600, 32 random bytes as hex) on
/// first start.
pub fn load_or_create_token(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("token");
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    crate::tokens::ensure_data_dir(data_dir)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    Ok(token)
}

/// Reads a token from a file given with `--token-file`.
pub fn read_token_file(path: &Path) -> std::io::Result<String> {
    let t = std::fs::read_to_string(path)?;
    let t = t.trim();
    if t.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(t.to_string())
}

impl Auth {
    /// Auth for a daemon listening on `listen`.
    pub fn new(token: String, listen: SocketAddr, allowed_origins: Vec<String>) -> Auth {
        let port = listen.port();
        let mut hosts = vec![
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            listen.to_string(),
        ];
        if port == 80 {
            hosts.extend(["localhost".into(), "127.0.0.1".into(), "[::1]".into()]);
        }
        Auth {
            token: token.into(),
            allowed_hosts: hosts.into(),
            allowed_origins: allowed_origins
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            tokens: None,
        }
    }

    /// Also accepts the tokens in `store`.
    pub fn with_tokens(mut self, store: Arc<TokenStore>) -> Auth {
        self.tokens = Some(store);
        self
    }

    /// Checks a presented token: the primary one, then the stored ones.
    pub fn check_token(&self, presented: &str) -> Option<Grant> {
        let ok: bool = presented.as_bytes().ct_eq(self.token.as_bytes()).into();
        if ok {
            return Some(Grant { read_only: false });
        }
        self.tokens.as_ref()?.check(presented)
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        origin == format!("http://{}", host.to_ascii_lowercase())
            || self.allowed_origins.contains(&origin)
    }
}

/// Host/Origin checks for every route (including `/health`).
pub async fn origin_guard(
    State(auth): State<Auth>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !auth.host_allowed(host) {
        return Err(ApiError::new(
            ErrorKind::ForbiddenOrigin,
            format!("Host {host:?} is not this daemon"),
        )
        .hint("connect to http://127.0.0.1:<port> or http://localhost:<port>"));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !auth.origin_allowed(origin, host) {
            return Err(ApiError::new(
                ErrorKind::ForbiddenOrigin,
                format!("cross-origin request from {origin:?} refused"),
            )
            .hint("start the daemon with --allow-origin <origin> to allow it"));
        }
    }
    Ok(next.run(req).await)
}

/// Token check for every route but `/health`.
pub async fn require_token(
    State(auth): State<Auth>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .or_else(|| query_param(req.uri().query(), "token"));
    let Some(presented) = presented else {
        return Err(ApiError::new(ErrorKind::Unauthorized, "missing token")
            .hint("send Authorization: Bearer <token>; the token is in <data-dir>/token"));
    };
    let Some(grant) = auth.check_token(&presented) else {
        return Err(ApiError::new(ErrorKind::Unauthorized, "wrong token")
            .hint("the token may have been revoked; see `switchyard token list`"));
    };
    if grant.read_only && !read_only_may(req.method(), req.uri().path()) {
        return Err(ApiError::new(
            ErrorKind::RoleForbidden,
            format!(
                "a read-only token cannot {} {}",
                req.method(),
                req.uri().path()
            ),
        )
        .hint("read-only tokens may read, attach as observer, and detach"));
    }
    req.extensions_mut().insert(grant);
    Ok(next.run(req).await)
}

/// What a read-only token may do: read anything, attach (the route allows
/// only `observer` for it) and detach. Deny by default, so a route added
/// later is closed to read-only tokens until listed here.
fn read_only_may(method: &Method, path: &str) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    method == Method::POST && matches!(segments.as_slice(), ["session", _, "attach" | "detach"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let t1 = load_or_create_token(dir.path()).unwrap();
        let t2 = load_or_create_token(dir.path()).unwrap();
        assert_eq!(t1, t2);
        assert_eq!(t1.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn hosts_and_origins() {
        let a = Auth::new(
            "t".into(),
            "127.0.0.1:7420".parse().unwrap(),
            vec!["https://app.example".into()],
        );
        assert!(a.host_allowed("127.0.0.1:7420"));
        assert!(a.host_allowed("LOCALHOST:7420"));
        assert!(!a.host_allowed("evil.example:7420"));
        assert!(!a.host_allowed("127.0.0.1:9999"));
        assert!(a.origin_allowed("http://localhost:7420", "localhost:7420"));
        assert!(a.origin_allowed("https://app.example/", "127.0.0.1:7420"));
        assert!(!a.origin_allowed("http://evil.example", "127.0.0.1:7420"));
        assert!(a.check_token("t").is_some());
        assert!(a.check_token("u").is_none());
        assert!(a.check_token("").is_none());
    }

    #[test]
    fn read_only_tokens_may_only_read_attach_and_detach() {
        assert!(read_only_may(&Method::GET, "/session/s_1/events"));
        assert!(read_only_may(&Method::GET, "/session"));
        assert!(read_only_may(&Method::POST, "/session/s_1/attach"));
        assert!(read_only_may(&Method::POST, "/session/s_1/detach"));
        for (m, p) in [
            (Method::POST, "/session"),
            (Method::POST, "/session/s_1/prompt"),
            (Method::POST, "/session/s_1/cancel"),
            (Method::POST, "/session/s_1/permission/r_1"),
            (Method::POST, "/session/s_1/model"),
            (Method::POST, "/session/s_1/approval-mode"),
            (Method::POST, "/session/s_1/input"),
            (Method::POST, "/terminals/kill-all"),
            (Method::DELETE, "/session/s_1"),
            (Method::PUT, "/session/s_1/attach"),
            (Method::POST, "/session/s_1/attach/x"),
        ] {
            assert!(!read_only_may(&m, p), "{m} {p}");
        }
    }

    #[test]
    fn stored_tokens_are_accepted_with_their_role() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(TokenStore::open(dir.path()));
        let (_, ro) = store.create(None, true).unwrap();
        let a =
            Auth::new("primary".into(), "127.0.0.1:1".parse().unwrap(), vec![]).with_tokens(store);
        assert_eq!(a.check_token("primary"), Some(Grant { read_only: false }));
        assert_eq!(a.check_token(&ro), Some(Grant { read_only: true }));
        assert_eq!(a.check_token("other"), None);
    }
}
