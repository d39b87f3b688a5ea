//! `Connection`: a session's live event stream, reduced into a view.
//!
//! Transport: `fetch` with a streamed body (`response.body.getReader()`),
//! not `EventSource`, so the token (`Authorization: Bearer`), `X-Client-Id`
//! and `Last-Event-ID` travel as headers. Bytes go through core's
//! `SseParser`, each event's data through core's reducer into the view, and
//! then to the callbacks:
//!
//! - `onFrame(frame, outcome)` for every event;
//! - `onState(state)` at most once per chunk read from the network;
//! - `onStatus(status, detail)` on every status change.
//!
//! Statuses: `idle` (before `start()`), `connecting`, `live` (after the
//! snapshot or `replay_complete`), `reconnecting`, `resyncing` (after
//! `state_resync_required`, until the snapshot that follows), `closed`.
//!
//! Reconnects: when the stream ends or fails, wait a jittered exponential
//! backoff (full jitter, `initialMs · 2^attempt` capped at `maxMs`, never
//! below the daemon's `retry:`), then resume from the view's `lastEventId`.
//! `client_evicted` reconnects at once. In a browser, `online`, `pageshow`
//! (back from the bfcache) and the page becoming visible again skip the
//! wait, and restart a stream that may be dead. An error answer that
//! retrying cannot fix (a 4xx other than 408/425/429: bad token, unknown
//! session or client) is fatal: status `closed` with the error. So is the
//! end of a stream once the session itself has ended. `close()` aborts the
//! request and reports nothing but the `closed` status.
//!
//! Layout: this file has the JS class, its options and shared state;
//! `stream.rs` the reconnect loop (request, read, parse, reduce, report);
//! `wake.rs` the backoff wait and the page events that cut it short.

mod stream;
mod wake;

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object};
use switchyard_core::sse::SseParser;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::AbortController;

use crate::error::ApiError;
use crate::http::Endpoint;
use crate::view::{SessionView, SharedView};
use crate::{js, panic};
use wake::Listener;

/// Default backoff.
const DEFAULT_INITIAL_MS: f64 = 250.0;
const DEFAULT_MAX_MS: f64 = 30_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Idle,
    Connecting,
    Live,
    Reconnecting,
    Resyncing,
    Closed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Connecting => "connecting",
            Status::Live => "live",
            Status::Reconnecting => "reconnecting",
            Status::Resyncing => "resyncing",
            Status::Closed => "closed",
        }
    }
}

struct Config {
    endpoint: Endpoint,
    session_id: String,
    client_id: String,
    initial_ms: f64,
    max_ms: f64,
}

struct Callbacks {
    on_status: Option<Function>,
    on_frame: Option<Function>,
    on_state: Option<Function>,
}

struct State {
    status: Status,
    started: bool,
    closed: bool,
    /// Aborts the current request (and its body stream).
    abort: Option<AbortController>,
    /// A kick asked to drop the current stream and reconnect at once.
    restart: bool,
    /// Resolves the current backoff wait early.
    wake: Option<Function>,
    timer: Option<JsValue>,
    /// Consecutive failed attempts since the stream was last live.
    attempt: u32,
    /// `options.lastEventId`, used while the view is still empty.
    resume_hint: Option<u64>,
    /// The epoch of the ids we hold (the daemon's `x-switchyard-epoch`),
    /// sent back on resume so a daemon whose journal was reset answers
    /// `epoch_reset` instead of replaying someone else's ids.
    epoch: Option<String>,
    parser: SseParser,
    last_bytes_at: f64,
    /// The document was hidden since the last `visible` kick.
    hidden: bool,
    listeners: Vec<Listener>,
}

struct Inner {
    config: Config,
    callbacks: Callbacks,
    view: SharedView,
    /// What the `view` getter returns (the caller's own object if given).
    view_js: JsValue,
    state: RefCell<State>,
}

/// A session's event stream, reduced into a `SessionView`, with automatic
/// reconnects.
#[wasm_bindgen]
pub struct Connection {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Connection {
    /// `new Connection({ baseUrl, token, sessionId, clientId, lastEventId?,
    /// view?, onStatus?, onFrame?, onState?, backoff?: {initialMs, maxMs} })`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Connection, JsValue> {
        panic::guard()?;
        if !options.is_object() {
            return Err(js::type_error("Connection needs an options object"));
        }
        let endpoint = Endpoint::from_options(&options)?;
        let session_id = js::req_string(&options, "sessionId")?;
        let client_id = js::req_string(&options, "clientId")?;
        let backoff = js::get(&options, "backoff");
        let initial_ms = js::opt_number(&backoff, "initialMs")?.unwrap_or(DEFAULT_INITIAL_MS);
        let max_ms = js::opt_number(&backoff, "maxMs")?
            .unwrap_or(DEFAULT_MAX_MS)
            .max(initial_ms);
        let resume_hint = js::opt_number(&options, "lastEventId")?
            .map(|n| n as u64)
            .filter(|n| *n > 0);
        let view_opt = js::get(&options, "view");
        let (view, view_js) = if view_opt.is_undefined() || view_opt.is_null() {
            let view: SharedView = Rc::new(RefCell::new(switchyard_core::SessionView::new()));
            let js = JsValue::from(SessionView::from_shared(Rc::clone(&view)));
            (view, js)
        } else {
            (SessionView::shared_from_js(&view_opt)?, view_opt)
        };
        let callbacks = Callbacks {
            on_status: js::opt_function(&options, "onStatus")?,
            on_frame: js::opt_function(&options, "onFrame")?,
            on_state: js::opt_function(&options, "onState")?,
        };
        Ok(Connection {
            inner: Rc::new(Inner {
                config: Config {
                    endpoint,
                    session_id,
                    client_id,
                    initial_ms,
                    max_ms,
                },
                callbacks,
                view,
                view_js,
                state: RefCell::new(State {
                    status: Status::Idle,
                    started: false,
                    closed: false,
                    abort: None,
                    restart: false,
                    wake: None,
                    timer: None,
                    attempt: 0,
                    resume_hint,
                    epoch: None,
                    parser: SseParser::new(),
                    last_bytes_at: 0.0,
                    hidden: false,
                    listeners: Vec::new(),
                }),
            }),
        })
    }

    /// Opens the stream (and keeps it open until `close()`). Calling it
    /// again is a no-op; a closed connection cannot be restarted.
    pub fn start(&self) -> Result<(), JsValue> {
        panic::guard()?;
        {
            let mut st = self.inner.state.borrow_mut();
            if st.closed {
                return Err(js_sys::Error::new(
                    "this Connection is closed; create a new one to reconnect",
                )
                .into());
            }
            if st.started {
                return Ok(());
            }
            st.started = true;
        }
        wake::install_listeners(&self.inner);
        // Report `connecting` before returning, so `status` right after
        // `start()` is already `connecting`, never a stale `idle`.
        let resume = self.inner.resume_from().unwrap_or(0) as f64;
        self.inner.set_status(
            Status::Connecting,
            detail(&[("lastEventId", resume.into())]),
        );
        spawn_local(stream::run(Rc::clone(&self.inner)));
        Ok(())
    }

    /// Stops for good: aborts the request, stops reconnecting, reports
    /// status `closed` (and no error). Dropping or `free()`ing the JS
    /// object does not stop a started connection: call `close()`.
    pub fn close(&self) -> Result<(), JsValue> {
        panic::guard()?;
        shutdown(&self.inner, "close", None);
        Ok(())
    }

    /// `idle`, `connecting`, `live`, `reconnecting`, `resyncing` or `closed`.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> Result<String, JsValue> {
        panic::guard()?;
        Ok(self.inner.state.borrow().status.as_str().to_owned())
    }

    /// Where the next connection resumes: the view's `lastEventId`.
    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> Result<f64, JsValue> {
        panic::guard()?;
        Ok(self.inner.resume_from().unwrap_or(0) as f64)
    }

    /// The `SessionView` this connection reduces into.
    #[wasm_bindgen(getter)]
    pub fn view(&self) -> Result<JsValue, JsValue> {
        panic::guard()?;
        Ok(self.inner.view_js.clone())
    }
}

impl Inner {
    fn is_closed(&self) -> bool {
        self.state.borrow().closed || panic::is_poisoned()
    }

    fn resume_from(&self) -> Option<u64> {
        let id = self.view.borrow().last_event_id;
        if id > 0 {
            Some(id)
        } else {
            self.state.borrow().resume_hint
        }
    }

    /// Sets the status and tells `onStatus` (always for `reconnecting`,
    /// whose detail changes with every attempt; otherwise on change).
    fn set_status(&self, status: Status, detail: JsValue) {
        {
            let mut st = self.state.borrow_mut();
            if st.closed && status != Status::Closed {
                return;
            }
            if st.status == status && status != Status::Reconnecting {
                return;
            }
            st.status = status;
            if status == Status::Live {
                st.attempt = 0;
            }
        }
        if let Some(f) = &self.callbacks.on_status {
            js::call_user(
                "onStatus",
                f,
                &[&JsValue::from_str(status.as_str()), &detail],
            );
        }
    }

    /// The next backoff delay.
    fn backoff(&self, min_delay_ms: f64) -> f64 {
        let st = self.state.borrow();
        let cap =
            (self.config.initial_ms * 2f64.powi(st.attempt.min(30) as i32)).min(self.config.max_ms);
        let jittered = js_sys::Math::random() * cap;
        let retry = st.parser.retry().map(|r| r as f64).unwrap_or(0.0);
        jittered.max(retry).max(min_delay_ms)
    }

    fn session_ended(&self) -> bool {
        self.view.borrow().lifecycle.state != "alive"
    }
}

fn detail(entries: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in entries {
        js::set(&o, k, v);
    }
    o.into()
}

/// Ends the connection for good; `reason` is `close`, `session_ended` or
/// `fatal`.
fn shutdown(inner: &Rc<Inner>, reason: &str, error: Option<ApiError>) {
    let (abort, wake, timer, listeners) = {
        let mut st = inner.state.borrow_mut();
        if st.closed {
            return;
        }
        st.closed = true;
        (
            st.abort.take(),
            st.wake.take(),
            st.timer.take(),
            std::mem::take(&mut st.listeners),
        )
    };
    if let Some(a) = abort {
        a.abort();
    }
    if let Some(t) = timer {
        let _ = js::clear_timeout(&t);
    }
    if let Some(w) = wake {
        let _ = w.call0(&JsValue::UNDEFINED);
    }
    for l in listeners {
        l.remove();
    }
    let mut entries = vec![("reason", JsValue::from_str(reason))];
    if let Some(e) = error {
        entries.push(("error", e.to_js()));
    }
    inner.set_status(Status::Closed, detail(&entries));
}
