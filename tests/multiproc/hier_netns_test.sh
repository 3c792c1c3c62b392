#!/usr/bin/env bash
# hier_netns_test.sh SRC_DIR ALL_REDUCE_PERF — hierarchical all-reduce across network namespaces:
# 2 namespace hosts x 2 ranks (tools/conccl-bench-cluster -n 2 -R 2) with CONCCL_ALGO=hier, all_reduce_perf
# with its data check on (-c 1), uncompressed (float sum over sizes) and with --codec int8 (checked against
# the codec's error bound). Asserts the exit status and that rank 0 logged the hierarchical choice for the
# expected layout. Exit 77 (skipped) when not root or network namespaces / tc are unavailable.
set -uo pipefail
src=${1:?usage: hier_netns_test.sh SRC_DIR ALL_REDUCE_PERF}
perf=${2:?usage: hier_netns_test.sh SRC_DIR ALL_REDUCE_PERF}

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then echo "SKIP: ip or tc missing"; exit 77; fi
probe="cchierprobe$$"
if ! ip netns add "$probe" 2>/dev/null; then echo "SKIP: cannot create a network namespace"; exit 77; fi
ip netns del "$probe"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
CONCCL_ALGO=hier CONCCL_DEBUG=INFO CONCCL_DEBUG_SUBSYS=INIT \
  "$src/tools/conccl-bench-cluster" -n 2 -R 2 -r 1gbit -q --timeout 240 --prefix "cch$$-" \
  -x "-b 4 -e 4M -f 8 -c 1" -x "--codec int8 -b 1K -e 4M -f 16 -c 1" -- "$perf" -n 2 -w 1 >"$log" 2>&1
rc=$?
if [[ $rc -ne 0 ]]; then
  cat "$log"
  echo "FAIL: conccl-bench-cluster exited $rc"
  exit 1
fi
if ! grep -q "2 hosts: \[0 1\] \[2 3\]; all-reduce hierarchical (CONCCL_ALGO=hier)" "$log"; then
  cat "$log"
  echo "FAIL: rank 0 did not log the hierarchical all-reduce over 2 hosts of 2 ranks"
  exit 1
fi
echo "OK: hierarchical all-reduce on 2 namespace hosts x 2 ranks, uncompressed and int8, data checked"
