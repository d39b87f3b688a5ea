//! The SQLite journal: one database file in the data dir, in WAL mode, so
//! the writer thread and readers (resumes, restore) do not block each
//! other.
//!
//! The schema carries its version in `PRAGMA user_version` and is brought
//! forward by [`MIGRATIONS`] at start. A database from a newer daemon, or
//! one SQLite cannot read, stops start-up with a message that says what to
//! do; nothing is ever deleted unless the operator asks (`--reset-journal`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{
    HistoryItem, JResult, Journal, JournalError, SessionRecord, SessionSpec, StoredEvent, Write,
};

/// Schema migrations, in order: migration `i` takes `user_version` from `i`
/// to `i + 1`. Append only; never edit one that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: sessions, events, compaction snapshots, settings.
    "CREATE TABLE sessions (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        spec        TEXT NOT NULL,
        state       TEXT NOT NULL,
        epoch       TEXT NOT NULL,
        degraded    INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE events (
        session_id  TEXT NOT NULL,
        id          INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        frame       TEXT NOT NULL,
        PRIMARY KEY (session_id, id)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        session_id  TEXT PRIMARY KEY,
        upto        INTEGER NOT NULL,
        frame       TEXT NOT NULL
    );
    CREATE TABLE settings (
        key         TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    );",
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The SQLite journal.
pub struct SqliteJournal {
    path: PathBuf,
    /// `journal.degraded/`: one empty file per degraded session (see
    /// [`SqliteJournal::mark_degraded`]).
    markers: PathBuf,
    /// Pages in the WAL after the last commit (the writer's WAL hook).
    wal_pages: Arc<AtomicU64>,
    /// Past this, only the writer thread commits, and restarts the log.
    wal_restart_pages: AtomicU64,
    writer: Mutex<Connection>,
    /// Resumes (`range`): short reads on the hot path.
    reader: Mutex<Connection>,
    /// Whole histories (restore, compaction): long reads kept off `reader`.
    bulk: Mutex<Connection>,
    /// Cleared on drop: stops the checkpointer thread.
    alive: Arc<AtomicBool>,
}

impl Drop for SqliteJournal {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
    }
}

/// WAL pages after which the writer thread restarts the log (see `open`).
const WAL_RESTART_PAGES: u64 = 10_000;

/// Bytes the WAL file is cut back to when the log restarts.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Checkpoints run on a thread and connection of their own, never in a
/// commit: a checkpoint syncs the database file, and doing that inside the
/// writer's commit (SQLite's auto-checkpoint) would stall every event
/// waiting behind it. PASSIVE never blocks the writer or readers.
fn start_checkpointer(path: &Path, alive: Arc<AtomicBool>) -> JResult<()> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_millis(100))?;
    std::thread::Builder::new()
        .name("journal-checkpoint".into())
        .spawn(move || {
            while alive.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!("journal checkpoint: {e}");
                }
            }
        })
        .map_err(|e| JournalError(format!("cannot start the checkpointer: {e}")))?;
    Ok(())
}

fn lock(c: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    c.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteJournal {
    /// Opens (creating if needed) `<data_dir>/journal.sqlite3`, checks it and
    /// migrates it forward. `reset` deletes an existing database first.
    pub fn open(data_dir: &Path, full_sync: bool, reset: bool) -> JResult<Arc<SqliteJournal>> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            JournalError(format!(
                "cannot create the data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(super::FILE_NAME);
        if reset {
            // The sessions they flag go with the database.
            let _ = std::fs::remove_dir_all(data_dir.join(MARKERS_DIR));
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", path.display()));
                match std::fs::remove_file(&p) {
                    Ok(()) => tracing::warn!(path = %p.display(), "journal reset: deleted"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(JournalError(format!("cannot delete {}: {e}", p.display())));
                    }
                }
            }
        }
        let refuse = |what: String| {
            JournalError(format!(
                "the journal {} {what}; nothing was changed. Move the file away (or start with \
                 --reset-journal to delete it, losing every stored session), or run with \
                 --no-journal",
                path.display()
            ))
        };
        // Transcripts, terminal output and a copy of the token hashes live
        // here: owner-only, like the token file. (SQLite gives the -wal and
        // -shm files the database file's mode.)
        if !path.exists() {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&path)
                .map_err(|e| JournalError(format!("cannot create {}: {e}", path.display())))?;
        }
        let mut writer =
            Connection::open(&path).map_err(|e| refuse(format!("cannot be opened: {e}")))?;
        writer
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| refuse(format!("cannot be configured: {e}")))?;
        let version: i64 = writer
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| refuse(format!("is not a readable database ({e})")))?;
        if version > schema_version() {
            return Err(refuse(format!(
                "has schema version {version}, newer than this daemon's {} (written by a newer \
                 switchyard)",
                schema_version()
            )));
        }
        let check: String = writer
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| refuse(format!("is corrupt ({e})")))?;
        if check != "ok" {
            return Err(refuse(format!("is corrupt ({check})")));
        }
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| refuse(format!("cannot switch to WAL: {e}")))?;
        writer
            .pragma_update(
                None,
                "synchronous",
                if full_sync { "FULL" } else { "NORMAL" },
            )
            .map_err(|e| refuse(format!("cannot be configured: {e}")))?;
        // The checkpointer thread copies the WAL back every
        // CHECKPOINT_EVERY, but under steady writes it never catches up with
        // the last few frames, so the log only restarts after a checkpoint
        // by the writer connection itself — two fsyncs, milliseconds. SQLite
        // does that inside a commit (auto-checkpoint, every 1,000 pages:
        // twice a second at 2,000 events/s), which would also be inside a
        // publisher's own commit, on the runtime. Instead a hook counts the
        // log's pages; past WAL_RESTART_PAGES (about 40 MiB, the copying
        // long done by the checkpointer) publishers hand their frames to the
        // writer thread, which checkpoints after its commit (`commit`), and
        // the next commit starts the log over. (Installing the hook turns
        // SQLite's own auto-checkpoint off.)
        let pages = Arc::new(AtomicU64::new(0));
        let counter = pages.clone();
        writer
            .wal_hook(Some(
                move |_: &mut rusqlite::hooks::Wal, n: std::ffi::c_int| {
                    counter.store(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
                    Ok(())
                },
            ))
            .map_err(|e| refuse(format!("cannot be configured: {e}")))?;
        // After a burst grew it, the log shrinks back to this at its
        // next restart.
        writer
            .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(|e| refuse(format!("cannot be configured: {e}")))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = writer.unchecked_transaction()?;
            tx.execute_batch(sql)
                .map_err(|e| refuse(format!("could not be migrated to version {}: {e}", i + 1)))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "journal schema migrated");
        }
        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| refuse(format!("cannot be opened for reading: {e}")))?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        let bulk = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| refuse(format!("cannot be opened for reading: {e}")))?;
        bulk.busy_timeout(std::time::Duration::from_secs(5))?;
        let alive = Arc::new(AtomicBool::new(true));
        start_checkpointer(&path, alive.clone())?;
        // Made now, while there is room: a full disk can still take an
        // empty file in an existing directory.
        let markers = data_dir.join(MARKERS_DIR);
        std::fs::create_dir_all(&markers)
            .map_err(|e| JournalError(format!("cannot create {}: {e}", markers.display())))?;
        Ok(Arc::new(SqliteJournal {
            path,
            markers,
            wal_pages: pages,
            wal_restart_pages: AtomicU64::new(WAL_RESTART_PAGES),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            bulk: Mutex::new(bulk),
            alive,
        }))
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One transaction on the writer connection.
    fn commit_on(&self, conn: &mut Connection, batch: &[Write]) -> JResult<()> {
        for w in batch {
            if let Write::Degraded { session } = w {
                self.mark_degraded(session);
            }
        }
        let tx = conn.transaction()?;
        {
            let mut event = tx.prepare_cached(
                "INSERT OR REPLACE INTO events (session_id, id, kind, frame) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for w in batch {
                match w {
                    Write::Event { session, event: e } => {
                        event.execute(params![&**session, to_i64(e.id), e.kind, &*e.json])?;
                    }
                    Write::Session(r) => {
                        let spec = serde_json::to_string(&r.spec)
                            .map_err(|e| JournalError(e.to_string()))?;
                        tx.execute(
                            "INSERT OR REPLACE INTO sessions
                             (id, kind, spec, state, epoch, degraded, created_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![
                                r.id,
                                r.spec.kind,
                                spec,
                                r.state,
                                r.epoch,
                                r.degraded as i64,
                                to_i64(r.created_at),
                                to_i64(r.updated_at)
                            ],
                        )?;
                    }
                    Write::State { session, state, at } => {
                        tx.execute(
                            "UPDATE sessions SET state = ?2, updated_at = ?3 WHERE id = ?1",
                            params![session, state, to_i64(*at)],
                        )?;
                    }
                    Write::Degraded { session } => {
                        tx.execute(
                            "UPDATE sessions SET degraded = 1 WHERE id = ?1",
                            params![session],
                        )?;
                    }
                    Write::Purge { session } => {
                        tx.execute("DELETE FROM events WHERE session_id = ?1", params![session])?;
                        tx.execute(
                            "DELETE FROM snapshots WHERE session_id = ?1",
                            params![session],
                        )?;
                        tx.execute("DELETE FROM sessions WHERE id = ?1", params![session])?;
                    }
                    Write::Setting { key, value } => {
                        tx.execute(
                            "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                            params![key, value],
                        )?;
                    }
                }
            }
        }
        tx.commit()?;
        for w in batch {
            match w {
                Write::Session(r) if !r.degraded => self.unmark_degraded(&r.id),
                Write::Purge { session } => self.unmark_degraded(session),
                _ => {}
            }
        }
        Ok(())
    }

    fn wal_is_long(&self) -> bool {
        self.wal_pages.load(Ordering::Relaxed) >= self.wal_restart_pages.load(Ordering::Relaxed)
    }

    fn marker(&self, session: &str) -> Option<PathBuf> {
        // Ids are the daemon's own (`s_…`); anything else is no file name.
        let plain = !session.is_empty()
            && session
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        plain.then(|| self.markers.join(session))
    }

    /// Flags a session degraded outside the database. The flag usually
    /// has to be written just when the database cannot be (the disk is
    /// full, the file at its size limit), and without it a restart would
    /// continue the session's ids after the last *stored* event, in the
    /// same epoch, reusing ids that clients saw for frames that were never
    /// stored. An empty file needs no data block, so it is made first; the
    /// database row follows in the same commit when it can. The marker
    /// goes once a record of the session without the flag is committed
    /// (restore's new epoch, or a purge).
    fn mark_degraded(&self, session: &str) {
        let Some(path) = self.marker(session) else {
            return;
        };
        if let Err(e) = std::fs::File::create(&path) {
            tracing::error!(session, path = %path.display(), "cannot flag the session degraded: {e}");
        }
    }

    fn unmark_degraded(&self, session: &str) {
        if let Some(path) = self.marker(session) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %path.display(), "cannot remove: {e}"),
            }
        }
    }
}

/// Directory (in the data dir) of the out-of-database degraded flags.
const MARKERS_DIR: &str = "journal.degraded";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A row of `SELECT id, kind, frame FROM events`.
fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get::<_, i64>(0)? as u64,
        kind: r.get(1)?,
        json: r.get::<_, String>(2)?.into(),
    })
}

impl Journal for SqliteJournal {
    fn commit(&self, batch: &[Write]) -> JResult<()> {
        let mut conn = lock(&self.writer);
        self.commit_on(&mut conn, batch)?;
        if self.wal_is_long() {
            // Everything is copied back (the checkpointer's work, or this
            // call's): the next commit starts the log over.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::debug!("journal checkpoint: {e}");
            }
        }
        Ok(())
    }

    fn try_commit(&self, batch: &[Write]) -> Option<JResult<()>> {
        if self.wal_is_long() {
            return None;
        }
        let mut conn = match self.writer.try_lock() {
            Ok(conn) => conn,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(self.commit_on(&mut conn, batch))
    }

    fn sessions(&self) -> JResult<Vec<SessionRecord>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(
            "SELECT id, spec, state, epoch, degraded, created_at, updated_at
             FROM sessions ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, spec, state, epoch, degraded, created, updated) = row?;
            let spec: SessionSpec = serde_json::from_str(&spec)
                .map_err(|e| JournalError(format!("session {id}: unreadable record: {e}")))?;
            out.push(SessionRecord {
                degraded: degraded != 0 || self.marker(&id).is_some_and(|m| m.exists()),
                id,
                spec,
                state,
                epoch,
                created_at: created as u64,
                updated_at: updated as u64,
            });
        }
        Ok(out)
    }

    fn visit_history(&self, session: &str, visit: &mut dyn FnMut(HistoryItem<'_>)) -> JResult<()> {
        let conn = lock(&self.bulk);
        // One read transaction: a compaction cannot slip in between the
        // snapshot and the events.
        let tx = conn.unchecked_transaction()?;
        let snapshot = tx
            .query_row(
                "SELECT upto, frame FROM snapshots WHERE session_id = ?1",
                params![session],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
            )
            .optional()?;
        let after = snapshot.as_ref().map_or(0, |s| s.0);
        if let Some((upto, json)) = &snapshot {
            visit(HistoryItem::Snapshot { upto: *upto, json });
        }
        drop(snapshot);
        let mut stmt = tx.prepare(
            "SELECT id, kind, frame FROM events WHERE session_id = ?1 AND id > ?2 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![session, to_i64(after)])?;
        while let Some(row) = rows.next()? {
            visit(HistoryItem::Event(&stored_event(row)?));
        }
        drop(rows);
        drop(stmt);
        tx.finish()?;
        Ok(())
    }

    fn range(&self, session: &str, after: u64, before: u64) -> JResult<Option<Vec<StoredEvent>>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, frame FROM events
             WHERE session_id = ?1 AND id > ?2 AND id < ?3 ORDER BY id",
        )?;
        let events = stmt
            .query_map(
                params![session, to_i64(after), to_i64(before)],
                stored_event,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        // Gapless or nothing.
        let complete = events.len() as u64 == before.saturating_sub(after + 1)
            && events
                .iter()
                .enumerate()
                .all(|(i, e)| e.id == after + 1 + i as u64);
        Ok(complete.then_some(events))
    }

    fn usage(&self) -> JResult<Vec<(String, u64, u64)>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(
            "SELECT session_id, count(*), coalesce(sum(length(frame)), 0) FROM events GROUP BY session_id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn event_sizes(&self, session: &str) -> JResult<Vec<(u64, u64)>> {
        let conn = lock(&self.bulk);
        // octet_length comes from the record header: the frames
        // themselves (overflow pages) are never read.
        let mut stmt = conn.prepare_cached(
            "SELECT id, octet_length(frame) FROM events WHERE session_id = ?1 ORDER BY id",
        )?;
        let sizes = stmt
            .query_map(params![session], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(sizes)
    }

    fn snapshot(&self, session: &str) -> JResult<Option<(u64, String)>> {
        let conn = lock(&self.bulk);
        Ok(conn
            .query_row(
                "SELECT upto, frame FROM snapshots WHERE session_id = ?1",
                params![session],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
            )
            .optional()?)
    }

    fn compact(&self, session: &str, upto: u64, snapshot: &str) -> JResult<()> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshots (session_id, upto, frame) VALUES (?1, ?2, ?3)",
            params![session, to_i64(upto), snapshot],
        )?;
        tx.execute(
            "DELETE FROM events WHERE session_id = ?1 AND id <= ?2",
            params![session, to_i64(upto)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn setting(&self, key: &str) -> JResult<Option<String>> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn event(id: u64) -> StoredEvent {
        StoredEvent {
            id,
            kind: "terminal_output".into(),
            json: format!("{{\"v\":1,\"id\":{id}}}").into(),
        }
    }

    /// A running agent session's record, for tests.
    pub(in crate::journal) fn record(id: &str) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            spec: SessionSpec {
                kind: "agent".into(),
                agent: Some("demo".into()),
                cwd: "/tmp".into(),
                ..SessionSpec::default()
            },
            state: "running".into(),
            epoch: "e1".into(),
            degraded: false,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn writes_read_back_and_ranges_are_gapless_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(dir.path(), false, false).unwrap();
        let s: Arc<str> = "s_1".into();
        let mut batch = vec![Write::Session(Box::new(record("s_1")))];
        batch.extend((1..=10).map(|id| Write::Event {
            session: s.clone(),
            event: event(id),
        }));
        j.commit(&batch).unwrap();
        assert_eq!(j.sessions().unwrap(), vec![record("s_1")]);
        let r = j.range("s_1", 3, 7).unwrap().unwrap();
        assert_eq!(r.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 5, 6]);
        assert_eq!(r[0], event(4));
        assert_eq!(j.range("s_1", 8, 15).unwrap(), None);
        j.compact("s_1", 5, "{\"snap\":5}").unwrap();
        assert_eq!(j.range("s_1", 3, 7).unwrap(), None);
        let h = j.history("s_1").unwrap();
        assert_eq!(h.snapshot, Some((5, "{\"snap\":5}".into())));
        assert_eq!(h.events.first().map(|e| e.id), Some(6));
        assert_eq!(j.usage().unwrap()[0].1, 5);
        j.commit(&[Write::Purge {
            session: "s_1".into(),
        }])
        .unwrap();
        assert!(j.sessions().unwrap().is_empty());
        assert!(j.history("s_1").unwrap().events.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn try_commit_does_not_wait_for_a_busy_writer_connection() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(dir.path(), false, false).unwrap();
        let batch = [Write::Session(Box::new(record("s_1")))];
        {
            let _compacting = lock(&j.writer);
            assert!(j.try_commit(&batch).is_none());
        }
        assert!(matches!(j.try_commit(&batch), Some(Ok(()))));
        assert_eq!(j.sessions().unwrap().len(), 1);
    }

    #[test]
    fn a_long_wal_is_restarted_by_the_writer_not_by_a_publisher() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(dir.path(), false, false).unwrap();
        j.wal_restart_pages.store(8, Ordering::Relaxed);
        let events = |from: u64, n: u64| -> Vec<Write> {
            (from..from + n)
                .map(|id| Write::Event {
                    session: "s_1".into(),
                    event: StoredEvent {
                        id,
                        kind: "terminal_output".into(),
                        json: "x".repeat(2000).into(),
                    },
                })
                .collect()
        };
        // 40 KB of events: well past 8 pages of log.
        j.commit(&events(1, 20)).unwrap();
        assert!(j.wal_pages.load(Ordering::Relaxed) >= 8);
        // A publisher is turned away rather than made to restart the log.
        assert!(j.try_commit(&events(21, 1)).is_none());
        // The writer's commit above checkpointed; its next one starts the
        // log over, and publishers may commit again.
        j.commit(&events(21, 1)).unwrap();
        assert!(j.wal_pages.load(Ordering::Relaxed) < 8, "the log restarted");
        assert!(matches!(j.try_commit(&events(22, 1)), Some(Ok(()))));
        assert_eq!(j.event_sizes("s_1").unwrap().len(), 22);
    }

    #[test]
    fn a_degraded_flag_survives_a_database_that_cannot_take_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(dir.path(), false, false).unwrap();
        j.commit(&[Write::Session(Box::new(record("s_1")))])
            .unwrap();
        // The database refuses the next transaction (as a full disk
        // would): the flag's row update is rolled back with it.
        Connection::open(j.path())
            .unwrap()
            .execute_batch("DROP TABLE settings")
            .unwrap();
        let failing = [
            Write::Degraded {
                session: "s_1".into(),
            },
            Write::Setting {
                key: "k".into(),
                value: "v".into(),
            },
        ];
        assert!(j.commit(&failing).is_err());
        let degraded_row: i64 = Connection::open(j.path())
            .unwrap()
            .query_row("SELECT degraded FROM sessions WHERE id = 's_1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(degraded_row, 0, "the row update was rolled back");
        // Still known, so a restore gives the session a new epoch.
        assert!(j.sessions().unwrap()[0].degraded);
        // Until a record without the flag is committed (restore's new
        // epoch): then it is gone for good.
        j.commit(&[Write::Session(Box::new(record("s_1")))])
            .unwrap();
        assert!(!j.sessions().unwrap()[0].degraded);
        assert!(!dir.path().join(MARKERS_DIR).join("s_1").exists());
    }

    #[test]
    fn the_database_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(dir.path(), false, false).unwrap();
        j.commit(&[Write::Session(Box::new(record("s_3")))])
            .unwrap();
        for suffix in ["", "-wal"] {
            let p = format!("{}{suffix}", j.path().display());
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{p}");
        }
    }

    #[test]
    fn reopening_keeps_everything_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = SqliteJournal::open(dir.path(), true, false).unwrap();
            j.commit(&[Write::Session(Box::new(record("s_2")))])
                .unwrap();
        }
        let j = SqliteJournal::open(dir.path(), false, false).unwrap();
        assert_eq!(j.sessions().unwrap().len(), 1);
        lock(&j.writer)
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(j);
        let err = SqliteJournal::open(dir.path(), false, false)
            .err()
            .unwrap()
            .0;
        assert!(err.contains("schema version 99"), "{err}");
        assert!(err.contains("--reset-journal"), "{err}");
        // Only with the explicit flag is anything deleted.
        let j = SqliteJournal::open(dir.path(), false, true).unwrap();
        assert!(j.sessions().unwrap().is_empty());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::journal::FILE_NAME);
        let junk = vec![0x5au8; 8192];
        std::fs::write(&path, &junk).unwrap();
        let err = SqliteJournal::open(dir.path(), false, false)
            .err()
            .unwrap()
            .0;
        assert!(err.contains("not a readable database"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }
}
