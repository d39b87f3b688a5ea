//! Switchyard's WebAssembly SDK.
//!
//! The bindings (`SessionView`, `Client`, `Connection`) arrive with issue 4;
//! for now this crate only proves that `switchyard-core` links for
//! `wasm32-unknown-unknown`.

pub use switchyard_core as core;
