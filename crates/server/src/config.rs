//! Daemon configuration: what `switchyard serve` was told, with defaults.
//!
//! Tests build a [`Config`] directly (see `testing::spawn_test_server`); the
//! command line in `main.rs` fills the same struct.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to start one configured agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// Executable (looked up on `PATH` when not a path).
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
}

impl AgentSpec {
    /// Splits a shell-like command line (`qwen --acp`, `"/opt/my agent" -v`).
    pub fn parse(command: &str) -> Result<AgentSpec, String> {
        let words = shell_words::split(command).map_err(|e| format!("{command:?}: {e}"))?;
        let mut it = words.into_iter();
        let program = it
            .next()
            .ok_or_else(|| format!("{command:?}: empty command"))?;
        Ok(AgentSpec {
            program,
            args: it.collect(),
        })
    }

    /// The built-in demo agent: this very binary, `switchyard demo-agent`.
    pub fn demo() -> AgentSpec {
        let program = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "switchyard".into());
        AgentSpec {
            program,
            args: vec!["demo-agent".into()],
        }
    }

    /// The command line, for display.
    pub fn display(&self) -> String {
        let mut words = vec![self.program.clone()];
        words.extend(self.args.iter().cloned());
        shell_words::join(words)
    }
}

/// Everything the daemon needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (loopback by default; port 0 picks one).
    pub listen: SocketAddr,
    /// Where the token, the tokens file, workspace defaults and the journal
    /// live.
    pub data_dir: PathBuf,
    /// The bearer token; `None` reads or creates `<data_dir>/token`.
    pub token: Option<String>,
    /// Configured agents by name.
    pub agents: BTreeMap<String, AgentSpec>,
    /// The agent `POST /session` uses when none is named.
    pub default_agent: String,
    /// Extra origins allowed to make cross-origin requests.
    pub allowed_origins: Vec<String>,
    /// Who may answer permission requests, unless a session says otherwise.
    pub permission_policy: PermissionPolicy,
    /// Limits.
    pub limits: Limits,
    /// Directories whose workspaces agents may write in (through
    /// `fs/write_text_file`); empty means the daemon's working directory.
    pub trusted_roots: Vec<PathBuf>,
    /// The built web client, served at `/` (`--web-dir`); `None` serves a
    /// page that says how to build it.
    pub web_dir: Option<PathBuf>,
    /// The journal (`<data_dir>/journal.sqlite3`); `None` keeps sessions in
    /// memory only (`--no-journal`).
    pub journal: Option<crate::journal::JournalConfig>,
    /// Delete the journal before starting (`--reset-journal`).
    pub reset_journal: bool,
}

/// Who may answer a session's permission requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionPolicy {
    /// The first valid vote from any control client wins.
    #[default]
    FirstResponder,
    /// Only the client whose prompt caused the request may answer (any
    /// control client may when no prompt caused it or its client has left).
    Designated,
}

impl PermissionPolicy {
    /// Parses `first-responder` / `designated`.
    pub fn parse(s: &str) -> Option<PermissionPolicy> {
        match s {
            "first-responder" => Some(PermissionPolicy::FirstResponder),
            "designated" => Some(PermissionPolicy::Designated),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionPolicy::FirstResponder => "first-responder",
            PermissionPolicy::Designated => "designated",
        }
    }
}

/// Bounds on memory, time and fan-out. Defaults are documented in
/// `switchyard serve --help` and docs/operations.md.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Frames kept in each session's replay ring.
    pub ring_frames: usize,
    /// Bytes kept in each session's replay ring.
    pub ring_bytes: usize,
    /// Frames queued per subscriber before it is evicted.
    pub queue_frames: usize,
    /// Bytes queued per subscriber before it is evicted.
    pub queue_bytes: usize,
    /// Event streams per session.
    pub max_subscribers: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Prompts waiting per session (beyond the running one).
    pub prompt_queue: usize,
    /// How long an agent gets to answer `initialize` and `session/new`.
    pub init_timeout: Duration,
    /// Heartbeat comment interval on event streams.
    pub heartbeat: Duration,
    /// Live sessions per daemon (ended ones stay readable and do not
    /// count).
    pub max_sessions: usize,
    /// How long a client may have no open event stream before it leaves
    /// presence (`client_left{reason:"idle_timeout"}`).
    pub presence_grace: Duration,
    /// How long a model or approval-mode change may wait for the agent.
    pub change_timeout: Duration,
    /// How long a permission request may stay unanswered before it
    /// resolves as cancelled; `None` waits forever.
    pub permission_timeout: Option<Duration>,
    /// Largest file an agent may read through `fs/read_text_file`.
    pub max_read_bytes: u64,
    /// Largest content an agent may write through `fs/write_text_file`.
    pub max_write_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ring_frames: 8000,
            ring_bytes: 64 << 20,
            // A burst allowance, not a memory reservation: queued frames are
            // shared with the ring and other subscribers (one Arc each).
            queue_frames: 65536,
            queue_bytes: 64 << 20,
            max_subscribers: 1024,
            max_body_bytes: 10 << 20,
            prompt_queue: 16,
            init_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(15),
            max_sessions: 256,
            presence_grace: Duration::from_secs(30),
            change_timeout: Duration::from_secs(10),
            permission_timeout: None,
            max_read_bytes: 10 << 20,
            max_write_bytes: 10 << 20,
        }
    }
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7420";

/// `$XDG_DATA_HOME/switchyard`, else `~/.local/share/switchyard`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("switchyard");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/switchyard")
}

impl Config {
    /// A config with the demo agent as the only (and default) agent.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Config {
        let mut agents = BTreeMap::new();
        agents.insert("demo".to_string(), AgentSpec::demo());
        Config {
            listen,
            data_dir,
            token: None,
            agents,
            default_agent: "demo".into(),
            allowed_origins: Vec::new(),
            permission_policy: PermissionPolicy::default(),
            limits: Limits::default(),
            trusted_roots: Vec::new(),
            web_dir: None,
            journal: Some(crate::journal::JournalConfig::default()),
            reset_journal: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_commands_split_like_a_shell() {
        let a = AgentSpec::parse(r#""/opt/my agent/bin" --acp -m 'x y'"#).unwrap();
        assert_eq!(a.program, "/opt/my agent/bin");
        assert_eq!(a.args, vec!["--acp", "-m", "x y"]);
        assert!(AgentSpec::parse("").is_err());
        assert!(AgentSpec::parse("'unterminated").is_err());
    }
}
