#!/usr/bin/env bash
# Writes a single-layer OCI image-layout archive (a tar that
# `ctr -n k8s.io images import` takes) from a root file system directory,
# without docker or a registry:
#
#   oci-layout                    {"imageLayoutVersion":"1.0.0"}
#   index.json                    one manifest, annotated with the image name
#                                 (io.containerd.image.name) and its tag
#                                 (org.opencontainers.image.ref.name)
#   blobs/sha256/<hex>            the gzip layer, the config and the manifest
#
# The layer is reproducible: GNU tar sorted by name, mtime 0, owner 0:0
# (numeric), gzip -n; the config's created time is the epoch too. So the same
# root file system gives the same digests.
#
# usage: oci-archive.sh <rootfs-dir> <out.tar> <image-name> <config-json>
#   <rootfs-dir>   the image's file system; modes are kept, owners become 0:0
#   <out.tar>      written to a temporary name beside it, then renamed
#   <image-name>   full name with tag, e.g. localhost/sre-quero/pause:3.10.2
#   <config-json>  the config's "config" object (Entrypoint, Cmd, User, Env,
#                  WorkingDir, ...), e.g. '{"Entrypoint":["/pause"]}'
#
# Needs GNU tar, gzip, sha256sum and node (for the JSON).
set -euo pipefail

fail() {
  echo "oci-archive.sh: $*" >&2
  exit 1
}
[ "$#" -eq 4 ] || fail "usage: $0 <rootfs-dir> <out.tar> <image-name> <config-json>"
rootfs=$1
out=$2
name=$3
config_json=$4

[ -d "$rootfs" ] || fail "root file system $rootfs is not a directory"
[ -n "$(ls -A "$rootfs")" ] || fail "root file system $rootfs is empty"
last=${name##*/}
case $last in
  *:*) tag=${last##*:} ;;
  *) fail "image name $name has no tag" ;;
esac
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || fail "tag \"$tag\" of $name is not a valid tag"

out_dir=$(dirname "$out")
mkdir -p "$out_dir"
work=$(mktemp -d "$out_dir/.oci-archive.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/layout/blobs/sha256"
blobs=$work/layout/blobs/sha256

# The layer: the top-level entries by name (not "./", whose mode would become
# the container's / mode), each tree sorted.
mapfile -t top < <(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort)
LC_ALL=C tar --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  -C "$rootfs" -cf "$work/layer.tar" -- "${top[@]}"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -6 "$work/layer.tar"

add_blob() { # <file> <NAME>: moves the file into blobs/, exports OCI_<NAME>_DIGEST and OCI_<NAME>_SIZE
  local digest size
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  export "OCI_$2_DIGEST=$digest" "OCI_$2_SIZE=$size"
  mv "$1" "$blobs/$digest"
}
add_blob "$work/layer.tar.gz" LAYER

# Config, manifest and index: node writes them, compact, with a stable key order.
write_json() { # <file> <js expression over the env vars below>
  node -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(eval(process.argv[2])))' "$1" "$2"
}
export OCI_CONFIG_JSON=$config_json OCI_DIFF_ID=$diff_id OCI_NAME=$name OCI_TAG=$tag
node -e 'JSON.parse(process.env.OCI_CONFIG_JSON)' 2>/dev/null || fail "config JSON is not valid JSON: $config_json"

write_json "$work/config.json" '({
  created: "1970-01-01T00:00:00Z",
  architecture: "amd64",
  os: "linux",
  config: JSON.parse(process.env.OCI_CONFIG_JSON),
  rootfs: { type: "layers", diff_ids: ["sha256:" + process.env.OCI_DIFF_ID] },
  history: [{ created: "1970-01-01T00:00:00Z", created_by: "test/cluster/build/oci-archive.sh" }],
})'
add_blob "$work/config.json" CONFIG

write_json "$work/manifest.json" '({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: "sha256:" + process.env.OCI_CONFIG_DIGEST,
    size: Number(process.env.OCI_CONFIG_SIZE),
  },
  layers: [{
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: "sha256:" + process.env.OCI_LAYER_DIGEST,
    size: Number(process.env.OCI_LAYER_SIZE),
  }],
})'
add_blob "$work/manifest.json" MANIFEST

write_json "$work/layout/index.json" '({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: "sha256:" + process.env.OCI_MANIFEST_DIGEST,
    size: Number(process.env.OCI_MANIFEST_SIZE),
    platform: { architecture: "amd64", os: "linux" },
    annotations: {
      "io.containerd.image.name": process.env.OCI_NAME,
      "org.opencontainers.image.ref.name": process.env.OCI_TAG,
    },
  }],
})'
printf '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"

LC_ALL=C tar --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  -C "$work/layout" -cf "$work/archive.tar" oci-layout index.json blobs
mv -f "$work/archive.tar" "$out"
