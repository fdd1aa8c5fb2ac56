#!/usr/bin/env bash
# Builds a stand-in for the `node:24-bookworm-slim` base image where no image registry is reachable: a Debian
# bookworm root filesystem from debootstrap (variant minbase, from apt's configured Debian mirror), the Node binary
# of the npm package `node` (the root package.json's devDependency, so the same version as everywhere else), npm
# from the npm registry (the version of the root package.json's packageManager), a `node` user with uid/gid 1000 and
# the host's CA bundle trusted by Node (NODE_EXTRA_CA_CERTS), so that npm works through a TLS-inspecting proxy.
#
#   scripts/base-image.sh [--engine podman|docker] [--rebuild] [--print-tag]
#
# The image is built once and reused: the root filesystem is cached in ${XDG_CACHE_HOME:-~/.cache}/cloud-native-shop/
# and the image is tagged localhost/shop-node-base:<node version>-bookworm. `npm run images` calls this script when it
# has no NODE_IMAGE from the user. Needs root (debootstrap) and debootstrap (scripts/install-podman.sh installs it).
set -Eeuo pipefail

usage() {
  printf 'usage: %s [--engine podman|docker] [--rebuild] [--print-tag]\n' "$0" >&2
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine="${CONTAINER_ENGINE:-podman}"
rebuild=false
print_tag=false
while (($# > 0)); do
  case "$1" in
    --engine)
      [[ $# -ge 2 ]] || {
        usage
        exit 2
      }
      engine="$2"
      shift 2
      ;;
    --rebuild)
      rebuild=true
      shift
      ;;
    --print-tag)
      print_tag=true
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      printf 'unknown argument: %s\n' "$1" >&2
      usage
      exit 2
      ;;
  esac
done
case "$engine" in
  podman | docker) ;;
  *)
    printf 'unknown engine: %s (podman or docker)\n' "$engine" >&2
    exit 2
    ;;
esac

node_pkg="${repo_root}/node_modules/node"
if [[ ! -x "${node_pkg}/bin/node" ]]; then
  echo "no Node binary at ${node_pkg}/bin/node: run npm ci at the repository root first" >&2
  exit 1
fi
node_version="$("${node_pkg}/bin/node" -p 'process.versions.node')"
npm_version="$("${node_pkg}/bin/node" -p "require('${repo_root}/package.json').packageManager.replace(/^npm@/, '')")"
tag="localhost/shop-node-base:${node_version}-bookworm"
if $print_tag; then
  echo "$tag"
  exit 0
fi

if ! $rebuild && "$engine" image exists "$tag" 2>/dev/null; then
  echo "base image present: ${tag}"
  exit 0
fi
if ! $rebuild && [[ "$engine" == docker ]] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image present: ${tag}"
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo 'base-image.sh must run as root (debootstrap)' >&2
  exit 2
fi
command -v debootstrap >/dev/null || {
  echo 'debootstrap is not installed: scripts/install-podman.sh (or apt-get install -y debootstrap)' >&2
  exit 1
}

cache="${XDG_CACHE_HOME:-${HOME}/.cache}/cloud-native-shop/base-image"
mkdir -p "$cache"
# The Debian mirror apt uses here (deb822 sources first, then the one-line format); deb.debian.org otherwise.
mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
  mirror="$(grep -hE '^URIs:.*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')" || true
fi
if [[ -z "$mirror" ]]; then
  mirror="$(grep -hE '^deb +[^ ]+/debian/? +bookworm' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')" || true
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs_tar="${cache}/bookworm-minbase.tar"
if $rebuild || [[ ! -f "$rootfs_tar" ]]; then
  work="$(mktemp -d "${cache}/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "debootstrap --variant=minbase bookworm from ${mirror} (about a minute)"
  debootstrap --variant=minbase bookworm "${work}/root" "$mirror" >"${cache}/debootstrap.log" 2>&1 || {
    tail -n 30 "${cache}/debootstrap.log" >&2
    echo "debootstrap failed; full log: ${cache}/debootstrap.log" >&2
    exit 1
  }
  # Trim what a slim image does not carry: apt's lists and caches, docs, man pages, locales.
  rm -rf "${work}/root/var/lib/apt/lists/"* "${work}/root/var/cache/apt/"*.bin "${work}/root/var/cache/apt/archives/"*.deb \
    "${work}/root/usr/share/doc/"* "${work}/root/usr/share/man/"* "${work}/root/usr/share/info/"* \
    "${work}/root/usr/share/locale/"* "${work}/root/var/log/"*.log
  tar -C "${work}/root" --numeric-owner -cf "${rootfs_tar}.partial" .
  mv "${rootfs_tar}.partial" "$rootfs_tar"
  rm -rf "$work"
  trap - EXIT
fi

npm_tgz="${cache}/npm-${npm_version}.tgz"
if [[ ! -f "$npm_tgz" ]]; then
  echo "npm pack npm@${npm_version}"
  (cd "$cache" && "${node_pkg}/bin/node" "$(command -v npm)" pack --silent "npm@${npm_version}" >/dev/null)
fi

stage="$(mktemp -d "${cache}/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
tar -C "$stage" -xf "$rootfs_tar"
install -m 0755 "${node_pkg}/bin/node" "${stage}/usr/local/bin/node"
mkdir -p "${stage}/usr/local/lib/node_modules/npm"
tar -C "${stage}/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$npm_tgz"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "${stage}/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "${stage}/usr/local/bin/npx"
# The host's CA bundle (it includes the proxy's CA where one inspects TLS).
mkdir -p "${stage}/etc/ssl/certs"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "${stage}/etc/ssl/certs/ca-certificates.crt"
# The node user and group of the official image: uid/gid 1000, home /home/node.
grep -q '^node:' "${stage}/etc/group" || echo 'node:x:1000:' >>"${stage}/etc/group"
grep -q '^node:' "${stage}/etc/passwd" || echo 'node:x:1000:1000::/home/node:/bin/bash' >>"${stage}/etc/passwd"
grep -q '^node:' "${stage}/etc/shadow" || echo 'node:*:19000:0:99999:7:::' >>"${stage}/etc/shadow"
mkdir -p "${stage}/home/node"
chown 1000:1000 "${stage}/home/node"

echo "importing ${tag}"
tar -C "$stage" --numeric-owner -c . | "$engine" import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=${node_version}" \
  --change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
rm -rf "$stage"
trap - EXIT
"$engine" run --rm --network none "$tag" sh -c 'node --version && npm --version && id node' | tr '\n' ' '
echo
echo "built ${tag}"
