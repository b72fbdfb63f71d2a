#!/usr/bin/env bash
# Builds promtail (clients/cmd/promtail) and loki (cmd/loki, single binary)
# of one github.com/grafana/loki/v3 release from the Go module proxy into
# <out-dir>, together: they share most packages, so the second costs little.
#
# `go install github.com/grafana/loki/v3/clients/cmd/promtail@vX` is refused:
# loki's go.mod has replace directives. So a throwaway module requires loki/v3
# and repeats its replaces that point at versions (and its excludes). The one
# replace to a local path, github.com/grafana/loki/pkg/push => ./pkg/push, is
# a nested module the loki/v3 zip does not contain; the version loki's go.mod
# requires is used instead. Every other module resolves to exactly the
# version loki's go.mod lists. No cgo, so promtail has no journal support
# (the promtail_journal_enabled tag needs it).
#
# usage: loki.sh <version, e.g. 3.6.15> <out-dir>
set -euo pipefail
version=$1
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

loki_mod=$(cd "$work" && go mod download -json "github.com/grafana/loki/v3@v$version" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);if(m.Error){console.error(m.Error);process.exit(1)}console.log(m.GoMod)})')
{
  echo 'module sre-quero.local/loki-build'
  echo
  grep -m1 '^go ' "$loki_mod"
  echo
  echo "require github.com/grafana/loki/v3 v$version"
  echo
  sed -nE 's#^replace\s+(\S+)\s+=>\s+(\S+)\s+(v\S+)\s*$#replace \1 => \2 \3#p; /^exclude\s/p' "$loki_mod"
} > "$work/go.mod"
cd "$work"
go get "github.com/grafana/loki/v3/clients/cmd/promtail@v$version" "github.com/grafana/loki/v3/cmd/loki@v$version" >&2
# Version stamp as loki's Makefile sets it (its init() copies it into
# github.com/prometheus/common/version, which -version prints).
mkdir -p "$out"
CGO_ENABLED=0 go build -trimpath -tags netgo \
  -ldflags "-s -w -X github.com/grafana/loki/v3/pkg/util/build.Version=$version" \
  -o "$out/" github.com/grafana/loki/v3/clients/cmd/promtail github.com/grafana/loki/v3/cmd/loki >&2
for binary in promtail loki; do
  "$out/$binary" -version 2>&1 | grep -q "version $version\b" || { echo "loki.sh: $binary -version does not say $version" >&2; exit 1; }
done
