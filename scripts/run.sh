#!/usr/bin/env bash
# Runs the Switchyard daemon with the built-in demo agent (the default agent).
# Extra arguments go to `switchyard serve` (e.g. --agent qwen="qwen --acp").
# The web client is added by the web-client work (issue 8); until then, use
# the HTTP API (docs/api.md) or the SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p switchyard-server
exec target/release/switchyard serve "$@"
