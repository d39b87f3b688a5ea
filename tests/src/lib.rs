//! Cross-crate test support for Switchyard.
//!
//! - [`vectors`]: loading and running the conformance vectors in
//!   `tests/vectors/*.json` (frames in, view out), shared by the native
//!   runner here and, through the npm package, by the wasm runners.

pub mod vectors;
