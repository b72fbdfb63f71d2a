#!/usr/bin/env bash
# Builds the Helm CLI (cmd/helm of helm.sh/helm/v<major>, one release) from
# the Go module proxy into <out-dir>/helm: static (CGO_ENABLED=0), stamped so
# `helm version` prints the release.
#
# Helm's go.mod has no replace directive, so `go install <package>@<version>`
# builds it as released: every dependency at the version Helm's go.mod
# (and go.sum) names, no throwaway module needed. The major version picks
# the module path (4.3.1 -> helm.sh/helm/v4).
#
# Version stamp as Helm's Makefile sets it for a tagged release build:
# internal/version.version = the tag, metadata empty (a tag clears
# "unreleased"), gitTreeState clean. gitCommit stays empty: the proxy's zip
# carries no commit id.
#
# usage: helm.sh <version, e.g. 4.3.1> <out-dir>
set -euo pipefail
version=$1
out=$2
major=${version%%.*}
module=helm.sh/helm/v$major
log() { echo "helm.sh: $*" >&2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$SECONDS
log "building $module/cmd/helm@v$version"
stamp="-X $module/internal/version.version=v$version"
stamp+=" -X $module/internal/version.metadata="
stamp+=" -X $module/internal/version.gitTreeState=clean"
GOBIN=$out CGO_ENABLED=0 go install -trimpath -ldflags "-s -w $stamp" "$module/cmd/helm@v$version" >&2
log "built in $((SECONDS - start)) s"
said=$("$out/helm" version --template '{{.Version}}' 2>&1) || true
log "helm version: $said"
[ "$said" = "v$version" ] || { log "helm version does not say v$version"; exit 1; }
