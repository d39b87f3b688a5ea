#!/usr/bin/env bash
# Runs every Switchyard test. Installs what it needs and skips what is
# already there. The README's test command; .ci/run calls this and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: wasm32-unknown-unknown target"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

step "format"
cargo fmt --all --check

step "clippy (host crates, all targets)"
cargo clippy --all-targets -- -D warnings

step "clippy (wasm crates)"
cargo clippy -p switchyard-core -p switchyard-sdk --target wasm32-unknown-unknown -- -D warnings

step "core builds for wasm32-unknown-unknown (no_std + alloc)"
cargo build -p switchyard-core -p switchyard-sdk --target wasm32-unknown-unknown --profile wasm

step "SDK: build the wasm package (installs wasm-bindgen-cli and npm deps if missing; fails over the size budget)"
bash scripts/build-sdk.sh

step "TypeScript declarations: generated from the Rust types, current, and type-checked"
bash npm/types/check.sh

step "host tests (unit, property, conformance vectors)"
cargo test --all-targets

step "SDK: Node suite (vectors byte-for-byte vs native, client, connection, panics, real daemon)"
(cd npm && SWITCHYARD_REQUIRE_DAEMON=1 SWITCHYARD_BIN="$PWD/../target/debug/switchyard" npm test)

step "doc tests"
cargo test --doc

echo
echo "All Switchyard tests passed."
