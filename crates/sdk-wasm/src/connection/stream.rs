//! The reconnect loop: one request at a time, read until the stream ends,
//! every chunk through core's `SseParser` and reducer, then the callbacks.

use std::rc::Rc;

use js_sys::Uint8Array;
use switchyard_core::{Applied, Frame, reduce, reduce_json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, ReadableStreamDefaultReader};

use super::{Inner, Status, detail, shutdown, wake};
use crate::error::ApiError;
use crate::http::{self, Call};
use crate::js;
use crate::view::{outcome_js, state_of};

/// How one connection attempt ended.
enum Ended {
    /// `close()` was called.
    Closed,
    /// Retrying cannot help.
    Fatal(ApiError),
    /// The stream ended after the session itself ended.
    SessionOver,
    /// Reconnect, after the backoff (or at once).
    Retry {
        error: Option<ApiError>,
        immediate: bool,
        min_delay_ms: f64,
    },
}

/// The reconnect loop.
pub(super) async fn run(inner: Rc<Inner>) {
    // `start()` already reported `connecting`.
    loop {
        if inner.is_closed() {
            return;
        }
        let ended = connect_once(&inner).await;
        if inner.is_closed() {
            return;
        }
        match ended {
            Ended::Closed => return,
            Ended::Fatal(e) => return shutdown(&inner, "fatal", Some(e)),
            Ended::SessionOver => return shutdown(&inner, "session_ended", None),
            Ended::Retry {
                error,
                immediate,
                min_delay_ms,
            } => {
                let delay = if immediate {
                    0.0
                } else {
                    inner.backoff(min_delay_ms).round()
                };
                let attempt = {
                    let mut st = inner.state.borrow_mut();
                    st.attempt = st.attempt.saturating_add(1);
                    st.attempt
                };
                let mut entries = vec![
                    ("attempt", JsValue::from(attempt)),
                    ("delayMs", JsValue::from(delay)),
                ];
                if let Some(e) = error {
                    entries.push(("error", e.to_js()));
                }
                inner.set_status(Status::Reconnecting, detail(&entries));
                if delay > 0.0 {
                    wake::sleep(&inner, delay).await;
                }
            }
        }
    }
}

/// 4xx answers that retrying cannot fix.
fn is_fatal(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 425 | 429)
}

/// One request: connect, read until the stream ends.
async fn connect_once(inner: &Rc<Inner>) -> Ended {
    let controller = match AbortController::new() {
        Ok(c) => c,
        Err(e) => return Ended::Fatal(ApiError::network(&e)),
    };
    let signal = controller.signal();
    {
        let mut st = inner.state.borrow_mut();
        st.abort = Some(controller);
        st.restart = false;
    }
    let resume = inner.resume_from().map(|n| n.to_string());
    let epoch = inner.state.borrow().epoch.clone();
    let mut headers = vec![("Accept", "text/event-stream")];
    if let Some(r) = &resume {
        headers.push(("Last-Event-ID", r.as_str()));
        if let Some(e) = &epoch {
            headers.push(("X-Switchyard-Epoch", e.as_str()));
        }
    }
    let config = &inner.config;
    let mut call = Call::new(
        "GET",
        format!("/session/{}/events", http::segment(&config.session_id)),
    );
    call.client_id = Some(&config.client_id);
    call.headers = &headers;
    call.signal = Some(&signal);
    let response = match http::send(&config.endpoint, call).await {
        Ok(r) => r,
        Err(e) => return interrupted(inner, e),
    };
    if inner.is_closed() {
        return Ended::Closed;
    }
    if !response.ok() {
        let error = http::error_from(&response).await;
        if is_fatal(error.status) {
            return Ended::Fatal(error);
        }
        let min_delay_ms = error.retry_after.map(|s| s * 1000.0).unwrap_or(0.0);
        return Ended::Retry {
            error: Some(error),
            immediate: false,
            min_delay_ms,
        };
    }
    let Some(body) = response.body() else {
        return Ended::Retry {
            error: Some(ApiError::from_answer(
                response.status(),
                "the event stream has no body",
                None,
            )),
            immediate: false,
            min_delay_ms: 0.0,
        };
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    {
        let mut st = inner.state.borrow_mut();
        if let Ok(Some(e)) = response.headers().get("x-switchyard-epoch") {
            st.epoch = Some(e);
        }
        st.parser.reset();
        st.last_bytes_at = js::now_ms();
    }
    loop {
        let read = JsFuture::from(reader.read()).await;
        if inner.is_closed() {
            return Ended::Closed;
        }
        let result = match read {
            Ok(r) => r,
            Err(e) => {
                inner.state.borrow_mut().parser.finish();
                return interrupted(inner, ApiError::network(&e));
            }
        };
        if js::get(&result, "done").is_truthy() {
            inner.state.borrow_mut().parser.finish();
            if inner.session_ended() {
                return Ended::SessionOver;
            }
            return Ended::Retry {
                error: None,
                immediate: false,
                min_delay_ms: 0.0,
            };
        }
        let bytes = js::get(&result, "value")
            .dyn_into::<Uint8Array>()
            .map(|a| a.to_vec())
            .unwrap_or_default();
        match process(inner, &bytes) {
            Action::Continue => {}
            Action::Stop => return Ended::Closed,
            Action::ReconnectNow => {
                let _ = reader.cancel();
                inner.state.borrow_mut().parser.finish();
                return Ended::Retry {
                    error: None,
                    immediate: true,
                    min_delay_ms: 0.0,
                };
            }
        }
    }
}

/// The request or its stream failed (or a kick aborted it).
fn interrupted(inner: &Rc<Inner>, error: ApiError) -> Ended {
    if inner.is_closed() {
        return Ended::Closed;
    }
    if std::mem::take(&mut inner.state.borrow_mut().restart) {
        return Ended::Retry {
            error: None,
            immediate: true,
            min_delay_ms: 0.0,
        };
    }
    if inner.session_ended() {
        return Ended::SessionOver;
    }
    Ended::Retry {
        error: Some(error),
        immediate: false,
        min_delay_ms: 0.0,
    }
}

enum Action {
    Continue,
    Stop,
    ReconnectNow,
}

/// Feeds one chunk through the parser and the reducer, then the callbacks.
fn process(inner: &Rc<Inner>, bytes: &[u8]) -> Action {
    let mut events = Vec::new();
    {
        let mut st = inner.state.borrow_mut();
        st.last_bytes_at = js::now_ms();
        // An event over the parser's 32 MiB cap is dropped by the parser;
        // the stream goes on.
        let _ = st.parser.feed(bytes, &mut events);
        if !events.is_empty() {
            st.resume_hint = None;
        }
    }
    if events.is_empty() {
        return Action::Continue;
    }
    let mut action = Action::Continue;
    for event in events {
        let (kind, outcome) = {
            let mut view = inner.view.borrow_mut();
            match Frame::from_json(&event.data) {
                Ok(frame) => {
                    let outcome = reduce(&mut view, &frame);
                    (Some(frame.kind), outcome)
                }
                // Counted as malformed by the reducer's own entry point.
                Err(_) => (None, reduce_json(&mut view, &event.data)),
            }
        };
        let kind = kind.as_deref();
        let resync = {
            let view = inner.view.borrow();
            view.stream.awaiting_resync.then(|| {
                view.stream
                    .last_resync_required
                    .as_ref()
                    .map(|r| r.reason.clone())
                    .unwrap_or_default()
            })
        };
        if let Some(reason) = resync {
            inner.set_status(
                Status::Resyncing,
                detail(&[("reason", JsValue::from_str(&reason))]),
            );
        } else if outcome == Applied::Applied
            && matches!(kind, Some("session_snapshot" | "replay_complete"))
        {
            let id = inner.view.borrow().last_event_id as f64;
            inner.set_status(Status::Live, detail(&[("lastEventId", id.into())]));
        }
        if kind == Some("client_evicted") {
            action = Action::ReconnectNow;
        }
        if let Some(f) = &inner.callbacks.on_frame {
            let frame =
                js_sys::JSON::parse(&event.data).unwrap_or_else(|_| JsValue::from_str(&event.data));
            js::call_user("onFrame", f, &[&frame, &outcome_js(&outcome)]);
        }
        if inner.is_closed() {
            return Action::Stop;
        }
    }
    if let Some(f) = &inner.callbacks.on_state {
        match state_of(&inner.view) {
            Ok(state) => js::call_user("onState", f, &[&state]),
            Err(e) => js::console_error("switchyard: could not convert the view", &e),
        }
    }
    if inner.is_closed() {
        return Action::Stop;
    }
    action
}
