#!/usr/bin/env bash
# install-deps.sh — installs, with apt-get, the Debian 12 packages ConCCL's build, tests and benchmarks use,
# skipping those already present. Runs as root, or through sudo when available.
#   tools/install-deps.sh            build + test dependencies (compilers, GoogleTest, Google Benchmark, OpenBLAS,
#                                    zlib, Fashion-MNIST, hwloc, ibverbs, UCX, python3)
#   tools/install-deps.sh --bench    also Open MPI, Gloo, iproute2, iperf3 and matplotlib for the benchmarks and plots
set -euo pipefail
pkgs=(build-essential cmake pkg-config libgtest-dev libgmock-dev googletest libbenchmark-dev
      libopenblas-dev zlib1g-dev dataset-fashion-mnist libhwloc-dev libibverbs-dev libucx-dev python3)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(openmpi-bin libopenmpi-dev libgloo-dev iproute2 iperf3 python3 python3-matplotlib)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
