//! `switchyard` — the daemon binary.
//!
//! Placeholder until the daemon lands (issue 3): it only reports the wire
//! protocol version it was built against.

fn main() {
    println!(
        "switchyard {} (wire protocol v{}): the daemon is not built yet",
        env!("CARGO_PKG_VERSION"),
        switchyard_core::PROTOCOL_VERSION
    );
}
