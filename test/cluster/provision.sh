#!/usr/bin/env bash
# Builds (once) and caches a real kube-apiserver + kube-controller-manager
# v1.20.2 from Debian's source package, and installs etcd and kubectl from
# Debian's binary packages. Idempotent: a cached build is reused in seconds.
# Facts behind each step: ../../../shared/docs/control-plane.md (as checked).
#
# Prints the directory holding the binaries on its last line.
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_ROOT=${SRE_QUERO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sre-quero}
BIN_DIR="$CACHE_ROOT/k8s-v$K8S_VERSION/bin"
SRC_DIR="$CACHE_ROOT/k8s-v$K8S_VERSION/src"

log() { echo "provision: $*" >&2; }

need_apt=()
command -v etcd >/dev/null || need_apt+=(etcd-server)
# kubectl comes from Debian's kubernetes-client 1.20 too, unpacked into the
# cache (never installed), so the suite uses the same client on every machine
# whatever kubectl the machine has on its PATH.
[ -x "$BIN_DIR/kubectl" ] || fetch_kubectl=1
if [ ! -x "$BIN_DIR/kube-apiserver" ] || [ ! -x "$BIN_DIR/kube-controller-manager" ]; then
  command -v go >/dev/null || need_apt+=(golang-go)
  command -v rsync >/dev/null || need_apt+=(rsync)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_apt+=(golang-github-modern-go-reflect2-dev)
  command -v dpkg-source >/dev/null || need_apt+=(dpkg-dev)
  build=1
else
  build=0
fi

if [ ${#need_apt[@]} -gt 0 ] || [ "$build" = 1 ] || [ "${fetch_kubectl:-0}" = 1 ]; then
  # Source packages need deb-src entries next to the machine's deb ones.
  if [ "$build" = 1 ] && ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    log "adding deb-src entries"
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -e "$f" ] || continue
      sed -e 's/^Types: deb$/Types: deb-src/' "$f" > "${f%.sources}-src.sources"
    done
  fi
  log "apt-get update"
  apt-get update -qq >&2
  if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
  fi
fi

if [ "${fetch_kubectl:-0}" = 1 ]; then
  log "unpacking Debian's kubectl"
  mkdir -p "$BIN_DIR"
  unpack=$(mktemp -d)
  (cd "$unpack" && apt-get download -qq kubernetes-client >&2 && dpkg-deb -x kubernetes-client_*.deb root)
  cp "$unpack/root/usr/bin/kubectl" "$BIN_DIR/kubectl.tmp" && mv "$BIN_DIR/kubectl.tmp" "$BIN_DIR/kubectl"
  rm -rf "$unpack"
fi

if [ "$build" = 1 ]; then
  mkdir -p "$SRC_DIR" "$BIN_DIR"
  cd "$SRC_DIR"
  tree=$(ls -d kubernetes-*/ 2>/dev/null | head -n 1 || true)
  if [ -z "$tree" ]; then
    log "fetching Debian's kubernetes source package"
    apt-get source -qq kubernetes >&2
    tree=$(ls -d kubernetes-*/ | head -n 1)
  fi
  cd "$SRC_DIR/$tree"
  # The vendored reflect2 1.0.1 makes the server panic under Go >= 1.18.
  if [ ! -f vendor/github.com/modern-go/reflect2/.sre-quero-patched ]; then
    log "replacing vendored reflect2 with Debian's 1.0.2"
    rm -rf vendor/github.com/modern-go/reflect2
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
    rm -f vendor/github.com/modern-go/reflect2/go.mod
    touch vendor/github.com/modern-go/reflect2/.sre-quero-patched
  fi
  mkdir -p .go/src/k8s.io
  [ -e .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
  export GOPATH="$PWD/.go" CGO_ENABLED=0 GO111MODULE=off
  export HOME=${HOME:-/tmp} GOCACHE=${GOCACHE:-$CACHE_ROOT/go-build}
  cd .go/src/k8s.io/kubernetes
  for what in kube-apiserver kube-controller-manager; do
    log "building $what (minutes on a cold cache)"
    make WHAT=cmd/$what >&2
    cp "_output/bin/$what" "$BIN_DIR/$what.tmp" && mv "$BIN_DIR/$what.tmp" "$BIN_DIR/$what"
  done
fi

"$BIN_DIR/kube-apiserver" --version >&2
"$BIN_DIR/kubectl" version --client --short >&2 2>/dev/null || "$BIN_DIR/kubectl" version --client >&2
echo "$BIN_DIR"
