//! The journal: what survives a restart or a crash.
//!
//! Sessions (what they run, where, their epoch) and every event they
//! published are written to an embedded database, so that after a restart
//! (or `kill -9`) ids continue where they stopped, a client can resume from
//! any id the journal still holds, and sessions come back.
//!
//! The storage is behind the [`Journal`] trait — one SQLite implementation
//! today ([`sqlite`]), a distributed log later — and writes are committed
//! by one committer at a time ([`writer`]): a publisher's own thread for a
//! lone frame on a quiet journal, otherwise the writer thread, which
//! commits whatever has accumulated in one transaction (group commit). The
//! bus sees the journal
//! only as a [`crate::bus::EventLog`]: it hands frames over and fans them
//! out once the writer says they are committed.

pub mod mirror;
pub mod sqlite;
pub mod writer;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use writer::{JournalHandle, SessionLog};

/// The file name of the database inside the data dir.
pub const FILE_NAME: &str = "journal.sqlite3";

/// Why the journal could not do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalError(pub String);

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JournalError {}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError(e.to_string())
    }
}

/// Result of a journal operation.
pub type JResult<T> = Result<T, JournalError>;

/// What a session runs and where: enough to start it again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionSpec {
    /// `agent` or `terminal`.
    pub kind: String,
    /// Configured agent name (agent sessions).
    pub agent: Option<String>,
    /// Program (terminal sessions; for agents, the command it ran as).
    pub command: Option<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory (canonical).
    pub cwd: String,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Terminal size.
    pub cols: Option<u16>,
    /// Terminal size.
    pub rows: Option<u16>,
    /// The agent's own id for the session (for `session/load`).
    pub agent_session_id: Option<String>,
    /// `first-responder` / `designated`.
    pub permission_policy: Option<String>,
}

/// One session as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// `s_…`.
    pub id: String,
    /// What it runs.
    pub spec: SessionSpec,
    /// `running`, `died`, `closed`.
    pub state: String,
    /// The epoch its ids belong to.
    pub epoch: String,
    /// Some events were not stored (a write failed).
    pub degraded: bool,
    /// Creation time (ms).
    pub created_at: u64,
    /// Last change (ms).
    pub updated_at: u64,
}

/// A stored event: its id and the frame exactly as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The id.
    pub id: u64,
    /// The event type.
    pub kind: String,
    /// The frame's JSON, byte for byte what subscribers got.
    pub json: Arc<str>,
}

/// A session's stored history: a snapshot (the core reducer's view as a
/// `session_snapshot` frame) of everything compacted away, then the
/// events after it.
#[derive(Debug, Clone, Default)]
pub struct StoredHistory {
    /// Compacted prefix: `(upto id, session_snapshot frame JSON)`.
    pub snapshot: Option<(u64, String)>,
    /// Events after the snapshot, in id order.
    pub events: Vec<StoredEvent>,
}

/// One item of a stored history, as [`Journal::visit_history`] hands it
/// over.
#[derive(Debug, Clone, Copy)]
pub enum HistoryItem<'a> {
    /// The compacted prefix: a `session_snapshot` frame (JSON) as of `upto`.
    Snapshot {
        /// The last id it covers.
        upto: u64,
        /// The frame.
        json: &'a str,
    },
    /// A stored event after it.
    Event(&'a StoredEvent),
}

/// One write; the writer commits a batch of them in one transaction.
#[derive(Debug, Clone)]
pub enum Write {
    /// Append an event.
    Event {
        /// The session.
        session: Arc<str>,
        /// The event.
        event: StoredEvent,
    },
    /// Insert or replace a session record.
    Session(Box<SessionRecord>),
    /// Change a session's state.
    State {
        /// The session.
        session: String,
        /// `running`, `died`, `closed`.
        state: String,
        /// When (ms).
        at: u64,
    },
    /// Flag a session as degraded (some events are missing).
    Degraded {
        /// The session.
        session: String,
    },
    /// Remove a session and everything it stored.
    Purge {
        /// The session.
        session: String,
    },
    /// Store a daemon-wide setting (a mirror of a file in the data dir).
    Setting {
        /// Key.
        key: String,
        /// Value (JSON).
        value: String,
    },
}

/// Storage for the journal. Writes come from one thread (the writer);
/// reads may come from any thread at the same time.
pub trait Journal: Send + Sync + 'static {
    /// Applies `batch` atomically: all of it or none.
    fn commit(&self, batch: &[Write]) -> JResult<()>;
    /// [`Journal::commit`] if it can start at once; `None` when the storage
    /// is busy (another transaction, such as a compaction, holds it), so a
    /// caller that must not wait — a publisher on the runtime — can hand
    /// the batch to the writer thread instead.
    fn try_commit(&self, batch: &[Write]) -> Option<JResult<()>> {
        Some(self.commit(batch))
    }
    /// Every session, oldest first.
    fn sessions(&self) -> JResult<Vec<SessionRecord>>;
    /// Hands a session's stored history to `visit` one item at a time, in
    /// one read: the snapshot first (if any), then every event after it in
    /// id order. Only the item being visited is in memory, however long
    /// the history (a restore reads them all).
    fn visit_history(&self, session: &str, visit: &mut dyn FnMut(HistoryItem<'_>)) -> JResult<()>;
    /// A session's snapshot and stored events, all in memory.
    fn history(&self, session: &str) -> JResult<StoredHistory> {
        let mut history = StoredHistory::default();
        self.visit_history(session, &mut |item| match item {
            HistoryItem::Snapshot { upto, json } => {
                history.snapshot = Some((upto, json.to_string()));
            }
            HistoryItem::Event(e) => history.events.push(e.clone()),
        })?;
        Ok(history)
    }
    /// Events with `after < id < before`, in order, or `None` when some of
    /// them were compacted away.
    fn range(&self, session: &str, after: u64, before: u64) -> JResult<Option<Vec<StoredEvent>>>;
    /// Stored events and their bytes, per session (for retention).
    fn usage(&self) -> JResult<Vec<(String, u64, u64)>>;
    /// Compacts `session`'s events up to and including `upto` behind
    /// `snapshot` (a `session_snapshot` frame as of `upto`).
    fn compact(&self, session: &str, upto: u64, snapshot: &str) -> JResult<()>;
    /// A setting.
    fn setting(&self, key: &str) -> JResult<Option<String>>;
    /// `(id, bytes)` of a session's stored events (after its snapshot), in
    /// id order: what retention needs, without reading the events.
    fn event_sizes(&self, session: &str) -> JResult<Vec<(u64, u64)>> {
        Ok(self
            .history(session)?
            .events
            .iter()
            .map(|e| (e.id, e.json.len() as u64))
            .collect())
    }
    /// A session's compacted prefix: `(upto id, session_snapshot JSON)`.
    fn snapshot(&self, session: &str) -> JResult<Option<(u64, String)>> {
        Ok(self.history(session)?.snapshot)
    }
}

/// Durability settings (`--journal-sync`, `--retain-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalConfig {
    /// `synchronous=FULL` (fsync on every commit) instead of `NORMAL`.
    pub full_sync: bool,
    /// Events kept per session before older ones are compacted.
    pub retain_events: u64,
    /// Bytes of events kept per session before older ones are compacted.
    pub retain_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            full_sync: false,
            retain_events: 100_000,
            retain_bytes: 256 << 20,
        }
    }
}
