#!/usr/bin/env bash
# fallback_test.sh SOURCE_DIR BUILD_DIR PLUGIN — ConCCL itself loading libconccl-net-ib.so on a machine
# without RDMA devices: two processes run a checked all-reduce with CONCCL_NET_PLUGIN=PLUGIN; the plugin
# must report 0 devices with its own INFO line, ConCCL must skip it and the built-in transports must give
# correct results. Exits 77 (skipped) on a machine that has RDMA devices.
set -uo pipefail
src=$1 build=$2 plugin=$3
if [ -n "$(ls -A /sys/class/infiniband 2>/dev/null)" ]; then
  echo "this machine has RDMA devices; the no-device fallback cannot be checked here"
  exit 77
fi
log=$(CONCCL_NET_PLUGIN=$plugin CONCCL_DEBUG=INFO CONCCL_DEBUG_SUBSYS=INIT,NET timeout 120 \
      "$src/tools/conccl-run" -n 2 "$build/perf/all_reduce_perf" -b 1K -e 64K -f 8 -n 2 -w 1 -c 1 2>&1)
rc=$?
fail=0
[ $rc -eq 0 ] || { echo "FAILED: all_reduce_perf exited $rc"; fail=1; }
grep -q "NET/IB: 0 usable devices" <<<"$log" || { echo "FAILED: no 'NET/IB: 0 usable devices' line"; fail=1; }
grep -q "skipped: plugin 'ib' has no usable device" <<<"$log" || { echo "FAILED: ConCCL did not skip the plugin"; fail=1; }
grep -q "Out of bounds values : 0 OK" <<<"$log" || { echo "FAILED: wrong results"; fail=1; }
[ $fail -eq 0 ] || echo "$log" | tail -30
exit $fail
