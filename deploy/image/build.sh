#!/usr/bin/env bash
# Builds keyhold's image from release binaries with podman (or docker), staging
# the three binaries so they may come from any CARGO_TARGET_DIR.
#
#   deploy/image/build.sh [--bin-dir DIR] [--tag IMAGE] [--base IMAGE] [--tool podman|docker]
#
# --bin-dir  where kms-svc, object-svc, audit-svc are
#            (default: $CARGO_TARGET_DIR/release, else ./target/release)
# --tag      the image to build (default: keyhold:0.1.0; Tilt passes $EXPECTED_REF)
# --base     RUNTIME_BASE (default: the Containerfile's, a distroless image;
#            localhost/keyhold-base:local is what build-local-base.sh builds)
# --tool     podman (default when installed) or docker
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="${CARGO_TARGET_DIR:-$root/target}/release"
tag="keyhold:0.1.0"
base=""
tool="$(command -v podman >/dev/null && echo podman || echo docker)"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --tool) tool="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/target/release"
for service in kms-svc object-svc audit-svc; do
  if [ ! -x "$bin_dir/$service" ]; then
    echo "$bin_dir/$service not found: cargo build --release --bins (or --bin-dir)" >&2
    exit 1
  fi
  cp "$bin_dir/$service" "$context/target/release/"
done
args=(build -f "$root/Containerfile" -t "$tag")
[ -n "$base" ] && args+=(--build-arg "RUNTIME_BASE=$base")
"$tool" "${args[@]}" "$context"
