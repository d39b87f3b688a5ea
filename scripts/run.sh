#!/usr/bin/env bash
# Runs the Switchyard daemon with the built-in demo agent and serves the web
# client at `/`. Builds what is missing or stale first (the SDK, the web
# client in examples/web, the daemon), skipping what is up to date, then
# prints the URL to open: it carries the token, and the page keeps it in the
# tab's sessionStorage and takes it out of the address bar.
# Extra arguments go to `switchyard serve` (e.g. --agent qwen="qwen --acp").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-web.sh
cargo build --release -p switchyard-server
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
exec "$target_dir/release/switchyard" serve --web-dir examples/web/dist "$@"
