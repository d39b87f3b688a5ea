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

step "toolchain: Chromium (Debian) for the browser tests"
if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
fi
/usr/bin/chromium --version 2>/dev/null | head -1

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

step "SDK: Node + Chromium suites (vectors and 10k differential sequences byte-for-byte vs native, client, connection, e2e against the real daemon, strict CSP)"
(cd npm && SWITCHYARD_REQUIRE_DAEMON=1 SWITCHYARD_REQUIRE_BROWSER=1 SWITCHYARD_BIN="${CARGO_TARGET_DIR:-$PWD/../target}/debug/switchyard" npm test)

step "web client: build examples/web, then its Chromium end-to-end scenarios against the real daemon (screenshots in target/web-artifacts)"
bash scripts/build-web.sh
(cd examples/web && SWITCHYARD_WEB_REQUIRE=1 SWITCHYARD_WEB_REQUIRE_ALL=1 SWITCHYARD_BIN="${CARGO_TARGET_DIR:-$PWD/../../target}/debug/switchyard" npm test)

step "doc tests"
cargo test --doc

echo
echo "All Switchyard tests passed."
