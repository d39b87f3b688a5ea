#!/usr/bin/env bash
# Builds the web client (examples/web) into examples/web/dist, which
# `switchyard serve --web-dir examples/web/dist` serves at `/`. Installs what
# it needs and skips what is already there:
#
#   - the SDK package (scripts/build-sdk.sh, which skips what is built);
#   - examples/web/node_modules (`npm ci`) when missing or older than
#     package-lock.json (Vite, TypeScript, xterm.js, marked, DOMPurify, and
#     playwright-core for the browser tests; all from the npm registry);
#   - the build itself (`npm run build`: tsc --noEmit, then vite build) only
#     when a source, the lock file or the SDK changed since dist was built.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
web="$root/examples/web"

step() { printf '\n==> build-web: %s\n' "$*"; }
log() { printf '    %s\n' "$*"; }

bash "$root/scripts/build-sdk.sh"

step "npm dependencies (examples/web/node_modules)"
lock_hash="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
stamp="$web/node_modules/.switchyard-lock-sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ] && [ -x "$web/node_modules/.bin/vite" ]; then
    log "up to date with package-lock.json"
else
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$lock_hash" >"$stamp"
fi

step "vite build (examples/web/dist)"
built="$web/dist/index.html"
newer=""
if [ -f "$built" ]; then
    # Anything the bundle is made of: the client's sources and config, and
    # the SDK it bundles (npm/dist is rewritten only when the wasm changed).
    newer="$(find "$web/src" "$web/index.html" "$web/vite.config.ts" "$web/tsconfig.json" \
        "$web/package.json" "$web/package-lock.json" "$root/npm/dist" \
        "$root/npm/index.js" "$root/npm/init.js" "$root/npm/internal.js" \
        -newer "$built" -print -quit 2>/dev/null || true)"
fi
if [ -f "$built" ] && [ -z "$newer" ]; then
    log "up to date"
else
    [ -n "$newer" ] && log "rebuilding: $newer changed"
    (cd "$web" && npm run --silent build)
fi
echo
echo "build-web: examples/web/dist is ready."
