//! # switchyard-sdk
//!
//! Switchyard's WebAssembly SDK: the core reducer and the daemon's HTTP +
//! SSE transport, for browsers, VS Code webviews and Node ≥ 20. It ships as
//! the npm package `@switchyard/sdk` (`npm/`); `scripts/build-sdk.sh`
//! compiles this crate (`--profile wasm`), runs `wasm-bindgen --target web`
//! and `wasm-opt -Oz`, and assembles `npm/dist/`.
//!
//! ## The JS surface
//!
//! - `SessionView` ([`SessionView`], `view.rs`): `apply(frame)`,
//!   `applyBatch(frames)`, `state()`, `stateJson()`, `lastEventId`,
//!   `awaitingResync`. It *is* core's reducer
//!   ([`switchyard_core::reduce_json`]); nothing is re-implemented in JS.
//! - `Client` ([`Client`], `client.rs`): one async method per route of the
//!   daemon's HTTP API (`docs/api.md`): `health`, `capabilities`,
//!   `createSession`, `listSessions`, `getSession`, `attach`, `prompt`,
//!   `cancel`, `vote` / `choose` / `allow`, `closeSession`, plus `connect`.
//! - `Connection` ([`Connection`], `connection/`): a session's event
//!   stream read with `fetch` (token, client id and `Last-Event-ID` as
//!   headers), parsed by core's [`SseParser`](switchyard_core::sse::SseParser),
//!   reduced into a `SessionView`, reported through `onFrame` / `onState` /
//!   `onStatus`; reconnects with jittered exponential backoff, resumes from
//!   `lastEventId`, heals in-band after `state_resync_required`.
//! - `SwitchyardError` (`error.rs`, `js/errors.js`): a real JS `Error`
//!   subclass with the daemon's `kind`, `status`, `message`, `hint` and
//!   `retryAfter`; `network_error` when no answer came.
//!
//! ## Inside
//!
//! - `http.rs`: `fetch` plumbing shared by `Client` and `Connection`.
//! - `js.rs`: bindings to globals (`fetch`, `setTimeout`, never `window`, so
//!   Node works too) and option-object helpers. Calls that can throw are
//!   `catch` imports: a JS exception never unwinds through Rust frames.
//! - `panic.rs`: a panic throws a JS `Error` with its message and poisons
//!   the module; every later call throws instead of running on corrupt
//!   state.
//!
//! Crossing costs: frames cross as JSON text (objects via one
//! `JSON.stringify`), the view leaves as core's JSON text through
//! `JSON.parse` (as fast as `serde-wasm-bindgen` here and 4.5 KB smaller),
//! outcome strings are cached JS strings.
//!
//! No `eval` anywhere (no `js_sys::Function::new_*`): the module runs under
//! a Content-Security-Policy that allows only `'wasm-unsafe-eval'`.
//!
//! Tests: `npm test` in `npm/` (conformance vectors byte for byte, a fake
//! daemon for `Client` / `Connection`, the real daemon when built).

mod client;
mod connection;
mod error;
mod http;
mod js;
mod panic;
mod view;

pub use client::Client;
pub use connection::Connection;
pub use switchyard_core as core;
pub use view::SessionView;

use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated.
#[wasm_bindgen(start)]
fn start() {
    panic::install();
}

/// The crate version (also the npm package's).
#[wasm_bindgen(js_name = sdkVersion)]
pub fn sdk_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Panics on purpose, so tests can check that a panic surfaces as a JS
/// error and poisons the module. Not part of the public API.
#[wasm_bindgen(js_name = __panicForTests, skip_typescript)]
pub fn panic_for_tests(message: &str) -> Result<(), JsValue> {
    panic::guard()?;
    panic!("{message}");
}
