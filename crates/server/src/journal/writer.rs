//! Committing: one committer at a time, usually the writer thread.
//!
//! A published frame reaches the journal under its bus lock, so ids arrive
//! in order. What happens next depends on how busy the journal is:
//!
//! - **Quiet** (nothing committing, nothing queued, no commit in the last
//!   200 µs, the database neither held by a compaction nor due to restart
//!   its log — see [`Journal::try_commit`]): the publisher commits the
//!   frame itself, one short transaction (a WAL append), and delivers it
//!   at once. Handing a lone frame to a thread and back costs two
//!   wake-ups and their context switches — more than the write — and on a
//!   loaded machine those hand-overs, not the disk, are what shows at p99.
//! - **Busy** (a burst, another session committing, `--journal-sync
//!   full`): the frame goes through a channel to the writer thread, which
//!   takes whatever has accumulated — hundreds of frames under a flood —
//!   commits it in one transaction (group commit) and tells each bus how
//!   far it is stored, which is when the frames reach subscribers.
//!
//! Both paths hold the one `Committer` for the whole commit, and a
//! publisher commits only when nothing is queued, so no frame is stored or
//! delivered before one published earlier.
//!
//! After a commit the committer enforces retention: a session with more
//! stored events (or bytes) than allowed is handed to the compactor thread,
//! which folds its oldest events into a stored snapshot — the core
//! reducer's view at that point — and deletes them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use switchyard_core::{Frame, SessionView, reduce};

use super::{Journal, JournalConfig, JournalError, StoredEvent, Write};
use crate::bus::{Appended, CommitAck, EventLog, Outgoing};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 8192;

/// A frame published this soon after the previous commit ended is taken to
/// be part of a burst and goes to the writer thread, which stores a burst
/// in a few large transactions; a frame after a quiet spell is committed by
/// its publisher (see [`SessionLog::append`]).
const BURST_GAP: Duration = Duration::from_micros(200);

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
    shared: Arc<Shared>,
}

/// What the writer thread and publishers committing their own frame share.
struct Shared {
    /// Held for the whole of a commit, by whoever commits: the writer
    /// thread, or a publisher storing its frame itself.
    committer: Mutex<Committer>,
    /// Messages sent to the writer thread and not yet taken into a commit.
    /// The writer decrements it only while holding `committer`, so a
    /// publisher that holds `committer` and reads 0 knows that nothing sent
    /// before its frame is still unstored. (A send that fails takes its own
    /// count back: that message never reached the writer.)
    queued: AtomicUsize,
    /// Whether publishers may commit their own frame, and how long after
    /// the last commit ([`BURST_GAP`]). Never with `--journal-sync full`:
    /// an fsync per commit is no short write.
    inline: Option<Duration>,
    /// When the last commit ended, in µs since `started`.
    last_commit_us: AtomicU64,
    started: Instant,
    status: Arc<Mutex<JournalStatus>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Committer> {
        self.committer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn since_start_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn commit_ended(&self) {
        self.last_commit_us
            .store(self.since_start_us(), Ordering::Relaxed);
    }

    /// Sends to the writer thread, counting the message as queued.
    fn send(&self, tx: &Sender<Msg>, msg: Msg) -> Result<(), Msg> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        tx.send(msg).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            e.0
        })
    }
}

impl JournalHandle {
    /// Starts the writer thread for `journal`.
    pub fn start(journal: Arc<dyn Journal>, config: JournalConfig, path: String) -> JournalHandle {
        let inline = (!config.full_sync).then_some(BURST_GAP);
        JournalHandle::start_with(journal, config, path, inline)
    }

    /// [`JournalHandle::start`], choosing whether publishers may commit
    /// their own frames, and after how quiet a spell.
    fn start_with(
        journal: Arc<dyn Journal>,
        config: JournalConfig,
        path: String,
        inline: Option<Duration>,
    ) -> JournalHandle {
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
            .map(|(s, n, b)| {
                (
                    Arc::<str>::from(s),
                    Usage {
                        events: n,
                        bytes: b,
                    },
                )
            })
            .collect();
        // Acks run on a task of the runtime when there is one: delivering a
        // frame wakes every subscriber's task, and waking tokio tasks from a
        // tokio worker is cheap (its local queue), while waking a hundred of
        // them from a foreign thread goes through the runtime's shared queue
        // and unparks workers — a visible cost at p99. One wake-up per
        // batch crosses threads instead.
        let acks = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<(u64, CommitAck)>>();
            rt.spawn(async move {
                while let Some(batch) = rx.recv().await {
                    for (id, ack) in batch {
                        ack.committed(id);
                    }
                }
            });
            tx
        });
        let shared = Arc::new(Shared {
            committer: Mutex::new(Committer {
                journal: journal.clone(),
                config,
                status: status.clone(),
                usage,
                compactor: start_compactor(journal.clone(), config, status.clone()),
            }),
            queued: AtomicUsize::new(0),
            inline,
            last_commit_us: AtomicU64::new(0),
            started: Instant::now(),
            status,
        });
        let writer = Writer {
            shared: shared.clone(),
            acks,
        };
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))
            .expect("spawn the journal writer");
        JournalHandle {
            journal,
            tx,
            shared,
        }
    }

    /// The storage, for reads.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// Queues a write (committed with the next batch).
    pub fn write(&self, w: Write) {
        let _ = self.shared.send(&self.tx, Msg::Write(w, None));
    }

    /// Waits until everything queued so far is committed (or failed).
    pub fn flush(&self) {
        let (tx, rx) = channel();
        if self.shared.send(&self.tx, Msg::Flush(tx)).is_ok() {
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
        self.shared
            .status
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

    /// Commits `w` on the caller's thread if that is cheap and keeps the
    /// order: the journal is not already committing, nothing is waiting
    /// for the writer, no commit has failed, and the last commit ended more
    /// than [`BURST_GAP`] ago (a burst is better batched by the writer).
    /// Hands the write back when it should be queued instead.
    fn commit_now(&self, w: Write) -> Result<Result<(), JournalError>, Write> {
        let shared = &*self.shared;
        let Some(gap) = shared.inline else {
            return Err(w);
        };
        let quiet = shared
            .since_start_us()
            .saturating_sub(shared.last_commit_us.load(Ordering::Relaxed));
        if u128::from(quiet) < gap.as_micros() {
            return Err(w);
        }
        let Ok(mut committer) = shared.committer.try_lock() else {
            return Err(w);
        };
        if shared.queued.load(Ordering::SeqCst) != 0 || committer.degraded() {
            return Err(w);
        }
        let session = match &w {
            Write::Event { session, .. } => session.clone(),
            _ => return Err(w),
        };
        let mut batch = vec![w];
        match committer.try_commit(&mut batch, std::iter::once(session)) {
            Some(result) => {
                shared.commit_ended();
                Ok(result)
            }
            None => Err(batch.pop().expect("the write handed in")),
        }
    }
}

/// One session's frames in the journal: what its bus writes to and resumes
/// from.
pub struct SessionLog {
    session: Arc<str>,
    handle: JournalHandle,
}

impl EventLog for SessionLog {
    /// A frame that arrives while the journal is idle is committed right
    /// here, on the publisher's thread: one short transaction (a WAL
    /// append, tens of µs) instead of two thread hand-overs — to the writer
    /// and back to a runtime task — whose wake-ups and context switches cost
    /// more than the write and, on a loaded machine, show at p99. Anything
    /// else is queued for the writer thread, which batches it.
    fn append(&self, frame: &Arc<Outgoing>, ack: CommitAck) -> Appended {
        let w = Write::Event {
            session: self.session.clone(),
            event: StoredEvent {
                id: frame.id.unwrap_or(0),
                kind: frame.kind.clone(),
                json: frame.json.clone(),
            },
        };
        let w = match self.handle.commit_now(w) {
            Ok(Ok(())) => return Appended::Committed,
            Ok(Err(e)) => return Appended::Failed(e.0),
            Err(w) => w,
        };
        match self
            .handle
            .shared
            .send(&self.handle.tx, Msg::Write(w, Some(ack)))
        {
            Ok(()) => Appended::Queued,
            // The writer is gone (it only stops when the daemon does).
            Err(_) => Appended::Failed("journal writer stopped".into()),
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

/// The writer thread: takes whatever accumulated, commits it in one
/// transaction, acknowledges it.
struct Writer {
    shared: Arc<Shared>,
    /// Where commit acks are delivered (a runtime task), if not here.
    acks: Option<tokio::sync::mpsc::UnboundedSender<Vec<(u64, CommitAck)>>>,
}

impl Writer {
    fn run(self, rx: Receiver<Msg>) {
        let mut batch: Vec<Write> = Vec::new();
        let mut acks: Vec<(Arc<str>, u64, CommitAck)> = Vec::new();
        let mut flushes: Vec<Sender<()>> = Vec::new();
        // Blocks only when there is nothing to do.
        while let Ok(first) = rx.recv() {
            // Messages are counted off only under the committer lock: see
            // `Shared::queued`.
            let mut committer = self.shared.lock();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                self.shared.queued.fetch_sub(1, Ordering::SeqCst);
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
            // The last ack per session is the one that counts.
            let mut last: HashMap<Arc<str>, (u64, CommitAck)> = HashMap::new();
            for (s, id, ack) in acks.drain(..) {
                last.insert(s, (id, ack));
            }
            let result = committer.commit(&mut batch, last.keys().cloned());
            self.shared.commit_ended();
            drop(committer);
            match result {
                Ok(()) => self.acknowledge(last.into_values().collect()),
                Err(e) => {
                    for (id, ack) in last.into_values() {
                        ack.failed(id, &e.0);
                    }
                }
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }

    fn acknowledge(&self, batch: Vec<(u64, CommitAck)>) {
        match &self.acks {
            Some(tx) => {
                if let Err(unsent) = tx.send(batch) {
                    // The runtime is gone (shutdown): ack here.
                    for (id, ack) in unsent.0 {
                        ack.committed(id);
                    }
                }
            }
            None => {
                for (id, ack) in batch {
                    ack.committed(id);
                }
            }
        }
    }
}

/// The one place writes are stored, by whoever holds it (see
/// [`Shared::committer`]), and the bookkeeping that goes with a commit.
struct Committer {
    journal: Arc<dyn Journal>,
    config: JournalConfig,
    status: Arc<Mutex<JournalStatus>>,
    usage: HashMap<Arc<str>, Usage>,
    /// Sessions to compact.
    compactor: Sender<Arc<str>>,
}

impl Committer {
    fn degraded(&self) -> bool {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status
            != "ok"
    }

    /// Commits `batch` (and clears it). On failure the journal is marked
    /// degraded and so, as far as the disk still allows, are `sessions`
    /// (those with events in the batch).
    fn commit(
        &mut self,
        batch: &mut Vec<Write>,
        sessions: impl Iterator<Item = Arc<str>>,
    ) -> Result<(), JournalError> {
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.journal.commit(batch);
        self.settle(batch, sessions, result)
    }

    /// [`Committer::commit`] for a caller that must not wait: `None` (and
    /// `batch` left as it was) when the storage is busy, as with a
    /// compaction's delete.
    fn try_commit(
        &mut self,
        batch: &mut Vec<Write>,
        sessions: impl Iterator<Item = Arc<str>>,
    ) -> Option<Result<(), JournalError>> {
        let result = self.journal.try_commit(batch)?;
        Some(self.settle(batch, sessions, result))
    }

    /// The bookkeeping after a commit of `batch`; clears it.
    fn settle(
        &mut self,
        batch: &mut Vec<Write>,
        sessions: impl Iterator<Item = Arc<str>>,
        result: Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        match &result {
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
                let marks: Vec<Write> = sessions
                    .map(|s| Write::Degraded {
                        session: s.to_string(),
                    })
                    .collect();
                // Best effort: with the disk full this fails too, and the
                // restore then cannot know (see docs/operations.md).
                if !marks.is_empty()
                    && let Err(e) = self.journal.commit(&marks)
                {
                    tracing::warn!("could not flag the degraded sessions: {e}");
                }
            }
        }
        batch.clear();
        result
    }

    /// Hands every session over its retention to the compactor, and counts
    /// it as compacted (the compactor catches up off this thread).
    fn retain(&mut self) {
        let cfg = self.config;
        // Some slack so compaction runs in chunks, not once per event.
        let over = |u: &Usage| {
            u.events > cfg.retain_events + cfg.retain_events / 10 + 16
                || u.bytes > cfg.retain_bytes + cfg.retain_bytes / 10 + 4096
        };
        for (session, u) in self.usage.iter_mut() {
            if over(u) {
                let _ = self.compactor.send(session.clone());
                u.events = u.events.min(cfg.retain_events);
                u.bytes = u.bytes.min(cfg.retain_bytes);
            }
        }
    }
}

/// The compactor: folds sessions' oldest events into their snapshot on a
/// thread of its own, so reading and reducing thousands of events never
/// holds up a commit (only its short delete-and-store transaction
/// serializes with the writer).
fn start_compactor(
    journal: Arc<dyn Journal>,
    config: JournalConfig,
    status: Arc<Mutex<JournalStatus>>,
) -> Sender<Arc<str>> {
    let (tx, rx) = channel::<Arc<str>>();
    std::thread::Builder::new()
        .name("journal-compactor".into())
        .spawn(move || {
            while let Ok(session) = rx.recv() {
                match compact(journal.as_ref(), config, &session) {
                    Ok(()) => {
                        status
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .compactions += 1;
                    }
                    Err(e) => tracing::warn!(session = %session, "compaction failed: {e}"),
                }
            }
        })
        .expect("spawn the journal compactor");
    tx
}

/// Folds the oldest events of `session` into its snapshot until what is
/// left fits the retention. Reads sizes first and the events to fold in
/// pages of [`FOLD_PAGE_BYTES`], so compacting a session whose stored
/// events fill the byte budget (256 MiB by default) never holds them all.
fn compact(
    journal: &dyn Journal,
    cfg: JournalConfig,
    session: &str,
) -> Result<(), super::JournalError> {
    let sizes = journal.event_sizes(session)?;
    // Keep the newest events that fit both budgets.
    let mut keep = Usage::default();
    let mut cut = sizes.len();
    for (i, &(_, len)) in sizes.iter().enumerate().rev() {
        let bytes = keep.bytes + len;
        if keep.events + 1 > cfg.retain_events || bytes > cfg.retain_bytes {
            break;
        }
        keep.events += 1;
        keep.bytes = bytes;
        cut = i;
    }
    if cut == 0 {
        return Ok(());
    }
    let mut view = SessionView::new();
    let mut after = 0;
    if let Some((upto, snap)) = journal.snapshot(session)? {
        apply(&mut view, &snap)?;
        after = upto;
    }
    let mut i = 0;
    while i < cut {
        let mut j = i + 1;
        let mut bytes = sizes[i].1;
        while j < cut && bytes + sizes[j].1 <= FOLD_PAGE_BYTES {
            bytes += sizes[j].1;
            j += 1;
        }
        let last = sizes[j - 1].0;
        // Only this thread compacts, so the range is complete unless the
        // session was purged meanwhile (then there is nothing to keep).
        let events = journal.range(session, after, last + 1)?.ok_or_else(|| {
            super::JournalError(format!(
                "events {after}..={last} vanished during compaction"
            ))
        })?;
        for e in &events {
            apply(&mut view, &e.json)?;
        }
        after = last;
        i = j;
    }
    let upto = sizes[cut - 1].0;
    view.last_event_id = upto;
    let snapshot = view.to_snapshot().to_json();
    journal.compact(session, upto, &snapshot)?;
    tracing::debug!(session, upto, kept = keep.events, "journal compacted");
    Ok(())
}

/// Bytes of stored events the compactor reads at a time.
const FOLD_PAGE_BYTES: u64 = 4 << 20;

fn apply(view: &mut SessionView, json: &str) -> Result<(), super::JournalError> {
    let frame = Frame::from_json(json)
        .map_err(|e| super::JournalError(format!("stored frame unreadable: {e}")))?;
    reduce(view, &frame);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll, Waker};

    use serde_json::json;

    use super::super::{HistoryItem, JResult, JournalError, SessionRecord};
    use super::*;
    use crate::bus::{Bus, BusConfig, Subscription};

    /// A journal whose commits can be held at a gate or made to fail.
    #[derive(Default)]
    struct TestJournal {
        fail: AtomicBool,
        held: Mutex<bool>,
        gate: Condvar,
        stored: Mutex<Vec<StoredEvent>>,
        /// `(session, id, committed on the writer thread)`, in commit order.
        log: Mutex<Vec<(String, u64, bool)>>,
        /// Every this many commits, one takes a while (to make bursts).
        slow_every: AtomicUsize,
        commits: AtomicUsize,
        /// Refuses to commit without waiting (as during a compaction).
        busy: AtomicBool,
    }

    impl TestJournal {
        fn hold(&self, on: bool) {
            *self.held.lock().unwrap() = on;
            self.gate.notify_all();
        }
    }

    impl Journal for TestJournal {
        fn try_commit(&self, batch: &[Write]) -> Option<JResult<()>> {
            (!self.busy.load(Ordering::SeqCst)).then(|| self.commit(batch))
        }
        fn commit(&self, batch: &[Write]) -> JResult<()> {
            let mut held = self.held.lock().unwrap();
            while *held {
                held = self.gate.wait(held).unwrap();
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(JournalError("disk I/O error (injected)".into()));
            }
            drop(held);
            let n = self.commits.fetch_add(1, Ordering::SeqCst);
            let every = self.slow_every.load(Ordering::SeqCst);
            if every > 0 && n.is_multiple_of(every) {
                std::thread::sleep(Duration::from_micros(300));
            }
            let on_writer = std::thread::current().name() == Some("journal-writer");
            for w in batch {
                if let Write::Event { session, event } = w {
                    self.stored.lock().unwrap().push(event.clone());
                    self.log
                        .lock()
                        .unwrap()
                        .push((session.to_string(), event.id, on_writer));
                }
            }
            Ok(())
        }
        fn sessions(&self) -> JResult<Vec<SessionRecord>> {
            Ok(Vec::new())
        }
        fn visit_history(&self, _: &str, _: &mut dyn FnMut(HistoryItem<'_>)) -> JResult<()> {
            Ok(())
        }
        fn range(&self, _: &str, after: u64, before: u64) -> JResult<Option<Vec<StoredEvent>>> {
            let stored = self.stored.lock().unwrap();
            let v: Vec<StoredEvent> = stored
                .iter()
                .filter(|e| e.id > after && e.id < before)
                .cloned()
                .collect();
            Ok((v.len() as u64 == before - after - 1).then_some(v))
        }
        fn usage(&self) -> JResult<Vec<(String, u64, u64)>> {
            Ok(Vec::new())
        }
        fn compact(&self, _: &str, _: u64, _: &str) -> JResult<()> {
            Ok(())
        }
        fn setting(&self, _: &str) -> JResult<Option<String>> {
            Ok(None)
        }
    }

    fn output(text: &str) -> Frame {
        Frame::new("terminal_output", json!({ "data": text }))
    }

    /// Frames queued right now.
    fn drain(sub: &mut Subscription) -> Vec<Arc<Outgoing>> {
        let mut out = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(Some(o)) = std::pin::pin!(sub.next()).poll(&mut cx) {
            out.push(o);
        }
        out
    }

    /// Waits (bounded) until `f` holds; the writer is another thread.
    fn eventually(mut f: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !f() {
            assert!(
                std::time::Instant::now() < deadline,
                "condition not met in time"
            );
            std::thread::yield_now();
        }
    }

    /// A journal whose every event goes through the writer thread (so a
    /// test can hold commits back without holding up the publisher).
    fn setup() -> (Arc<TestJournal>, JournalHandle, Bus) {
        setup_with(None)
    }

    /// A journal where publishers commit their own frame once the journal
    /// has been quiet for `inline`.
    fn setup_with(inline: Option<Duration>) -> (Arc<TestJournal>, JournalHandle, Bus) {
        let journal = Arc::new(TestJournal::default());
        let handle = JournalHandle::start_with(
            journal.clone(),
            JournalConfig::default(),
            "test".into(),
            inline,
        );
        let bus = durable_bus(&handle, "s");
        (journal, handle, bus)
    }

    fn durable_bus(handle: &JournalHandle, session: &str) -> Bus {
        Bus::durable(
            BusConfig {
                ring_frames: 4,
                ..BusConfig::default()
            },
            SessionView::new(),
            0,
            "e".into(),
            handle.session_log(session),
        )
    }

    use std::future::Future;

    #[test]
    fn subscribers_see_a_frame_only_once_it_is_committed() {
        let (journal, handle, bus) = setup();
        let mut sub = bus.subscribe(Some(0)).unwrap();
        assert_eq!(drain(&mut sub)[0].kind, "replay_complete");
        journal.hold(true);
        assert_eq!(bus.publish(output("a")), 1);
        assert_eq!(bus.publish(output("b")), 2);
        // Published (ids handed out), not committed: nobody sees them, and
        // neither do the view nor a new subscriber's snapshot.
        assert!(drain(&mut sub).is_empty());
        assert_eq!((bus.last_id(), bus.delivered_id()), (2, 0));
        assert_eq!(bus.view().last_event_id, 0);
        journal.hold(false);
        handle.flush();
        eventually(|| bus.delivered_id() == 2);
        let got = drain(&mut sub);
        assert_eq!(
            got.iter().map(|o| o.id).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        assert_eq!(journal.stored.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_producer_waits_while_too_much_is_uncommitted() {
        let (journal, handle, bus) = setup();
        journal.hold(true);
        let line = "x".repeat(1000);
        for _ in 0..4 {
            bus.publish(output(&line));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let producer = {
            let bus = bus.clone();
            std::thread::spawn(move || {
                bus.wait_for_room(2000);
                tx.send(()).unwrap();
            })
        };
        // About 4 KB waits for a journal that holds its commits: the
        // producer stays blocked (it would answer at once if it were not).
        let blocked = std::time::Duration::from_millis(200);
        assert!(rx.recv_timeout(blocked).is_err(), "went on over the bound");
        journal.hold(false);
        handle.flush();
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("room once the frames are committed");
        producer.join().unwrap();
        // Under the bound it never waits.
        bus.wait_for_room(2000);
    }

    #[tokio::test]
    async fn a_task_waits_for_room_until_the_backlog_is_committed() {
        let (journal, handle, bus) = setup();
        journal.hold(true);
        let line = "x".repeat(1000);
        for _ in 0..4 {
            bus.publish(output(&line));
        }
        assert!(!bus.has_room(2000));
        let mut room = std::pin::pin!(bus.room(2000));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            room.as_mut().poll(&mut cx).is_pending(),
            "went on over the bound"
        );
        journal.hold(false);
        handle.flush_async().await;
        tokio::time::timeout(std::time::Duration::from_secs(30), room)
            .await
            .expect("room once the frames are committed");
        assert!(bus.has_room(2000));
    }

    #[test]
    fn compaction_folds_page_by_page_into_the_same_snapshot() {
        use super::super::sqlite::SqliteJournal;
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(dir.path(), false, false).unwrap();
        let s: Arc<str> = "s_1".into();
        let mut batch = vec![Write::Session(Box::new(
            super::super::sqlite::tests::record("s_1"),
        ))];
        // 12 frames of 1 MiB: the ten to fold take three pages to read.
        let frames: Vec<String> = (1..=12u64)
            .map(|id| {
                let mut f = output(&format!("{id:>8}{}", "y".repeat(1 << 20)));
                f.id = Some(id);
                f.to_json()
            })
            .collect();
        batch.extend(frames.iter().enumerate().map(|(i, json)| Write::Event {
            session: s.clone(),
            event: StoredEvent {
                id: i as u64 + 1,
                kind: "terminal_output".into(),
                json: json.as_str().into(),
            },
        }));
        j.commit(&batch).unwrap();
        let cfg = JournalConfig {
            retain_events: 100,
            retain_bytes: 3 << 20,
            ..JournalConfig::default()
        };
        compact(j.as_ref(), cfg, "s_1").unwrap();
        // The newest frames that fit 3 MiB stay; the rest is folded.
        let kept: Vec<u64> = j.event_sizes("s_1").unwrap().iter().map(|e| e.0).collect();
        assert_eq!(kept, [11, 12]);
        let (upto, snap) = j.snapshot("s_1").unwrap().unwrap();
        assert_eq!(upto, 10);
        let mut expected = SessionView::new();
        for json in &frames[..10] {
            apply(&mut expected, json).unwrap();
        }
        expected.last_event_id = 10;
        assert_eq!(snap, expected.to_snapshot().to_json());
    }

    #[test]
    fn resumes_older_than_the_ring_come_from_the_journal() {
        let (_journal, handle, bus) = setup();
        let mut first = bus.subscribe(Some(0)).unwrap();
        for i in 0..20 {
            bus.publish(output(&format!("line {i}")));
        }
        handle.flush();
        eventually(|| bus.delivered_id() == 20);
        let seen = drain(&mut first);
        let mut late = bus.subscribe(Some(3)).unwrap();
        let got = drain(&mut late);
        let ids: Vec<u64> = got.iter().filter_map(|o| o.id).collect();
        assert_eq!(ids, (4..=20).collect::<Vec<_>>());
        assert_eq!(got.last().unwrap().kind, "replay_complete");
        // Byte for byte what the first subscriber got live.
        for o in got.iter().filter(|o| o.id.is_some()) {
            let live = seen.iter().find(|s| s.id == o.id).unwrap();
            assert_eq!(live.json, o.json);
        }
    }

    #[test]
    fn a_failing_write_degrades_the_session_without_losing_frames() {
        // Failing on the writer thread, and on the publisher's.
        for inline in [None, Some(Duration::ZERO)] {
            a_failing_write_degrades(inline);
        }
    }

    fn a_failing_write_degrades(inline: Option<Duration>) {
        let (journal, handle, bus) = setup_with(inline);
        let mut sub = bus.subscribe(Some(0)).unwrap();
        bus.publish(output("stored"));
        handle.flush();
        eventually(|| bus.delivered_id() == 1);
        journal.fail.store(true, Ordering::SeqCst);
        bus.publish(output("not stored"));
        handle.flush();
        eventually(|| bus.degraded().is_some());
        bus.publish(output("after"));
        let got = drain(&mut sub);
        let kinds: Vec<(&str, Option<u64>)> = got.iter().map(|o| (o.kind.as_str(), o.id)).collect();
        assert_eq!(
            kinds,
            [
                ("replay_complete", None),
                ("terminal_output", Some(1)),
                ("terminal_output", Some(2)),
                ("session_degraded", Some(3)),
                ("terminal_output", Some(4)),
            ]
        );
        assert!(bus.degraded().unwrap().contains("injected"));
        let status = handle.status();
        assert_eq!(status.status, "degraded");
        assert_eq!(status.failed_commits, 1);
    }

    #[test]
    fn a_publisher_commits_its_own_frame_when_the_journal_is_idle() {
        let (journal, handle, bus) = setup_with(Some(Duration::ZERO));
        let mut sub = bus.subscribe(Some(0)).unwrap();
        assert_eq!(drain(&mut sub)[0].kind, "replay_complete");
        assert_eq!(bus.publish(output("a")), 1);
        // Stored and delivered before publish returned: no flush, no wait.
        assert_eq!(bus.delivered_id(), 1);
        assert_eq!(*journal.log.lock().unwrap(), [("s".to_string(), 1, false)]);
        assert_eq!(drain(&mut sub)[0].id, Some(1));
        assert_eq!(handle.status().commits, 1);
    }

    #[test]
    fn a_busy_journal_or_a_burst_is_left_to_the_writer() {
        // The database held (a compaction), or a frame right after a
        // commit (nothing is ever quiet for an hour: every frame is a burst).
        for (busy, gap) in [(true, Duration::ZERO), (false, Duration::from_secs(3600))] {
            let (journal, handle, bus) = setup_with(Some(gap));
            journal.busy.store(busy, Ordering::SeqCst);
            bus.publish(output("a"));
            handle.flush();
            eventually(|| bus.delivered_id() == 1);
            let log = journal.log.lock().unwrap();
            assert_eq!(*log, [("s".to_string(), 1, true)], "busy {busy}");
        }
    }

    #[test]
    fn frames_committed_here_and_by_the_writer_keep_their_order() {
        // Three sessions, two publishing threads each, commits now and then
        // slow: publishers find the journal busy or queued-for and hand
        // over, or find it idle and commit themselves, in any mix.
        let (journal, handle, _) = setup_with(Some(Duration::ZERO));
        journal.slow_every.store(7, Ordering::SeqCst);
        const PER_THREAD: u64 = 1500;
        let buses: Vec<Bus> = (0..3)
            .map(|i| durable_bus(&handle, &format!("s{i}")))
            .collect();
        let done = Arc::new(AtomicBool::new(false));
        // One watcher per session checks, as each frame reaches it, that
        // the frame was stored before it was delivered.
        let watchers: Vec<_> = buses
            .iter()
            .enumerate()
            .map(|(i, bus)| {
                let mut sub = bus.subscribe(Some(0)).unwrap();
                let (journal, done) = (journal.clone(), done.clone());
                std::thread::spawn(move || {
                    let session = format!("s{i}");
                    let mut seen = Vec::new();
                    loop {
                        let finished = done.load(Ordering::SeqCst);
                        for o in drain(&mut sub) {
                            let Some(id) = o.id else { continue };
                            let stored = journal
                                .log
                                .lock()
                                .unwrap()
                                .iter()
                                .any(|(s, n, _)| *s == session && *n == id);
                            assert!(stored, "{session} delivered {id} before storing it");
                            seen.push(id);
                        }
                        if finished {
                            return seen;
                        }
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        let publishers: Vec<_> = buses
            .iter()
            .flat_map(|bus| [bus.clone(), bus.clone()])
            .map(|bus| {
                std::thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        bus.publish(output(&format!("line {i}")));
                    }
                })
            })
            .collect();
        for p in publishers {
            p.join().unwrap();
        }
        handle.flush();
        for bus in &buses {
            eventually(|| bus.delivered_id() == 2 * PER_THREAD);
        }
        done.store(true, Ordering::SeqCst);
        let all: Vec<u64> = (1..=2 * PER_THREAD).collect();
        for (i, w) in watchers.into_iter().enumerate() {
            assert_eq!(w.join().unwrap(), all, "what s{i}'s subscriber saw");
        }
        let log = journal.log.lock().unwrap();
        for i in 0..3 {
            let session = format!("s{i}");
            let stored: Vec<u64> = log
                .iter()
                .filter(|(s, ..)| *s == session)
                .map(|e| e.1)
                .collect();
            assert_eq!(stored, all, "the order {session} was stored in");
        }
        // Both paths were taken.
        assert!(log.iter().any(|e| e.2) && log.iter().any(|e| !e.2));
    }

    #[test]
    fn closing_waits_for_the_last_commit() {
        let (journal, handle, bus) = setup();
        let mut sub = bus.subscribe(Some(0)).unwrap();
        journal.hold(true);
        bus.publish(output("the last words"));
        bus.close();
        journal.hold(false);
        handle.flush();
        eventually(|| bus.delivered_id() == 1);
        let got = drain(&mut sub);
        assert_eq!(got.last().unwrap().kind, "terminal_output");
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            std::pin::pin!(sub.next()).poll(&mut cx),
            Poll::Ready(None)
        ));
    }
}
