#!/usr/bin/env bash
# Installs rootful podman from Debian's packages and configures it for this kind of VM, so that `npm run images`
# and the image test can build and start the four service images without a Docker daemon.
#
#   sudo scripts/install-podman.sh           # install (idempotent: a second run changes nothing)
#   scripts/install-podman.sh --check        # only report whether podman is ready; exit 1 if not
#
# What the VM needs besides the packages (each is a setting in /etc/containers/containers.conf.d/):
# - runtime runc (Debian's crun is not wanted), cgroup_manager cgroupfs and events_logger file: there is no systemd
#   session or journald for podman to talk to;
# - default ulimits at or below the host's: the VM refuses to raise RLIMIT_NOFILE/NPROC above what the caller has
#   (and RLIMIT_NPROC above kernel.pid_max), and podman's defaults make every container fail to start.
set -Eeuo pipefail

usage() {
  printf 'usage: %s [--check]\n  installs podman, runc, debootstrap and configures rootful podman (runc, cgroupfs)\n' "$0" >&2
}

check_only=false
case "${1:-}" in
  '') ;;
  --check) check_only=true ;;
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

conf_dir=/etc/containers/containers.conf.d
conf_file="${conf_dir}/50-cloud-native-shop.conf"

ready() {
  command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null &&
    [[ -f "$conf_file" ]] && podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null | grep -qx runc
}

if $check_only; then
  if ready; then
    echo "podman ready: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')"
    exit 0
  fi
  echo 'podman is not ready: run scripts/install-podman.sh as root' >&2
  exit 1
fi

if [[ "$(id -u)" != 0 ]]; then
  echo 'install-podman.sh must run as root (rootful podman; apt-get install)' >&2
  exit 2
fi

packages=(podman runc conmon debootstrap uidmap netavark aardvark-dns iptables catatonit)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No recommends: they pull in crun, buildah's docs and a rootless stack (slirp4netns, fuse-overlayfs) not used here.
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "packages already installed: ${packages[*]}"
fi

nofile="$(ulimit -Hn)"
nproc="$(ulimit -Hu)"
# A soft limit cannot exceed the hard one; keep both at what this shell has (the VM refuses more).
[[ "$nofile" == unlimited ]] && nofile=1048576
[[ "$nproc" == unlimited ]] && nproc=4194304
soft_nofile="$(ulimit -Sn)"
[[ "$soft_nofile" == unlimited ]] && soft_nofile="$nofile"
soft_nproc="$(ulimit -Su)"
[[ "$soft_nproc" == unlimited ]] && soft_nproc="$nproc"
# runc's init is refused an RLIMIT_NPROC above kernel.pid_max here (32768 on this VM, host hard limit 96549).
pid_max="$(cat /proc/sys/kernel/pid_max)"
((nproc > pid_max)) && nproc="$pid_max"
((soft_nproc > nproc)) && soft_nproc="$nproc"

mkdir -p "$conf_dir"
want="$(
  cat <<EOF
# Written by scripts/install-podman.sh (cloud-native-shop): rootful podman in a VM without systemd sessions.
[containers]
default_ulimits = [
  "nofile=${soft_nofile}:${nofile}",
  "nproc=${soft_nproc}:${nproc}",
]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)"
if [[ -f "$conf_file" && "$(cat "$conf_file")" == "$want" ]]; then
  echo "unchanged: $conf_file"
else
  printf '%s\n' "$want" >"$conf_file"
  echo "wrote: $conf_file"
fi

# The short-name default would ask on a terminal which registry to use; images here are always fully qualified.
reg_file=/etc/containers/registries.conf.d/50-cloud-native-shop.conf
want_reg='short-name-mode = "permissive"'
if [[ ! -f "$reg_file" || "$(cat "$reg_file")" != "$want_reg" ]]; then
  mkdir -p "$(dirname "$reg_file")"
  printf '%s\n' "$want_reg" >"$reg_file"
  echo "wrote: $reg_file"
fi

if ! ready; then
  echo 'podman does not answer with runtime runc after installation:' >&2
  podman info >&2 || true
  exit 1
fi
echo "podman ready: $(podman --version), runtime runc, storage $(podman info --format '{{.Store.GraphDriverName}}')"
