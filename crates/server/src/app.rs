//! The HTTP application: router, layers, listener, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{self, Auth};
use crate::config::Config;
use crate::routes::{self, AppState};
use crate::session::Registry;

/// CORS for the origins given with `--allow-origin` (VS Code webviews,
/// pages served elsewhere). Same-origin pages need none; without
/// `--allow-origin` no CORS headers are sent at all.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-client-id"),
                HeaderName::from_static("last-event-id"),
                // The SDK sends back the epoch of the ids it resumes from.
                HeaderName::from_static("x-switchyard-epoch"),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                HeaderName::from_static("x-switchyard-epoch"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Builds the router for `state`.
pub fn router(state: AppState) -> Router {
    let limit = state.registry.config().limits.max_body_bytes;
    let cors = cors(&state.registry.config().allowed_origins);
    let api = Router::new()
        .route("/capabilities", get(routes::capabilities::capabilities))
        .route(
            "/session",
            post(routes::sessions::create).get(routes::sessions::list),
        )
        .route(
            "/session/{id}",
            get(routes::sessions::get).delete(routes::sessions::close),
        )
        .route("/session/{id}/attach", post(routes::sessions::attach))
        .route("/session/{id}/detach", post(routes::sessions::detach))
        .route("/session/{id}/prompt", post(routes::prompts::prompt))
        .route("/session/{id}/cancel", post(routes::prompts::cancel))
        .route("/session/{id}/model", post(routes::settings::model))
        .route(
            "/session/{id}/approval-mode",
            post(routes::settings::approval_mode),
        )
        .route(
            "/session/{id}/permission/{request_id}",
            post(routes::permissions::vote),
        )
        .route("/session/{id}/input", post(routes::terminals::input))
        .route("/session/{id}/resize", post(routes::terminals::resize))
        .route("/session/{id}/signal", post(routes::terminals::signal))
        .route(
            "/session/{id}/clear-scrollback",
            post(routes::terminals::clear_scrollback),
        )
        .route("/session/{id}/owner", post(routes::terminals::owner))
        .route("/terminals/kill-all", post(routes::terminals::kill_all))
        .route("/session/{id}/events", get(routes::events::events))
        .route_layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require_token,
        ));
    let web_dir = state.registry.config().web_dir.clone();
    Router::new()
        .route("/health", get(routes::health::health))
        .merge(api)
        // Static files: no token (they hold no secrets), but the Host and
        // Origin checks below apply.
        .fallback(crate::web::fallback(web_dir))
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::origin_guard,
        ))
        .layer(DefaultBodyLimit::max(limit))
        // Outermost: a preflight carries no token and must be answered
        // before auth sees it.
        .layer(tower::util::option_layer(cors))
        .with_state(state)
}

/// A running daemon.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its token.
    pub token: String,
    /// The sessions (for tests and shutdown).
    pub registry: Arc<Registry>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Ends every session (each gets `session_died{daemon_shutdown}`), stops
    /// accepting, and waits for the server to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.registry.shutdown().await;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .map_err(|e| std::io::Error::other(format!("server task: {e}")))?
    }

    /// Waits until the server stops on its own (it does not, unless it
    /// fails).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        (&mut self.task)
            .await
            .map_err(|e| std::io::Error::other(format!("server task: {e}")))?
    }
}

/// Binds, then serves in a background task.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let token = match &config.token {
        Some(t) => t.clone(),
        None => auth::load_or_create_token(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the token in {}: {e}",
                config.data_dir.display()
            )
        })?,
    };
    // The journal first: a database it must refuse stops start-up before
    // anything listens.
    let journal = match &config.journal {
        Some(jc) => {
            let db = crate::journal::sqlite::SqliteJournal::open(
                &config.data_dir,
                jc.full_sync,
                config.reset_journal,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let path = db.path().display().to_string();
            let handle = crate::journal::JournalHandle::start(db, *jc, path);
            crate::journal::mirror::sync_files(&config.data_dir, &handle);
            Some(handle)
        }
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let auth = Auth::new(token.clone(), addr, config.allowed_origins.clone())
        .with_tokens(Arc::new(crate::tokens::TokenStore::open(&config.data_dir)));
    let registry = Arc::new(Registry::with_journal(config, journal));
    let report = crate::session::restore::restore(&registry)
        .await
        .map_err(|e| anyhow::anyhow!("restoring sessions from the journal failed: {e}"))?;
    if report.sessions > 0 {
        tracing::info!(
            sessions = report.sessions,
            reloaded = report.reloaded,
            ended = report.ended,
            "sessions restored from the journal"
        );
    }
    let app = router(AppState {
        registry: registry.clone(),
        auth,
    });
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(Running {
        addr,
        token,
        registry,
        shutdown: Some(tx),
        task,
    })
}
