#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy and kubectl of one Kubernetes release from the Go module proxy
# into <out-dir>, with the version stamped in (the kubelet's is what the Node
# reports).
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every
# k8s.io/<staging> module with a local path. A throwaway module requires it
# and replaces each staging module with its published v0.<minor>.<patch>.
#
# usage: kubernetes.sh <version, e.g. 1.37.2> <out-dir>
set -euo pipefail
version=$1
out=$2
minor=${version#*.}; minor=${minor%%.*}
staging_version="v0.${version#*.}"
proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%,*}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module sre-quero.local/k8s-build

go 1.25

require k8s.io/kubernetes v$version
MOD
# The staging modules are the relative-path replaces of kubernetes' own go.mod.
go mod download -json "k8s.io/kubernetes@v$version" >/dev/null
gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$version.mod
{
  echo 'replace ('
  sed -n '/^replace (/,/^)/p' "$gomod" | sed -nE "s#^\s*(k8s\.io/[a-z0-9-]+) => \./staging/.*#\t\1 => \1 $staging_version#p"
  echo ')'
} >> go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
go mod tidy >&2

stamp="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  stamp+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p "$out"
CGO_ENABLED=0 go build -trimpath -ldflags "$stamp" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl >&2
