//! Panics never leave the module silently broken.
//!
//! A panic inside WebAssembly cannot be unwound safely (the workspace builds
//! the SDK with `panic = "abort"`), and whatever the panicking call was doing
//! may have left shared state half-updated. So the hook installed by
//! [`install`] records the message, marks the module *poisoned* and throws a
//! JS `Error` carrying the message out of the call that panicked. From then
//! on every entry point calls [`guard`] first and throws
//! `Error("switchyard sdk is unusable after an internal error: <msg>")`
//! instead of running on possibly corrupt state.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use wasm_bindgen::JsValue;

static POISONED: AtomicBool = AtomicBool::new(false);
static MESSAGE: OnceLock<String> = OnceLock::new();

/// Installs the panic hook (idempotent; called from the module's start
/// function).
pub(crate) fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            let message = match info.location() {
                Some(l) => format!("{text} (at {}:{})", l.file(), l.line()),
                None => text,
            };
            // The first panic is the interesting one; later ones are
            // usually consequences of it.
            let message = MESSAGE.get_or_init(|| message);
            POISONED.store(true, Ordering::SeqCst);
            wasm_bindgen::throw_str(&format!("switchyard sdk internal error: {message}"));
        }));
    });
}

/// True once a panic happened.
pub(crate) fn is_poisoned() -> bool {
    POISONED.load(Ordering::SeqCst)
}

/// `Err(Error)` once the module is poisoned; every exported entry point
/// starts with `guard()?`.
pub(crate) fn guard() -> Result<(), JsValue> {
    if is_poisoned() {
        let message = MESSAGE.get().map(String::as_str).unwrap_or("unknown");
        Err(js_sys::Error::new(&format!(
            "switchyard sdk is unusable after an internal error: {message}"
        ))
        .into())
    } else {
        Ok(())
    }
}
