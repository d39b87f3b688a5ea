//! Sessions: the registry, one session's shared handle, and its clients.
//!
//! A session is two halves. [`Session`] is the handle routes share: its bus
//! (read the view, subscribe) and its client table. Everything that changes
//! the agent conversation — prompts, votes, cancel, close, and whatever the
//! agent says — goes through one actor task per session ([`actor`]), so the
//! order of events on the bus is simply the order the actor handled them.

pub mod actor;
pub mod agent;
pub mod fs;
mod permissions;
pub mod presence;
mod prompts;
mod provenance;
pub mod restore;
pub mod settings;
pub mod terminal;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde::Serialize;
use switchyard_core::{ErrorKind, Role};
use tokio::sync::{mpsc, oneshot};

use crate::bus::{Bus, BusConfig};
use crate::config::{Config, PermissionPolicy};
use crate::defaults::WorkspaceDefaults;
use crate::error::{ApiError, ApiResult};
use crate::journal::{JournalHandle, SessionRecord, SessionSpec, Write};

pub use actor::Command;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A short random id with a prefix (`s_…`, `c_…`).
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 9];
    rand::rng().fill_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}_{hex}")
}

/// One attached client.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientEntry {
    /// Daemon-issued id.
    pub client_id: String,
    /// Its role.
    pub role: Role,
    /// Display name.
    pub name: Option<String>,
    /// When it attached (ms).
    pub attached_at: u64,
}

/// What a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// An ACP agent.
    Agent,
    /// A program on a PTY (a shell by default).
    Terminal,
}

impl SessionKind {
    /// `agent` or `terminal`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Agent => "agent",
            SessionKind::Terminal => "terminal",
        }
    }
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The agent (or the terminal's process) is up.
    Running,
    /// The terminal's process ended; the session is readable until closed.
    Exited,
    /// The agent exited or the daemon shut down.
    Died,
    /// Closed on request.
    Closed,
}

/// A session's shared handle.
pub struct Session {
    /// `s_…`.
    pub id: String,
    /// Agent or terminal.
    pub kind: SessionKind,
    /// Configured agent name (empty for terminal sessions).
    pub agent: String,
    /// Workspace.
    pub cwd: PathBuf,
    /// Creation time (ms).
    pub created_at: u64,
    /// How long a client may go without an open event stream before it is
    /// dropped from presence.
    pub presence_grace: std::time::Duration,
    /// The agent's pid (also its process group id).
    pub agent_pid: Option<i32>,
    /// Who may answer permission requests.
    pub permission_policy: PermissionPolicy,
    /// The event bus (and server-side view).
    pub bus: Bus,
    /// The agent's confined file access.
    pub fs: fs::Workspace,
    /// The terminal (terminal sessions).
    pub terminal: Option<terminal::TerminalHandle>,
    clients: Mutex<BTreeMap<String, presence::Slot>>,
    status: Mutex<Status>,
    commands: mpsc::UnboundedSender<Command>,
    /// Where status changes are recorded (`None` without a journal).
    journal: Option<JournalHandle>,
}

impl Status {
    /// The journal's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Died => "died",
            Status::Closed => "closed",
        }
    }

    /// Parses [`Status::as_str`]; anything else is `Died`.
    pub fn parse(s: &str) -> Status {
        match s {
            "running" => Status::Running,
            "exited" => Status::Exited,
            "closed" => Status::Closed,
            _ => Status::Died,
        }
    }
}

impl Session {
    /// The client named by `X-Client-Id`, or the matching error.
    pub fn client(&self, client_id: Option<&str>) -> ApiResult<ClientEntry> {
        let Some(id) = client_id.filter(|s| !s.is_empty()) else {
            return Err(ApiError::new(
                ErrorKind::ClientIdRequired,
                "this request needs the X-Client-Id header",
            )
            .hint("attach first: POST /session/{id}/attach returns a clientId"));
        };
        self.clients
            .lock()
            .expect("clients lock")
            .get(id)
            .map(|slot| slot.entry.clone())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::UnknownClient,
                    format!("client {id:?} is not attached to session {}", self.id),
                )
                .hint("attach again: POST /session/{id}/attach")
            })
    }

    /// The client, which must have the control role.
    pub fn controller(&self, client_id: Option<&str>) -> ApiResult<ClientEntry> {
        let c = self.client(client_id)?;
        if c.role != Role::Control {
            return Err(ApiError::new(
                ErrorKind::RoleForbidden,
                format!(
                    "client {} is an observer and cannot change the session",
                    c.client_id
                ),
            )
            .hint(if self.terminal.is_some() {
                "attach with role \"control\" to type, resize, signal, or close"
            } else {
                "attach with role \"control\" to prompt, vote, or close"
            }));
        }
        Ok(c)
    }

    /// The session's terminal, or 400 for an agent session.
    pub fn terminal(&self, route: &str) -> ApiResult<&terminal::TerminalHandle> {
        self.terminal.as_ref().ok_or_else(|| {
            ApiError::invalid(format!(
                "session {} is an agent session; {route} needs a terminal session",
                self.id
            ))
            .hint("create one with POST /session {\"kind\":\"terminal\"}")
        })
    }

    /// 400 unless this is an agent session.
    pub fn require_agent(&self, route: &str) -> ApiResult<()> {
        if self.kind == SessionKind::Agent {
            return Ok(());
        }
        Err(ApiError::invalid(format!(
            "session {} is a terminal session; {route} needs an agent session",
            self.id
        ))
        .hint("terminals take /input, /resize, /signal, /clear-scrollback and /owner"))
    }

    /// The client, which must have the control role and own the terminal.
    pub fn terminal_owner(
        &self,
        client_id: Option<&str>,
        route: &str,
    ) -> ApiResult<(ClientEntry, &terminal::TerminalHandle)> {
        let term = self.terminal(route)?;
        let c = self.controller(client_id)?;
        term.require_owner(&c.client_id)?;
        Ok((c, term))
    }

    /// A client left: it no longer owns the terminal.
    fn client_gone(&self, client_id: &str) {
        if let Some(t) = &self.terminal {
            t.client_left(&self.bus, client_id);
        }
    }

    /// Attached clients in attach order.
    pub fn clients(&self) -> Vec<ClientEntry> {
        let mut v: Vec<_> = self
            .clients
            .lock()
            .expect("clients lock")
            .values()
            .map(|slot| slot.entry.clone())
            .collect();
        v.sort_by_key(|c| c.attached_at);
        v
    }

    /// Current status.
    pub fn status(&self) -> Status {
        *self.status.lock().expect("status lock")
    }

    pub(crate) fn set_status(&self, s: Status) {
        *self.status.lock().expect("status lock") = s;
        if let Some(j) = &self.journal {
            j.write(Write::State {
                session: self.id.clone(),
                state: s.as_str().into(),
                at: now_ms(),
            });
        }
    }

    /// Sends a command to the actor and waits for its answer.
    pub async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<ApiResult<T>>) -> Command,
    ) -> ApiResult<T> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(make(tx)).is_err() {
            return Err(self.ended_error());
        }
        rx.await.unwrap_or_else(|_| Err(self.ended_error()))
    }

    fn ended_error(&self) -> ApiError {
        ApiError::new(
            ErrorKind::SessionBusy,
            format!("session {} has ended", self.id),
        )
        .hint("the session is readable but no longer accepts changes")
    }
}

/// Every session this daemon runs.
pub struct Registry {
    config: Config,
    defaults: Arc<WorkspaceDefaults>,
    sessions: RwLock<HashMap<String, Arc<Session>>>,
    fs: Arc<fs::FsPolicy>,
    journal: Option<JournalHandle>,
}

/// What `POST /session` may choose for an agent session.
#[derive(Debug, Default)]
pub struct AgentSessionOptions {
    /// Configured agent name (the default agent when `None`).
    pub agent: Option<String>,
    /// Workspace (the daemon's working directory when `None`).
    pub cwd: Option<PathBuf>,
    /// Overrides the daemon's permission policy.
    pub permission_policy: Option<PermissionPolicy>,
    /// The creator's display name.
    pub creator_name: Option<String>,
}

/// What `POST /session {"kind":"terminal"}` may choose; also what a
/// restore gives back to recreate a terminal.
#[derive(Debug, Default, Clone)]
pub struct TerminalSessionOptions {
    /// Program; the user's login shell (`$SHELL`, else `/bin/sh`) when
    /// `None`.
    pub command: Option<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory (the daemon's when `None`).
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Columns (default 80).
    pub cols: Option<u16>,
    /// Rows (default 24).
    pub rows: Option<u16>,
    /// The creator's display name.
    pub creator_name: Option<String>,
}

/// Largest terminal the API accepts, either way.
pub const MAX_TERMINAL_DIM: u16 = 1000;

impl Registry {
    /// An empty registry that keeps sessions in memory only.
    pub fn new(config: Config) -> Registry {
        Registry::with_journal(config, None)
    }

    /// An empty registry whose sessions are journaled (see
    /// [`restore::restore`] for bringing the stored ones back).
    pub fn with_journal(config: Config, journal: Option<JournalHandle>) -> Registry {
        let fs = Arc::new(fs::FsPolicy::new(
            config.limits.max_read_bytes,
            config.limits.max_write_bytes,
            trusted_roots(&config.trusted_roots),
        ));
        Registry {
            defaults: Arc::new(WorkspaceDefaults::load(&config.data_dir)),
            config,
            sessions: RwLock::new(HashMap::new()),
            fs,
            journal,
        }
    }

    /// The journal, when sessions are durable.
    pub fn journal(&self) -> Option<&JournalHandle> {
        self.journal.as_ref()
    }

    /// Workspace defaults.
    pub fn defaults(&self) -> &Arc<WorkspaceDefaults> {
        &self.defaults
    }

    fn bus_config(&self) -> BusConfig {
        let limits = &self.config.limits;
        BusConfig {
            ring_frames: limits.ring_frames,
            ring_bytes: limits.ring_bytes,
            queue_frames: limits.queue_frames,
            queue_bytes: limits.queue_bytes,
            max_subscribers: limits.max_subscribers,
        }
    }

    /// A bus for a session: journaled when the daemon has a journal. `view`
    /// and `last_id` say where its ids continue (0 for a new session).
    pub(crate) fn make_bus(
        &self,
        id: &str,
        view: switchyard_core::SessionView,
        last_id: u64,
        epoch: String,
    ) -> Bus {
        match &self.journal {
            Some(j) => Bus::durable(self.bus_config(), view, last_id, epoch, j.session_log(id)),
            None => Bus::with_state(self.bus_config(), view, last_id, epoch),
        }
    }

    /// Records a session (what it runs, its epoch) in the journal.
    pub(crate) fn record(&self, session: &Session, spec: SessionSpec) {
        if let Some(j) = &self.journal {
            j.write(Write::Session(Box::new(SessionRecord {
                id: session.id.clone(),
                spec,
                state: session.status().as_str().into(),
                epoch: session.bus.epoch().to_string(),
                degraded: false,
                created_at: session.created_at,
                updated_at: now_ms(),
            })));
        }
    }

    /// Adds a session built elsewhere (restore).
    pub(crate) fn insert(&self, session: Arc<Session>) {
        self.sessions
            .write()
            .expect("sessions lock")
            .insert(session.id.clone(), session);
    }

    /// Forgets an ended session and deletes what the journal stored of it.
    /// A running session must be closed first.
    pub async fn purge(&self, id: &str) -> ApiResult<()> {
        let session = self.get(id)?;
        if session.status() == Status::Running {
            return Err(ApiError::new(
                ErrorKind::SessionBusy,
                format!("session {id} is still running"),
            )
            .hint("close it first (DELETE /session/{id}), then purge"));
        }
        session.bus.close();
        self.sessions.write().expect("sessions lock").remove(id);
        if let Some(j) = &self.journal {
            j.write(Write::Purge {
                session: id.to_string(),
            });
            j.flush_async().await;
        }
        tracing::info!(session = %id, "session purged");
        Ok(())
    }

    /// Sessions whose events are no longer all being stored.
    pub fn degraded_sessions(&self) -> Vec<(String, String)> {
        self.list()
            .iter()
            .filter_map(|s| s.bus.degraded().map(|e| (s.id.clone(), e)))
            .collect()
    }

    /// Daemon-wide file-access policy for agents.
    pub fn fs_policy(&self) -> &Arc<fs::FsPolicy> {
        &self.fs
    }

    /// The daemon's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Looks a session up.
    pub fn get(&self, id: &str) -> ApiResult<Arc<Session>> {
        self.sessions
            .read()
            .expect("sessions lock")
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::session_not_found(id))
    }

    /// All sessions, oldest first.
    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = self
            .sessions
            .read()
            .expect("sessions lock")
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|s| s.created_at);
        v
    }

    /// Starts an agent session and attaches its creator as control.
    pub async fn create_agent_session(
        &self,
        options: AgentSessionOptions,
    ) -> ApiResult<(Arc<Session>, ClientEntry)> {
        let AgentSessionOptions {
            agent,
            cwd,
            permission_policy,
            creator_name,
        } = options;
        let agent = agent.as_deref();
        self.check_capacity()?;
        let agent_name = agent.unwrap_or(&self.config.default_agent).to_string();
        let spec = self.config.agents.get(&agent_name).ok_or_else(|| {
            ApiError::invalid(format!("no agent named {agent_name:?}")).hint(format!(
                "configured agents: {}",
                self.config
                    .agents
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let cwd = match cwd {
            Some(p) => p,
            None => std::env::current_dir().map_err(|e| {
                ApiError::new(ErrorKind::IoError, format!("no working directory: {e}"))
            })?,
        };
        let cwd = std::fs::canonicalize(&cwd).map_err(|e| {
            ApiError::invalid(format!("cwd {}: {e}", cwd.display()))
                .hint("cwd must be an existing directory")
        })?;
        if !cwd.is_dir() {
            return Err(ApiError::invalid(format!(
                "cwd {} is not a directory",
                cwd.display()
            )));
        }

        let mut conn = agent::spawn(spec, &cwd, self.config.limits.init_timeout).await?;
        if let Some(mode) = self.defaults.approval_mode(&cwd) {
            agent::apply_default_mode(&mut conn, &mode, self.config.limits.init_timeout).await;
        }
        let limits = &self.config.limits;
        let permission_policy = permission_policy.unwrap_or(self.config.permission_policy);
        let id = new_id("s");
        let bus = self.make_bus(
            &id,
            switchyard_core::SessionView::new(),
            0,
            crate::bus::new_epoch(),
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let session = Arc::new(Session {
            id,
            kind: SessionKind::Agent,
            agent: agent_name.clone(),
            cwd: cwd.clone(),
            created_at: now_ms(),
            presence_grace: limits.presence_grace,
            agent_pid: conn.pgid,
            permission_policy,
            bus,
            fs: self.fs.workspace(cwd.clone()),
            terminal: None,
            clients: Mutex::new(BTreeMap::new()),
            status: Mutex::new(Status::Running),
            commands: tx,
            journal: self.journal.clone(),
        });
        self.record(
            &session,
            SessionSpec {
                kind: "agent".into(),
                agent: Some(agent_name.clone()),
                command: Some(spec.program.clone()),
                args: spec.args.clone(),
                cwd: cwd.to_string_lossy().into_owned(),
                agent_session_id: Some(conn.agent_session_id.clone()),
                permission_policy: Some(permission_policy.as_str().into()),
                ..SessionSpec::default()
            },
        );
        actor::start(
            session.clone(),
            conn,
            rx,
            self.actor_config(permission_policy),
            None,
        );
        let creator = session.attach(Role::Control, creator_name);
        self.sessions
            .write()
            .expect("sessions lock")
            .insert(session.id.clone(), session.clone());
        tracing::info!(session = %session.id, agent = %agent_name, cwd = %cwd.display(), "session created");
        session.bus.settled().await;
        Ok((session, creator))
    }

    pub(crate) fn actor_config(&self, permission_policy: PermissionPolicy) -> actor::ActorConfig {
        let limits = &self.config.limits;
        actor::ActorConfig {
            queue_limit: limits.prompt_queue,
            change_timeout: limits.change_timeout,
            permission_timeout: limits.permission_timeout,
            permission_policy,
            defaults: self.defaults.clone(),
        }
    }

    /// Starts a terminal session and attaches its creator as control and
    /// owner. The one way terminals are made, so a restore can reuse it.
    pub async fn create_terminal_session(
        &self,
        options: TerminalSessionOptions,
    ) -> ApiResult<(Arc<Session>, ClientEntry)> {
        use switchyard_core::event::SessionStarted;
        use terminal::pty;
        self.check_capacity()?;
        let cwd = resolve_cwd(options.cwd)?;
        let cols = options.cols.unwrap_or(80);
        let rows = options.rows.unwrap_or(24);
        for (name, v) in [("cols", cols), ("rows", rows)] {
            if v == 0 || v > MAX_TERMINAL_DIM {
                return Err(ApiError::invalid(format!(
                    "{name} must be 1..={MAX_TERMINAL_DIM}, not {v}"
                )));
            }
        }
        let words = options.command.iter().chain(&options.args);
        let vars = options.env.iter().flat_map(|(k, v)| [k, v]);
        if words.chain(vars).any(|w| w.contains('\0')) {
            return Err(ApiError::invalid(
                "command, args and env may not contain NUL characters",
            ));
        }
        if let Some(bad) = options.env.keys().find(|k| k.is_empty() || k.contains('=')) {
            return Err(ApiError::invalid(format!(
                "environment variable name {bad:?} is empty or contains '='"
            )));
        }
        let program = match options.command.filter(|c| !c.trim().is_empty()) {
            Some(c) => c,
            None => login_shell(),
        };
        let spec = pty::ProcSpec {
            program,
            args: options.args,
            cwd: cwd.clone(),
            env: options.env.into_iter().collect(),
            cols,
            rows,
            plain_output: false,
        };
        let id = new_id("s");
        let bus = self.make_bus(
            &id,
            switchyard_core::SessionView::new(),
            0,
            crate::bus::new_epoch(),
        );
        bus.set_snapshot_extra(Box::new(terminal::screen::ScreenModel::new(cols, rows)));
        bus.publish(
            switchyard_core::Event::SessionStarted(SessionStarted {
                kind: "terminal".into(),
                agent: None,
                command: Some(spec.display()),
                cwd: Some(cwd.to_string_lossy().into_owned()),
                current_mode_id: None,
                available_modes: Vec::new(),
                current_model_id: None,
                available_models: Vec::new(),
                config_options: Vec::new(),
                available_commands: Vec::new(),
                cols: Some(cols),
                rows: Some(rows),
            })
            .to_frame(),
        );
        let session = self.spawn_terminal(id, bus, &spec, now_ms())?;
        self.record(
            &session,
            SessionSpec {
                kind: "terminal".into(),
                command: Some(spec.program.clone()),
                args: spec.args.clone(),
                cwd: cwd.to_string_lossy().into_owned(),
                env: spec.env.iter().cloned().collect(),
                cols: Some(cols),
                rows: Some(rows),
                ..SessionSpec::default()
            },
        );
        let creator = session.attach(Role::Control, options.creator_name);
        if let Some(t) = &session.terminal {
            t.claim(&session.bus, &creator.client_id)?;
        }
        self.insert(session.clone());
        tracing::info!(session = %session.id, command = %spec.display(), cwd = %cwd.display(), "terminal session created");
        session.bus.settled().await;
        Ok((session, creator))
    }

    /// Starts `spec` on a PTY for the session `id` whose events go to
    /// `bus` (already holding its screen), and the session's actor. Used
    /// for new terminals and for cold restores.
    pub(crate) fn spawn_terminal(
        &self,
        id: String,
        bus: Bus,
        spec: &terminal::pty::ProcSpec,
        created_at: u64,
    ) -> ApiResult<Arc<Session>> {
        use switchyard_core::event::TerminalOutput;
        use terminal::pty;
        let limits = &self.config.limits;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let sink_bus = bus.clone();
        let sink: pty::Sink = Box::new(move |data| {
            sink_bus.wait_for_room(crate::bus::UNCOMMITTED_MAX);
            sink_bus.publish(
                switchyard_core::Event::TerminalOutput(TerminalOutput {
                    data,
                    terminal_id: None,
                })
                .to_frame(),
            );
        });
        let proc = pty::spawn(spec, sink, events_tx)?;
        let (term_tx, term_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let session = Arc::new(Session {
            id,
            kind: SessionKind::Terminal,
            agent: String::new(),
            cwd: spec.cwd.clone(),
            created_at,
            presence_grace: limits.presence_grace,
            agent_pid: Some(proc.pid),
            permission_policy: self.config.permission_policy,
            bus,
            fs: self.fs.workspace(spec.cwd.clone()),
            terminal: Some(terminal::TerminalHandle::new(
                spec.display(),
                proc.pid,
                (spec.cols, spec.rows),
                term_tx,
            )),
            clients: Mutex::new(BTreeMap::new()),
            status: Mutex::new(Status::Running),
            commands: tx,
            journal: self.journal.clone(),
        });
        let actor = terminal::actor::TermActor::new(session.clone(), proc, events_rx);
        tokio::spawn(actor.run(rx, term_rx));
        Ok(session)
    }

    /// Closes every terminal session (`session_closed{reason:"kill_all"}`);
    /// returns their ids.
    pub async fn kill_all_terminals(&self) -> Vec<String> {
        let terminals: Vec<_> = self
            .list()
            .into_iter()
            .filter(|s| s.kind == SessionKind::Terminal && s.status() != Status::Closed)
            .collect();
        let kills = terminals.iter().map(|s| async move {
            if let Some(t) = &s.terminal {
                let _ = t
                    .call(|reply| terminal::TermCommand::Kill {
                        reason: "kill_all".into(),
                        closed_by: None,
                        reply,
                    })
                    .await;
            }
            s.id.clone()
        });
        futures::future::join_all(kills).await
    }

    fn check_capacity(&self) -> ApiResult<()> {
        let live = self
            .sessions
            .read()
            .expect("sessions lock")
            .values()
            .filter(|s| s.status() == Status::Running)
            .count();
        if live >= self.config.limits.max_sessions {
            return Err(ApiError::new(
                ErrorKind::SessionBusy,
                format!(
                    "this daemon already runs {} sessions",
                    self.config.limits.max_sessions
                ),
            )
            .hint("close sessions you no longer need (DELETE /session/{id})"));
        }
        Ok(())
    }

    /// Ends every session (daemon shutdown) without a journal: each live one
    /// gets exactly one `session_died{reason:"daemon_shutdown"}` and its
    /// agent is ended.
    ///
    /// With a journal, live sessions are suspended instead: their agents
    /// are ended but no ending is published, and the next start restores
    /// them.
    pub async fn shutdown(&self) {
        let sessions = self.list();
        let durable = self.journal.is_some();
        let waits = sessions.iter().map(|s| {
            let s = s.clone();
            async move {
                let _ = if durable {
                    s.call(|reply| Command::Suspend { reply }).await
                } else {
                    s.call(|reply| Command::Shutdown { reply }).await
                };
            }
        });
        futures::future::join_all(waits).await;
        if let Some(j) = &self.journal {
            j.flush_async().await;
        }
    }
}

/// `cwd` canonical and a directory; the daemon's working directory when
/// `None`.
fn resolve_cwd(cwd: Option<PathBuf>) -> ApiResult<PathBuf> {
    let cwd = match cwd {
        Some(p) => p,
        None => std::env::current_dir()
            .map_err(|e| ApiError::new(ErrorKind::IoError, format!("no working directory: {e}")))?,
    };
    let canonical = std::fs::canonicalize(&cwd).map_err(|e| {
        ApiError::invalid(format!("cwd {}: {e}", cwd.display()))
            .hint("cwd must be an existing directory")
    })?;
    if !canonical.is_dir() {
        return Err(ApiError::invalid(format!(
            "cwd {} is not a directory",
            canonical.display()
        )));
    }
    Ok(canonical)
}

/// The user's login shell: `$SHELL`, else `/bin/sh`.
fn login_shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into())
}

/// The trusted roots, canonical; the working directory when none are
/// configured. A root that cannot be resolved is left out (and logged):
/// trusting less is the safe side.
fn trusted_roots(configured: &[PathBuf]) -> Vec<PathBuf> {
    let roots = if configured.is_empty() {
        std::env::current_dir().into_iter().collect()
    } else {
        configured.to_vec()
    };
    roots
        .iter()
        .filter_map(|r| match std::fs::canonicalize(r) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("trusted root {} ignored: {e}", r.display());
                None
            }
        })
        .collect()
}
