//! Waiting between attempts, and the page events that cut the wait short:
//! `online`, `pageshow` (back from the bfcache) and `visibilitychange` to
//! visible. Listeners are installed only where there is a page (never in
//! Node) and removed by `close()`.

use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{Inner, Status};
use crate::{js, panic};

/// A live stream that has been silent this long is presumed dead when the
/// page becomes visible again (the daemon's heartbeat is 15 s by default).
const STALE_AFTER_MS: f64 = 45_000.0;

#[wasm_bindgen]
extern "C" {
    /// Anything with `addEventListener` (window, document, a worker scope).
    type Target;
    #[wasm_bindgen(method, catch, js_name = addEventListener)]
    fn add_event_listener(this: &Target, kind: &str, f: &Function) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeEventListener)]
    fn remove_event_listener(this: &Target, kind: &str, f: &Function) -> Result<(), JsValue>;
}

/// Why the page nudged us.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kick {
    Online,
    PageShow,
    Visible,
}

/// An installed event listener (kept so `close()` can remove it).
pub(super) struct Listener {
    target: Target,
    kind: &'static str,
    closure: Closure<dyn FnMut(JsValue)>,
}

impl Listener {
    /// Removes the listener.
    pub(super) fn remove(self) {
        let _ = self
            .target
            .remove_event_listener(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// Waits `ms`, or until a kick or `close()` wakes us.
pub(super) async fn sleep(inner: &Rc<Inner>, ms: f64) {
    // An `onStatus` callback may have closed the connection just now: do
    // not arm a timer that would keep Node alive for nothing.
    if inner.is_closed() {
        return;
    }
    let promise = Promise::new(
        &mut |resolve: Function, _reject: Function| match js::set_timeout(&resolve, ms) {
            Ok(timer) => {
                let mut st = inner.state.borrow_mut();
                st.timer = Some(timer);
                st.wake = Some(resolve);
            }
            Err(_) => {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        },
    );
    let _ = JsFuture::from(promise).await;
    let timer = {
        let mut st = inner.state.borrow_mut();
        st.wake = None;
        st.timer.take()
    };
    if let Some(t) = timer {
        let _ = js::clear_timeout(&t);
    }
}

/// The page says the network may be back: skip a backoff wait, or restart
/// a stream that may have died unnoticed.
fn kick(inner: &Rc<Inner>, why: Kick) {
    let (wake, abort) = {
        let mut st = inner.state.borrow_mut();
        if !st.started || st.closed {
            return;
        }
        if let Some(wake) = st.wake.take() {
            (Some(wake), None)
        } else if matches!(st.status, Status::Live | Status::Resyncing) {
            let stale = js::now_ms() - st.last_bytes_at > STALE_AFTER_MS;
            if why != Kick::Visible || stale {
                st.restart = true;
                (None, st.abort.clone())
            } else {
                (None, None)
            }
        } else {
            (None, None)
        }
    };
    if let Some(w) = wake {
        let _ = w.call0(&JsValue::UNDEFINED);
    }
    if let Some(a) = abort {
        a.abort();
    }
}

/// `online`, `pageshow` and `visibilitychange` listeners, where there is a
/// page (never in Node).
pub(super) fn install_listeners(inner: &Rc<Inner>) {
    let global = js_sys::global();
    let document = js::global("document");
    let mut listeners = Vec::new();
    let mut add = |target: &JsValue, kind: &'static str, on: fn(&Rc<Inner>, &JsValue)| {
        if !js::get(target, "addEventListener").is_function() {
            return;
        }
        let weak: Weak<Inner> = Rc::downgrade(inner);
        let closure = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            if panic::is_poisoned() {
                return;
            }
            if let Some(inner) = weak.upgrade() {
                on(&inner, &event);
            }
        });
        let target: Target = target.clone().unchecked_into();
        if target
            .add_event_listener(kind, closure.as_ref().unchecked_ref())
            .is_ok()
        {
            listeners.push(Listener {
                target,
                kind,
                closure,
            });
        }
    };
    add(&global, "online", |inner, _| kick(inner, Kick::Online));
    add(&global, "pageshow", |inner, event| {
        if js::get(event, "persisted").is_truthy() {
            kick(inner, Kick::PageShow);
        }
    });
    if document.is_object() {
        add(&document, "visibilitychange", |inner, _| {
            let visible = js::get(&js::global("document"), "visibilityState").as_string();
            let wake = {
                let mut st = inner.state.borrow_mut();
                if visible.as_deref() == Some("visible") {
                    std::mem::take(&mut st.hidden)
                } else {
                    st.hidden = true;
                    false
                }
            };
            if wake {
                kick(inner, Kick::Visible);
            }
        });
    }
    inner.state.borrow_mut().listeners = listeners;
}
