//! Terminal sessions: a real PTY shared by many clients, one of whom owns
//! the keyboard.
//!
//! - [`pty`] runs the process (own process group, reader/pump/writer/waiter
//!   threads, coalesced UTF-8 output);
//! - [`screen`] is the server-side screen a late joiner's snapshot carries;
//! - [`actor`] is the per-session task that owns the process and walks the
//!   lifecycle `starting → running → exited → closed`;
//! - this module holds the shared [`TerminalHandle`]: ownership and the
//!   commands HTTP handlers send.
//!
//! Ownership: the creator is the first owner; input, resize and signals
//! need the owner; a control client may claim an unowned terminal; the
//! owner may release it, and loses it when it leaves (detach, or no event
//! stream for the presence grace period). Every change is one
//! `owner_changed`. The PTY's size is only ever set by the owner, so a
//! watcher with a small window cannot shrink everyone's terminal.

pub mod actor;
pub mod agent_terminals;
pub mod decode;
pub mod pty;
pub mod screen;

use std::sync::Mutex;

use serde::Serialize;
use switchyard_core::event::OwnerChanged;
use switchyard_core::{ErrorKind, Event};
use tokio::sync::{mpsc, oneshot};

use crate::bus::Bus;
use crate::error::{ApiError, ApiResult};

/// Where a terminal session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The process is being spawned.
    Starting,
    /// The process runs.
    Running,
    /// The process ended (`terminal_exited` was published); the session is
    /// still readable.
    Exited,
    /// The session was closed (killed); nothing runs.
    Closed,
}

/// Requests for a terminal session's actor.
#[derive(Debug)]
pub enum TermCommand {
    /// Keystrokes (or a paste) for the process.
    Input {
        /// UTF-8 text, written as is.
        data: String,
        /// Done (queued for the PTY).
        reply: oneshot::Sender<ApiResult<()>>,
    },
    /// Resize the PTY.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
        /// Who asked.
        client_id: String,
        /// Done.
        reply: oneshot::Sender<ApiResult<()>>,
    },
    /// Signal the foreground job.
    Signal {
        /// The signal number.
        signal: i32,
        /// Done.
        reply: oneshot::Sender<ApiResult<()>>,
    },
    /// Clear the scrollback for everyone.
    ClearScrollback {
        /// Who asked.
        client_id: String,
        /// Done.
        reply: oneshot::Sender<ApiResult<()>>,
    },
    /// Kill the process (its whole session) and close the terminal.
    Kill {
        /// `client_request`, `kill_all`, ...
        reason: String,
        /// The closing client, if one did.
        closed_by: Option<String>,
        /// Done.
        reply: oneshot::Sender<ApiResult<()>>,
    },
}

/// The part of a terminal session HTTP handlers share.
pub struct TerminalHandle {
    /// The command line, for display.
    pub command: String,
    /// The process id (also its process group and session id).
    pub pid: i32,
    owner: Mutex<Option<String>>,
    phase: Mutex<Phase>,
    size: Mutex<(u16, u16)>,
    commands: mpsc::UnboundedSender<TermCommand>,
}

impl TerminalHandle {
    pub(crate) fn new(
        command: String,
        pid: i32,
        size: (u16, u16),
        commands: mpsc::UnboundedSender<TermCommand>,
    ) -> TerminalHandle {
        TerminalHandle {
            command,
            pid,
            owner: Mutex::new(None),
            phase: Mutex::new(Phase::Starting),
            size: Mutex::new(size),
            commands,
        }
    }

    /// The owner's client id.
    pub fn owner(&self) -> Option<String> {
        self.owner.lock().expect("owner lock").clone()
    }

    /// The lifecycle phase.
    pub fn phase(&self) -> Phase {
        *self.phase.lock().expect("phase lock")
    }

    pub(crate) fn set_phase(&self, p: Phase) {
        *self.phase.lock().expect("phase lock") = p;
    }

    /// `(cols, rows)` of the PTY.
    pub fn size(&self) -> (u16, u16) {
        *self.size.lock().expect("size lock")
    }

    pub(crate) fn set_size(&self, size: (u16, u16)) {
        *self.size.lock().expect("size lock") = size;
    }

    /// Fails with 409 `owner_required` unless `client_id` owns the
    /// terminal.
    pub fn require_owner(&self, client_id: &str) -> ApiResult<()> {
        match self.owner() {
            Some(o) if o == client_id => Ok(()),
            Some(o) => Err(ApiError::new(
                ErrorKind::OwnerRequired,
                format!("client {client_id} does not own this terminal ({o} does)"),
            )
            .hint("the owner can release it (POST /session/{id}/owner {\"action\":\"release\"}); then claim it")),
            None => Err(ApiError::new(
                ErrorKind::OwnerRequired,
                format!("client {client_id} does not own this terminal (nobody does)"),
            )
            .hint("claim it first: POST /session/{id}/owner {\"action\":\"claim\"}")),
        }
    }

    /// Makes `client_id` the owner if there is none (or it already is).
    /// The change is published under the owner lock, so `owner_changed`
    /// frames are in the order the changes happened.
    pub fn claim(&self, bus: &Bus, client_id: &str) -> ApiResult<()> {
        let mut owner = self.owner.lock().expect("owner lock");
        match owner.as_deref() {
            Some(o) if o == client_id => Ok(()),
            Some(o) => Err(ApiError::new(
                ErrorKind::OwnerRequired,
                format!("the terminal is owned by {o}"),
            )
            .hint("the owner must release it first (or leave)")),
            None => {
                *owner = Some(client_id.to_string());
                publish_owner(bus, Some(client_id));
                Ok(())
            }
        }
    }

    /// The owner gives the terminal up.
    pub fn release(&self, bus: &Bus, client_id: &str) -> ApiResult<()> {
        let mut owner = self.owner.lock().expect("owner lock");
        if owner.as_deref() != Some(client_id) {
            drop(owner);
            return self.require_owner(client_id);
        }
        *owner = None;
        publish_owner(bus, None);
        Ok(())
    }

    /// A client left the session: if it owned the terminal, nobody does now.
    pub(crate) fn client_left(&self, bus: &Bus, client_id: &str) {
        let mut owner = self.owner.lock().expect("owner lock");
        if owner.as_deref() == Some(client_id) {
            *owner = None;
            publish_owner(bus, None);
        }
    }

    /// Sends a command to the actor and waits for its answer.
    pub async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<ApiResult<T>>) -> TermCommand,
    ) -> ApiResult<T> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(make(tx)).is_err() {
            return Err(closed_error());
        }
        rx.await.unwrap_or_else(|_| Err(closed_error()))
    }
}

fn publish_owner(bus: &Bus, owner: Option<&str>) {
    bus.publish(
        Event::OwnerChanged(OwnerChanged {
            owner_client_id: owner.map(String::from),
        })
        .to_frame(),
    );
}

pub(crate) fn closed_error() -> ApiError {
    ApiError::new(ErrorKind::SessionBusy, "the terminal session is closed")
        .hint("the session is readable but no longer accepts changes")
}

/// The signals a client may send, by the names the API takes.
pub fn parse_signal(name: &str) -> Option<i32> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    Some(match name {
        "INT" => libc::SIGINT,
        "TERM" => libc::SIGTERM,
        "HUP" => libc::SIGHUP,
        "KILL" => libc::SIGKILL,
        "QUIT" => libc::SIGQUIT,
        _ => return None,
    })
}
