//! # switchyard-core
//!
//! The single source of truth for Switchyard's wire protocol. The daemon and
//! the WebAssembly SDK both compile this crate, so every client reduces a
//! session's event stream exactly as the daemon does.
//!
//! A tour, in the order data flows:
//!
//! - [`sse`] — the client-side `text/event-stream` parser (WHATWG rules,
//!   arbitrary chunk splits, bounded memory).
//! - [`frame`] — the v1 envelope, [`Frame`], which round-trips unknown
//!   fields.
//! - [`event`] — the typed catalogue, [`Event`]; [`Event::decode`] is the
//!   validator (field paths on failure, unknown types tolerated).
//! - [`session_update`] — the agent's ACP `session/update` sub-types.
//! - [`kinds`] — shared vocabularies: [`ErrorKind`], [`Role`],
//!   [`ApprovalMode`], [`StopReason`], [`Provenance`].
//! - [`view`] — [`SessionView`] and the pure reducer [`reduce`]; a view's
//!   [`SessionView::to_snapshot`] seeds a late joiner exactly.
//!
//! `#![no_std]` + `alloc`; the only dependencies are `serde` and
//! `serde_json`, so the wasm build stays small.

// no_std except under `ts`: ts-rs needs std, and its derives expect the std
// prelude (`format!`, `ToOwned`, ...). Only the `gen-ts` example turns `ts`
// on; the daemon and wasm builds stay no_std + alloc.
#![cfg_attr(not(feature = "ts"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod event;
pub mod frame;
pub mod kinds;
pub mod session_update;
pub mod sse;
#[cfg(feature = "testgen")]
pub mod testgen;
mod validate;
pub mod view;

pub use event::{Decoded, Event, TypedFrame};
pub use frame::{Frame, FrameError, PROTOCOL_VERSION};
pub use kinds::{ApprovalMode, ErrorKind, Provenance, Role, StopReason};
pub use validate::ValidationError;
pub use view::{Applied, SessionView, reduce, reduce_json, reduce_typed};
