#!/usr/bin/env bash
# Builds etcd (the server binary) of one release from the Go module proxy into
# <out-dir>/etcd. Its go.mod replaces the sibling etcd modules with local
# paths, so, as for Kubernetes, a throwaway module requires it instead.
#
# usage: etcd.sh <version, e.g. 3.6.8> <out-dir>
set -euo pipefail
version=$1
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module sre-quero.local/etcd-build

go 1.25

require go.etcd.io/etcd/server/v3 v$version
MOD
printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
go mod tidy >&2
mkdir -p "$out"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3 >&2
"$out/etcd" --version >&2
