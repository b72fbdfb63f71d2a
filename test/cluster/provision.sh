#!/usr/bin/env bash
# Provisions everything the real-cluster suite and `npm run cluster:up` need,
# building what is missing and reusing what is cached (outside the repo, in
# ${SRE_QUERO_CACHE:-~/.cache/sre-quero}):
#   - Debian packages: containerd, runc, CNI plugins, busybox-static, nftables,
#     iptables, conntrack (installed once with apt-get; no service is started);
#   - Kubernetes components (apiserver, controller-manager, scheduler,
#     kubelet, kube-proxy, kubectl), etcd, promtail, Loki, Prometheus and
#     promtool, Grafana Alloy, the Helm CLI, built from the Go module proxy at
#     the versions pinned in test/cluster/versions.ts;
#   - the images pods run, as OCI archives (pause, busybox, promtail, alloy,
#     sre-quero's own image from this tree).
# Progress and timings go to stderr; stdout's only line is the path of the
# manifest (JSON) that names the binaries and the image archives.
# Needs root (apt-get), Go, Node.js/npm. Idempotent; a warm run takes seconds.
set -euo pipefail
# Started from a test run, the environment carries the runner's Node hooks
# (NODE_OPTIONS --import ...), which the image's own node must not load.
unset NODE_OPTIONS NODE_V8_COVERAGE
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

pin() { sed -nE "s/^export const $1 = '([^']+)';/\1/p" "$here/versions.ts"; }
K8S_VERSION=$(pin K8S_VERSION)
ETCD_VERSION=$(pin ETCD_VERSION)
PROMTAIL_VERSION=$(pin PROMTAIL_VERSION)
LOKI_VERSION=$(pin LOKI_VERSION)
PROMETHEUS_VERSION=$(pin PROMETHEUS_VERSION)
ALLOY_VERSION=$(pin ALLOY_VERSION)
HELM_VERSION=$(pin HELM_VERSION)
CACHE_ROOT=${SRE_QUERO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sre-quero}
BIN_DIR="$CACHE_ROOT/k8s-v$K8S_VERSION/bin"
export GOFLAGS=${GOFLAGS:--buildvcs=false}

log() { echo "provision: $*" >&2; }
timed() { # timed <what> <command...>: runs it, says how long it took
  local what=$1 start=$SECONDS
  shift
  log "building $what ..."
  "$@"
  log "$what built in $((SECONDS - start)) s"
}
started=$SECONDS

# Debian packages: the node's runtime and the test apps' busybox.
need_apt=()
# iptables and conntrack as on any node (kube-proxy looks for them at start,
# to clear its iptables leftovers and stale UDP flows).
for pair in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  /bin/busybox:busybox-static nft:nftables iptables:iptables conntrack:conntrack ip:iproute2 gcc:gcc; do
  what=${pair%%:*} pkg=${pair#*:}
  if [[ $what == /* ]]; then [ -e "$what" ] || need_apt+=("$pkg"); else command -v "$what" >/dev/null || need_apt+=("$pkg"); fi
done
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need_apt+=(libc6-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  apt-get update -qq >&2
  # policy-rc.d: install the packages without starting their services.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi
command -v go >/dev/null || { log "Go is needed to build Kubernetes and etcd (go on PATH)"; exit 1; }

# Kubernetes components, built together (they share most packages).
components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
missing=0
for c in "${components[@]}"; do [ -x "$BIN_DIR/$c" ] || missing=1; done
if [ "$missing" = 1 ]; then
  rm -rf "$BIN_DIR.tmp"
  timed "Kubernetes v$K8S_VERSION (${components[*]})" bash "$here/build/kubernetes.sh" "$K8S_VERSION" "$BIN_DIR.tmp"
  mkdir -p "$BIN_DIR"
  for c in "${components[@]}"; do mv "$BIN_DIR.tmp/$c" "$BIN_DIR/$c"; done
  rm -rf "$BIN_DIR.tmp"
fi
if [ ! -x "$BIN_DIR/etcd" ] || ! grep -q "etcd Version: $ETCD_VERSION" <<<"$("$BIN_DIR/etcd" --version 2>/dev/null)"; then
  rm -rf "$BIN_DIR.etcd"
  timed "etcd v$ETCD_VERSION" bash "$here/build/etcd.sh" "$ETCD_VERSION" "$BIN_DIR.etcd"
  mv "$BIN_DIR.etcd/etcd" "$BIN_DIR/etcd"
  rm -rf "$BIN_DIR.etcd"
fi
"$BIN_DIR/kube-apiserver" --version >&2

# promtail and Loki: commands of github.com/grafana/loki/v3, each at its pin.
PROMTAIL_DIR="$CACHE_ROOT/promtail-v$PROMTAIL_VERSION"
if [ ! -x "$PROMTAIL_DIR/promtail" ]; then
  rm -rf "$PROMTAIL_DIR.tmp"
  timed "promtail v$PROMTAIL_VERSION" bash "$here/build/loki.sh" "$PROMTAIL_VERSION" "$PROMTAIL_DIR.tmp" clients/cmd/promtail
  rm -rf "$PROMTAIL_DIR" && mv "$PROMTAIL_DIR.tmp" "$PROMTAIL_DIR"
fi
LOKI_DIR="$CACHE_ROOT/loki-v$LOKI_VERSION"
if [ ! -x "$LOKI_DIR/loki" ]; then
  rm -rf "$LOKI_DIR.tmp"
  timed "Loki v$LOKI_VERSION" bash "$here/build/loki.sh" "$LOKI_VERSION" "$LOKI_DIR.tmp" cmd/loki
  rm -rf "$LOKI_DIR" && mv "$LOKI_DIR.tmp" "$LOKI_DIR"
fi
PROMETHEUS_DIR="$CACHE_ROOT/prometheus-v$PROMETHEUS_VERSION"
if [ ! -x "$PROMETHEUS_DIR/prometheus" ] || [ ! -x "$PROMETHEUS_DIR/promtool" ]; then
  rm -rf "$PROMETHEUS_DIR.tmp"
  timed "Prometheus v$PROMETHEUS_VERSION and promtool" bash "$here/build/prometheus.sh" "$PROMETHEUS_VERSION" "$PROMETHEUS_DIR.tmp"
  rm -rf "$PROMETHEUS_DIR" && mv "$PROMETHEUS_DIR.tmp" "$PROMETHEUS_DIR"
fi

# Helm: the chart's tests render and install deploy/helm/sre-quero with it.
HELM_DIR="$CACHE_ROOT/helm-v$HELM_VERSION"
if [ ! -x "$HELM_DIR/helm" ] || [ "$("$HELM_DIR/helm" version --template '{{.Version}}' 2>/dev/null)" != "v$HELM_VERSION" ]; then
  rm -rf "$HELM_DIR.tmp"
  timed "Helm v$HELM_VERSION" bash "$here/build/helm.sh" "$HELM_VERSION" "$HELM_DIR.tmp"
  rm -rf "$HELM_DIR" && mv "$HELM_DIR.tmp" "$HELM_DIR"
fi

# Alloy: the largest build here (37 min and 6.2 GB of memory at its peak on
# 2 cores, cold); alone, after the others, so the peaks do not add up.
ALLOY_DIR="$CACHE_ROOT/alloy-v$ALLOY_VERSION"
# Each version check reads the whole output first: `alloy --version | grep -q`
# under pipefail fails whenever grep exits before the binary has written all
# its lines (SIGPIPE), and that rebuilt a cached Alloy.
if [ ! -x "$ALLOY_DIR/alloy" ] || ! grep -q "version v$ALLOY_VERSION " <<<"$("$ALLOY_DIR/alloy" --version 2>/dev/null)"; then
  rm -rf "$ALLOY_DIR.tmp"
  timed "Grafana Alloy v$ALLOY_VERSION" bash "$here/build/alloy.sh" "$ALLOY_VERSION" "$ALLOY_DIR.tmp"
  rm -rf "$ALLOY_DIR" && mv "$ALLOY_DIR.tmp" "$ALLOY_DIR"
fi

# Images: pause, busybox, promtail, alloy, sre-quero (in that order on its stdout).
mapfile -t archives < <(SRE_QUERO_K8S_VERSION=$K8S_VERSION SRE_QUERO_PROMTAIL_VERSION=$PROMTAIL_VERSION \
  SRE_QUERO_PROMTAIL_BIN=$PROMTAIL_DIR/promtail SRE_QUERO_ALLOY_VERSION=$ALLOY_VERSION SRE_QUERO_ALLOY_BIN=$ALLOY_DIR/alloy \
  bash "$here/build/images.sh" "$CACHE_ROOT" "$repo" | tail -n 5)
[ ${#archives[@]} -eq 5 ] || { log "images.sh did not name five archives"; exit 1; }

manifest="$CACHE_ROOT/provisioned.json"
cat > "$manifest.tmp" <<JSON
{
  "kubernetes": "$K8S_VERSION",
  "etcd": "$ETCD_VERSION",
  "bin": "$BIN_DIR",
  "loki": "$LOKI_DIR/loki",
  "promtail": "$PROMTAIL_DIR/promtail",
  "prometheus": "$PROMETHEUS_DIR/prometheus",
  "promtool": "$PROMETHEUS_DIR/promtool",
  "alloy": "$ALLOY_DIR/alloy",
  "helm": "$HELM_DIR/helm",
  "images": {
    "pause": "${archives[0]}",
    "busybox": "${archives[1]}",
    "promtail": "${archives[2]}",
    "alloy": "${archives[3]}",
    "sreQuero": "${archives[4]}"
  }
}
JSON
mv "$manifest.tmp" "$manifest"
log "ready in $((SECONDS - started)) s"
echo "$manifest"
