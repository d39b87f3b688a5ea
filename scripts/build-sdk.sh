#!/usr/bin/env bash
# Builds Switchyard's WebAssembly SDK (crates/sdk-wasm) and assembles the npm
# package @switchyard/sdk in npm/dist. Installs what it needs and skips what
# is already there, so it is safe to run again and again:
#
#   - the wasm32-unknown-unknown rustup target;
#   - wasm-bindgen-cli, exactly the version of `wasm-bindgen` in Cargo.lock,
#     into $SWITCHYARD_CACHE/wasm-bindgen-<version> (default cache:
#     $HOME/.cache/switchyard), outside the clone so reruns reuse it;
#   - npm/node_modules (`npm ci`) when missing or older than package-lock.json:
#     binaryen (its wasm-opt; Debian's is too old for rustc's output) and
#     typescript.
#
# Then: cargo build --profile wasm, wasm-bindgen --target web, wasm-opt -Oz,
# npm/dist assembled, sizes printed. Exits non-zero when the .wasm is over
# 120 KiB gzipped or the JS over 15 KiB gzipped.
#
# Environment:
#   SWITCHYARD_CACHE   cache root for wasm-bindgen-cli (see above)
#   CARGO_TARGET_DIR   honoured as cargo honours it (default: ./target)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
npm_dir="$root/npm"
dist="$npm_dir/dist"

# Budgets, in bytes of gzip -9 output.
wasm_budget=$((120 * 1024))
js_budget=$((15 * 1024))

step() { printf '\n==> build-sdk: %s\n' "$*"; }
log() { printf '    %s\n' "$*"; }
die() { printf 'build-sdk: error: %s\n' "$*" >&2; exit 1; }

for tool in cargo rustup node npm gzip sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old: the SDK needs node >= 20"

step "toolchain: wasm32-unknown-unknown target"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "already installed"
else
    rustup target add wasm32-unknown-unknown
fi

step "workspace: target dir and wasm-bindgen version (cargo metadata)"
# One `cargo metadata` answers both: the target dir as cargo resolves it
# (CARGO_TARGET_DIR, config, or ./target) and the wasm-bindgen version in
# the lock file.
read -r target_dir wb_version < <(
    cargo metadata --format-version 1 --filter-platform wasm32-unknown-unknown |
        node -e '
            let s = "";
            process.stdin.on("data", (d) => (s += d)).on("end", () => {
                const m = JSON.parse(s);
                const v = [...new Set(m.packages.filter((p) => p.name === "wasm-bindgen").map((p) => p.version))];
                if (v.length !== 1) {
                    console.error(`expected one wasm-bindgen version in Cargo.lock, found: ${v.join(", ") || "none"}`);
                    process.exit(1);
                }
                console.log(`${m.target_directory} ${v[0]}`);
            });
        '
)
[ -n "${wb_version:-}" ] || die "could not read the wasm-bindgen version from cargo metadata"
log "target dir: $target_dir"
log "wasm-bindgen: $wb_version"

step "wasm-bindgen-cli $wb_version"
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
wb_root="$cache/wasm-bindgen-$wb_version"
wb="$wb_root/bin/wasm-bindgen"
wb_ok() { [ -x "$wb" ] && [ "$("$wb" --version 2>/dev/null)" = "wasm-bindgen $wb_version" ]; }
install_wb() {
    wb_ok && return 0
    log "installing into $wb_root (takes 2-4 minutes, once per machine)"
    local start=$SECONDS
    # --locked first; for some versions a locked dependency is no longer in
    # the registry, then resolve afresh.
    if ! cargo install --root "$wb_root" wasm-bindgen-cli --version "=$wb_version" --locked; then
        log "--locked install failed; retrying without --locked"
        cargo install --root "$wb_root" wasm-bindgen-cli --version "=$wb_version"
    fi
    wb_ok || die "$wb is not wasm-bindgen $wb_version after installing"
    log "installed in $((SECONDS - start)) s"
}
if wb_ok; then
    log "already installed: $wb"
else
    mkdir -p "$cache"
    if command -v flock >/dev/null; then
        # Serialize concurrent runs on one machine (cargo install also locks
        # its root, but a second run should not even start compiling).
        exec 9>"$cache/.wasm-bindgen-$wb_version.lock"
        flock 9
        install_wb
        flock -u 9
        exec 9>&-
    else
        install_wb
    fi
fi

step "npm dependencies (npm/node_modules)"
lock_hash="$(sha256sum "$npm_dir/package-lock.json" | cut -d' ' -f1)"
stamp="$npm_dir/node_modules/.switchyard-lock-sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ] &&
    [ -x "$npm_dir/node_modules/.bin/wasm-opt" ] && [ -x "$npm_dir/node_modules/.bin/tsc" ]; then
    log "up to date with package-lock.json"
else
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$lock_hash" >"$stamp"
fi
# npm's binaryen first on PATH: Debian's wasm-opt cannot parse rustc 1.95's
# output.
export PATH="$npm_dir/node_modules/.bin:$PATH"
wasm_opt="$(command -v wasm-opt)"
[ "$wasm_opt" = "$npm_dir/node_modules/.bin/wasm-opt" ] || die "wasm-opt resolves to $wasm_opt, not npm's binaryen"
log "wasm-opt: $wasm_opt ($(wasm-opt --version))"

step "cargo build -p switchyard-sdk --target wasm32-unknown-unknown --profile wasm"
# opt-level "z" rather than the profile's "s": ~12% smaller gzipped at no
# measurable cost in reducer speed, and what keeps the .wasm in budget.
# (Cargo's own override variable, so a caller's choice still wins.)
export CARGO_PROFILE_WASM_OPT_LEVEL="${CARGO_PROFILE_WASM_OPT_LEVEL:-z}"
log "opt-level: $CARGO_PROFILE_WASM_OPT_LEVEL"
cargo build -p switchyard-sdk --target wasm32-unknown-unknown --profile wasm
wasm_in="$target_dir/wasm32-unknown-unknown/wasm/switchyard_sdk.wasm"
[ -f "$wasm_in" ] || die "cargo did not produce $wasm_in"

# Skip the (slow) bindgen + wasm-opt when nothing they read changed.
build_key="$(
    {
        sha256sum "$wasm_in" "$0" | cut -d' ' -f1
        find "$root/crates/sdk-wasm/js" -type f -print0 | sort -z | xargs -0 sha256sum | cut -d' ' -f1
        printf '%s\n' "$wb_version" "$(wasm-opt --version)"
    } | sha256sum | cut -d' ' -f1
)"
if [ -f "$dist/.build-key" ] && [ "$(cat "$dist/.build-key")" = "$build_key" ] &&
    [ -f "$dist/switchyard_sdk_bg.wasm" ] && [ -f "$dist/switchyard_sdk.js" ] && [ -f "$dist/errors.js" ]; then
    step "npm/dist is up to date with the build"
else
    staging="$(mktemp -d "$npm_dir/.dist.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT

    step "wasm-bindgen --target web"
    "$wb" --target web --no-typescript --out-dir "$staging" "$wasm_in"

    step "wasm-opt -Oz"
    start=$SECONDS
    wasm-opt -Oz "$staging/switchyard_sdk_bg.wasm" -o "$staging/switchyard_sdk_bg.wasm.opt"
    mv "$staging/switchyard_sdk_bg.wasm.opt" "$staging/switchyard_sdk_bg.wasm"
    log "done in $((SECONDS - start)) s"

    step "assemble npm/dist"
    # The SwitchyardError class is a wasm-bindgen snippet under a hashed
    # directory; dist/errors.js gives it a stable path for the entry points.
    snippet="$(cd "$staging" && find snippets -path '*/js/errors.js' | head -n1)"
    [ -n "$snippet" ] || die "wasm-bindgen emitted no js/errors.js snippet"
    printf '%s\n' \
        "// Generated by scripts/build-sdk.sh: a stable path to the error class snippet." \
        "export { SwitchyardError } from './$snippet';" >"$staging/errors.js"
    # CSP: the glue must not need 'unsafe-eval'.
    if grep -nE 'new Function|[^.a-zA-Z_]eval\(' "$staging/switchyard_sdk.js"; then
        die "the JS glue uses eval/new Function: it would need 'unsafe-eval' under CSP"
    fi
    printf '%s\n' "$build_key" >"$staging/.build-key"
    chmod 755 "$staging"
    rm -rf "$dist"
    mv "$staging" "$dist"
    trap - EXIT
    log "npm/dist: $(cd "$dist" && find . -type f ! -name .build-key | sort | tr '\n' ' ')"
fi

step "sizes"
gz() { gzip -9 -c "$1" | wc -c; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
wasm_raw=$(wc -c <"$dist/switchyard_sdk_bg.wasm")
wasm_gz=$(gz "$dist/switchyard_sdk_bg.wasm")
printf '    %-40s %10s raw %10s gzip\n' "dist/switchyard_sdk_bg.wasm" "$(kib "$wasm_raw")" "$(kib "$wasm_gz")"
# JS shipped: wasm-bindgen's glue, its snippets, and the package's entries.
js_raw=0
js_gz=0
while IFS= read -r f; do
    r=$(wc -c <"$npm_dir/$f")
    g=$(gz "$npm_dir/$f")
    js_raw=$((js_raw + r))
    js_gz=$((js_gz + g))
    printf '    %-40s %10s raw %10s gzip\n' "$f" "$(kib "$r")" "$(kib "$g")"
done < <(cd "$npm_dir" && {
    find dist -name '*.js' | sort
    for f in index.js node.js init.js internal.js; do [ -f "$f" ] && echo "$f"; done
})
printf '    %-40s %10s raw %10s gzip\n' "all JS" "$(kib "$js_raw")" "$(kib "$js_gz")"

over=0
if [ "$wasm_gz" -gt "$wasm_budget" ]; then
    printf 'build-sdk: the .wasm is %s gzipped, over its %s budget\n' "$(kib "$wasm_gz")" "$(kib "$wasm_budget")" >&2
    over=1
fi
if [ "$js_gz" -gt "$js_budget" ]; then
    printf 'build-sdk: the JS is %s gzipped, over its %s budget\n' "$(kib "$js_gz")" "$(kib "$js_budget")" >&2
    over=1
fi
[ "$over" -eq 0 ] || exit 1
log "within budget (.wasm <= $(kib "$wasm_budget") gzip, JS <= $(kib "$js_budget") gzip)"
echo
echo "build-sdk: npm/dist is ready."
