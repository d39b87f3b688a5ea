//! The per-session event bus.
//!
//! Every client of a session must see the same frames in the same order, and
//! a client that drops and comes back must either pick up exactly where it
//! left off or be told plainly that it cannot. That only holds if one place
//! decides the order, so each session has one bus: it hands out the ids, it
//! stamps the time, and it is the only writer of the session's server-side
//! view. Because the daemon reduces with the same core reducer the clients
//! run, the `session_snapshot` a late joiner gets is exactly what that client
//! would have built from the whole stream.
//!
//! Sessions are chatty (one frame per streamed token) and watched by many
//! clients, some of them on slow links, so the costs are arranged around the
//! publisher: a frame is serialized once and shared by reference between the
//! replay ring and every subscriber's queue, and publishing never waits for a
//! subscriber. A subscriber that cannot keep up is warned, then cut off with
//! `client_evicted`; its bounded queue, not the publisher, absorbs the
//! difference, and it comes back with `Last-Event-ID` like any reconnecting
//! client.
//!
//! Attaching and resuming take the same lock as publishing, so what a
//! subscriber is replayed and what then reaches it live meet without a gap
//! or a duplicate. When the resume point is gone (the ring moved past it, or
//! the id is from before a reset of the log) the subscriber is told so with
//! `state_resync_required` and reseeded with a snapshot, instead of being
//! handed a stream with a hole in it that its reducer would silently accept.
//!
//! A durable bus (one with an [`EventLog`], the journal) adds one step: a
//! published frame gets its id at once but waits in `pending` until the log
//! says it is committed; only then is it reduced into the view, put in the
//! ring and fanned out. So no client ever sees an id a crash could take
//! back, and the view, the ring and every snapshot stop at the same
//! committed id. Resumes older than the ring are served from the log.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use switchyard_core::event::{
    ClientEvicted, ReplayComplete, STREAM_CONTROL_TYPES, SlowClientWarning, StateResyncRequired,
};
use switchyard_core::{Decoded, Event, Frame, SessionView, TypedFrame, reduce, reduce_typed};
use tokio::sync::Notify;

/// Limits of one session's bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusConfig {
    /// Frames the replay ring keeps at most (default 8000).
    pub ring_frames: usize,
    /// Serialized bytes the replay ring keeps at most (default 64 MiB). The
    /// newest frame is always kept, even if it alone is larger.
    pub ring_bytes: usize,
    /// Live frames a subscriber may have queued (default 4096).
    pub queue_frames: usize,
    /// Serialized bytes of live frames a subscriber may have queued
    /// (default 16 MiB). A frame larger than this is still delivered to a
    /// subscriber whose live queue is empty.
    pub queue_bytes: usize,
    /// Subscribers attached at once (default 256).
    pub max_subscribers: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            ring_frames: 8000,
            ring_bytes: 64 * 1024 * 1024,
            queue_frames: 4096,
            queue_bytes: 16 * 1024 * 1024,
            max_subscribers: 256,
        }
    }
}

/// A serialized frame, shared by the ring and every subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The frame's id (the SSE `id:` line); `None` on stream-control frames.
    pub id: Option<u64>,
    /// The event type (the SSE `event:` line).
    pub kind: String,
    /// The whole frame as compact JSON: the SSE `data:` line.
    pub json: Arc<str>,
}

impl Outgoing {
    fn from_frame(frame: &Frame) -> Outgoing {
        Outgoing {
            id: frame.id,
            kind: frame.kind.clone(),
            json: frame.to_json().into(),
        }
    }

    /// What this frame costs against the byte budgets.
    fn bytes(&self) -> usize {
        self.json.len()
    }
}

/// Session state the core view does not hold (a terminal's screen), kept
/// in step with the bus: it sees every published frame under the bus lock,
/// in id order, and adds its fields to every `session_snapshot`, so a
/// snapshot's extra fields describe exactly the frames up to its
/// `lastEventId`.
pub trait SnapshotExtra: Send {
    /// Called with each published frame (id and timestamp set), in order.
    fn observe(&mut self, frame: &Frame);
    /// Adds fields to a snapshot's `data` (next to `view`, `lastEventId`).
    fn extend(&mut self, data: &mut serde_json::Map<String, Value>);
}

/// Why [`Bus::subscribe`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusError {
    /// The session already has [`BusConfig::max_subscribers`] subscribers.
    TooManySubscribers {
        /// The configured limit.
        limit: usize,
    },
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::TooManySubscribers { limit } => {
                write!(f, "too many subscribers on this session (limit {limit})")
            }
        }
    }
}

impl std::error::Error for BusError {}

/// One session's event bus. Cloning is cheap and every clone is the same
/// bus.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    config: BusConfig,
    epoch: String,
    /// Where frames are made durable before anyone sees them.
    log: Option<Arc<dyn EventLog>>,
    /// Woken whenever committed frames are delivered.
    delivered: Notify,
    /// The same, for threads blocked in [`Bus::wait_for_room`].
    room: Condvar,
    state: Mutex<State>,
}

/// Most bytes of frames a producer should let wait for the journal before
/// it stops producing ([`Bus::wait_for_room`], [`Bus::room`]): the
/// journal's commit rate then paces a terminal's program or an agent, and
/// memory stays bounded whatever they write. A few commits' worth, so the
/// writer always has a full batch.
pub const UNCOMMITTED_MAX: usize = 8 << 20;

/// Durable storage for one session's frames (the journal), as the bus sees
/// it.
pub trait EventLog: Send + Sync {
    /// Hands a frame over for storage, under the bus lock (so frames arrive
    /// in id order). The log either stores it at once — only when that is
    /// a short write with nothing else waiting — and says so, or queues it
    /// and calls [`CommitAck::committed`] (or [`CommitAck::failed`]) once it
    /// is stored, for frames in the order they were appended. It never
    /// waits for other writes.
    fn append(&self, frame: &Arc<Outgoing>, ack: CommitAck) -> Appended;
    /// The stored frames with `after < id < before`, or `None` when some of
    /// them are no longer stored.
    fn read(&self, after: u64, before: u64) -> Option<Vec<Arc<Outgoing>>>;
}

/// What [`EventLog::append`] did with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Queued: the log acknowledges it later.
    Queued,
    /// Stored already (with everything appended before it).
    Committed,
    /// Storing it failed: the session is degraded.
    Failed(String),
}

/// How an [`EventLog`] tells the bus that frames are stored.
#[derive(Clone)]
pub struct CommitAck(Weak<Inner>);

impl CommitAck {
    /// Every frame up to and including `upto` is stored: deliver them.
    pub fn committed(&self, upto: u64) {
        if let Some(inner) = self.0.upgrade() {
            Bus { inner }.on_committed(upto);
        }
    }

    /// Storing frames up to `upto` failed: the session is degraded (told to
    /// everyone with `session_degraded`), every pending frame is still
    /// delivered (later ones were handed to a log that has given up on
    /// this session too), and later frames skip the log.
    pub fn failed(&self, upto: u64, error: &str) {
        if let Some(inner) = self.0.upgrade() {
            tracing::debug!(upto, "journal failure acknowledged");
            Bus { inner }.on_failed(error);
        }
    }
}

/// A published frame waiting for its commit.
struct Pending {
    out: Arc<Outgoing>,
    frame: Frame,
    decoded: Decoded,
}

struct State {
    /// The last id handed out (committed or not).
    last_id: u64,
    /// The last id delivered (reduced, in the ring, fanned out).
    delivered: u64,
    /// Published, not yet committed (durable buses only).
    pending: VecDeque<Pending>,
    /// Bytes of JSON in `pending`.
    pending_bytes: usize,
    /// Why the log stopped taking frames, if it did.
    degraded: Option<String>,
    view: SessionView,
    /// Published frames with contiguous ids ending at `last_id`.
    ring: VecDeque<Arc<Outgoing>>,
    ring_bytes: usize,
    subscribers: Vec<Arc<Queue>>,
    next_subscriber_id: u64,
    closed: bool,
    /// Close once `pending` is delivered.
    closing: bool,
    extra: Option<Box<dyn SnapshotExtra>>,
}

impl State {
    /// The oldest id the ring can replay (`delivered + 1` when it is empty).
    fn earliest_id(&self) -> u64 {
        self.delivered + 1 - self.ring.len() as u64
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent enough
        // to keep serving (every update is a single push or pop), and a
        // poisoned bus would take the whole session down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Bus {
    /// A bus for a new session: no frames yet, a fresh epoch.
    pub fn new(config: BusConfig) -> Bus {
        Bus::with_state(config, SessionView::new(), 0, new_epoch())
    }

    /// Restores a bus whose ids continue after `last_id` (used after
    /// restarts); `view` is the state as of `last_id` (its `lastEventId` is
    /// set to `last_id`). The ring starts empty, so any resume point before
    /// `last_id` is answered with `state_resync_required` and a snapshot.
    pub fn with_state(config: BusConfig, view: SessionView, last_id: u64, epoch: String) -> Bus {
        Bus::build(config, view, last_id, epoch, None)
    }

    /// A bus whose frames are committed to `log` before they are delivered,
    /// and whose resumes beyond the ring are served from it. `view` is the
    /// state as of `last_id` (0 and an empty view for a new session).
    pub fn durable(
        config: BusConfig,
        view: SessionView,
        last_id: u64,
        epoch: String,
        log: Arc<dyn EventLog>,
    ) -> Bus {
        Bus::build(config, view, last_id, epoch, Some(log))
    }

    fn build(
        config: BusConfig,
        mut view: SessionView,
        last_id: u64,
        epoch: String,
        log: Option<Arc<dyn EventLog>>,
    ) -> Bus {
        view.last_event_id = last_id;
        Bus {
            inner: Arc::new(Inner {
                config,
                epoch,
                log,
                delivered: Notify::new(),
                room: Condvar::new(),
                state: Mutex::new(State {
                    last_id,
                    delivered: last_id,
                    pending: VecDeque::new(),
                    pending_bytes: 0,
                    degraded: None,
                    view,
                    ring: VecDeque::new(),
                    ring_bytes: 0,
                    subscribers: Vec::new(),
                    next_subscriber_id: 1,
                    closed: false,
                    closing: false,
                    extra: None,
                }),
            }),
        }
    }

    /// Publishes a session event: assigns the next id (the first is 1),
    /// sets `_meta.serverTimestamp` to now, serializes the frame once,
    /// applies it to the view with the core reducer, appends it to the ring
    /// (evicting the oldest frames beyond the frame and byte budgets) and
    /// queues it for every subscriber. Returns the assigned id.
    ///
    /// A payload that fails validation is still published (clients count
    /// it, as the daemon's view does) and logged. Stream-control types are
    /// per subscriber and should not be published; if one is, it is logged
    /// and published like any other frame.
    ///
    /// Never waits for a subscriber: one whose queue is full is evicted.
    pub fn publish(&self, frame: Frame) -> u64 {
        self.publish_stamped(frame).0
    }

    /// [`Bus::publish`], also returning the `serverTimestamp` it stamped.
    pub fn publish_stamped(&self, mut frame: Frame) -> (u64, u64) {
        if STREAM_CONTROL_TYPES.contains(&frame.kind.as_str()) {
            tracing::warn!(
                kind = %frame.kind,
                "stream-control frame published as a session event"
            );
        }
        // Validation does not depend on the id or the time: keep it out of
        // the lock.
        let decoded = TypedFrame::decode(&frame);
        let mut st = self.inner.lock();
        let id = st.last_id + 1;
        let now = now_ms();
        frame.id = Some(id);
        frame.meta.server_timestamp = Some(now);
        let out = Arc::new(Outgoing::from_frame(&frame));
        st.last_id = id;
        match &self.inner.log {
            Some(log) if st.degraded.is_none() => {
                // Handed over under the lock, so the log sees ids in order.
                let appended = log.append(&out, CommitAck(Arc::downgrade(&self.inner)));
                st.pending_bytes += out.bytes();
                st.pending.push_back(Pending {
                    out,
                    frame,
                    decoded,
                });
                match appended {
                    Appended::Queued => {}
                    // Stored while we held the lock: deliver it (and any
                    // earlier frame whose acknowledgement is still on its
                    // way) without another hop.
                    Appended::Committed => self.deliver_committed(st, id),
                    Appended::Failed(error) => {
                        drop(st);
                        self.on_failed(&error);
                    }
                }
            }
            _ => {
                let report = self.deliver(&mut st, out, &frame, decoded, now);
                drop(st);
                report.log(id);
            }
        }
        (id, now)
    }

    /// Reduces a frame into the view, appends it to the ring and queues it
    /// for every subscriber.
    fn deliver(
        &self,
        st: &mut State,
        out: Arc<Outgoing>,
        frame: &Frame,
        decoded: Decoded,
        now: u64,
    ) -> Delivery {
        let config = &self.inner.config;
        let id = out.id.unwrap_or(st.delivered + 1);
        st.delivered = id;
        let invalid = match decoded {
            Decoded::Ok(mut tf) => {
                tf.id = frame.id;
                tf.server_timestamp = frame.meta.server_timestamp;
                reduce_typed(&mut st.view, &tf);
                None
            }
            Decoded::Invalid { error, .. } => {
                // The core's own path for invalid payloads: the id
                // advances and the payload is counted, nothing else.
                reduce(&mut st.view, frame);
                Some(error)
            }
        };

        if let Some(extra) = st.extra.as_mut() {
            extra.observe(frame);
        }

        st.ring_bytes += out.bytes();
        st.ring.push_back(Arc::clone(&out));
        while st.ring.len() > config.ring_frames
            || (st.ring_bytes > config.ring_bytes && st.ring.len() > 1)
        {
            match st.ring.pop_front() {
                Some(old) => st.ring_bytes -= old.bytes(),
                None => break,
            }
        }

        // One eviction notice per publish, shared by everyone it evicts.
        let mut eviction: Option<Arc<Outgoing>> = None;
        let mut evicted = 0usize;
        st.subscribers.retain(|queue| {
            let keep = queue.push_live(&out, now, &mut eviction);
            if !keep {
                evicted += 1;
            }
            keep
        });
        Delivery { invalid, evicted }
    }

    /// The log stored everything up to `upto`: deliver it, in order.
    fn on_committed(&self, upto: u64) {
        self.deliver_committed(self.inner.lock(), upto);
    }

    /// [`Bus::on_committed`] with the lock already taken; releases it.
    fn deliver_committed(&self, mut st: MutexGuard<'_, State>, upto: u64) {
        let mut reports = Vec::new();
        let now = now_ms();
        while st.pending.front().is_some_and(|p| p.out.id <= Some(upto)) {
            let Some(p) = st.pending.pop_front() else {
                break;
            };
            st.pending_bytes -= p.out.bytes();
            let id = p.out.id.unwrap_or(0);
            let report = self.deliver(&mut st, p.out, &p.frame, p.decoded, now);
            reports.push((id, report));
        }
        if st.closing && st.pending.is_empty() {
            close_now(&mut st);
        }
        drop(st);
        self.inner.delivered.notify_waiters();
        self.inner.room.notify_all();
        for (id, report) in reports {
            report.log(id);
        }
    }

    /// The log failed: deliver what it was given anyway (nothing is dropped
    /// silently), stop using it, and say so on the stream.
    fn on_failed(&self, error: &str) {
        let first = {
            let mut st = self.inner.lock();
            let first = st.degraded.is_none();
            if first {
                st.degraded = Some(error.to_string());
            }
            let now = now_ms();
            while let Some(p) = st.pending.pop_front() {
                let _ = self.deliver(&mut st, p.out, &p.frame, p.decoded, now);
            }
            st.pending_bytes = 0;
            first
        };
        if first {
            tracing::error!(
                error,
                "journal write failed: session degraded, events are no longer stored"
            );
            self.publish(Frame::new(
                "session_degraded",
                serde_json::json!({ "reason": "journal_write_failed", "error": error }),
            ));
        }
        let mut st = self.inner.lock();
        if st.closing && st.pending.is_empty() {
            close_now(&mut st);
        }
        drop(st);
        self.inner.delivered.notify_waiters();
        self.inner.room.notify_all();
    }

    /// Whether at most `max_bytes` of published frames wait for the log.
    pub fn has_room(&self, max_bytes: usize) -> bool {
        self.inner.lock().pending_bytes <= max_bytes
    }

    /// Waits until at most `max_bytes` of published frames wait for the
    /// log: [`Bus::wait_for_room`] for a task on the runtime. An agent
    /// session's actor awaits it before taking the agent's next message,
    /// so an agent that prints faster than the journal commits is held
    /// back by its own pipe.
    pub async fn room(&self, max_bytes: usize) {
        loop {
            let woken = self.inner.delivered.notified();
            let mut woken = std::pin::pin!(woken);
            woken.as_mut().enable();
            if self.has_room(max_bytes) {
                return;
            }
            woken.await;
        }
    }

    /// Blocks the calling thread while more than `max_bytes` of published
    /// frames wait for the log to commit them. For producers that may wait
    /// and are not on the runtime — a PTY's pump thread — so a program that
    /// writes faster than the journal commits is slowed down (the PTY
    /// pushes back on it) instead of piling frames up in memory. Returns at
    /// once on an in-memory or degraded bus, whose frames never wait.
    pub fn wait_for_room(&self, max_bytes: usize) {
        let mut st = self.inner.lock();
        while st.pending_bytes > max_bytes {
            st = self
                .inner
                .room
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits until every frame published so far is delivered (committed,
    /// on a durable bus), so that a snapshot taken next includes them: an
    /// HTTP answer that says "created" or "attached" is then true of the
    /// stream too. Immediate on an in-memory bus.
    pub async fn settled(&self) {
        let target = self.last_id();
        loop {
            let woken = self.inner.delivered.notified();
            let mut woken = std::pin::pin!(woken);
            woken.as_mut().enable();
            {
                let st = self.inner.lock();
                if st.delivered >= target || st.pending.is_empty() {
                    return;
                }
            }
            woken.await;
        }
    }

    /// Why this session's events are no longer stored, if they are not.
    pub fn degraded(&self) -> Option<String> {
        self.inner.lock().degraded.clone()
    }

    /// Whether frames go through a log before delivery.
    pub fn is_durable(&self) -> bool {
        self.inner.log.is_some()
    }

    /// Subscribes. `resume` is the client's `Last-Event-ID`, if it sent
    /// one. What comes first:
    ///
    /// - no resume point: a `session_snapshot` (with the bus's `epoch`);
    /// - the current last id: `replay_complete` with nothing replayed;
    /// - an id whose successor is still in the ring: every frame after it,
    ///   then `replay_complete`;
    /// - an id whose successor was evicted (`ring_evicted`), or an id the
    ///   bus has not reached (`epoch_reset`): `state_resync_required`, then a
    ///   snapshot.
    ///
    /// Live frames follow, with no gap and no duplicate. On a closed bus the
    /// subscription gets the same first frames and then ends.
    pub fn subscribe(&self, resume: Option<u64>) -> Result<Subscription, BusError> {
        self.subscribe_at(resume, None)
    }

    /// [`Bus::subscribe`] for a client that also says which epoch its
    /// `Last-Event-ID` belongs to: a different epoch than the bus's means
    /// its ids are from a log that is gone, so it gets
    /// `state_resync_required{reason:"epoch_reset"}` and a snapshot. On a
    /// durable bus a resume point older than the ring is replayed from the
    /// log when the log still holds everything after it.
    pub fn subscribe_at(
        &self,
        resume: Option<u64>,
        epoch: Option<&str>,
    ) -> Result<Subscription, BusError> {
        let config = self.inner.config;
        let mut st = self.inner.lock();
        if st.subscribers.len() >= config.max_subscribers {
            return Err(BusError::TooManySubscribers {
                limit: config.max_subscribers,
            });
        }
        let now = now_ms();
        let last_id = st.delivered;
        let earliest = st.earliest_id();
        let st = &mut *st;
        let extra = &mut st.extra;
        let mut initial: VecDeque<Arc<Outgoing>> = VecDeque::new();
        let resync = |reason: &str, n: u64, earliest: u64| {
            control(
                Event::StateResyncRequired(StateResyncRequired {
                    reason: reason.into(),
                    last_delivered_id: Some(n),
                    earliest_available_id: Some(earliest),
                }),
                now,
            )
        };
        let stale_epoch = epoch.is_some_and(|e| !e.is_empty() && e != self.inner.epoch);
        let replay_done = |n: u64| {
            control(
                Event::ReplayComplete(ReplayComplete {
                    replayed_count: last_id - n,
                    last_event_id: last_id,
                }),
                now,
            )
        };
        match resume {
            None => initial.push_back(snapshot(&st.view, extra, &self.inner.epoch, now)),
            Some(n) if n > last_id || stale_epoch => {
                initial.push_back(resync("epoch_reset", n, earliest));
                initial.push_back(snapshot(&st.view, extra, &self.inner.epoch, now));
            }
            Some(n) if n + 1 >= earliest => {
                // n <= last_id and the ring still holds n + 1 (or n is
                // the last id and there is nothing to replay).
                let skip = (n + 1 - earliest) as usize;
                initial.extend(st.ring.range(skip..).cloned());
                initial.push_back(replay_done(n));
            }
            Some(n) => {
                // Older than the ring. The log is read under the lock (a
                // rare path): nothing can be delivered between what it
                // returns and the ring.
                let stored = self
                    .inner
                    .log
                    .as_ref()
                    .and_then(|log| log.read(n, earliest));
                match stored {
                    Some(frames) => {
                        initial.extend(frames);
                        initial.extend(st.ring.iter().cloned());
                        initial.push_back(replay_done(n));
                    }
                    None => {
                        initial.push_back(resync("ring_evicted", n, earliest));
                        initial.push_back(snapshot(&st.view, extra, &self.inner.epoch, now));
                    }
                }
            }
        }
        let id = st.next_subscriber_id;
        st.next_subscriber_id += 1;
        let queue = Arc::new(Queue::new(id, config, initial, st.closed));
        if !st.closed {
            st.subscribers.push(Arc::clone(&queue));
        }
        Ok(Subscription {
            queue,
            bus: Arc::downgrade(&self.inner),
        })
    }

    /// Installs the state that extends every snapshot from now on (a
    /// terminal's screen). It sees frames published after this call.
    pub fn set_snapshot_extra(&self, extra: Box<dyn SnapshotExtra>) {
        self.inner.lock().extra = Some(extra);
    }

    /// The id of the last published frame (0 before any), committed or
    /// not.
    pub fn last_id(&self) -> u64 {
        self.inner.lock().last_id
    }

    /// The id of the last frame subscribers can have seen (on a durable bus,
    /// the last committed one).
    pub fn delivered_id(&self) -> u64 {
        self.inner.lock().delivered
    }

    /// The bus's epoch: changes whenever ids restart, so a client can tell
    /// a reset log from its own stale `Last-Event-ID`. Carried in every
    /// snapshot.
    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    /// A clone of the current view (for `GET /session/{id}`).
    pub fn view(&self) -> SessionView {
        self.inner.lock().view.clone()
    }

    /// Runs `f` against the view under the bus lock: cheap reads without
    /// cloning. Publishing and subscribing wait while `f` runs, so keep it
    /// short, and do not touch this bus (or drop one of its subscriptions)
    /// inside it.
    pub fn with_view<T>(&self, f: impl FnOnce(&SessionView) -> T) -> T {
        f(&self.inner.lock().view)
    }

    /// Subscribers currently attached.
    pub fn subscriber_count(&self) -> usize {
        self.inner.lock().subscribers.len()
    }

    /// Closes every subscription after the frames already queued (session
    /// end, daemon shutdown): subscribers drain what they have and then see
    /// end of stream. Later subscriptions get their first frames and end.
    pub fn close(&self) {
        let mut st = self.inner.lock();
        if st.pending.is_empty() {
            close_now(&mut st);
        } else {
            // The last frames (a session_died, say) are still being
            // committed: close once they are delivered.
            st.closing = true;
        }
    }
}

fn close_now(st: &mut State) {
    st.closed = true;
    for queue in st.subscribers.drain(..) {
        queue.lock().closed = true;
        queue.notify.notify_one();
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("Bus")
            .field("epoch", &self.inner.epoch)
            .field("last_id", &st.last_id)
            .field("ring_frames", &st.ring.len())
            .field("ring_bytes", &st.ring_bytes)
            .field("subscribers", &st.subscribers.len())
            .field("closed", &st.closed)
            .finish()
    }
}

/// What delivering one frame found worth logging (logged outside the lock).
struct Delivery {
    invalid: Option<switchyard_core::ValidationError>,
    evicted: usize,
}

impl Delivery {
    fn log(self, id: u64) {
        if let Some(error) = self.invalid {
            tracing::warn!(id, %error, "published a frame whose payload fails validation");
        }
        if self.evicted > 0 {
            tracing::warn!(
                id,
                evicted = self.evicted,
                "evicted subscribers whose queues overflowed; they will resume with Last-Event-ID"
            );
        }
    }
}

/// One subscriber's stream (an SSE connection). Dropping it unregisters it.
pub struct Subscription {
    queue: Arc<Queue>,
    bus: Weak<Inner>,
}

impl Subscription {
    /// The next frame to send, shared with the ring and the other
    /// subscribers; `None` is the end of the stream (the bus was closed, or
    /// this subscriber was evicted and its `client_evicted` frame has been
    /// delivered). Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Option<Arc<Outgoing>> {
        loop {
            {
                let mut q = self.queue.lock();
                if let Some(item) = q.pop(&self.queue.config) {
                    return Some(item);
                }
                if q.closed {
                    return None;
                }
            }
            // One consumer per queue: a notify_one that finds nobody waiting
            // leaves a permit, so a push between the check above and this
            // await is not lost.
            self.queue.notify.notified().await;
        }
    }

    /// This subscriber's id, unique on its bus.
    pub fn id(&self) -> u64 {
        self.queue.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.bus.upgrade() {
            let id = self.queue.id;
            inner.lock().subscribers.retain(|q| q.id != id);
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.queue.lock();
        f.debug_struct("Subscription")
            .field("id", &self.queue.id)
            .field("queued_frames", &q.items.len())
            .field("queued_bytes", &q.bytes)
            .field("closed", &q.closed)
            .finish()
    }
}

/// A subscriber's queue, shared by the bus (producer) and the
/// [`Subscription`] (the one consumer).
struct Queue {
    id: u64,
    config: BusConfig,
    state: Mutex<QueueState>,
    notify: Notify,
}

struct QueueState {
    items: VecDeque<Arc<Outgoing>>,
    /// Bytes of everything in `items`.
    bytes: usize,
    /// How many of the front items (and their bytes) are the initial batch
    /// (snapshot or replay): delivered whatever their size, and not held to
    /// the bounds, which apply to what is queued on top of them.
    initial_frames: usize,
    initial_bytes: usize,
    /// A `slow_client_warning` was sent and the queue has not drained below
    /// half since.
    warned: bool,
    /// Nothing more will be queued: end the stream once drained.
    closed: bool,
}

impl Queue {
    fn new(id: u64, config: BusConfig, initial: VecDeque<Arc<Outgoing>>, closed: bool) -> Queue {
        let bytes = initial.iter().map(|o| o.bytes()).sum();
        Queue {
            id,
            config,
            state: Mutex::new(QueueState {
                initial_frames: initial.len(),
                initial_bytes: bytes,
                items: initial,
                bytes,
                warned: false,
                closed,
            }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a live frame; false when this subscriber is done (evicted now
    /// or closed before) and should be unregistered.
    fn push_live(
        &self,
        item: &Arc<Outgoing>,
        now: u64,
        eviction: &mut Option<Arc<Outgoing>>,
    ) -> bool {
        let cfg = &self.config;
        let mut q = self.lock();
        if q.closed {
            return false;
        }
        let was_empty = q.items.is_empty();
        let (live_frames, live_bytes) = q.live();
        let len = item.bytes();
        let over = live_frames + 1 > cfg.queue_frames || live_bytes + len > cfg.queue_bytes;
        // An empty live queue takes any one frame, so a frame larger than
        // the byte budget does not evict everyone.
        if over && live_frames > 0 {
            let notice = eviction.get_or_insert_with(|| {
                control(
                    Event::ClientEvicted(ClientEvicted {
                        reason: "queue_overflow".into(),
                    }),
                    now,
                )
            });
            q.push(Arc::clone(notice));
            q.closed = true;
            drop(q);
            self.notify.notify_one();
            return false;
        }
        q.push(Arc::clone(item));
        let (live_frames, live_bytes) = q.live();
        if !q.warned
            && (at_least_three_quarters(live_frames, cfg.queue_frames)
                || at_least_three_quarters(live_bytes, cfg.queue_bytes))
        {
            q.warned = true;
            let warning = control(
                Event::SlowClientWarning(SlowClientWarning {
                    queued_frames: Some(q.items.len() as u64),
                    queued_bytes: Some(q.bytes as u64),
                }),
                now,
            );
            q.push(warning);
        }
        drop(q);
        // The consumer only ever waits on an empty queue.
        if was_empty {
            self.notify.notify_one();
        }
        true
    }
}

impl QueueState {
    /// Frames and bytes queued on top of the initial batch.
    fn live(&self) -> (usize, usize) {
        (
            self.items.len() - self.initial_frames,
            self.bytes - self.initial_bytes,
        )
    }

    fn push(&mut self, item: Arc<Outgoing>) {
        self.bytes += item.bytes();
        self.items.push_back(item);
    }

    fn pop(&mut self, config: &BusConfig) -> Option<Arc<Outgoing>> {
        let item = self.items.pop_front()?;
        let len = item.bytes();
        self.bytes -= len;
        if self.initial_frames > 0 {
            self.initial_frames -= 1;
            self.initial_bytes -= len;
        }
        if self.warned {
            let (frames, bytes) = self.live();
            if frames.saturating_mul(2) < config.queue_frames
                && bytes.saturating_mul(2) < config.queue_bytes
            {
                self.warned = false;
            }
        }
        Some(item)
    }
}

fn at_least_three_quarters(value: usize, bound: usize) -> bool {
    value.saturating_mul(4) >= bound.saturating_mul(3)
}

/// A stream-control frame: no id, stamped with the time.
fn control(event: Event, now: u64) -> Arc<Outgoing> {
    Arc::new(Outgoing::from_frame(&event.to_frame().with_timestamp(now)))
}

/// The view as a `session_snapshot`, with the bus's epoch and whatever
/// the session's [`SnapshotExtra`] adds.
fn snapshot(
    view: &SessionView,
    extra: &mut Option<Box<dyn SnapshotExtra>>,
    epoch: &str,
    now: u64,
) -> Arc<Outgoing> {
    let mut frame = view.to_snapshot().with_timestamp(now);
    if let Value::Object(data) = &mut frame.data {
        data.insert("epoch".into(), Value::String(epoch.into()));
        if let Some(extra) = extra {
            extra.extend(data);
        }
    }
    Arc::new(Outgoing::from_frame(&frame))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unique per bus created by this process, and (through the clock and the
/// pid) across restarts.
pub fn new_epoch() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}-{:x}-{seq:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll, Waker};
    use switchyard_core::testgen::realistic_stream;
    use switchyard_core::{Applied, reduce_json};

    /// One poll of `next()`: what is queued right now, without waiting.
    fn try_next(sub: &mut Subscription) -> Poll<Option<Arc<Outgoing>>> {
        let mut cx = Context::from_waker(Waker::noop());
        pin!(sub.next()).poll(&mut cx)
    }

    /// Everything queued right now, and whether the stream has ended.
    fn drain(sub: &mut Subscription) -> (Vec<Arc<Outgoing>>, bool) {
        let mut out = Vec::new();
        loop {
            match try_next(sub) {
                Poll::Ready(Some(o)) => out.push(o),
                Poll::Ready(None) => return (out, true),
                Poll::Pending => return (out, false),
            }
        }
    }

    /// Exactly `n` frames queued right now (and not the end of the stream).
    fn take(sub: &mut Subscription, n: usize) -> Vec<Arc<Outgoing>> {
        (0..n)
            .map(|_| match try_next(sub) {
                Poll::Ready(Some(o)) => o,
                other => panic!("expected a queued frame, got {other:?}"),
            })
            .collect()
    }

    fn frame(o: &Outgoing) -> Frame {
        Frame::from_json(&o.json).expect("the bus emits valid frames")
    }

    fn data(o: &Outgoing) -> Value {
        frame(o).data
    }

    fn ids(items: &[Arc<Outgoing>]) -> Vec<u64> {
        items.iter().filter_map(|o| o.id).collect()
    }

    fn kinds(items: &[Arc<Outgoing>]) -> Vec<&str> {
        items.iter().map(|o| o.kind.as_str()).collect()
    }

    fn stream(n: usize, seed: u64) -> Vec<Frame> {
        realistic_stream(n, seed).into_iter().take(n).collect()
    }

    fn publish_all(bus: &Bus, frames: impl IntoIterator<Item = Frame>) -> Vec<u64> {
        frames.into_iter().map(|f| bus.publish(f)).collect()
    }

    /// Reduces what a client received, as the SDK does.
    fn reduce_all(view: &mut SessionView, items: &[Arc<Outgoing>]) {
        for o in items {
            let applied = reduce_json(view, &o.json);
            assert!(
                !matches!(applied, Applied::Malformed(_) | Applied::Stale),
                "{}: {applied:?}",
                o.kind
            );
        }
    }

    /// The session part of a view. `stream` and the applied count also
    /// describe one client's own connection (the stream-control frames it
    /// was sent), which the daemon's view never sees.
    fn session_part(v: &SessionView) -> SessionView {
        let mut v = v.clone();
        v.stream = Default::default();
        v.counters.applied = 0;
        v
    }

    fn output(text: &str) -> Frame {
        Frame::new("terminal_output", json!({ "data": text }))
    }

    #[test]
    fn ids_start_at_one_and_are_monotonic() {
        let bus = Bus::new(BusConfig::default());
        assert_eq!(bus.last_id(), 0);
        let mut sub = bus.subscribe(Some(0)).unwrap();
        let before = now_ms();
        // Whatever id and time the caller put on a frame, the bus decides.
        let mut frames = stream(200, 1);
        frames[0] = frames[0].clone().with_id(999).with_timestamp(1);
        assert_eq!(publish_all(&bus, frames), (1..=200).collect::<Vec<_>>());
        assert_eq!(bus.last_id(), 200);
        assert_eq!(bus.view().last_event_id, 200);

        let (items, ended) = drain(&mut sub);
        assert!(!ended);
        assert_eq!(items[0].kind, "replay_complete");
        assert_eq!(
            data(&items[0]),
            json!({"replayedCount": 0, "lastEventId": 0})
        );
        let mut last_ts = before;
        for (o, id) in items[1..].iter().zip(1u64..) {
            let f = frame(o);
            assert_eq!((o.id, f.id), (Some(id), Some(id)));
            assert_eq!(o.kind, f.kind);
            let ts = f.meta.server_timestamp.expect("stamped");
            assert!(ts >= last_ts.min(before));
            last_ts = ts;
        }
        assert_eq!(items.len(), 201);
    }

    #[tokio::test]
    async fn fresh_subscriber_gets_a_snapshot_then_live_frames() {
        let bus = Bus::new(BusConfig::default());
        let frames = stream(400, 2);
        publish_all(&bus, frames[..250].to_vec());

        let mut sub = bus.subscribe(None).unwrap();
        let first = sub.next().await.unwrap();
        assert_eq!((first.kind.as_str(), first.id), ("session_snapshot", None));
        let f = frame(&first);
        assert!(f.meta.server_timestamp.is_some());
        assert_eq!(f.data["epoch"], json!(bus.epoch()));
        assert_eq!(f.data["lastEventId"], json!(250));

        let mut client = SessionView::new();
        reduce_all(&mut client, std::slice::from_ref(&first));
        assert_eq!(client, bus.view());

        publish_all(&bus, frames[250..].to_vec());
        let mut live = Vec::new();
        for _ in 250..400 {
            live.push(sub.next().await.unwrap());
        }
        assert_eq!(ids(&live), (251..=400).collect::<Vec<_>>());
        assert!(try_next(&mut sub).is_pending());
        reduce_all(&mut client, &live);
        // Nothing but session frames after the snapshot: the views agree
        // on everything, stream section and counters included.
        assert_eq!(client, bus.view());
    }

    #[test]
    fn subscribers_receive_identical_sequences() {
        let bus = Bus::new(BusConfig::default());
        publish_all(&bus, stream(30, 3));
        let mut a = bus.subscribe(None).unwrap();
        let mut b = bus.subscribe(None).unwrap();
        let mut from_a = Vec::new();
        for (i, f) in stream(300, 4).into_iter().enumerate() {
            bus.publish(f);
            if i % 7 == 0 {
                from_a.extend(drain(&mut a).0);
            }
        }
        from_a.extend(drain(&mut a).0);
        let (from_b, _) = drain(&mut b);
        assert_eq!(from_a.len(), 301);
        assert_eq!(from_a.len(), from_b.len());
        assert_eq!(data(&from_a[0]), data(&from_b[0]));
        for (x, y) in from_a[1..].iter().zip(&from_b[1..]) {
            // Serialized once: the very same bytes.
            assert!(Arc::ptr_eq(x, y));
        }
        assert_eq!(ids(&from_a), (31..=330).collect::<Vec<_>>());
    }

    #[test]
    fn resume_mid_ring_replays_exactly_the_missing_frames() {
        let bus = Bus::new(BusConfig::default());
        let mut observer = bus.subscribe(None).unwrap();
        let frames = stream(60, 5);
        publish_all(&bus, frames[..50].to_vec());
        let (seen, _) = drain(&mut observer);
        assert_eq!(seen.len(), 51);

        // A client that saw frames 1..=20, then dropped.
        let mut client = SessionView::new();
        reduce_all(&mut client, &seen[..=20]);

        let mut sub = bus.subscribe(Some(20)).unwrap();
        let (items, _) = drain(&mut sub);
        assert_eq!(items.len(), 31);
        for (replayed, original) in items[..30].iter().zip(&seen[21..]) {
            assert!(Arc::ptr_eq(replayed, original));
        }
        assert_eq!(
            (items[30].kind.as_str(), items[30].id),
            ("replay_complete", None)
        );
        assert!(frame(&items[30]).meta.server_timestamp.is_some());
        assert_eq!(
            data(&items[30]),
            json!({"replayedCount": 30, "lastEventId": 50})
        );
        reduce_all(&mut client, &items);

        publish_all(&bus, frames[50..].to_vec());
        let (live, _) = drain(&mut sub);
        assert_eq!(ids(&live), (51..=60).collect::<Vec<_>>());
        assert_eq!(live.len(), 10);
        reduce_all(&mut client, &live);
        assert_eq!(session_part(&client), session_part(&bus.view()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn resume_while_publishing_has_no_gap_and_no_duplicate() {
        for round in 0..100u64 {
            let bus = Bus::new(BusConfig::default());
            let frames = stream(2000, 100 + round);
            let stop = Arc::new(AtomicBool::new(false));
            let mut observer = bus.subscribe(None).unwrap();
            let publisher = {
                let (bus, stop) = (bus.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    for f in frames {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        bus.publish(f);
                        tokio::task::yield_now().await;
                    }
                })
            };
            // Resume while the publisher is running, from a point slightly
            // behind; then let it publish a while longer.
            let threshold = 10 + round * 2;
            while bus.last_id() < threshold && !publisher.is_finished() {
                tokio::task::yield_now().await;
            }
            let resume = bus.last_id().saturating_sub(round % 13);
            let mut sub = bus.subscribe(Some(resume)).unwrap();
            let until = bus.last_id() + 30;
            while bus.last_id() < until && !publisher.is_finished() {
                tokio::task::yield_now().await;
            }
            stop.store(true, Ordering::Relaxed);
            publisher.await.unwrap();
            let total = bus.last_id();

            let (items, ended) = drain(&mut sub);
            assert!(!ended);
            let (seen, _) = drain(&mut observer);
            assert_eq!(seen.len() as u64, total + 1);

            let controls: Vec<usize> = (0..items.len())
                .filter(|&i| items[i].id.is_none())
                .collect();
            assert_eq!(controls.len(), 1, "round {round}: {:?}", kinds(&items));
            let at = controls[0];
            assert_eq!(items[at].kind, "replay_complete");
            let rc = data(&items[at]);
            let m = rc["lastEventId"].as_u64().unwrap();
            assert!(m >= resume);
            assert_eq!(rc["replayedCount"], json!(m - resume));
            assert_eq!(
                ids(&items[..at]),
                (resume + 1..=m).collect::<Vec<_>>(),
                "round {round}"
            );
            assert_eq!(
                ids(&items[at + 1..]),
                (m + 1..=total).collect::<Vec<_>>(),
                "round {round}"
            );
            for o in items.iter().filter(|o| o.id.is_some()) {
                let id = o.id.unwrap() as usize;
                assert!(Arc::ptr_eq(o, &seen[id]));
            }

            let mut client = SessionView::new();
            reduce_all(&mut client, &seen[..=resume as usize]);
            reduce_all(&mut client, &items);
            assert_eq!(session_part(&client), session_part(&bus.view()));
        }
    }

    #[test]
    fn resume_past_the_ring_resyncs_with_a_snapshot() {
        let config = BusConfig {
            ring_frames: 16,
            ..BusConfig::default()
        };
        let bus = Bus::new(config);
        let mut observer = bus.subscribe(None).unwrap();
        let frames = stream(120, 6);
        publish_all(&bus, frames[..100].to_vec());
        let (seen, _) = drain(&mut observer);

        // The oldest frame still replayable is 85: resuming after 84 works.
        let mut edge = bus.subscribe(Some(84)).unwrap();
        let (items, _) = drain(&mut edge);
        assert_eq!(ids(&items), (85..=100).collect::<Vec<_>>());
        assert_eq!(items.last().unwrap().kind, "replay_complete");

        let mut client = SessionView::new();
        reduce_all(&mut client, &seen[..=10]);
        let mut sub = bus.subscribe(Some(10)).unwrap();
        let (items, _) = drain(&mut sub);
        assert_eq!(kinds(&items), ["state_resync_required", "session_snapshot"]);
        assert!(items.iter().all(|o| o.id.is_none()));
        assert!(frame(&items[0]).meta.server_timestamp.is_some());
        assert_eq!(
            data(&items[0]),
            json!({"reason": "ring_evicted", "lastDeliveredId": 10, "earliestAvailableId": 85})
        );
        assert_eq!(data(&items[1])["epoch"], json!(bus.epoch()));
        reduce_all(&mut client, &items);
        assert!(!client.stream.awaiting_resync);
        assert_eq!(client.stream.resync_required_count, 1);
        assert_eq!(session_part(&client), session_part(&bus.view()));

        publish_all(&bus, frames[100..].to_vec());
        let (live, _) = drain(&mut sub);
        assert_eq!(ids(&live), (101..=120).collect::<Vec<_>>());
        reduce_all(&mut client, &live);
        assert_eq!(session_part(&client), session_part(&bus.view()));
    }

    #[test]
    fn an_id_from_the_future_is_an_epoch_reset() {
        let bus = Bus::new(BusConfig::default());
        publish_all(&bus, stream(5, 7));
        let mut sub = bus.subscribe(Some(42)).unwrap();
        let (items, _) = drain(&mut sub);
        assert_eq!(kinds(&items), ["state_resync_required", "session_snapshot"]);
        assert_eq!(
            data(&items[0]),
            json!({"reason": "epoch_reset", "lastDeliveredId": 42, "earliestAvailableId": 1})
        );
        // A client whose view came from the previous log recovers.
        let mut client = SessionView::new();
        client.last_event_id = 42;
        reduce_all(&mut client, &items);
        assert_eq!(client.last_event_id, 5);
        bus.publish(output("after the reset"));
        reduce_all(&mut client, &drain(&mut sub).0);
        assert_eq!(session_part(&client), session_part(&bus.view()));
    }

    #[test]
    fn a_restored_bus_continues_its_ids() {
        let old = Bus::new(BusConfig::default());
        publish_all(&old, stream(100, 8));
        let bus = Bus::with_state(BusConfig::default(), old.view(), 100, "epoch-2".into());
        assert_eq!((bus.last_id(), bus.epoch()), (100, "epoch-2"));

        let mut caught_up = bus.subscribe(Some(100)).unwrap();
        let (items, _) = drain(&mut caught_up);
        assert_eq!(kinds(&items), ["replay_complete"]);
        assert_eq!(
            data(&items[0]),
            json!({"replayedCount": 0, "lastEventId": 100})
        );

        let mut behind = bus.subscribe(Some(40)).unwrap();
        let (items, _) = drain(&mut behind);
        assert_eq!(
            data(&items[0]),
            json!({"reason": "ring_evicted", "lastDeliveredId": 40, "earliestAvailableId": 101})
        );

        let mut fresh = bus.subscribe(None).unwrap();
        let snap = data(&drain(&mut fresh).0[0]);
        assert_eq!(
            (snap["lastEventId"].clone(), snap["epoch"].clone()),
            (json!(100), json!("epoch-2"))
        );

        assert_eq!(bus.publish(output("x")), 101);
        assert_eq!(ids(&drain(&mut caught_up).0), [101]);
    }

    #[tokio::test]
    async fn a_never_polled_subscriber_is_evicted_while_a_polled_one_gets_everything() {
        let config = BusConfig {
            queue_frames: 16,
            ..BusConfig::default()
        };
        let bus = Bus::new(config);
        let mut slow = bus.subscribe(None).unwrap();
        let mut fast = bus.subscribe(None).unwrap();
        let mut fast_items = Vec::new();
        for f in stream(100, 9) {
            bus.publish(f);
            fast_items.extend(drain(&mut fast).0);
        }
        assert_eq!(bus.subscriber_count(), 1);
        assert_eq!(fast_items[0].kind, "session_snapshot");
        assert_eq!(ids(&fast_items[1..]), (1..=100).collect::<Vec<_>>());
        assert_eq!(fast_items.len(), 101);

        let mut got = Vec::new();
        while let Some(o) = slow.next().await {
            got.push(o);
        }
        assert!(slow.next().await.is_none());
        assert_eq!(got[0].kind, "session_snapshot");
        let last = got.last().unwrap();
        assert_eq!((last.kind.as_str(), last.id), ("client_evicted", None));
        assert_eq!(data(last), json!({"reason": "queue_overflow"}));
        let middle = &got[1..got.len() - 1];
        let k = *ids(middle).last().unwrap();
        assert_eq!(ids(middle), (1..=k).collect::<Vec<_>>());
        assert!(middle.len() <= config.queue_frames);
        assert_eq!(
            kinds(middle)
                .iter()
                .filter(|k| **k == "slow_client_warning")
                .count(),
            1
        );
        // Queued frames are the same ones everyone else got.
        for o in middle.iter().filter(|o| o.id.is_some()) {
            assert!(Arc::ptr_eq(o, &fast_items[o.id.unwrap() as usize]));
        }

        // The evicted client resumes from what it has and converges.
        let mut client = SessionView::new();
        reduce_all(&mut client, &got);
        assert_eq!(client.stream.evicted.as_deref(), Some("queue_overflow"));
        let mut again = bus.subscribe(Some(k)).unwrap();
        reduce_all(&mut client, &drain(&mut again).0);
        assert_eq!(client.stream.evicted, None);
        assert_eq!(session_part(&client), session_part(&bus.view()));
    }

    #[test]
    fn the_slow_warning_is_sent_once_until_the_queue_drains() {
        let config = BusConfig {
            queue_frames: 100,
            ..BusConfig::default()
        };
        let bus = Bus::new(config);
        let mut sub = bus.subscribe(Some(0)).unwrap();
        publish_all(&bus, (0..90).map(|i| output(&format!("line {i}\n"))));
        let (items, _) = drain(&mut sub);
        let warnings: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].kind == "slow_client_warning")
            .collect();
        assert_eq!(warnings.len(), 1);
        // Right after the 75th live frame: 75% of 100.
        let at = warnings[0];
        assert_eq!(items[at - 1].id, Some(75));
        assert_eq!(items[at].id, None);
        let w = data(&items[at]);
        let queued_bytes: usize = items[..at].iter().map(|o| o.json.len()).sum();
        assert_eq!(w, json!({"queuedFrames": at, "queuedBytes": queued_bytes}));

        // Drained: armed again.
        publish_all(&bus, (0..90).map(|i| output(&format!("line {i}\n"))));
        let (items, _) = drain(&mut sub);
        assert_eq!(
            kinds(&items)
                .iter()
                .filter(|k| **k == "slow_client_warning")
                .count(),
            1
        );

        // Drained only to just above half: not armed again yet.
        publish_all(&bus, (0..80).map(|i| output(&format!("line {i}\n"))));
        let first = take(&mut sub, 30); // 80 frames + 1 warning queued, 51 left
        assert_eq!(
            kinds(&first)
                .iter()
                .filter(|k| **k == "slow_client_warning")
                .count(),
            0
        );
        publish_all(&bus, (0..40).map(|i| output(&format!("line {i}\n"))));
        let (items, ended) = drain(&mut sub);
        assert!(!ended);
        assert_eq!(
            kinds(&items)
                .iter()
                .filter(|k| **k == "slow_client_warning")
                .count(),
            1
        );
        assert_eq!(bus.subscriber_count(), 1);
    }

    #[test]
    fn the_slow_warning_also_watches_bytes() {
        let config = BusConfig {
            queue_bytes: 10_000,
            ..BusConfig::default()
        };
        let bus = Bus::new(config);
        let mut sub = bus.subscribe(Some(0)).unwrap();
        publish_all(&bus, (0..12).map(|_| output(&"b".repeat(600))));
        let (items, _) = drain(&mut sub);
        let at = items
            .iter()
            .position(|o| o.kind == "slow_client_warning")
            .expect("warned");
        // The initial batch (replay_complete) is not held to the bound.
        let live_before: usize = items[1..at].iter().map(|o| o.json.len()).sum();
        let live_one_less = live_before - items[at - 1].json.len();
        assert!(live_before * 4 >= 30_000 && live_one_less * 4 < 30_000);
        assert_eq!(bus.subscriber_count(), 1);
    }

    #[test]
    fn a_frame_larger_than_the_queue_reaches_an_empty_queue() {
        let config = BusConfig {
            queue_bytes: 1000,
            ..BusConfig::default()
        };
        let bus = Bus::new(config);
        let mut sub = bus.subscribe(None).unwrap();
        bus.publish(output(&"z".repeat(5000)));
        assert_eq!(bus.subscriber_count(), 1);
        bus.publish(output(&"z".repeat(5000)));
        assert_eq!(bus.subscriber_count(), 0);
        let (items, ended) = drain(&mut sub);
        assert!(ended);
        assert_eq!(
            kinds(&items),
            [
                "session_snapshot",
                "terminal_output",
                "slow_client_warning",
                "client_evicted"
            ]
        );
    }

    #[test]
    fn the_subscriber_limit_is_enforced() {
        let config = BusConfig {
            max_subscribers: 2,
            ..BusConfig::default()
        };
        let bus = Bus::new(config);
        let a = bus.subscribe(None).unwrap();
        let b = bus.subscribe(Some(0)).unwrap();
        let err = bus.subscribe(None).unwrap_err();
        assert_eq!(err, BusError::TooManySubscribers { limit: 2 });
        assert!(err.to_string().contains("limit 2"));
        assert_eq!(bus.subscriber_count(), 2);
        let a_id = a.id();
        drop(a);
        assert_eq!(bus.subscriber_count(), 1);
        let c = bus.subscribe(None).unwrap();
        assert!(a_id != b.id() && b.id() != c.id() && a_id != c.id());
        // A bus dropped before its subscriptions is fine.
        drop(bus);
        drop(c);
    }

    #[tokio::test]
    async fn close_drains_then_ends() {
        let bus = Bus::new(BusConfig::default());
        let mut queued = bus.subscribe(None).unwrap();
        let mut waiting = bus.subscribe(None).unwrap();
        // Parked in next() on another task: close() must wake it.
        let waiter = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(o) = waiting.next().await {
                got.push(o);
            }
            got
        });
        publish_all(&bus, stream(5, 10));
        bus.close();
        assert_eq!(bus.subscriber_count(), 0);

        let got = waiter.await.unwrap();
        assert_eq!(got.len(), 6);
        let mut from_queued = Vec::new();
        while let Some(o) = queued.next().await {
            from_queued.push(o);
        }
        assert_eq!(from_queued.len(), 6);
        assert_eq!(ids(&from_queued), [1, 2, 3, 4, 5]);
        assert!(queued.next().await.is_none());

        // Later subscribers get their first frames, then the end.
        assert_eq!(bus.publish(output("late")), 6);
        let mut late = bus.subscribe(Some(5)).unwrap();
        assert_eq!(bus.subscriber_count(), 0);
        let (items, ended) = drain(&mut late);
        assert!(ended);
        assert_eq!(kinds(&items), ["terminal_output", "replay_complete"]);
    }

    #[test]
    fn the_ring_byte_budget_evicts_the_oldest_frames() {
        let config = BusConfig {
            ring_bytes: 5000,
            ..BusConfig::default()
        };
        let bus = Bus::new(config);
        let mut observer = bus.subscribe(None).unwrap();
        publish_all(&bus, (0..20).map(|_| output(&"r".repeat(1000))));
        let (seen, _) = drain(&mut observer);
        let sizes: Vec<usize> = seen.iter().map(|o| o.json.len()).collect();
        // The longest suffix that fits the budget.
        let mut earliest = 20;
        let mut total = sizes[20];
        while total + sizes[earliest - 1] <= 5000 {
            earliest -= 1;
            total += sizes[earliest];
        }
        assert!(earliest > 1 && earliest < 20);

        let mut fits = bus.subscribe(Some(earliest as u64 - 1)).unwrap();
        let (items, _) = drain(&mut fits);
        assert_eq!(ids(&items), (earliest as u64..=20).collect::<Vec<_>>());
        let mut gone = bus.subscribe(Some(earliest as u64 - 2)).unwrap();
        let (items, _) = drain(&mut gone);
        assert_eq!(data(&items[0])["earliestAvailableId"], json!(earliest));

        // A frame bigger than the whole budget is still kept, alone.
        assert_eq!(bus.publish(output(&"R".repeat(8000))), 21);
        let mut newest = bus.subscribe(Some(20)).unwrap();
        assert_eq!(ids(&drain(&mut newest).0), [21]);
        let mut before = bus.subscribe(Some(19)).unwrap();
        let (items, _) = drain(&mut before);
        assert_eq!(data(&items[0])["earliestAvailableId"], json!(21));
    }

    #[test]
    fn invalid_payloads_are_published_and_counted() {
        let bus = Bus::new(BusConfig::default());
        let mut sub = bus.subscribe(None).unwrap();
        bus.publish(Frame::new("session_started", json!({"kind": "terminal"})));
        let id = bus.publish(Frame::new(
            "terminal_resized",
            json!({"cols": 0, "rows": 24}),
        ));
        bus.publish(output("still going"));
        assert_eq!(id, 2);
        let view = bus.view();
        assert_eq!(view.counters.invalid_payloads, 1);
        assert_eq!(view.last_event_id, 3);
        assert_eq!(
            bus.with_view(|v| v.terminal.as_ref().map(|t| t.cols)),
            Some(80)
        );

        let (items, _) = drain(&mut sub);
        assert_eq!(ids(&items), [1, 2, 3]);
        let mut client = SessionView::new();
        reduce_all(&mut client, &items);
        assert_eq!(client, view);
    }

    #[test]
    fn handles_are_thread_safe() {
        fn send_sync<T: Send + Sync + Clone>() {}
        fn send<T: Send>() {}
        send_sync::<Bus>();
        send::<Subscription>();
        send::<Arc<Outgoing>>();
    }
}
