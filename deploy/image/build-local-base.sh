#!/usr/bin/env bash
# Builds a runtime base for the Containerfile where no registry can be reached
# (the default base, gcr.io/distroless/cc-debian12, cannot be pulled): exactly the
# shared libraries the given binaries load (ldd: glibc, libgcc, the dynamic
# loader), this machine's CA bundle (Debian's ca-certificates), /tmp, and
# passwd/group entries for root and nonroot (65532, distroless's numbering). No
# shell, no package manager. Then:
#
#   deploy/image/build-local-base.sh                          # -> localhost/keyhold-base:local
#   deploy/image/build.sh --base localhost/keyhold-base:local
#
#   deploy/image/build-local-base.sh [--tag IMAGE] [--tool podman|docker] [BINARY...]
#
# BINARY defaults to kms-svc, object-svc and audit-svc in
# $CARGO_TARGET_DIR/release (else ./target/release). The image runs them only on
# a kernel and CPU like this machine's, and with this machine's glibc: build the
# binaries and the base on the same machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="${CARGO_TARGET_DIR:-$root/target}/release"
tag="localhost/keyhold-base:local"
tool="$(command -v podman >/dev/null && echo podman || echo docker)"
binaries=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --tool) tool="$2"; shift 2 ;;
    -*) echo "unknown argument: $1" >&2; exit 64 ;;
    *) binaries+=("$1"); shift ;;
  esac
done
if [ ${#binaries[@]} -eq 0 ]; then
  binaries=("$bin_dir/kms-svc" "$bin_dir/object-svc" "$bin_dir/audit-svc")
fi
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca_bundle" ] || { echo "$ca_bundle missing: apt-get install ca-certificates" >&2; exit 1; }

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
for binary in "${binaries[@]}"; do
  [ -x "$binary" ] || { echo "$binary not found: cargo build --release --bins" >&2; exit 1; }
  # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the loader's own line.
  ldd "$binary" | awk '/=> \// { print $3 } /^\t\// { print $1 }'
done | sort -u | while read -r library; do
  cp -L --parents "$library" "$rootfs/"
done
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/home/nonroot" "$rootfs/usr/local/bin"
chmod 1777 "$rootfs/tmp"
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
echo "libraries:"; (cd "$rootfs" && find . -name '*.so*' | sort | sed 's/^\./  /')
tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
  "$tool" import --change 'USER 65532:65532' - "$tag"
echo "built $tag"
