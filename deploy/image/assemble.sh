#!/bin/sh
# Assembles the file tree of the sre-quero container image:
#
#   <out-dir>/dist/bin.js         the compiled server (npm run build) and every
#                                 runtime dependency, as locked, in one ES module
#   <out-dir>/package.json        ("type": "module", name and version)
#
# One bundle instead of dist/ plus node_modules: esbuild keeps only the code
# the server reaches. @kubernetes/client-node's entry point alone loads every
# generated API group and model (about 73 MiB of RSS on Node 20, measured);
# bundled, the reconciler's part of it costs about 28 MiB. Dependencies are
# still exactly the locked versions: the bundle is made from node_modules as
# `npm ci` installed them.
#
# The single source of truth for what the image ships: the Dockerfile's final
# stage copies this tree to /app as is, and test/http/image.test.ts runs the
# server from a tree made by this script.
#
# usage: deploy/image/assemble.sh <source-dir> <out-dir>
#   <source-dir>  a checkout with dist/ built and node_modules installed
#                 (npm ci && npm run build)
#   <out-dir>     created if missing; must be empty
#
# Needs node, and esbuild from the source's node_modules (a devDependency).
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
[ -f "$src/package.json" ] || fail "$src/package.json is missing"
esbuild=$src/node_modules/.bin/esbuild
[ -x "$esbuild" ] || fail "$esbuild is missing: install first (npm ci in $src)"

mkdir -p "$out"
if [ -n "$(ls -A "$out")" ]; then
  fail "output directory $out is not empty"
fi

# The banner gives the bundle a `require`, for the CommonJS dependencies
# (fastify, pino, client-node's own) that esbuild wraps. Minified syntax and
# whitespace, names kept (stack traces still name functions): V8 holds the
# bundle's source for as long as the process runs.
"$esbuild" "$src/dist/bin.js" --bundle --platform=node --format=esm --target=node24 \
  --minify-whitespace --minify-syntax --keep-names \
  --outfile="$out/dist/bin.js" --log-level=warning --legal-comments=eof \
  --banner:js="import { createRequire as __sreQueroRequire } from 'node:module'; const require = __sreQueroRequire(import.meta.url);" ||
  fail "esbuild could not bundle $src/dist/bin.js"
node -e 'const p=require(process.argv[1]);console.log(JSON.stringify({name:p.name,version:p.version,private:p.private,type:p.type,description:p.description,license:p.license,engines:p.engines},null,2))' "$src/package.json" >"$out/package.json"

echo "assemble.sh: image tree ready in $out" >&2
