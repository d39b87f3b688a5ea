#!/usr/bin/env bash
# Runs the Switchyard daemon with the web client and the demo agent.
# The daemon lands with issue 3; until then this only builds and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p switchyard-server
exec target/release/switchyard "$@"
