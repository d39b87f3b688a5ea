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
//! (or bytes) than allowed is handed to the compactor thread, which folds
//! its oldest events into a stored snapshot — the core reducer's view at
//! that point — and deletes them.

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
        let writer = Writer {
            journal: journal.clone(),
            config,
            status: status.clone(),
            usage,
            acks,
            compactor: start_compactor(journal.clone(), config, status.clone()),
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
            ack.failed(
                frame.id.unwrap_or(0),
                &format!("journal writer stopped: {e}"),
            );
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
    /// Where commit acks are delivered (a runtime task), if not here.
    acks: Option<tokio::sync::mpsc::UnboundedSender<Vec<(u64, CommitAck)>>>,
    /// Sessions to compact.
    compactor: Sender<Arc<str>>,
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
                let batch: Vec<(u64, CommitAck)> = last.into_values().collect();
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Condvar, Mutex};
    use std::task::{Context, Poll, Waker};

    use serde_json::json;

    use super::super::{JResult, JournalError, SessionRecord, StoredHistory};
    use super::*;
    use crate::bus::{Bus, BusConfig, Subscription};

    /// A journal whose commits can be held at a gate or made to fail.
    #[derive(Default)]
    struct TestJournal {
        fail: AtomicBool,
        held: Mutex<bool>,
        gate: Condvar,
        stored: Mutex<Vec<StoredEvent>>,
    }

    impl TestJournal {
        fn hold(&self, on: bool) {
            *self.held.lock().unwrap() = on;
            self.gate.notify_all();
        }
    }

    impl Journal for TestJournal {
        fn commit(&self, batch: &[Write]) -> JResult<()> {
            let mut held = self.held.lock().unwrap();
            while *held {
                held = self.gate.wait(held).unwrap();
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(JournalError("disk I/O error (injected)".into()));
            }
            for w in batch {
                if let Write::Event { event, .. } = w {
                    self.stored.lock().unwrap().push(event.clone());
                }
            }
            Ok(())
        }
        fn sessions(&self) -> JResult<Vec<SessionRecord>> {
            Ok(Vec::new())
        }
        fn history(&self, _: &str) -> JResult<StoredHistory> {
            Ok(StoredHistory::default())
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

    fn setup() -> (Arc<TestJournal>, JournalHandle, Bus) {
        let journal = Arc::new(TestJournal::default());
        let handle = JournalHandle::start(journal.clone(), JournalConfig::default(), "test".into());
        let bus = Bus::durable(
            BusConfig {
                ring_frames: 4,
                ..BusConfig::default()
            },
            SessionView::new(),
            0,
            "e".into(),
            handle.session_log("s"),
        );
        (journal, handle, bus)
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
        let (journal, handle, bus) = setup();
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
