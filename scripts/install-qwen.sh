#!/usr/bin/env bash
# Installs the real third-party ACP agent used by the end-to-end tests:
# @qwen-code/qwen-code (run as `qwen --acp`), from the npm registry only.
#
# Idempotent: installs into a version-keyed cache dir outside the repo and
# skips when that version is already there. Progress goes to stderr; the last
# line of stdout is the absolute path of the `qwen` executable.
#
#   QWEN=$(scripts/install-qwen.sh | tail -n1)
#
# Environment:
#   SWITCHYARD_CACHE  cache root (default: $HOME/.cache/switchyard)
#   QWEN_CODE_VERSION override the pinned version (default: 0.15.10)
set -euo pipefail

version="${QWEN_CODE_VERSION:-0.15.10}"
package="@qwen-code/qwen-code"
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
dir="$cache/qwen-code-$version"
bin="$dir/node_modules/.bin/qwen"
pkg_json="$dir/node_modules/@qwen-code/qwen-code/package.json"

log() { printf 'install-qwen: %s\n' "$*" >&2; }

installed_version() {
    [ -f "$pkg_json" ] || return 1
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg_json" 2>/dev/null
}

command -v node >/dev/null || { log "node is not on PATH (qwen-code needs node >= 20)"; exit 1; }
command -v npm >/dev/null || { log "npm is not on PATH"; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    log "node $(node --version) is too old: qwen-code needs node >= 20"
    exit 1
fi

if [ -x "$bin" ] && [ "$(installed_version || true)" = "$version" ]; then
    log "$package@$version already installed in $dir"
    printf '%s\n' "$bin"
    exit 0
fi

log "installing $package@$version into $dir"
mkdir -p "$cache"
# Install into a private staging dir, then move it into place, so an
# interrupted or concurrent run never leaves a half-installed cache dir.
staging="$(mktemp -d "$cache/.qwen-code-$version.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
start=$SECONDS
# npm's own stdout goes to stderr: stdout carries only the final path.
npm install --prefix "$staging" --no-audit --no-fund --no-save \
    --no-update-notifier --loglevel=error "$package@$version" >&2

if [ ! -e "$staging/node_modules/.bin/qwen" ]; then
    log "npm finished but $staging/node_modules/.bin/qwen is missing"
    exit 1
fi

if [ -x "$bin" ] && [ "$(installed_version || true)" = "$version" ]; then
    # A concurrent run finished first: keep its copy (it may be in use).
    log "$package@$version was installed meanwhile by another run"
    printf '%s\n' "$bin"
    exit 0
fi
rm -rf "$dir" # a stale or partial copy
if ! mv -T "$staging" "$dir" 2>/dev/null; then
    # Another run won the race: keep its copy if it is complete.
    if [ "$(installed_version || true)" != "$version" ]; then
        log "could not move $staging to $dir"
        exit 1
    fi
fi
trap - EXIT
rm -rf "$staging"
log "installed in $((SECONDS - start)) s"

[ -x "$bin" ] || { log "$bin is not executable"; exit 1; }
printf '%s\n' "$bin"
