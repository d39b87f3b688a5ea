//! # switchyard-server
//!
//! The `switchyard` daemon: agent sessions over ACP child processes, shared
//! by many clients over HTTP + Server-Sent Events.
//!
//! A tour, outside in:
//!
//! - [`app`] — the axum router, auth layers, listening and graceful
//!   shutdown; [`app::start`] is also what tests use (port 0).
//! - [`routes`] — one module per resource (`/session`, `/prompt`,
//!   `/permission`, `/events`, ...).
//! - [`auth`] — token, Host and Origin checks; [`tokens`] — extra
//!   (e.g. read-only) tokens, stored hashed.
//! - [`session`] — the registry, each session's shared handle, and the
//!   per-session actor that owns the agent connection ([`session::agent`]),
//!   the prompt queue and pending permissions.
//! - [`bus`] — the per-session event bus: ids, the server-side view
//!   (`switchyard-core`'s reducer), the replay ring, and per-subscriber
//!   queues with backpressure.
//! - [`journal`] — the durable journal (SQLite): sessions and their events
//!   committed before fan-out, resumes beyond the ring, retention, and the
//!   startup reconcile in [`session::restore`].
//! - [`defaults`] — per-workspace defaults (the persisted approval mode).
//! - [`web`] — the web client's static files (`--web-dir`) at `/`.
//! - [`error`] — one error type mapped to `{"error":{"kind","message","hint"}}`.

pub mod app;
pub mod auth;
pub mod bus;
pub mod config;
pub mod defaults;
pub mod error;
pub mod extract;
pub mod journal;
pub mod routes;
pub mod session;
pub mod tokens;
pub mod web;
