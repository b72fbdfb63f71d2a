#!/usr/bin/env bash
# Builds kustomize v2.0.3, the kustomize built into kubectl 1.14 to 1.20,
# from the Go module proxy into <out-dir>/kustomize (default:
# ~/.cache/sre-quero/kustomize-v2.0.3), so the unit tests can check that
# deploy/'s kustomizations still render with it (test/unit/install-namespace.test.ts
# uses it when it is there). Not part of provision.sh: optional, ~2 min once.
#
# v2.0.3 predates Go modules (sigs.k8s.io/kustomize v2.0.3+incompatible, no
# go.mod; its Gopkg.lock pins commits the proxy no longer serves), so a
# throwaway module requires it with the oldest Kubernetes libraries the proxy
# serves that it compiles against (k8s.io/* v0.17.0). The kustomize logic
# (namespace, prefix and patch transformers, their order) is v2.0.3's own;
# the built-in schema that strategic merge patches use comes from those
# libraries, as in the kubectl that embedded it.
#
# usage: kustomize-v2.0.3.sh [<out-dir>]
set -euo pipefail
cache=${SRE_QUERO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sre-quero}
out=${1:-$cache/kustomize-v2.0.3}
log() { echo "kustomize-v2.0.3.sh: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$work"
printf 'module kustomize203build\n\ngo 1.20\n' > go.mod
export GOFLAGS=-mod=mod
log "resolving sigs.k8s.io/kustomize@v2.0.3+incompatible"
go get sigs.k8s.io/kustomize@v2.0.3+incompatible \
  k8s.io/api@v0.17.0 k8s.io/apimachinery@v0.17.0 k8s.io/client-go@v0.17.0 \
  github.com/evanphx/json-patch@v4.2.0+incompatible github.com/spf13/cobra@v0.0.5 \
  github.com/ghodss/yaml@v1.0.0 github.com/pkg/errors@v0.8.1 >&2
log "building"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/kustomize" sigs.k8s.io/kustomize >&2
"$out/kustomize" build --help >/dev/null
log "built $out/kustomize"
