#!/bin/sh
# Assembles the file tree of the sre-quero container image:
#
#   <out-dir>/dist/               the compiled server (npm run build)
#   <out-dir>/package.json
#   <out-dir>/package-lock.json
#   <out-dir>/node_modules/       production dependencies only, exactly as locked
#
# The single source of truth for what the image ships: the Dockerfile's final
# stage copies this tree to /app as is, and test/http/image.test.ts runs the
# server from a tree made by this script.
#
# usage: deploy/image/assemble.sh <source-dir> <out-dir>
#   <source-dir>  a checkout with dist/ built (npm ci && npm run build)
#   <out-dir>     created if missing; must be empty
#
# Needs node and npm, and the npm registry (or a warm npm cache).
set -eu

usage() {
  echo "usage: $0 <source-dir> <out-dir>" >&2
  exit 2
}
fail() {
  echo "assemble.sh: $*" >&2
  exit 1
}

[ "$#" -eq 2 ] || usage
src=$1
out=$2

[ -d "$src" ] || fail "source directory $src does not exist"
[ -f "$src/dist/bin.js" ] || fail "$src/dist/bin.js is missing: build first (npm ci && npm run build in $src)"
for file in package.json package-lock.json; do
  [ -f "$src/$file" ] || fail "$src/$file is missing"
done

mkdir -p "$out"
if [ -n "$(ls -A "$out")" ]; then
  fail "output directory $out is not empty"
fi

cp -R "$src/dist" "$out/dist"
cp "$src/package.json" "$src/package-lock.json" "$out/"

# Production dependencies only, from the lock file; no install scripts run
# (none of the runtime dependencies needs one).
cd "$out"
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

echo "assemble.sh: image tree ready in $out" >&2
