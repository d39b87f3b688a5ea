//! Switchyard's built-in demo agent: a real ACP agent that needs no network,
//! no model and no API key, so the daemon works offline and tests are
//! deterministic.
//!
//! # Tour
//!
//! The daemon starts it as `switchyard demo-agent`, which calls
//! [`run_stdio`]; tests run it in-process over any byte streams with [`run`]
//! or [`run_with`]. It speaks ACP protocol v1 through the agent side of the
//! `agent-client-protocol` crate.
//!
//! - **Setup.** `initialize` advertises `loadSession: true`. `session/new`
//!   answers with the four modes ([`MODES`]) and the model choice
//!   ([`MODELS`]) twice over: as the stable `configOptions` select
//!   (id `model`, category `model`) and as the legacy `models` object
//!   (`currentModelId`, `availableModels`) that older clients read. An
//!   `available_commands_update` follows the response.
//! - **Configuration.** `session/set_mode`, `session/set_config_option` and
//!   the legacy `session/set_model` validate their argument (unknown →
//!   invalid params), switch, notify (`current_mode_update` or
//!   `config_option_update`) and answer.
//! - **Prompts** are slash commands (`/echo`, `/write`, `/flood`, `/slow`,
//!   `/crash`, `/mode`, `/model`, `/plan`, `/think`, `/run`, and `/hold`,
//!   `/release`, `/state` for testing configuration races); anything else
//!   gets "You said: …". Each turn runs in a task of its own, so the
//!   dispatch loop stays free for `session/cancel` and for the client's
//!   answers to the agent's own requests (permission, file writes,
//!   terminals).
//! - **Persistence.** Every session is saved as `<id>.json` in
//!   [`DemoAgentOptions::state_dir`] (by default `$`[`STATE_DIR_ENV`] or
//!   `<temp dir>/switchyard-demo-agent`), written atomically, so a new agent
//!   process can `session/load` it: the conversation is replayed as
//!   `session/update`s and mode and model come back.
//! - **Output** goes through a writer of our own with flush barriers (see
//!   the `transport` module), which bounds `/flood` to a few thousand queued
//!   lines whatever N is, and lets `/crash` exit only after its last chunk
//!   left the process.
//!
//! Transports are tokio's [`AsyncRead`] / [`AsyncWrite`]; the crate adapts
//! them to the SDK's line transport itself, so callers need no
//! `tokio-util` compat layer.

#![warn(missing_docs)]

mod agent;
mod session;
mod transport;
mod turn;
mod wire;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use agent_client_protocol::Lines;
use tokio::io::{AsyncRead, AsyncWrite};

/// Environment variable naming the directory where sessions are saved.
pub const STATE_DIR_ENV: &str = "SWITCHYARD_DEMO_AGENT_STATE_DIR";

/// The session mode ids, default first.
pub const MODES: [&str; 4] = [
    wire::MODES[0].0,
    wire::MODES[1].0,
    wire::MODES[2].0,
    wire::MODES[3].0,
];

/// The model ids, default first.
pub const MODELS: [&str; 2] = [wire::MODELS[0].0, wire::MODELS[1].0];

/// The exit status `/crash` ends the agent with.
pub const CRASH_EXIT_CODE: i32 = 3;

/// Called with the exit status when a prompt asks the agent to `/crash`.
pub type ExitHook = Arc<dyn Fn(i32) + Send + Sync>;

/// How to run the demo agent.
#[derive(Clone, Default)]
pub struct DemoAgentOptions {
    state_dir: Option<PathBuf>,
    exit_hook: Option<ExitHook>,
    no_load_session: bool,
}

impl fmt::Debug for DemoAgentOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoAgentOptions")
            .field("state_dir", &self.state_dir)
            .field("exit_hook", &self.exit_hook.as_ref().map(|_| "<hook>"))
            .field("no_load_session", &self.no_load_session)
            .finish()
    }
}

impl DemoAgentOptions {
    /// Defaults: sessions saved under [`default_state_dir`], and `/crash`
    /// ends only the connection (see [`Error::Crashed`]), never the process.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Saves sessions in `dir` instead of the default.
    #[must_use]
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Calls `hook` with the exit status on `/crash`, after the crash
    /// message has been flushed. If the hook returns, the connection is torn
    /// down and [`run_with`] returns [`Error::Crashed`].
    #[must_use]
    pub fn exit_hook(mut self, hook: impl Fn(i32) + Send + Sync + 'static) -> Self {
        self.exit_hook = Some(Arc::new(hook));
        self
    }

    /// Plays an agent without `session/load`: `initialize` advertises
    /// `loadSession: false` and `session/load` is an unknown method (how
    /// a client copes with agents that cannot reload a session).
    #[must_use]
    pub fn without_load_session(mut self) -> Self {
        self.no_load_session = true;
        self
    }

    /// Makes `/crash` exit the whole process, as the stdio agent does.
    #[must_use]
    pub fn exit_process_on_crash(self) -> Self {
        self.exit_hook(|code| std::process::exit(code))
    }
}

/// Where sessions are saved unless [`DemoAgentOptions::state_dir`] says
/// otherwise: `$SWITCHYARD_DEMO_AGENT_STATE_DIR`, else
/// `<temp dir>/switchyard-demo-agent`.
#[must_use]
pub fn default_state_dir() -> PathBuf {
    std::env::var_os(STATE_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || std::env::temp_dir().join("switchyard-demo-agent"),
            PathBuf::from,
        )
}

/// Why the demo agent stopped, when it was not because its input closed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Writing to the output failed.
    Io(std::io::Error),
    /// The ACP connection failed.
    Protocol(agent_client_protocol::Error),
    /// A prompt said `/crash` and no exit hook ended the process.
    Crashed {
        /// The status the process would have exited with.
        exit_code: i32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "demo agent output failed: {error}"),
            Self::Protocol(error) => write!(f, "demo agent connection failed: {error}"),
            Self::Crashed { exit_code } => {
                write!(f, "demo agent crashed on request (exit status {exit_code})")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            Self::Protocol(error) => Some(error),
            Self::Crashed { .. } => None,
        }
    }
}

/// The demo agent's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the demo agent on stdin/stdout until stdin closes. `/crash` exits
/// the process with status [`CRASH_EXIT_CODE`].
///
/// # Errors
///
/// As [`run_with`].
pub async fn run_stdio() -> Result<()> {
    run_stdio_with(DemoAgentOptions::new()).await
}

/// [`run_stdio`] with `options` (the process still exits on `/crash`).
///
/// # Errors
///
/// As [`run_with`].
pub async fn run_stdio_with(options: DemoAgentOptions) -> Result<()> {
    run_with(
        tokio::io::stdin(),
        tokio::io::stdout(),
        options.exit_process_on_crash(),
    )
    .await
}

/// Runs the demo agent over any byte streams (for in-process tests) with
/// default options, until `reader` reaches end of file.
///
/// # Errors
///
/// As [`run_with`].
pub async fn run<R, W>(reader: R, writer: W) -> Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    run_with(reader, writer, DemoAgentOptions::new()).await
}

/// Runs the demo agent over any byte streams with `options`, until `reader`
/// reaches end of file (`Ok`) or the agent `/crash`es ([`Error::Crashed`]).
/// `writer` is flushed and shut down before this returns.
///
/// # Errors
///
/// [`Error::Crashed`] after `/crash` (when no exit hook ended the process),
/// [`Error::Io`] if writing fails, [`Error::Protocol`] if the connection
/// fails (for example, reading fails).
pub async fn run_with<R, W>(reader: R, writer: W, options: DemoAgentOptions) -> Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let state_dir = options.state_dir.unwrap_or_else(default_state_dir);
    let barriers = Arc::new(transport::Barriers::default());
    let (sink, queue) = transport::outgoing_lines();
    let shared = Arc::new(agent::Shared::new(
        session::SessionStore::new(state_dir),
        barriers.clone(),
        options.exit_hook,
        !options.no_load_session,
    ));
    let connection = agent::serve(
        shared.clone(),
        Lines::new(sink, Box::pin(transport::incoming_lines(reader))),
    );
    // Joined, not spawned: the writer ends when the connection drops its
    // sink, and neither outlives this call.
    let (served, written) = tokio::join!(connection, queue.write_to(writer, &barriers));
    if let Some(exit_code) = shared.crashed() {
        return Err(Error::Crashed { exit_code });
    }
    served.map_err(Error::Protocol)?;
    written.map_err(Error::Io)
}
