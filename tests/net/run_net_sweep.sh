#!/usr/bin/env bash
# run_net_sweep.sh [--full] BUILD_DIR PLUGIN NET [NPROCS...] — the collective sweep through a net plugin in
# separate processes: every perf tool (checked with -c 1: a wrong element exits 1; all_reduce_perf over every
# type and op, the others over float and int32 sums — every type, op and root with --full) and the compressed
# all-reduce (int8, randblock + EF, top-k + ConEF; checked against the codec's bound), with CONCCL_NET_PLUGIN=PLUGIN
# and CONCCL_NET=NET so every peer goes through the plugin. Exit 0 only if every run passed and the plugin
# really served (its INFO line is checked in one run).
set -uo pipefail
full=0
if [ "${1:-}" = --full ]; then
  full=1
  shift
fi
build=$1 plugin=$2 net=$3
shift 3
nprocs=("$@")
[ ${#nprocs[@]} -gt 0 ] || nprocs=(2 4)
here=$(cd "$(dirname "$0")" && pwd)
run=$here/../../tools/conccl-run
export CONCCL_NET_PLUGIN=$plugin CONCCL_NET=$net CONCCL_TIMEOUT_MS=60000
fail=0
step() {  # step DESCRIPTION COMMAND...
  local desc=$1
  shift
  if ! out=$(timeout 240 "$@" 2>&1); then
    echo "FAILED: $desc"
    echo "$out" | tail -30
    fail=1
  else
    echo "ok: $desc"
  fi
}
# The plugin must actually serve: rank 0's init line names it.
log=$(CONCCL_DEBUG=INFO CONCCL_DEBUG_SUBSYS=INIT timeout 120 "$run" -n 2 "$build/perf/all_reduce_perf" -b 1K -e 1K -n 1 -w 0 2>&1)
if ! grep -q "$net 1 (listen" <<<"$log"; then
  echo "FAILED: the init line does not show the plugin '$net' serving the peer:"
  echo "$log" | grep -i 'init complete\|plugin' | head
  fail=1
fi
for n in "${nprocs[@]}"; do
  for tool in all_reduce_perf all_gather_perf broadcast_perf reduce_perf reduce_scatter_perf alltoall_perf sendrecv_perf; do
    if [ $full = 1 ] || [ $tool = all_reduce_perf ]; then
      step "$tool -n $n" "$run" -n "$n" "$build/perf/$tool" -b 4 -e 2M -f 64 -n 1 -w 1 -c 1 -d all -o all -r all
    else
      for dt in float int32; do
        step "$tool -n $n -d $dt" "$run" -n "$n" "$build/perf/$tool" -b 4 -e 2M -f 64 -n 1 -w 1 -c 1 -d $dt -o sum
      done
    fi
  done
  step "all_reduce_perf -n $n 8M float" "$run" -n "$n" "$build/perf/all_reduce_perf" -b 8M -e 8M -n 2 -w 1 -c 1
  step "compressed int8 -n $n" "$run" -n "$n" "$build/perf/all_reduce_perf" -b 1K -e 4M -f 64 -n 1 -w 1 --codec int8
  step "compressed randblock+ef -n $n" "$run" -n "$n" "$build/perf/all_reduce_perf" -b 1K -e 4M -f 64 -n 1 -w 1 \
    --codec randblock --feedback ef
  step "compressed topk+conef -n $n" "$run" -n "$n" "$build/perf/all_reduce_perf" -b 1K -e 1M -f 32 -n 1 -w 1 \
    --codec topk --feedback conef
done
exit $fail
