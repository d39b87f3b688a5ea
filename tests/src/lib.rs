//! Cross-crate test support for Switchyard.
//!
//! - [`vectors`]: loading and running the conformance vectors in
//!   `tests/vectors/*.json` (frames in, view out), shared by the native
//!   runner here and, through the npm package, by the wasm runners.
//! - [`fake_llm`]: a scripted OpenAI-compatible streaming endpoint on
//!   127.0.0.1, so real agents (qwen-code) run offline in tests.

pub mod fake_llm;
pub mod vectors;
