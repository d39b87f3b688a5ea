//! Startup reconcile: bringing the journal's sessions back.
//!
//! Every stored session is rebuilt the same way first: its view is the
//! stored snapshot plus the stored events (the core reducer again), its
//! bus continues the ids after the last stored event in the same epoch, and
//! its clients are back in presence (each with the usual grace period to
//! reconnect). Then it depends on what the session is and where it stood:
//!
//! - ended (closed or died): listed and readable, nothing runs;
//! - an agent that was running: respawned and reopened with ACP
//!   `session/load` when the agent advertises it (the history it replays
//!   is dropped, the journal has it), announced with `session_restored`;
//!   otherwise it ends with `session_died{reason:"daemon_restarted"}`;
//! - a terminal that was running: cold-restored — the same command, cwd
//!   and size in a new process, the old screen and scrollback kept (the
//!   screen is rebuilt from the stored output), the owner released
//!   (`owner_changed{ownerClientId:null}`), announced with
//!   `session_restored{kind:"terminal"}`.
//!
//! A session whose journal is known to be incomplete (flagged degraded, or
//! with a hole in its ids) gets a new epoch: a client holding ids from the
//! old one is told `epoch_reset` rather than being resumed onto a log that
//! does not match what it saw.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use switchyard_core::event::{SessionDied, TurnError};
use switchyard_core::{ErrorKind, Event, Frame, Role, SessionView, reduce};
use tokio::sync::mpsc;

use super::terminal::screen::{Screen, ScreenModel};
use super::terminal::{self, Phase, TerminalHandle};
use super::{ClientEntry, Registry, Session, SessionKind, Status, actor, agent, now_ms, presence};
use crate::config::PermissionPolicy;
use crate::journal::{HistoryItem, Journal, JournalError, SessionRecord, Write};

/// What start-up restored, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoreReport {
    /// Sessions read from the journal.
    pub sessions: usize,
    /// Agent sessions reopened with `session/load`.
    pub reloaded: usize,
    /// Sessions that were running and could not come back.
    pub ended: usize,
}

/// Restores every session in the journal into `registry`.
pub async fn restore(registry: &Registry) -> Result<RestoreReport, JournalError> {
    let Some(journal) = registry.journal().cloned() else {
        return Ok(RestoreReport::default());
    };
    let records = journal.journal().sessions()?;
    let mut report = RestoreReport {
        sessions: records.len(),
        ..RestoreReport::default()
    };
    let mut work = Vec::new();
    for record in records {
        let rebuilt = rebuild(journal.journal().as_ref(), &record)?;
        work.push(restore_one(registry, record, rebuilt));
    }
    for outcome in futures::future::join_all(work).await {
        match outcome {
            Outcome::Reloaded => report.reloaded += 1,
            Outcome::Ended => report.ended += 1,
            Outcome::Idle => {}
        }
    }
    // What the restore published (session_restored, session_died, ...) is
    // committed and visible before the first request is served.
    for session in registry.list() {
        session.bus.settled().await;
    }
    Ok(report)
}

enum Outcome {
    Idle,
    Reloaded,
    Ended,
}

/// What a session's stored history rebuilds.
struct Rebuilt {
    /// The view as of `last_id`.
    view: SessionView,
    last_id: u64,
    /// Whether the stored ids run without a hole.
    contiguous: bool,
    /// A terminal's screen: the compacted prefix's output tail (from its
    /// snapshot), then every stored frame.
    screen: Option<Screen>,
    /// When each client last joined (`client_joined`'s server time), for
    /// those whose join is still stored.
    joined: HashMap<String, u64>,
}

/// Reads a session's stored history once, item by item — never all of it
/// at once, however long — into its view and, for a terminal, its screen.
fn rebuild(journal: &dyn Journal, record: &SessionRecord) -> Result<Rebuilt, JournalError> {
    let terminal = record.spec.kind == "terminal";
    let spec_size = record.spec.cols.zip(record.spec.rows).unwrap_or((80, 24));
    let mut view = SessionView::new();
    let mut last = 0;
    let mut contiguous = true;
    let mut screen: Option<Screen> = None;
    let mut joined = HashMap::new();
    journal.visit_history(&record.id, &mut |item| match item {
        HistoryItem::Snapshot { upto, json } => {
            if let Ok(frame) = Frame::from_json(json) {
                let _ = reduce(&mut view, &frame);
            }
            last = upto;
            if terminal {
                // The compacted prefix's output tail, at its size.
                screen = Some(match &view.terminal {
                    Some(t) => {
                        let mut s = Screen::new(t.cols, t.rows);
                        s.process(&t.output);
                        s
                    }
                    None => Screen::new(spec_size.0, spec_size.1),
                });
            }
        }
        HistoryItem::Event(e) => {
            if e.id != last + 1 {
                contiguous = false;
            }
            match Frame::from_json(&e.json) {
                Ok(frame) => {
                    reduce(&mut view, &frame);
                    if frame.kind == "client_joined"
                        && let (Some(client), Some(at)) =
                            (frame.data["clientId"].as_str(), frame.meta.server_timestamp)
                    {
                        joined.insert(client.to_string(), at);
                    }
                    if terminal {
                        screen
                            .get_or_insert_with(|| Screen::new(spec_size.0, spec_size.1))
                            .observe(&frame);
                    }
                }
                Err(err) => {
                    tracing::warn!(id = e.id, "stored frame unreadable: {err}");
                    contiguous = false;
                }
            }
            last = e.id.max(last);
        }
    })?;
    // Whatever the stream state said (a resync pending, an eviction), the
    // daemon's view is never waiting on a stream.
    view.stream = Default::default();
    if terminal && screen.is_none() {
        screen = Some(Screen::new(spec_size.0, spec_size.1));
    }
    Ok(Rebuilt {
        view,
        last_id: last,
        contiguous,
        screen,
        joined,
    })
}

async fn restore_one(registry: &Registry, record: SessionRecord, rebuilt: Rebuilt) -> Outcome {
    let Rebuilt {
        view,
        last_id,
        contiguous,
        screen,
        joined,
    } = rebuilt;
    let mut epoch = record.epoch.clone();
    if record.degraded || !contiguous {
        epoch = crate::bus::new_epoch();
        tracing::warn!(session = %record.id, "journal incomplete for this session: new epoch {epoch}");
        if let Some(j) = registry.journal() {
            j.write(Write::Session(Box::new(SessionRecord {
                epoch: epoch.clone(),
                degraded: false,
                updated_at: now_ms(),
                ..record.clone()
            })));
        }
    }
    let ended_in_log = matches!(view.lifecycle.state.as_str(), "died" | "closed");
    let mut status = Status::parse(&record.state);
    if ended_in_log {
        status = if view.lifecycle.state == "closed" {
            Status::Closed
        } else {
            Status::Died
        };
    }
    let clients: Vec<ClientEntry> = view
        .presence
        .clients
        .iter()
        .map(|c| ClientEntry {
            client_id: c.client_id.clone(),
            role: Role::parse(&c.role),
            name: c.name.clone(),
            // Compacted away: when it came back, then.
            attached_at: joined.get(&c.client_id).copied().unwrap_or_else(now_ms),
        })
        .collect();
    let running_turn = view
        .turn
        .running
        .then(|| view.turn.current_prompt_id.clone())
        .flatten();
    let pending_permissions: Vec<String> = view
        .permissions
        .pending
        .iter()
        .map(|p| p.request_id.clone())
        .collect();

    let spec = &record.spec;
    let cwd = PathBuf::from(&spec.cwd);
    let kind = if spec.kind == "terminal" {
        SessionKind::Terminal
    } else {
        SessionKind::Agent
    };
    let permission_policy = spec
        .permission_policy
        .as_deref()
        .and_then(PermissionPolicy::parse)
        .unwrap_or(registry.config().permission_policy);
    // A terminal's size now (the last resize), and its owner.
    let term_size = view
        .terminal
        .as_ref()
        .map(|t| (t.cols, t.rows))
        .or(spec.cols.zip(spec.rows))
        .unwrap_or((80, 24));
    let had_owner = view.presence.owner_client_id.is_some();
    let bus = registry.make_bus(&record.id, view, last_id, epoch);
    if let Some(screen) = screen {
        bus.set_snapshot_extra(Box::new(ScreenModel::from_screen(screen)));
    }

    // Bring a running session's process back before the session is
    // visible, so its pid is known and nothing reaches a half-restored one.
    let mut conn = None;
    let mut term_session = None;
    let mut failure = None;
    if status == Status::Running {
        match kind {
            SessionKind::Agent => match reload_agent(registry, &record).await {
                Ok(c) => conn = Some(c),
                Err(e) => failure = Some(e),
            },
            SessionKind::Terminal => {
                let proc_spec = terminal::pty::ProcSpec {
                    program: spec.command.clone().unwrap_or_else(|| "/bin/sh".into()),
                    args: spec.args.clone(),
                    cwd: cwd.clone(),
                    env: spec.env.clone().into_iter().collect(),
                    cols: term_size.0,
                    rows: term_size.1,
                    plain_output: false,
                };
                match registry.spawn_terminal(
                    record.id.clone(),
                    bus.clone(),
                    &proc_spec,
                    record.created_at,
                ) {
                    Ok(session) => term_session = Some(session),
                    Err(e) => failure = Some(e.message),
                }
            }
        }
    }

    let (session, rx) = match term_session {
        Some(session) => (session, None),
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            let terminal = (kind == SessionKind::Terminal).then(|| {
                // Nothing runs: every terminal request gets "closed".
                let (term_tx, _) = mpsc::unbounded_channel();
                let handle = TerminalHandle::new(
                    spec.command.clone().unwrap_or_default(),
                    0,
                    term_size,
                    term_tx,
                );
                handle.set_phase(if status == Status::Closed {
                    Phase::Closed
                } else {
                    Phase::Exited
                });
                handle
            });
            let session = Arc::new(Session {
                id: record.id.clone(),
                kind,
                agent: spec.agent.clone().unwrap_or_default(),
                cwd: cwd.clone(),
                created_at: record.created_at,
                presence_grace: registry.config().limits.presence_grace,
                agent_pid: conn.as_ref().and_then(|c: &agent::AgentConn| c.pgid),
                permission_policy,
                bus,
                fs: registry.fs_policy().workspace(cwd.clone()),
                terminal,
                clients: Mutex::new(BTreeMap::new()),
                status: Mutex::new(status),
                commands: tx,
                journal: registry.journal().cloned(),
            });
            (session, Some(rx))
        }
    };
    for entry in clients {
        presence::restore_client(&session, entry);
    }
    registry.insert(session.clone());

    // A turn or a vote that was in flight is gone with the old agent
    // process; say so, so no client waits on it.
    let settle = |session: &Session| {
        for request_id in &pending_permissions {
            session.bus.publish(
                Event::PermissionResolved(switchyard_core::event::PermissionResolved {
                    request_id: request_id.clone(),
                    outcome: switchyard_core::event::PermissionOutcome::Cancelled,
                    voter_client_id: None,
                })
                .to_frame(),
            );
        }
        if let Some(prompt_id) = &running_turn {
            let mut f = Event::TurnError(TurnError {
                message: "the daemon restarted during this turn".into(),
                error_kind: Some(ErrorKind::AgentExited),
                prompt_id: Some(prompt_id.clone()),
            })
            .to_frame();
            f.prompt_id = Some(prompt_id.clone());
            session.bus.publish(f);
        }
    };

    if kind == SessionKind::Terminal && failure.is_none() && status == Status::Running {
        // Cold restore: a new process with the same command, cwd and size;
        // the old screen and scrollback stay; nobody owns it until a
        // control client claims it.
        session.bus.publish(Frame::new(
            "session_restored",
            json!({
                "kind": "terminal",
                "reason": "daemon_restarted",
                "how": "cold_restore",
                "pid": session.agent_pid,
                "cols": term_size.0,
                "rows": term_size.1,
            }),
        ));
        if had_owner {
            session.bus.publish(
                Event::OwnerChanged(switchyard_core::event::OwnerChanged {
                    owner_client_id: None,
                })
                .to_frame(),
            );
        }
        tracing::info!(session = %record.id, "terminal session cold-restored");
        return Outcome::Reloaded;
    }

    match (conn, failure, rx) {
        (Some(conn), _, Some(rx)) => {
            let restored = Frame::new(
                "session_restored",
                json!({
                    "kind": "agent",
                    "reason": "daemon_restarted",
                    "how": "session_load",
                    "pid": conn.pgid,
                }),
            );
            actor::start(
                session.clone(),
                conn,
                rx,
                registry.actor_config(permission_policy),
                Some(restored),
            );
            settle(&session);
            tracing::info!(session = %record.id, "agent session reloaded with session/load");
            Outcome::Reloaded
        }
        (None, Some(why), _) => {
            settle(&session);
            session.bus.publish(
                Event::SessionDied(SessionDied {
                    reason: "daemon_restarted".into(),
                    exit_code: None,
                    signal_code: None,
                    error_kind: None,
                })
                .to_frame(),
            );
            session.set_status(Status::Died);
            session.bus.close();
            tracing::info!(session = %record.id, "session not restored: {why}");
            Outcome::Ended
        }
        _ => {
            session.bus.close();
            Outcome::Idle
        }
    }
}

/// Respawns the session's agent and reopens its ACP session.
async fn reload_agent(
    registry: &Registry,
    record: &SessionRecord,
) -> Result<agent::AgentConn, String> {
    let spec = &record.spec;
    let name = spec.agent.clone().unwrap_or_default();
    let agent_spec = registry
        .config()
        .agents
        .get(&name)
        .cloned()
        .ok_or_else(|| format!("agent {name:?} is no longer configured"))?;
    let agent_session = spec
        .agent_session_id
        .as_deref()
        .ok_or("the agent's session id was not recorded")?;
    let cwd = PathBuf::from(&spec.cwd);
    agent::spawn_with(
        &agent_spec,
        &cwd,
        registry.config().limits.init_timeout,
        Some(agent_session),
    )
    .await
    .map_err(|e| e.message)
}
