//! The single writer: one thread that owns every write to the journal.
//!
//! Publishers never touch the disk. They hand their frame to this thread
//! through a channel (under the bus lock, so ids arrive in order) and move
//! on; the thread takes whatever has accumulated — one frame when the
//! daemon is quiet, hundreds under a flood — commits it in one transaction
//! and then tells each bus how far it is stored, which is when the frames
//! reach subscribers. Committing as soon as anything is waiting (rather
//! than on a timer) keeps latency at one commit when idle, and batching
//! whatever arrived during that commit keeps throughput up under load.
//!
//! After a commit it enforces retention: a session with more stored events
//! (or bytes) than allowed has its oldest ones folded into a stored
//! snapshot — the core reducer's view at that point — and deleted.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use switchyard_core::{Frame, SessionView, reduce};

use super::{Journal, JournalConfig, StoredEvent, Write};
use crate::bus::{CommitAck, EventLog, Outgoing};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 8192;

enum Msg {
    Write(Write, Option<CommitAck>),
    Flush(Sender<()>),
}

/// What `/health` says about the journal.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalStatus {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// The database file.
    pub path: String,
    /// Transactions that failed.
    pub failed_commits: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Transactions committed.
    pub commits: u64,
    /// Events committed.
    pub events: u64,
    /// Compactions run.
    pub compactions: u64,
}

/// The daemon's handle on the journal: cheap to clone.
#[derive(Clone)]
pub struct JournalHandle {
    journal: Arc<dyn Journal>,
    tx: Sender<Msg>,
    status: Arc<Mutex<JournalStatus>>,
}

impl JournalHandle {
    /// Starts the writer thread for `journal`.
    pub fn start(journal: Arc<dyn Journal>, config: JournalConfig, path: String) -> JournalHandle {
        let (tx, rx) = channel();
        let status = Arc::new(Mutex::new(JournalStatus {
            status: "ok",
            path,
            ..JournalStatus::default()
        }));
        let usage = journal
            .usage()
            .unwrap_or_default()
            .into_iter()
            .map(|(s, n, b)| (Arc::<str>::from(s), Usage { events: n, bytes: b }))
            .collect();
        let writer = Writer {
            journal: journal.clone(),
            config,
            status: status.clone(),
            usage,
        };
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))
            .expect("spawn the journal writer");
        JournalHandle {
            journal,
            tx,
            status,
        }
    }

    /// The storage, for reads.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// Queues a write (committed with the next batch).
    pub fn write(&self, w: Write) {
        let _ = self.tx.send(Msg::Write(w, None));
    }

    /// Waits until everything queued so far is committed (or failed).
    pub fn flush(&self) {
        let (tx, rx) = channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// [`JournalHandle::flush`] without blocking the runtime.
    pub async fn flush_async(&self) {
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.flush()).await;
    }

    /// The journal's health.
    pub fn status(&self) -> JournalStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The event log of one session, for its bus.
    pub fn session_log(&self, session: &str) -> Arc<SessionLog> {
        Arc::new(SessionLog {
            session: session.into(),
            handle: self.clone(),
        })
    }
}

/// One session's frames in the journal: what its bus writes to and resumes
/// from.
pub struct SessionLog {
    session: Arc<str>,
    handle: JournalHandle,
}

impl EventLog for SessionLog {
    fn append(&self, frame: &Arc<Outgoing>, ack: CommitAck) {
        let event = StoredEvent {
            id: frame.id.unwrap_or(0),
            kind: frame.kind.clone(),
            json: frame.json.clone(),
        };
        let w = Write::Event {
            session: self.session.clone(),
            event,
        };
        if let Err(e) = self.handle.tx.send(Msg::Write(w, Some(ack.clone()))) {
            // The writer is gone (it only stops when the daemon does).
            ack.failed(frame.id.unwrap_or(0), &format!("journal writer stopped: {e}"));
        }
    }

    fn read(&self, after: u64, before: u64) -> Option<Vec<Arc<Outgoing>>> {
        match self.handle.journal.range(&self.session, after, before) {
            Ok(events) => events.map(|events| {
                events
                    .into_iter()
                    .map(|e| {
                        Arc::new(Outgoing {
                            id: Some(e.id),
                            kind: e.kind,
                            json: e.json,
                        })
                    })
                    .collect()
            }),
            Err(e) => {
                tracing::warn!(session = %self.session, "reading the journal failed: {e}");
                None
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    events: u64,
    bytes: u64,
}

struct Writer {
    journal: Arc<dyn Journal>,
    config: JournalConfig,
    status: Arc<Mutex<JournalStatus>>,
    usage: HashMap<Arc<str>, Usage>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut batch: Vec<Write> = Vec::new();
        let mut acks: Vec<(Arc<str>, u64, CommitAck)> = Vec::new();
        let mut flushes: Vec<Sender<()>> = Vec::new();
        // Blocks only when there is nothing to do.
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Write(w, ack) => {
                        if let (Write::Event { session, event }, Some(ack)) = (&w, ack) {
                            match acks.last_mut() {
                                Some(last) if last.0 == *session => {
                                    last.1 = event.id;
                                    last.2 = ack;
                                }
                                _ => acks.push((session.clone(), event.id, ack)),
                            }
                        }
                        batch.push(w);
                    }
                    Msg::Flush(done) => flushes.push(done),
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(&mut batch, &mut acks);
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }

    fn commit(&mut self, batch: &mut Vec<Write>, acks: &mut Vec<(Arc<str>, u64, CommitAck)>) {
        if batch.is_empty() {
            return;
        }
        let result = self.journal.commit(batch);
        // The last ack per session is the one that counts.
        let mut last: HashMap<Arc<str>, (u64, CommitAck)> = HashMap::new();
        for (s, id, ack) in acks.drain(..) {
            last.insert(s, (id, ack));
        }
        match result {
            Ok(()) => {
                let mut events = 0u64;
                for w in batch.iter() {
                    match w {
                        Write::Event { session, event } => {
                            events += 1;
                            let u = self.usage.entry(session.clone()).or_default();
                            u.events += 1;
                            u.bytes += event.json.len() as u64;
                        }
                        Write::Purge { session } => {
                            self.usage.remove(session.as_str());
                        }
                        _ => {}
                    }
                }
                {
                    let mut st = self.status.lock().unwrap_or_else(PoisonError::into_inner);
                    st.commits += 1;
                    st.events += events;
                }
                for (_, (id, ack)) in last {
                    ack.committed(id);
                }
                self.retain();
            }
            Err(e) => {
                tracing::error!("journal commit of {} writes failed: {e}", batch.len());
                {
                    let mut st = self.status.lock().unwrap_or_else(PoisonError::into_inner);
                    st.status = "degraded";
                    st.failed_commits += 1;
                    st.last_error = Some(e.0.clone());
                }
                let mut marks = Vec::new();
                for (session, (id, ack)) in last {
                    ack.failed(id, &e.0);
                    marks.push(Write::Degraded {
                        session: session.to_string(),
                    });
                }
                // Best effort: with the disk full this fails too, and the
                // restore then cannot know (see docs/operations.md).
                if let Err(e) = self.journal.commit(&marks) {
                    tracing::warn!("could not flag the degraded sessions: {e}");
                }
            }
        }
        batch.clear();
    }

    /// Compacts every session over its retention.
    fn retain(&mut self) {
        let cfg = self.config;
        // Some slack so compaction runs in chunks, not once per event.
        let over = |u: &Usage| {
            u.events > cfg.retain_events + cfg.retain_events / 10 + 16
                || u.bytes > cfg.retain_bytes + cfg.retain_bytes / 10 + 4096
        };
        let due: Vec<Arc<str>> = self
            .usage
            .iter()
            .filter(|(_, u)| over(u))
            .map(|(s, _)| s.clone())
            .collect();
        for session in due {
            match self.compact(&session) {
                Ok(u) => {
                    self.usage.insert(session, u);
                    self.status
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .compactions += 1;
                }
                Err(e) => {
                    tracing::warn!(session = %session, "compaction failed: {e}");
                    // Try again after the next slack's worth.
                    if let Some(u) = self.usage.get_mut(&session) {
                        u.events = cfg.retain_events;
                        u.bytes = cfg.retain_bytes.min(u.bytes);
                    }
                }
            }
        }
    }

    /// Folds the oldest events of `session` into its snapshot until what is
    /// left fits the retention.
    fn compact(&self, session: &str) -> Result<Usage, super::JournalError> {
        let cfg = self.config;
        let history = self.journal.history(session)?;
        // Keep the newest events that fit both budgets.
        let mut keep = Usage::default();
        let mut cut = history.events.len();
        for (i, e) in history.events.iter().enumerate().rev() {
            let bytes = keep.bytes + e.json.len() as u64;
            if keep.events + 1 > cfg.retain_events || bytes > cfg.retain_bytes {
                break;
            }
            keep.events += 1;
            keep.bytes = bytes;
            cut = i;
        }
        if cut == 0 {
            return Ok(keep);
        }
        let mut view = SessionView::new();
        if let Some((_, snap)) = &history.snapshot {
            apply(&mut view, snap)?;
        }
        for e in &history.events[..cut] {
            apply(&mut view, &e.json)?;
        }
        let upto = history.events[cut - 1].id;
        view.last_event_id = upto;
        let snapshot = view.to_snapshot().to_json();
        self.journal.compact(session, upto, &snapshot)?;
        tracing::debug!(session, upto, kept = keep.events, "journal compacted");
        Ok(keep)
    }
}

fn apply(view: &mut SessionView, json: &str) -> Result<(), super::JournalError> {
    let frame = Frame::from_json(json)
        .map_err(|e| super::JournalError(format!("stored frame unreadable: {e}")))?;
    reduce(view, &frame);
    Ok(())
}
