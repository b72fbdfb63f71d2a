#!/usr/bin/env bash
# Builds prometheus and promtool of one Prometheus release from the Go module
# proxy into <out-dir>. Prometheus 3.x is the Go module
# github.com/prometheus/prometheus v0.3XX.Y (v3.16.0 is v0.316.0); its go.mod
# has no replace, so `go install` works. Only Kubernetes service discovery
# is compiled in (build tags remove_all_sd,enable_kubernetes_sd): v0.316.0's
# Nomad client is a pseudo-version the proxy refuses (403), and the tests
# discover nothing else. Without the builtinassets tag the web UI is not
# embedded: the API and /metrics are all the tests use.
#
# usage: prometheus.sh <version, e.g. 3.16.0> <out-dir>
set -euo pipefail
version=$1
out=$2
major=${version%%.*} rest=${version#*.}
minor=${rest%%.*} patch=${rest#*.}
module_version=v0.$major$(printf '%02d' "$minor").$patch
mkdir -p "$out"
GOBIN=$(cd "$out" && pwd) CGO_ENABLED=0 go install -trimpath -tags remove_all_sd,enable_kubernetes_sd \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$version" \
  "github.com/prometheus/prometheus/cmd/prometheus@$module_version" \
  "github.com/prometheus/prometheus/cmd/promtool@$module_version" >&2
grep -q "version $version\b" <<<"$("$out/prometheus" --version 2>&1)" || { echo "prometheus.sh: prometheus --version does not say $version" >&2; exit 1; }
