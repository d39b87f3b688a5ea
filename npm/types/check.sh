#!/usr/bin/env bash
# Checks the generated TypeScript declarations (npm/types/generated):
#   1. they are current: gen-ts regenerates them in memory and compares;
#   2. consumer.ts type-checks against them (strict, noEmit);
#   3. the check can fail: consumer.ts with its `@ts-expect-error` lines
#      stripped must fail, with exactly one error per stripped line;
#   4. they describe what Rust really writes: gen-ts --samples dumps every
#      known frame of the conformance vectors and testgen streams, their
#      snapshots and views, typed as KnownFrame / SessionViewState.
# Needs cargo, node and npx (TypeScript comes from the npm registry, pinned).
set -euo pipefail
cd "$(dirname "$0")"
TS_VERSION=5.9.3 # npm/package.json pins the same devDependency
TYPESCRIPT=typescript@$TS_VERSION
# The SDK's own install when it is the pinned version, else from the registry.
local_tsc="$PWD/../node_modules/.bin/tsc"
if [ -x "$local_tsc" ] && [ "$("$local_tsc" --version)" = "Version $TS_VERSION" ]; then
    tsc() { "$local_tsc" "$@"; }
else
    tsc() { npx --yes -p "$TYPESCRIPT" tsc "$@"; }
fi
gen_ts() { cargo run -q -p switchyard-core --features ts --example gen-ts -- "$@"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "npm/types: checking the generated files are current"
gen_ts --check

echo "npm/types: type-checking consumer.ts ($TYPESCRIPT)"
tsc -p .

echo "npm/types: checking misuse is rejected"
mkdir "$tmp/negative"
ln -s "$PWD/generated" "$tmp/negative/generated"
cp tsconfig.json "$tmp/negative/"
expected=$(grep -c '// @ts-expect-error' consumer.ts)
sed 's#^ *// @ts-expect-error.*$##' consumer.ts >"$tmp/negative/consumer.ts"
if (cd "$tmp/negative" && tsc -p .) >"$tmp/negative.log" 2>&1; then
    echo "error: consumer.ts without its @ts-expect-error lines still type-checks" >&2
    exit 1
fi
got=$(grep -c '^consumer.ts([0-9]*,[0-9]*): error' "$tmp/negative.log" || true)
if [ "$got" != "$expected" ]; then
    cat "$tmp/negative.log" >&2
    echo "error: expected $expected errors from the misuse lines, got $got" >&2
    exit 1
fi
echo "  $got misuse lines rejected"

echo "npm/types: checking Rust's serialized frames and views against the types"
mkdir "$tmp/samples"
ln -s "$PWD/generated" "$tmp/samples/generated"
gen_ts --samples "$tmp/samples/samples.ts"
cat >"$tmp/samples/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "noEmit": true,
    "strict": true,
    "exactOptionalPropertyTypes": true,
    "target": "ES2022",
    "lib": ["ES2022"],
    "module": "ESNext",
    "moduleResolution": "bundler",
    "types": []
  },
  "include": ["samples.ts"]
}
EOF
(cd "$tmp/samples" && tsc -p .)

echo "npm/types: all checks passed"
