//! `switchyard` — the daemon binary. See `switchyard --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use switchyard_server::config::{self, AgentSpec, Config, Limits};
use switchyard_server::journal::JournalConfig;

mod token_cli;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Share live coding-agent and terminal sessions with many clients"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon.
    Serve(Box<Serve>),
    /// Run the built-in demo ACP agent on stdin/stdout.
    DemoAgent(DemoAgentArgs),
    /// Manage extra API tokens (e.g. read-only ones) in the data dir.
    #[command(subcommand)]
    Token(token_cli::TokenCmd),
}

#[derive(Args)]
struct DemoAgentArgs {
    /// Behave like an agent without `session/load` (for testing restores).
    #[arg(long)]
    no_load_session: bool,
}

#[derive(Args)]
struct Serve {
    /// Address to listen on (loopback only unless you mean it).
    #[arg(long, default_value = config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Data directory (token; later the journal). Default: $XDG_DATA_HOME/switchyard.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use this token instead of the one in DATA_DIR/token.
    #[arg(
        long,
        env = "SWITCHYARD_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// Read the token from this file.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// An agent, as NAME=COMMAND (COMMAND is split like a shell line). Repeatable.
    /// The built-in `demo` agent is always available.
    #[arg(long = "agent", value_name = "NAME=COMMAND")]
    agents: Vec<String>,
    /// The agent used when a session names none.
    #[arg(long, default_value = "demo")]
    default_agent: String,
    /// Origins allowed to call the API cross-origin, such as a VS Code webview's. Repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Serve the built web client (examples/web/dist) from this directory at `/`.
    #[arg(long, value_name = "DIR")]
    web_dir: Option<PathBuf>,
    /// Frames kept per session for resume.
    #[arg(long, default_value_t = Limits::default().ring_frames)]
    ring_size: usize,
    /// Bytes kept per session for resume.
    #[arg(long, default_value_t = Limits::default().ring_bytes)]
    ring_bytes: usize,
    /// Frames queued per event stream before the client is evicted.
    #[arg(long, default_value_t = Limits::default().queue_frames)]
    queue_frames: usize,
    /// Bytes queued per event stream before the client is evicted.
    #[arg(long, default_value_t = Limits::default().queue_bytes)]
    queue_bytes: usize,
    /// Event streams per session.
    #[arg(long, default_value_t = Limits::default().max_subscribers)]
    max_subscribers: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Prompts that may wait behind the running one.
    #[arg(long, default_value_t = Limits::default().prompt_queue)]
    prompt_queue: usize,
    /// Milliseconds an agent gets to answer initialize + session/new.
    #[arg(long, default_value_t = Limits::default().init_timeout.as_millis() as u64)]
    init_timeout_ms: u64,
    /// Seconds between heartbeat comments on event streams.
    #[arg(long, default_value_t = Limits::default().heartbeat.as_secs())]
    heartbeat_secs: u64,
    /// Live sessions per daemon.
    #[arg(long, default_value_t = Limits::default().max_sessions)]
    max_sessions: usize,
    /// Seconds a client may have no open event stream before it leaves
    /// presence.
    #[arg(long, default_value_t = Limits::default().presence_grace.as_secs())]
    presence_grace_secs: u64,
    /// Who may answer permission requests: `first-responder` (any control
    /// client; the first valid vote wins) or `designated` (only the client
    /// whose prompt caused the request). Sessions may override it.
    #[arg(long, default_value = "first-responder", value_parser = ["first-responder", "designated"])]
    permission_policy: String,
    /// Seconds a permission request may wait for a vote before it resolves
    /// as cancelled. Default: wait forever.
    #[arg(long)]
    permission_timeout_secs: Option<u64>,
    /// Milliseconds a model or approval-mode change may wait for the agent.
    #[arg(long, default_value_t = Limits::default().change_timeout.as_millis() as u64)]
    change_timeout_ms: u64,
    /// Largest file (bytes) an agent may read through the daemon.
    #[arg(long, default_value_t = Limits::default().max_read_bytes)]
    max_read_bytes: u64,
    /// Largest content (bytes) an agent may write through the daemon.
    #[arg(long, default_value_t = Limits::default().max_write_bytes)]
    max_write_bytes: u64,
    /// A directory whose workspaces agents may write in; others are
    /// read-only for agents. Repeatable. Default: the working directory.
    #[arg(long = "trusted-root", value_name = "DIR")]
    trusted_roots: Vec<PathBuf>,
    /// Keep sessions in memory only: nothing survives a restart.
    #[arg(long, conflicts_with = "reset_journal")]
    no_journal: bool,
    /// How hard each journal commit is made durable: `normal` (survives a
    /// daemon crash; WAL synced at checkpoints) or `full` (fsync on every
    /// commit: also survives power loss).
    #[arg(long, default_value = "normal", value_parser = ["normal", "full"])]
    journal_sync: String,
    /// Events kept per session in the journal; older ones are compacted
    /// behind a snapshot.
    #[arg(long, default_value_t = JournalConfig::default().retain_events)]
    retain_events: u64,
    /// Bytes of events kept per session in the journal; older ones are
    /// compacted behind a snapshot.
    #[arg(long, default_value_t = JournalConfig::default().retain_bytes)]
    retain_bytes: u64,
    /// Delete the journal (every stored session and event) before starting.
    #[arg(long)]
    reset_journal: bool,
}

impl Serve {
    fn into_config(self) -> anyhow::Result<Config> {
        let data_dir = self.data_dir.unwrap_or_else(config::default_data_dir);
        let mut cfg = Config::new(self.listen, data_dir);
        for a in &self.agents {
            let (name, command) = a
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--agent {a:?}: expected NAME=COMMAND"))?;
            let spec =
                AgentSpec::parse(command).map_err(|e| anyhow::anyhow!("--agent {name}: {e}"))?;
            cfg.agents.insert(name.trim().to_string(), spec);
        }
        if !cfg.agents.contains_key(&self.default_agent) {
            anyhow::bail!(
                "--default-agent {:?} is not configured (have: {})",
                self.default_agent,
                cfg.agents.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        cfg.default_agent = self.default_agent;
        cfg.allowed_origins = self.allow_origins;
        cfg.permission_policy = config::PermissionPolicy::parse(&self.permission_policy)
            .ok_or_else(|| anyhow::anyhow!("--permission-policy {:?}", self.permission_policy))?;
        if let Some(dir) = &self.web_dir {
            switchyard_server::web::check_dir(dir)
                .map_err(|e| anyhow::anyhow!("--web-dir: {e}"))?;
        }
        cfg.web_dir = self.web_dir;
        cfg.token = match (self.token, self.token_file) {
            (Some(t), _) => Some(t),
            (None, Some(f)) => Some(
                switchyard_server::auth::read_token_file(&f)
                    .map_err(|e| anyhow::anyhow!("--token-file {}: {e}", f.display()))?,
            ),
            (None, None) => None,
        };
        cfg.limits = Limits {
            ring_frames: self.ring_size.max(1),
            ring_bytes: self.ring_bytes,
            queue_frames: self.queue_frames.max(1),
            queue_bytes: self.queue_bytes,
            max_subscribers: self.max_subscribers,
            max_body_bytes: self.max_body_bytes,
            prompt_queue: self.prompt_queue,
            init_timeout: Duration::from_millis(self.init_timeout_ms),
            heartbeat: Duration::from_secs(self.heartbeat_secs.max(1)),
            max_sessions: self.max_sessions,
            presence_grace: Duration::from_secs(self.presence_grace_secs),
            change_timeout: Duration::from_millis(self.change_timeout_ms.max(1)),
            permission_timeout: self
                .permission_timeout_secs
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            max_read_bytes: self.max_read_bytes,
            max_write_bytes: self.max_write_bytes,
        };
        for root in &self.trusted_roots {
            if !root.is_dir() {
                anyhow::bail!("--trusted-root {}: not a directory", root.display());
            }
        }
        cfg.trusted_roots = self.trusted_roots;
        cfg.journal = (!self.no_journal).then_some(JournalConfig {
            full_sync: self.journal_sync == "full",
            retain_events: self.retain_events.max(1),
            retain_bytes: self.retain_bytes.max(1),
        });
        cfg.reset_journal = self.reset_journal;
        Ok(cfg)
    }
}

/// Each event stream is a socket: lift the soft fd limit to the hard one so
/// a thousand clients do not hit the common 1024 default.
fn raise_fd_limit() {
    #[cfg(unix)]
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                tracing::warn!("could not raise the open-file limit");
            }
        }
    }
}

/// A file-size limit (`ulimit -f`) must make journal writes fail, which the
/// daemon survives (the session is marked degraded), not kill the process
/// with SIGXFSZ.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to
    // be unsafe in.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

async fn serve(args: Serve) -> anyhow::Result<()> {
    let cfg = args.into_config()?;
    raise_fd_limit();
    ignore_file_size_signal();
    // Before anything is announced: a SIGTERM right after "listening" must
    // be a graceful shutdown, not the default (immediate death).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let running = switchyard_server::app::start(cfg).await?;
    // The URL carries the token so the first page load can authenticate; it
    // goes to stdout for the user, never to the log.
    println!("switchyard listening on {}", running.url());
    println!("open {}/?token={}", running.url(), running.token);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    running.shutdown().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    match cli.command {
        Cmd::Serve(args) => {
            let args = *args;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
                        .unwrap_or_else(|_| "switchyard_server=info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            rt.block_on(serve(args))
        }
        Cmd::DemoAgent(args) => {
            let mut options = switchyard_demo_agent::DemoAgentOptions::new();
            if args.no_load_session {
                options = options.without_load_session();
            }
            Ok(rt.block_on(switchyard_demo_agent::run_stdio_with(options))?)
        }
        Cmd::Token(cmd) => token_cli::run(cmd),
    }
}
