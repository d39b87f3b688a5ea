//! The terminal session's actor: one task that owns the process and
//! publishes its lifecycle, so each ending is published exactly once.
//!
//! `running → exited`: the waiter thread reports the exit; the actor
//! waits (briefly) until the pump has flushed the last output, so
//! `terminal_exited` follows every byte the program wrote, then publishes
//! it once. `→ closed`: a kill (DELETE, kill-all) hangs up the whole
//! session (SIGHUP, then SIGKILL after a grace period), waits until the
//! process is reaped and nothing of its session is left, publishes
//! `terminal_exited` if the process had not ended before, then
//! `session_closed`, and closes the bus.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::event::{SessionClosed, SessionDied, TerminalExited, TerminalResized};
use switchyard_core::{ErrorKind, Event};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::pty::{self, ExitInfo, Proc, ProcEvent};
use super::{Phase, TermCommand, closed_error};
use crate::error::{ApiError, ApiResult};
use crate::session::{Command, Session, Status};

/// How long a hung-up process gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long an exited process's last output may take to be flushed before
/// `terminal_exited` is published anyway (a background job that kept the
/// PTY open would otherwise hold it back forever).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

pub(crate) struct TermActor {
    session: Arc<Session>,
    proc: Proc,
    events: mpsc::UnboundedReceiver<ProcEvent>,
    drained: bool,
    exit: Option<ExitInfo>,
    exit_published: bool,
    /// Set once a kill began: why, and by whom.
    closing: Option<(String, Option<String>)>,
}

impl TermActor {
    pub(crate) fn new(
        session: Arc<Session>,
        proc: Proc,
        events: mpsc::UnboundedReceiver<ProcEvent>,
    ) -> TermActor {
        TermActor {
            session,
            proc,
            events,
            drained: false,
            exit: None,
            exit_published: false,
            closing: None,
        }
    }

    fn handle(&self) -> &super::TerminalHandle {
        self.session
            .terminal
            .as_ref()
            .expect("a terminal actor runs a terminal session")
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut term_commands: mpsc::UnboundedReceiver<TermCommand>,
    ) {
        self.handle().set_phase(Phase::Running);
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let deadline = drain_deadline;
            tokio::select! {
                // The process's own news first: an exit must not be
                // overtaken by a command that assumes the process runs.
                biased;
                Some(ev) = self.events.recv() => self.on_event(ev),
                _ = async { tokio::time::sleep_until(deadline.unwrap()).await }, if deadline.is_some() => {
                    self.publish_exit();
                }
                Some(cmd) = term_commands.recv() => {
                    if self.on_term_command(cmd).await {
                        break;
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(cmd) => {
                        if self.on_command(cmd).await {
                            break;
                        }
                    }
                    None => {
                        // Nobody can reach this session any more.
                        self.end().await;
                        break;
                    }
                },
            }
            if self.exit.is_some() && !self.exit_published {
                if self.drained {
                    self.publish_exit();
                } else if drain_deadline.is_none() {
                    drain_deadline = Some(Instant::now() + DRAIN_GRACE);
                }
            }
            if self.exit_published {
                drain_deadline = None;
            }
        }
        self.session.bus.close();
        commands.close();
        term_commands.close();
        while let Ok(cmd) = commands.try_recv() {
            answer_closed(cmd);
        }
        while let Ok(cmd) = term_commands.try_recv() {
            answer_term_closed(cmd);
        }
    }

    fn on_event(&mut self, ev: ProcEvent) {
        match ev {
            ProcEvent::Drained => self.drained = true,
            ProcEvent::Exited(info) => {
                self.proc.close_input();
                self.exit = Some(info);
            }
        }
    }

    /// Publishes `terminal_exited` (once).
    fn publish_exit(&mut self) {
        if self.exit_published {
            return;
        }
        self.exit_published = true;
        let info = self.exit.clone().unwrap_or(ExitInfo {
            exit_code: None,
            signal: None,
        });
        tracing::info!(session = %self.session.id, exit_code = ?info.exit_code, signal = ?info.signal, "terminal exited");
        self.session.bus.publish(
            Event::TerminalExited(TerminalExited {
                exit_code: info.exit_code,
                signal: info.signal,
                terminal_id: None,
            })
            .to_frame(),
        );
        self.handle().set_phase(Phase::Exited);
        self.session.set_status(Status::Exited);
    }

    fn running(&self) -> ApiResult<()> {
        if self.exit.is_some() {
            return Err(
                ApiError::new(ErrorKind::SessionBusy, "the terminal's process has exited")
                    .hint("the session stays readable; DELETE /session/{id} closes it"),
            );
        }
        Ok(())
    }

    /// True when the session is done and the actor should stop.
    async fn on_term_command(&mut self, cmd: TermCommand) -> bool {
        match cmd {
            TermCommand::Input { data, reply } => {
                let r = self
                    .running()
                    .and_then(|()| self.proc.write(data.into_bytes()));
                let _ = reply.send(r);
            }
            TermCommand::Resize {
                cols,
                rows,
                client_id,
                reply,
            } => {
                let r = self.resize(cols, rows, &client_id);
                let _ = reply.send(r);
            }
            TermCommand::Signal { signal, reply } => {
                let r = self.running().map(|()| self.proc.signal_foreground(signal));
                let _ = reply.send(r);
            }
            TermCommand::ClearScrollback { client_id, reply } => {
                let mut f = Event::ScrollbackCleared.to_frame();
                f.originator_client_id = Some(client_id);
                self.session.bus.publish(f);
                let _ = reply.send(Ok(()));
            }
            TermCommand::Kill {
                reason,
                closed_by,
                reply,
            } => {
                self.close(&reason, closed_by);
                self.end().await;
                self.closed_now();
                let _ = reply.send(Ok(()));
                return true;
            }
        }
        false
    }

    fn resize(&mut self, cols: u16, rows: u16, client_id: &str) -> ApiResult<()> {
        self.running()?;
        if self.handle().size() == (cols, rows) {
            return Ok(());
        }
        self.proc.resize(cols, rows)?;
        self.handle().set_size((cols, rows));
        let mut f = Event::TerminalResized(TerminalResized { cols, rows }).to_frame();
        f.originator_client_id = Some(client_id.to_string());
        self.session.bus.publish(f);
        Ok(())
    }

    async fn on_command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Close { client_id, reply } => {
                self.close("client_request", Some(client_id));
                self.end().await;
                self.closed_now();
                let _ = reply.send(Ok(()));
                true
            }
            Command::Suspend { reply } => {
                // The journal keeps the session for a cold restore: end the
                // process, publish no ending.
                tracing::info!(session = %self.session.id, "terminal suspended for a daemon restart");
                self.exit_published = true;
                self.end().await;
                let _ = reply.send(Ok(()));
                true
            }
            Command::Shutdown { reply } => {
                self.end().await;
                self.session.bus.publish(
                    Event::SessionDied(SessionDied {
                        reason: "daemon_shutdown".into(),
                        exit_code: None,
                        signal_code: None,
                        error_kind: None,
                    })
                    .to_frame(),
                );
                self.session.set_status(Status::Died);
                self.handle().set_phase(Phase::Closed);
                let _ = reply.send(Ok(()));
                true
            }
            other => {
                answer_not_agent(other);
                false
            }
        }
    }

    /// Marks the session closing: no more input from here on.
    fn close(&mut self, reason: &str, closed_by: Option<String>) {
        tracing::info!(session = %self.session.id, %reason, "closing terminal");
        self.proc.close_input();
        self.closing = Some((reason.to_string(), closed_by));
    }

    fn closed_now(&mut self) {
        let (reason, closed_by) = self
            .closing
            .take()
            .unwrap_or_else(|| ("client_request".into(), None));
        let mut f = Event::SessionClosed(SessionClosed {
            reason,
            closed_by: closed_by.clone(),
        })
        .to_frame();
        f.originator_client_id = closed_by;
        self.session.bus.publish(f);
        self.session.set_status(Status::Closed);
        self.handle().set_phase(Phase::Closed);
    }

    /// Ends the process and everything in its session, reaps it, and
    /// publishes its `terminal_exited` if that had not happened yet.
    async fn end(&mut self) {
        let pid = self.proc.pid;
        if self.exit.is_none() {
            self.proc.signal_all(libc::SIGHUP);
            // SIGCONT: a stopped job cannot act on the hang-up.
            self.proc.signal_all(libc::SIGCONT);
            if !self.await_exit(KILL_GRACE).await {
                self.proc.signal_all(libc::SIGKILL);
                self.await_exit(KILL_GRACE).await;
            }
        }
        // Whatever the shell left behind (background jobs that ignore
        // SIGHUP) goes too: closed means nothing of it still runs.
        self.proc.signal_all(libc::SIGKILL);
        let deadline = Instant::now() + KILL_GRACE;
        while pty::session_alive(pid) && Instant::now() < deadline {
            // No event says "a session emptied"; this poll only runs while
            // a terminal is being closed.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The last output before the end, then the end.
        let deadline = Instant::now() + DRAIN_GRACE;
        while !self.drained {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => self.on_event(ev),
                _ => break,
            }
        }
        self.publish_exit();
    }

    /// Waits up to `limit` for the exit; true if it came.
    async fn await_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.exit.is_none() {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => self.on_event(ev),
                _ => return self.exit.is_some(),
            }
        }
        true
    }
}

fn answer_not_agent(cmd: Command) {
    cmd.refuse(|| {
        ApiError::invalid("this is a terminal session; that request needs an agent session")
    });
}

fn answer_closed(cmd: Command) {
    match cmd {
        Command::Close { reply, .. } | Command::Shutdown { reply } | Command::Suspend { reply } => {
            drop(reply.send(Ok(())))
        }
        other => answer_not_agent(other),
    }
}

fn answer_term_closed(cmd: TermCommand) {
    match cmd {
        TermCommand::Kill { reply, .. } => drop(reply.send(Ok(()))),
        TermCommand::Input { reply, .. }
        | TermCommand::Resize { reply, .. }
        | TermCommand::Signal { reply, .. }
        | TermCommand::ClearScrollback { reply, .. } => drop(reply.send(Err(closed_error()))),
    }
}
