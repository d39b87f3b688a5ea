//! Sessions: their live state, their recorded history, and the JSON files
//! that let a later agent process `session/load` them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use crate::wire;

/// Recorded message text is capped so that `/flood 1000000` cannot grow the
/// history (or the session file) without bound.
const MAX_RECORDED_TEXT: usize = 64 * 1024;
const TRUNCATION_MARK: &str = "\n[… truncated]";

/// Bumped when the file layout changes incompatibly.
const RECORD_VERSION: u32 = 1;

/// What a session file holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionRecord {
    version: u32,
    session_id: String,
    cwd: PathBuf,
    mode_id: String,
    model_id: String,
    /// `session/update` payloads (the `update` object), in send order.
    history: Vec<Value>,
}

#[derive(Debug)]
struct SessionState {
    cwd: PathBuf,
    mode: String,
    model: String,
    history: Vec<Value>,
}

/// One live session.
#[derive(Debug)]
pub(crate) struct Session {
    id: String,
    state: Mutex<SessionState>,
    /// Counts `session/cancel`s. A turn is cancelled once the count moves
    /// past the value it started with, so a cancel reaches every turn that
    /// was running when it arrived and none that start later.
    cancels: watch::Sender<u64>,
    /// Serialises snapshot-and-write so an older snapshot never lands last.
    persist_lock: Mutex<()>,
}

/// A turn's view of its session's cancellation.
pub(crate) struct CancelSignal {
    rx: watch::Receiver<u64>,
    start: u64,
}

impl CancelSignal {
    pub(crate) fn is_cancelled(&self) -> bool {
        *self.rx.borrow() != self.start
    }

    /// Completes once the turn is cancelled.
    pub(crate) async fn cancelled(&mut self) {
        let start = self.start;
        // An error means the session is gone, which also ends the turn.
        let _ = self.rx.wait_for(|count| *count != start).await;
    }
}

impl Session {
    fn from_state(id: String, state: SessionState) -> Self {
        Self {
            id,
            state: Mutex::new(state),
            cancels: watch::channel(0).0,
            persist_lock: Mutex::new(()),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().expect("session lock")
    }

    pub(crate) fn cwd(&self) -> PathBuf {
        self.lock().cwd.clone()
    }

    pub(crate) fn set_cwd(&self, cwd: PathBuf) {
        self.lock().cwd = cwd;
    }

    pub(crate) fn mode(&self) -> String {
        self.lock().mode.clone()
    }

    pub(crate) fn model(&self) -> String {
        self.lock().model.clone()
    }

    /// Switches mode; `false` (and no change) for an unknown mode.
    pub(crate) fn set_mode(&self, mode: &str) -> bool {
        if !wire::is_mode(mode) {
            return false;
        }
        mode.clone_into(&mut self.lock().mode);
        true
    }

    /// Switches model; `false` (and no change) for an unknown model.
    pub(crate) fn set_model(&self, model: &str) -> bool {
        if !wire::is_model(model) {
            return false;
        }
        model.clone_into(&mut self.lock().model);
        true
    }

    pub(crate) fn cancel_signal(&self) -> CancelSignal {
        let rx = self.cancels.subscribe();
        let start = *rx.borrow();
        CancelSignal { rx, start }
    }

    pub(crate) fn cancel(&self) {
        self.cancels.send_modify(|count| *count += 1);
    }

    pub(crate) fn history(&self) -> Vec<Value> {
        self.lock().history.clone()
    }

    /// Appends an update to the history. Consecutive agent message (or
    /// thought) chunks merge into one, which keeps replay short and the
    /// history size independent of how finely the text was streamed.
    pub(crate) fn record(&self, update: &Value) {
        let kind = update.get("sessionUpdate").and_then(Value::as_str);
        let text = update
            .pointer("/content/text")
            .and_then(Value::as_str)
            .filter(|_| update.pointer("/content/type") == Some(&Value::from("text")));
        let mut state = self.lock();
        if let (Some(kind @ (wire::AGENT_MESSAGE | wire::AGENT_THOUGHT)), Some(text)) = (kind, text)
        {
            if let Some(last) = state.history.last_mut()
                && last.get("sessionUpdate").and_then(Value::as_str) == Some(kind)
                && let Some(Value::String(recorded)) = last.pointer_mut("/content/text")
            {
                append_capped(recorded, text);
                return;
            }
            let mut recorded = String::new();
            append_capped(&mut recorded, text);
            state.history.push(wire::text_chunk(kind, &recorded));
            return;
        }
        state.history.push(update.clone());
    }
}

fn append_capped(recorded: &mut String, text: &str) {
    if recorded.len() >= MAX_RECORDED_TEXT {
        return;
    }
    let room = MAX_RECORDED_TEXT - recorded.len();
    if text.len() <= room {
        recorded.push_str(text);
        return;
    }
    let mut cut = room;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    recorded.push_str(&text[..cut]);
    recorded.push_str(TRUNCATION_MARK);
}

/// Why a session could not be loaded.
#[derive(Debug)]
pub(crate) enum LoadError {
    NotFound,
    Corrupt(String),
}

/// All sessions of one agent connection, plus where they are saved.
#[derive(Debug)]
pub(crate) struct SessionStore {
    dir: PathBuf,
    live: Mutex<HashMap<String, Arc<Session>>>,
    temp_counter: AtomicU64,
}

impl SessionStore {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            live: Mutex::new(HashMap::new()),
            temp_counter: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.live.lock().expect("store lock").get(id).cloned()
    }

    pub(crate) fn create(&self, cwd: PathBuf) -> Arc<Session> {
        let id = uuid::Uuid::new_v4().to_string();
        let session = Arc::new(Session::from_state(
            id.clone(),
            SessionState {
                cwd,
                mode: wire::MODES[0].0.to_owned(),
                model: wire::MODELS[0].0.to_owned(),
                history: Vec::new(),
            },
        ));
        self.live
            .lock()
            .expect("store lock")
            .insert(id, session.clone());
        session
    }

    /// The live session, or the one saved on disk by any earlier process.
    pub(crate) fn load(&self, id: &str) -> Result<Arc<Session>, LoadError> {
        if let Some(session) = self.get(id) {
            return Ok(session);
        }
        let path = self.path_for(id).ok_or(LoadError::NotFound)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(LoadError::NotFound);
            }
            Err(error) => return Err(LoadError::Corrupt(error.to_string())),
        };
        let record: SessionRecord =
            serde_json::from_slice(&bytes).map_err(|e| LoadError::Corrupt(e.to_string()))?;
        if record.version != RECORD_VERSION || record.session_id != id {
            return Err(LoadError::Corrupt(format!(
                "{} is not a version {RECORD_VERSION} record of session {id}",
                path.display()
            )));
        }
        // A file edited by hand could name a mode or model we no longer offer.
        let mode = if wire::is_mode(&record.mode_id) {
            record.mode_id
        } else {
            wire::MODES[0].0.to_owned()
        };
        let model = if wire::is_model(&record.model_id) {
            record.model_id
        } else {
            wire::MODELS[0].0.to_owned()
        };
        let session = Arc::new(Session::from_state(
            id.to_owned(),
            SessionState {
                cwd: record.cwd,
                mode,
                model,
                history: record.history,
            },
        ));
        let mut live = self.live.lock().expect("store lock");
        // Another load may have raced us; keep whichever got there first.
        Ok(live.entry(id.to_owned()).or_insert(session).clone())
    }

    /// Session ids come from clients, so only plain names may become paths.
    fn path_for(&self, id: &str) -> Option<PathBuf> {
        let plain = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plain.then(|| self.dir.join(format!("{id}.json")))
    }

    /// Saves the session: write a temp file, then rename over the old one,
    /// so a reader (or a crash) never sees half a file.
    pub(crate) fn persist(&self, session: &Session) -> std::io::Result<()> {
        let _guard = session.persist_lock.lock().expect("persist lock");
        let record = {
            let state = session.lock();
            SessionRecord {
                version: RECORD_VERSION,
                session_id: session.id.clone(),
                cwd: state.cwd.clone(),
                mode_id: state.mode.clone(),
                model_id: state.model.clone(),
                history: state.history.clone(),
            }
        };
        let path = self
            .path_for(&session.id)
            .ok_or_else(|| std::io::Error::other("session id is not a plain file name"))?;
        std::fs::create_dir_all(&self.dir)?;
        let temp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            session.id,
            std::process::id(),
            self.temp_counter.fetch_add(1, Ordering::Relaxed)
        ));
        let bytes = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        let written = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_agent_chunks_merge_and_stay_capped() {
        let store = SessionStore::new(std::env::temp_dir());
        let session = store.create("/".into());
        session.record(&wire::text_chunk(wire::USER_MESSAGE, "/flood"));
        for _ in 0..100_000 {
            session.record(&wire::text_chunk(wire::AGENT_MESSAGE, "chunk\n"));
        }
        let history = session.history();
        assert_eq!(history.len(), 2);
        let text = history[1]["content"]["text"].as_str().unwrap();
        assert!(text.len() <= MAX_RECORDED_TEXT + TRUNCATION_MARK.len());
        assert!(text.ends_with(TRUNCATION_MARK));
    }

    #[test]
    fn unsafe_session_ids_never_become_paths() {
        let store = SessionStore::new("/state".into());
        assert!(store.path_for("../etc/passwd").is_none());
        assert!(store.path_for("").is_none());
        assert!(store.path_for("a/b").is_none());
        assert_eq!(
            store.path_for("abc-123_x"),
            Some(PathBuf::from("/state/abc-123_x.json"))
        );
        assert!(matches!(store.load("nope"), Err(LoadError::NotFound)));
    }
}
