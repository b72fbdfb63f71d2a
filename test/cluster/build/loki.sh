#!/usr/bin/env bash
# Builds commands of one github.com/grafana/loki/v3 release from the Go
# module proxy into <out-dir>: promtail (clients/cmd/promtail) and/or loki
# (cmd/loki, single binary).
#
# Not every release's dependencies are all served: loki v3.6.15 replaces
# thanos-io/objstore with a grafana/objstore pseudo-version the proxy refuses
# (403), which cmd/loki needs and promtail does not. Hence one script, called
# per release and command (see provision.sh).
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
# usage: loki.sh <version, e.g. 3.6.15> <out-dir> <command path>...
#   e.g. loki.sh 3.6.15 out clients/cmd/promtail
set -euo pipefail
version=$1
out=$2
shift 2
packages=()
for command in "$@"; do packages+=("github.com/grafana/loki/v3/$command"); done
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
go get "${packages[@]/%/@v$version}" >&2
# Version stamp as loki's Makefile sets it (its init() copies it into
# github.com/prometheus/common/version, which -version prints).
mkdir -p "$out"
CGO_ENABLED=0 go build -trimpath -tags netgo \
  -ldflags "-s -w -X github.com/grafana/loki/v3/pkg/util/build.Version=$version" \
  -o "$out/" "${packages[@]}" >&2
for command in "$@"; do
  binary=${command##*/}
  grep -q "version $version\b" <<<"$("$out/$binary" -version 2>&1)" || { echo "loki.sh: $binary -version does not say $version" >&2; exit 1; }
done
